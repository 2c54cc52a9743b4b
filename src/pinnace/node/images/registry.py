"""A client of the registry HTTP API v2 (the OCI distribution spec): pulls and pushes.

Pull: the manifest by tag or digest (Accept: OCI and Docker manifest and index
types), the platform's manifest when that is an index (linux/amd64 on a PC),
then the config and layers, each streamed to a temp file, verified against its
digest and renamed into the store. Redirects of blob GETs (to a CDN or object
store) are followed by hand, without our Authorization header when the host
changes. Push: each blob unless the registry has it (HEAD), uploaded whole (one
PUT) or in chunks (PATCH with Content-Range, then PUT ?digest=), then the
manifest PUT.

Authentication, as Docker does it: try anonymously; on 401 read the challenge —
``Basic`` retries with the credentials, ``Bearer`` fetches a token from the
realm for the service and scope (with Basic credentials when there are some,
or an identity token as an OAuth2 refresh token) and retries with it. Tokens
are cached per host and scope until they expire. Loopback and listed insecure
registries are spoken to over http, every other over https with the system CAs
— or with the CA given for that host (``ca_files``, or Docker's
``/etc/docker/certs.d/<host>/ca.crt``), which also makes a loopback host https.

Errors are :class:`RegistryError` (an :class:`~pinnace.node.cri.ImagePullError`)
with the registry's error code: ``MANIFEST_UNKNOWN``, ``NAME_UNKNOWN``,
``UNAUTHORIZED``, ``DENIED``, ``DIGEST_INVALID``, ``UNREACHABLE``…
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import aiohttp
import orjson

from pinnace.node.cri import ImagePullError, RegistryAuth
from pinnace.node.images.auth import credentials, parse_www_authenticate
from pinnace.node.images.manifest import (
    ACCEPT,
    INDEX_TYPES,
    Descriptor,
    ManifestError,
    media_type_of,
    parse_index,
    parse_manifest,
    select_platform,
)
from pinnace.node.images.reference import Reference, sha256_digest
from pinnace.node.images.store import DigestMismatch, ImageStore

_MAX_REDIRECTS = 5
#: Where Docker looks for a registry's CA (``<dir>/<host[:port]>/ca.crt``); we look there too.
DOCKER_CERTS_DIR = Path("/etc/docker/certs.d")
_PARALLEL_BLOBS = 3


class RegistryError(ImagePullError):
    """A registry refused or failed a request; ``code`` is the distribution error code (or our own)."""

    def __init__(self, message: str, code: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def is_loopback(host: str) -> bool:
    """Whether a registry host[:port] is this machine (spoken to over plain http, as Docker allows)."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def basic_authorization(username: str, password: str) -> str:
    """An ``Authorization: Basic`` header value (RFC 7617, UTF-8)."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _error(status: int, body: bytes, what: str) -> RegistryError:
    codes: list[str] = []
    messages: list[str] = []
    try:
        for err in orjson.loads(body).get("errors") or []:
            codes.append(str(err.get("code", "")))
            messages.append(str(err.get("message", "")))
    except (orjson.JSONDecodeError, AttributeError):
        pass
    code = codes[0] if codes else {401: "UNAUTHORIZED", 403: "DENIED", 404: "NOT_FOUND"}.get(status, "")
    detail = "; ".join(m for m in messages if m) or body[:200].decode("utf-8", "replace").strip()
    reason = {
        "MANIFEST_UNKNOWN": "manifest unknown",
        "NAME_UNKNOWN": "repository not found",
        "BLOB_UNKNOWN": "blob unknown",
        "UNAUTHORIZED": "unauthorized: authentication required",
        "DENIED": "denied: requested access to the resource is denied",
        "NOT_FOUND": "not found",
    }.get(code, f"HTTP {status}")
    return RegistryError(f"{what}: {reason}" + (f" ({detail})" if detail else ""), code, status)


def _identity(auth: RegistryAuth | None) -> str:
    """A digest naming one set of credentials ("" for anonymous), to key what was obtained with them."""
    if auth is None:
        return ""
    fields = (auth.username, auth.password, auth.auth, auth.identity_token, auth.registry_token)
    return hashlib.sha256("\0".join(fields).encode()).hexdigest()


class _Endpoint:
    """One registry host, with its credentials and cached tokens."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        host: str,
        scheme: str,
        auth: RegistryAuth | None,
        tokens: dict[Any, Any],
        tls: ssl.SSLContext | bool = True,
    ) -> None:
        self.http = http
        self.host = host
        self.base = f"{scheme}://{host}"
        self.tls = tls
        self.auth = auth
        self.tokens = tokens  # (host, scope, whose) -> (header, expiry); shared by the client
        self.basic = False
        #: Whose credentials these are: a token obtained with them is never handed to other credentials (or none).
        self.whose = _identity(auth)

    def _authorization(self, scope: str) -> str | None:
        cached = self.tokens.get((self.host, scope, self.whose))
        if cached and cached[1] > time.monotonic():
            return str(cached[0])
        creds = credentials(self.auth)
        if self.basic and creds:
            return basic_authorization(*creds)
        return None

    async def _token(self, params: dict[str, str], scope: str) -> None:
        realm = params.get("realm")
        if not realm:
            raise RegistryError(f"{self.host}: Bearer challenge without a realm", "UNAUTHORIZED", 401)
        if self.auth and self.auth.registry_token:
            self.tokens[(self.host, scope, self.whose)] = (f"Bearer {self.auth.registry_token}", time.monotonic() + 60)
            return
        query = {"scope": scope, **({"service": params["service"]} if "service" in params else {})}
        creds = credentials(self.auth)
        try:
            if self.auth and self.auth.identity_token:
                form = {**query, "grant_type": "refresh_token", "refresh_token": self.auth.identity_token}
                form["client_id"] = "pinnace"
                response = await self.http.post(realm, data=form)
            else:
                headers = {"Authorization": basic_authorization(*creds)} if creds else {}
                response = await self.http.get(f"{realm}?{urlencode(query)}", headers=headers)
            async with response:
                body = await response.read()
                if response.status != 200:
                    raise _error(response.status, body, f"token from {realm}")
        except aiohttp.ClientError as exc:
            raise RegistryError(f"cannot get a token from {realm}: {exc}", "UNREACHABLE") from None
        doc = orjson.loads(body)
        token = doc.get("token") or doc.get("access_token")
        if not token:
            raise RegistryError(f"the token server {realm} answered without a token", "UNAUTHORIZED", 401)
        lifetime = float(doc.get("expires_in") or 60)
        self.tokens[(self.host, scope, self.whose)] = (f"Bearer {token}", time.monotonic() + max(lifetime - 5, 1))

    async def _answer(self, challenge_header: str, scope: str) -> bool:
        """Prepare credentials for a 401's challenge; whether a retry may succeed."""
        for challenge in parse_www_authenticate(challenge_header):
            if challenge.scheme == "bearer":
                await self._token(dict(challenge.params), scope)
                return True
            if challenge.scheme == "basic" and credentials(self.auth) and not self.basic:
                self.basic = True
                return True
        return False

    @asynccontextmanager
    async def request(
        self,
        method: str,
        url: str,
        scope: str,
        *,
        headers: dict[str, str] | None = None,
        data: Callable[[], Any] | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send a request with authentication (answering one challenge) and manual redirects."""
        url = urljoin(self.base + "/", url)
        for attempt in range(2):
            auth_header = self._authorization(scope)
            response = await self._follow(method, url, headers or {}, auth_header, data)
            if response.status == 401 and attempt == 0:
                challenge = response.headers.get("WWW-Authenticate", "")
                body = await response.read()
                response.release()
                if await self._answer(challenge, scope):
                    continue
                raise _error(401, body, f"{method} {url}")
            break
        try:
            yield response
        finally:
            response.release()

    async def _follow(
        self, method: str, url: str, headers: dict[str, str], auth: str | None, data: Callable[[], Any] | None
    ) -> aiohttp.ClientResponse:
        origin = urlsplit(url).netloc
        for _ in range(_MAX_REDIRECTS + 1):
            sent = dict(headers)
            if auth and urlsplit(url).netloc == origin:
                sent["Authorization"] = auth
            tls = self.tls if urlsplit(url).netloc == origin else True
            try:
                response = await self.http.request(
                    method, url, headers=sent, data=data() if data else None, allow_redirects=False, ssl=tls
                )
            except aiohttp.ClientError as exc:
                raise RegistryError(f"cannot reach registry {self.host}: {exc}", "UNREACHABLE") from None
            if response.status in (301, 302, 303, 307, 308) and method in ("GET", "HEAD"):
                location = response.headers.get("Location", "")
                response.release()
                url = urljoin(url, location)
                continue
            return response
        raise RegistryError(f"{method} {url}: too many redirects", "UNREACHABLE")


def _constant(value: bytes) -> Callable[[], bytes]:
    return lambda: value


class RegistryClient:
    """Pulls images into, and pushes them from, an :class:`ImageStore`.

    ``timeout`` is how long a connection may stay silent (a stalled download fails; a slow one goes on).
    """

    def __init__(
        self,
        store: ImageStore,
        *,
        insecure: Iterable[str] = (),
        ca_files: Mapping[str, str] | None = None,
        certs_dir: Path | str | None = DOCKER_CERTS_DIR,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 120,
    ) -> None:
        self.store = store
        self.insecure = set(insecure)
        self.ca_files = dict(ca_files or {})
        self.certs_dir = Path(certs_dir) if certs_dir else None
        self._session = session
        self._timeout = timeout
        self._tokens: dict[Any, Any] = {}

    def ca_file(self, host: str) -> str | None:
        """The CA bundle that signs ``host``'s certificate, if one is configured (``ca_files``, then certs.d)."""
        if host in self.ca_files:
            return self.ca_files[host]
        if self.certs_dir is not None and (self.certs_dir / host / "ca.crt").is_file():
            return str(self.certs_dir / host / "ca.crt")
        return None

    def scheme(self, host: str) -> str:
        """https for a host with a CA configured; else http for loopback and insecure registries; else https."""
        if self.ca_file(host):
            return "https"
        return "http" if is_loopback(host) or host in self.insecure else "https"

    def _tls(self, host: str) -> ssl.SSLContext | bool:
        ca = self.ca_file(host)
        if ca is None:
            return True  # the system's CAs
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=ca)
        return context

    def _make_endpoint(self, http: aiohttp.ClientSession, ref: Reference, auth: RegistryAuth | None) -> _Endpoint:
        host = ref.api_host
        return _Endpoint(http, host, self.scheme(host), auth, self._tokens, self._tls(host))

    @asynccontextmanager
    async def _endpoint(self, ref: Reference, auth: RegistryAuth | None) -> AsyncIterator[_Endpoint]:
        if self._session is not None:
            yield self._make_endpoint(self._session, ref, auth)
            return
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=self._timeout)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            yield self._make_endpoint(http, ref, auth)

    # -- pull ----------------------------------------------------------------------------------------------

    async def pull(self, ref: Reference, auth: RegistryAuth | None = None) -> str:
        """Pull an image into the store under ``ref`` (and its repo digest); its image ID."""
        try:
            async with self._endpoint(ref, auth) as ep:
                manifest_digest, top, extra = await self._pull(ep, ref)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RegistryError(f"{ref}: connection to {ref.api_host} failed: {exc!r}", "UNREACHABLE") from None
        except ManifestError as exc:
            raise RegistryError(f"{ref}: {exc}", "MANIFEST_INVALID") from None
        references = [ref.with_digest(top)]
        if ref.tag:
            references.append(Reference(ref.domain, ref.path, ref.tag))
        return self.store.add_image(manifest_digest, references, extra)

    async def _pull(self, ep: _Endpoint, ref: Reference) -> tuple[str, str, list[str]]:
        """Fetch manifest(s) and missing blobs; (platform manifest digest, top digest, extra blobs)."""
        scope = f"repository:{ref.path}:pull"
        body, top = await self._manifest(ep, ref, ref.digest or ref.tag, scope)
        extra: list[str] = []
        manifest_digest = top
        if media_type_of(body) in INDEX_TYPES:
            self.store.write_blob(body, top)
            extra.append(top)
            entry = select_platform(parse_index(body))
            body, manifest_digest = await self._manifest(ep, ref, entry.digest, scope)
        manifest = parse_manifest(body)
        self.store.write_blob(body, manifest_digest)
        limit = asyncio.Semaphore(_PARALLEL_BLOBS)

        async def fetch(descriptor: Descriptor) -> None:
            async with limit:
                await self._blob(ep, ref, descriptor, scope)

        needed = {d.digest: d for d in (manifest.config, *manifest.layers) if not self.store.has_blob(d.digest)}
        fetches = [asyncio.ensure_future(fetch(descriptor)) for descriptor in needed.values()]
        try:
            await asyncio.gather(*fetches)
        except BaseException:
            # One blob failed: the others stop too, and their temp files are gone before the error is raised.
            for task in fetches:
                task.cancel()
            await asyncio.gather(*fetches, return_exceptions=True)
            raise
        return manifest_digest, top, extra

    async def _manifest(self, ep: _Endpoint, ref: Reference, tag_or_digest: str, scope: str) -> tuple[bytes, str]:
        url = f"/v2/{ref.path}/manifests/{tag_or_digest}"
        async with ep.request("GET", url, scope, headers={"Accept": ACCEPT}) as response:
            body = await response.read()
            if response.status != 200:
                raise _error(
                    response.status,
                    body,
                    f"{ref.name}:{tag_or_digest}" if ":" not in tag_or_digest else f"{ref.name}@{tag_or_digest}",
                )
        digest = sha256_digest(body)
        if tag_or_digest.startswith("sha256:") and digest != tag_or_digest:
            raise RegistryError(
                f"{ref.name}@{tag_or_digest}: digest mismatch: the manifest served has digest {digest}",
                "DIGEST_INVALID",
            )
        return body, digest

    async def _blob(self, ep: _Endpoint, ref: Reference, descriptor: Descriptor, scope: str) -> None:
        url = f"/v2/{ref.path}/blobs/{descriptor.digest}"
        async with ep.request("GET", url, scope) as response:
            if response.status != 200:
                raise _error(response.status, await response.read(), f"{ref.name} blob {descriptor.digest}")
            writer = self.store.blob_writer(descriptor.digest)
            try:
                async for chunk in response.content.iter_chunked(1 << 20):
                    writer.write(chunk)
                if descriptor.size and writer.size != descriptor.size:
                    raise DigestMismatch(f"size mismatch: expected {descriptor.size} bytes, got {writer.size}")
                writer.commit()
            except DigestMismatch as exc:
                writer.abort()
                raise RegistryError(f"{ref.name} blob {descriptor.digest}: {exc}", "DIGEST_INVALID") from None
            except BaseException:
                writer.abort()
                raise

    # -- push ----------------------------------------------------------------------------------------------

    async def push(
        self, image: str, target: Reference, auth: RegistryAuth | None = None, *, chunk_size: int | None = None
    ) -> str:
        """Push a stored image to ``target`` (tag or digest); the manifest digest. ``chunk_size``: chunked uploads."""
        record = self.store.require(image)
        body = self.store.read_blob(record.manifest)
        manifest = parse_manifest(body)
        scope = f"repository:{target.path}:pull,push"
        try:
            async with self._endpoint(target, auth) as ep:
                for descriptor in (manifest.config, *manifest.layers):
                    await self._push_blob(ep, target, descriptor.digest, scope, chunk_size)
                url = f"/v2/{target.path}/manifests/{target.digest or target.tag}"
                headers = {"Content-Type": manifest.media_type}
                async with ep.request("PUT", url, scope, headers=headers, data=lambda: body) as response:
                    if response.status not in (200, 201):
                        raise _error(response.status, await response.read(), f"push {target}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RegistryError(
                f"push {target}: connection to {target.api_host} failed: {exc!r}", "UNREACHABLE"
            ) from None
        if target.tag:
            self.store.tag(record.id, Reference(target.domain, target.path, target.tag))
        self.store.tag(record.id, target.with_digest(record.manifest))
        return record.manifest

    async def _push_blob(
        self, ep: _Endpoint, target: Reference, digest: str, scope: str, chunk_size: int | None
    ) -> None:
        async with ep.request("HEAD", f"/v2/{target.path}/blobs/{digest}", scope) as response:
            if response.status == 200:
                return
        async with ep.request("POST", f"/v2/{target.path}/blobs/uploads/", scope) as response:
            if response.status != 202:
                raise _error(response.status, await response.read(), f"push {target}: start upload of {digest}")
            location = response.headers["Location"]
        path = self.store.blob_path(digest)
        if chunk_size:
            size = path.stat().st_size
            with path.open("rb") as blob:
                offset = 0
                while offset < size:
                    chunk = blob.read(chunk_size)
                    headers = {
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                    }
                    async with ep.request("PATCH", location, scope, headers=headers, data=_constant(chunk)) as resp:
                        if resp.status != 202:
                            raise _error(resp.status, await resp.read(), f"push {target}: chunk of {digest}")
                        location = resp.headers["Location"]
                    offset += len(chunk)
            data: Callable[[], Any] | None = None
        else:
            data = lambda: path.open("rb")  # noqa: E731 - reopened if the request is retried after a challenge
        separator = "&" if "?" in location else "?"
        headers = {"Content-Type": "application/octet-stream"}
        async with ep.request("PUT", f"{location}{separator}digest={digest}", scope, headers=headers, data=data) as r:
            if r.status not in (201, 204):
                raise _error(r.status, await r.read(), f"push {target}: finish upload of {digest}")
