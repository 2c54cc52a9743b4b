"""Pulls and pushes against Debian's real docker-registry: anonymous, htpasswd Basic auth, and token auth.

The token-auth registry verifies ES256 JWTs signed by the test's token server
(their certificate is in the registry's rootcertbundle). A small aiohttp server
stands in for a misbehaving mirror (a corrupt blob) and a CDN (blob redirects).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp import web
from tests.registry_server import SERVICE, RegistryServer, registry_fixture, tls_files

from pinnace.node.cri import RegistryAuth
from pinnace.node.images.auth import Keyring
from pinnace.node.images.build import build_from_directory
from pinnace.node.images.config import ImageConfig
from pinnace.node.images.manifest import OCI_INDEX, host_platform, parse_manifest
from pinnace.node.images.reference import Reference, parse_reference, sha256_digest
from pinnace.node.images.registry import RegistryClient, RegistryError, basic_authorization
from pinnace.node.images.service import LocalImageService, pull_with_secrets
from pinnace.node.images.store import ImageStore
from pinnace.node.images.unpack import unpack

anonymous_registry = registry_fixture("none")
basic_registry = registry_fixture("basic")
token_registry = registry_fixture("token")
tls_registry = registry_fixture("basic", tls=True)

ALICE = RegistryAuth(username="alice", password="wonderland")
MALLORY = RegistryAuth(username="alice", password="guess")


def _image(store: ImageStore, ref: Reference, content: bytes, size: int = 0) -> str:
    src = store.root.parent / f"src-{sha256_digest(content)[7:15]}"
    (src / "data").mkdir(parents=True, exist_ok=True)
    (src / "data" / "content").write_bytes(content)
    if size:
        (src / "data" / "big").write_bytes(bytes(range(256)) * (size // 256))
    return build_from_directory(store, src, ImageConfig(cmd=("cat", "/data/content")), [ref])


async def test_push_and_pull_anonymously(anonymous_registry: RegistryServer, tmp_path: Path) -> None:
    ref = parse_reference(f"{anonymous_registry.host}/team/app:1")
    source = ImageStore(tmp_path / "source")
    image_id = _image(source, ref, b"anonymous")
    digest = await RegistryClient(source).push(image_id, ref)
    assert digest == source.require(image_id).manifest
    assert f"{ref.name}@{digest}" in source.require(image_id).repo_digests

    store = ImageStore(tmp_path / "node")
    assert await RegistryClient(store).pull(ref) == image_id
    record = store.require(str(ref))
    assert record.repo_digests == (f"{ref.name}@{digest}",)
    assert (unpack(store, image_id) / "data/content").read_bytes() == b"anonymous"
    # By digest, into another store.
    other = ImageStore(tmp_path / "other")
    assert await RegistryClient(other).pull(ref.with_digest(digest)) == image_id
    assert other.require(image_id).repo_tags == ()


async def test_missing_tags_and_repositories(anonymous_registry: RegistryServer, tmp_path: Path) -> None:
    client = RegistryClient(ImageStore(tmp_path))
    source = ImageStore(tmp_path / "src")
    ref = parse_reference(f"{anonymous_registry.host}/team/present:1")
    await RegistryClient(source).push(_image(source, ref, b"x"), ref)
    with pytest.raises(RegistryError, match="manifest unknown") as missing_tag:
        await client.pull(parse_reference(f"{anonymous_registry.host}/team/present:nope"))
    assert missing_tag.value.code == "MANIFEST_UNKNOWN" and missing_tag.value.status == 404
    with pytest.raises(RegistryError) as missing_repo:
        await client.pull(parse_reference(f"{anonymous_registry.host}/no/such:1"))
    assert missing_repo.value.code in ("NAME_UNKNOWN", "MANIFEST_UNKNOWN")
    with pytest.raises(RegistryError, match="manifest unknown"):
        await client.pull(ref.with_digest("sha256:" + "0" * 64))


async def test_an_index_pulls_this_hosts_platform(anonymous_registry: RegistryServer, tmp_path: Path) -> None:
    source = ImageStore(tmp_path / "src")
    host = anonymous_registry.host
    ours = parse_reference(f"{host}/multi/app:ours")
    theirs = parse_reference(f"{host}/multi/app:theirs")
    ours_id = _image(source, ours, b"this platform")
    theirs_id = _image(source, theirs, b"another platform")
    client = RegistryClient(source)
    ours_digest = await client.push(ours_id, ours)
    theirs_digest = await client.push(theirs_id, theirs)
    os_name, arch = host_platform()
    other_arch = "s390x" if arch != "s390x" else "amd64"
    entries = []
    for digest, platform in ((theirs_digest, other_arch), (ours_digest, arch)):
        body = source.read_blob(digest)
        entries.append({"mediaType": parse_manifest(body).media_type, "digest": digest, "size": len(body),
                        "platform": {"os": os_name, "architecture": platform}})  # fmt: skip
    index = orjson.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    async with aiohttp.ClientSession() as http:
        url = f"http://{host}/v2/multi/app/manifests/both"
        async with http.put(url, data=index, headers={"Content-Type": OCI_INDEX}) as response:
            assert response.status == 201, await response.text()
    store = ImageStore(tmp_path / "node")
    assert await RegistryClient(store).pull(parse_reference(f"{host}/multi/app:both")) == ours_id
    record = store.require(f"{host}/multi/app:both")
    assert record.repo_digests == (f"{host}/multi/app@{sha256_digest(index)}",)
    assert sha256_digest(index) in record.blobs  # the index is kept (and pushed digests stay valid)


async def test_basic_auth_and_chunked_uploads(basic_registry: RegistryServer, tmp_path: Path) -> None:
    ref = parse_reference(f"{basic_registry.host}/private/app:1")
    source = ImageStore(tmp_path / "src")
    image_id = _image(source, ref, b"basic", size=300_000)
    with pytest.raises(RegistryError, match="unauthorized") as anonymous:
        await RegistryClient(source).push(image_id, ref)
    assert anonymous.value.code == "UNAUTHORIZED"
    await RegistryClient(source).push(image_id, ref, ALICE, chunk_size=64 * 1024)

    with pytest.raises(RegistryError, match="unauthorized"):
        await RegistryClient(ImageStore(tmp_path / "a")).pull(ref, MALLORY)
    with pytest.raises(RegistryError, match="unauthorized"):
        await RegistryClient(ImageStore(tmp_path / "b")).pull(ref)
    store = ImageStore(tmp_path / "node")
    assert await RegistryClient(store).pull(ref, ALICE) == image_id
    assert (unpack(store, image_id) / "data/big").stat().st_size == 300_000 // 256 * 256


async def test_image_service_uses_pull_secrets(basic_registry: RegistryServer, tmp_path: Path) -> None:
    ref = parse_reference(f"{basic_registry.host}/private/secret:1")
    source = ImageStore(tmp_path / "src")
    image_id = _image(source, ref, b"secret")
    await RegistryClient(source).push(image_id, ref, ALICE)
    doc = {"auths": {basic_registry.host: {"auth": base64.b64encode(b"alice:wonderland").decode()}}}
    secret = {
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(orjson.dumps(doc)).decode()},
    }
    wrong = {"auths": {basic_registry.host: {"username": "alice", "password": "guess"}}}
    wrong_secret = {
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(orjson.dumps(wrong)).decode()},
    }
    # The kubelet tries every matching credential in turn: the wrong one first, then the right one.
    service = LocalImageService(tmp_path / "node", keyring=Keyring.from_pull_secrets([wrong_secret, secret]))
    assert await service.pull_image(str(ref)) == image_id
    nobody = LocalImageService(tmp_path / "nobody")
    with pytest.raises(RegistryError, match="unauthorized"):
        await nobody.pull_image(str(ref))
    # What the agent calls with a pod's imagePullSecrets (any ImageService).
    assert await pull_with_secrets(nobody, str(ref), [wrong_secret, secret]) == image_id


async def test_token_auth_with_real_jwts(token_registry: RegistryServer, tmp_path: Path) -> None:
    tokens = token_registry.token_server
    assert tokens is not None
    ref = parse_reference(f"{token_registry.host}/secure/app:1")
    source = ImageStore(tmp_path / "src")
    image_id = _image(source, ref, b"token")
    await RegistryClient(source).push(image_id, ref, ALICE)
    push_request = tokens.requests[-1]
    assert push_request["user"] == "alice" and push_request["scope"] == ["repository:secure/app:pull,push"]
    assert push_request["service"] == [SERVICE]

    store = ImageStore(tmp_path / "node")
    client = RegistryClient(store)
    assert await client.pull(ref, ALICE) == image_id
    assert tokens.requests[-1]["scope"] == ["repository:secure/app:pull"]
    with pytest.raises(RegistryError, match="unauthorized"):  # alice's cached token is hers alone
        await client.pull(ref)
    with pytest.raises(RegistryError, match="unauthorized") as wrong:
        await RegistryClient(ImageStore(tmp_path / "w")).pull(ref, MALLORY)
    assert wrong.value.code == "UNAUTHORIZED"
    with pytest.raises(RegistryError, match="unauthorized"):  # an anonymous token grants nothing here
        await RegistryClient(ImageStore(tmp_path / "anon")).pull(ref)
    # A token the registry did not get from its issuer is refused by the registry itself.
    forged = RegistryAuth(registry_token="eyJhbGciOiJFUzI1NiJ9.e30.AAAA")
    with pytest.raises(RegistryError, match="unauthorized"):
        await RegistryClient(ImageStore(tmp_path / "forged")).pull(ref, forged)


async def test_https_with_the_registrys_ca(tls_registry: RegistryServer, tmp_path: Path) -> None:
    assert tls_registry.ca_file is not None
    ref = parse_reference(f"{tls_registry.host}/tls/app:1")
    source = ImageStore(tmp_path / "src")
    image_id = _image(source, ref, b"over tls")
    with_ca = {tls_registry.host: str(tls_registry.ca_file)}
    await RegistryClient(source, ca_files=with_ca).push(image_id, ref, ALICE)
    store = ImageStore(tmp_path / "node")
    # Docker's layout works too: <certs.d>/<host:port>/ca.crt.
    certs = tmp_path / "certs.d" / tls_registry.host
    certs.mkdir(parents=True)
    (certs / "ca.crt").write_bytes(tls_registry.ca_file.read_bytes())
    assert await RegistryClient(store, certs_dir=tmp_path / "certs.d").pull(ref, ALICE) == image_id
    # With another CA, the registry's certificate is not trusted.
    (tmp_path / "other-ca").mkdir()
    other_ca, _, _ = tls_files(tmp_path / "other-ca")
    with pytest.raises(RegistryError, match="cannot reach registry") as untrusted:
        await RegistryClient(ImageStore(tmp_path / "x"), ca_files={tls_registry.host: str(other_ca)}).pull(ref, ALICE)
    assert "certificate verify failed" in str(untrusted.value)


@pytest.fixture
async def mirror(tmp_path: Path) -> AsyncIterator[tuple[str, ImageStore, list[dict[str, str]]]]:
    """A registry double that serves a store's blobs: manifests itself, blobs via a redirect to a 'CDN' port.

    Blob ``corrupt`` flips a byte. The CDN records the headers it was sent.
    """
    store = ImageStore(tmp_path / "mirror")
    seen: list[dict[str, str]] = []
    release = asyncio.Event()

    async def cdn_blob(request: web.Request) -> web.StreamResponse:
        seen.append(dict(request.headers))
        data = store.read_blob(request.match_info["digest"])
        if request.query.get("corrupt"):
            data = bytes([data[0] ^ 1]) + data[1:]
        if request.query.get("stall"):
            response = web.StreamResponse(headers={"Content-Length": str(len(data))})
            await response.prepare(request)
            await response.write(data[:10])
            await release.wait()  # the client gives up first; released when the fixture ends
        return web.Response(body=data)

    cdn = web.Application()
    cdn.router.add_get("/blobs/{digest}", cdn_blob)
    cdn_runner = web.AppRunner(cdn)
    await cdn_runner.setup()
    cdn_site = web.TCPSite(cdn_runner, "127.0.0.1", 0)
    await cdn_site.start()
    cdn_port = cdn_runner.addresses[0][1]

    async def manifest(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != basic_authorization("alice", "wonderland"):
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="mirror"'})
        record = store.require(f"mirror.test/{request.match_info['name']}:{request.match_info['tag']}")
        return web.Response(body=store.read_blob(record.manifest), content_type="application/json")

    async def blob(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        query = "?corrupt=1" if name.endswith("corrupt") else "?stall=1" if name.endswith("stall") else ""
        location = f"http://127.0.0.1:{cdn_port}/blobs/{request.match_info['digest']}{query}"
        raise web.HTTPTemporaryRedirect(location)

    app = web.Application()
    app.router.add_get("/v2/{name:.+}/manifests/{tag}", manifest)
    app.router.add_get("/v2/{name:.+}/blobs/{digest}", blob)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"127.0.0.1:{runner.addresses[0][1]}", store, seen
    release.set()
    await runner.cleanup()
    await cdn_runner.cleanup()


async def test_redirects_and_digest_verification(
    mirror: tuple[str, ImageStore, list[dict[str, str]]], tmp_path: Path
) -> None:
    host, mirror_store, seen = mirror
    image_id = _image(mirror_store, parse_reference("mirror.test/app:1"), b"via cdn")
    mirror_store.tag(image_id, parse_reference("mirror.test/app-corrupt:1"))
    store = ImageStore(tmp_path / "node")
    assert await RegistryClient(store).pull(parse_reference(f"{host}/app:1"), ALICE) == image_id
    assert seen and all("Authorization" not in headers for headers in seen)  # credentials stay with the registry
    with pytest.raises(RegistryError, match="digest mismatch") as corrupt:
        await RegistryClient(ImageStore(tmp_path / "other")).pull(parse_reference(f"{host}/app-corrupt:1"), ALICE)
    assert corrupt.value.code == "DIGEST_INVALID"
    assert list((tmp_path / "other" / "tmp").iterdir()) == []
    mirror_store.tag(image_id, parse_reference("mirror.test/app-stall:1"))
    stalled = RegistryClient(ImageStore(tmp_path / "stalled"), timeout=0.5)
    with pytest.raises(RegistryError, match="connection to") as dropped:
        await stalled.pull(parse_reference(f"{host}/app-stall:1"), ALICE)
    assert dropped.value.code == "UNREACHABLE"
    assert list((tmp_path / "stalled" / "tmp").iterdir()) == []


async def test_concurrent_pulls_of_one_image_share_one_download(
    mirror: tuple[str, ImageStore, list[dict[str, str]]], tmp_path: Path
) -> None:
    host, mirror_store, seen = mirror
    image_id = _image(mirror_store, parse_reference("mirror.test/shared:1"), b"once")
    keyring = Keyring([(host, ALICE)])
    service = LocalImageService(tmp_path / "node", keyring=keyring)
    results = await asyncio.gather(*(service.pull_image(f"{host}/shared:1") for _ in range(4)))
    assert results == [image_id] * 4
    assert len(seen) == 2  # the config and the one layer, fetched once
