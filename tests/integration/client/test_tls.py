"""TLS for real: a CA, a server and client certificates, an HTTPS server on loopback that checks them.

The server asks for (but does not require) a client certificate, answers 401
without one, and echoes the certificate's CN and the Authorization header it
received — so each test sees exactly what the client presented.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from tests.integration.client.conftest import Serve, unauthorized
from tests.integration.client.pki import CA, KeyPair
from tests.integration.client.plugin import Plugin

from pinnace.api import errors
from pinnace.client.config import ClientConfig, load_client_config
from pinnace.client.exec_plugin import ExecAuth
from pinnace.client.rest import ResourceRef

CONFIGMAPS = ResourceRef("", "v1", "configmaps")


@pytest.fixture(scope="module")
def ca() -> CA:
    return CA("pinnace-test-ca")


@pytest.fixture(scope="module")
def alice(ca: CA) -> KeyPair:
    return ca.issue("alice")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def echo(request: web.Request) -> web.Response:
    peer = request.transport.get_extra_info("peercert") if request.transport else None
    cn = next((v for rdn in (peer or {}).get("subject", ()) for k, v in rdn if k == "commonName"), None)
    if cn is None:
        return unauthorized("no client certificate")
    seen = {"user": cn, "auth": request.headers.get("Authorization", "")}
    obj = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "echo"}, "data": seen}
    if request.query.get("watch") == "true":
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(b'{"type":"ADDED","object":' + web.json_response(obj).body + b"}\n")  # type: ignore[operator]
        return resp
    return web.json_response(obj)


def server_context(ca: CA, server: KeyPair, tmp_path: Path) -> ssl.SSLContext:
    (tmp_path / "server.crt").write_bytes(server.cert)
    (tmp_path / "server.key").write_bytes(server.key)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=ca.pem.decode())
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    return ctx


@pytest.fixture
async def https_url(ca: CA, serve: Serve, tmp_path: Path) -> AsyncIterator[str]:
    """An HTTPS echo server whose certificate (from ``ca``) names 127.0.0.1."""
    ctx = server_context(ca, ca.issue("apiserver", server=True, sans=("127.0.0.1",)), tmp_path)
    async with serve(echo, ctx) as url:
        yield url


def write_kubeconfig(directory: Path, cluster: dict[str, Any], user: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config"
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }
    path.write_text(yaml.safe_dump(doc))
    return path


async def fetch(cfg: ClientConfig) -> dict[str, str]:
    async with cfg.rest_client() as client:
        obj = await client.get(CONFIGMAPS, "echo", "default")
    data: dict[str, str] = obj["data"]
    return data


async def test_verified_tls_with_client_certificate_files_and_token(
    https_url: str, ca: CA, alice: KeyPair, tmp_path: Path
) -> None:
    conf = tmp_path / "kube"
    (conf / "pki").mkdir(parents=True)
    (conf / "pki" / "alice.crt").write_bytes(alice.cert)
    (conf / "pki" / "alice.key").write_bytes(alice.key)
    (conf / "pki" / "ca.crt").write_bytes(ca.pem)
    path = write_kubeconfig(
        conf,
        {"server": https_url, "certificate-authority": "pki/ca.crt"},
        {"client-certificate": "pki/alice.crt", "client-key": "pki/alice.key", "token": "t0ken"},
    )
    assert await fetch(load_client_config(path, environ={})) == {"user": "alice", "auth": "Bearer t0ken"}


async def test_inline_data_forms(https_url: str, ca: CA, alice: KeyPair, tmp_path: Path) -> None:
    path = write_kubeconfig(
        tmp_path,
        {"server": https_url, "certificate-authority-data": b64(ca.pem)},
        {"client-certificate-data": b64(alice.cert), "client-key-data": b64(alice.key)},
    )
    assert await fetch(load_client_config(path, environ={})) == {"user": "alice", "auth": ""}


async def test_wrong_ca_fails_verification(https_url: str, alice: KeyPair, tmp_path: Path) -> None:
    other = CA("someone-else")
    path = write_kubeconfig(
        tmp_path,
        {"server": https_url, "certificate-authority-data": b64(other.pem)},
        {"client-certificate-data": b64(alice.cert), "client-key-data": b64(alice.key)},
    )
    with pytest.raises(aiohttp.ClientConnectorCertificateError, match="certificate verify failed"):
        await fetch(load_client_config(path, environ={}))


async def test_no_client_certificate_is_refused(https_url: str, ca: CA, tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path, {"server": https_url, "certificate-authority-data": b64(ca.pem)}, {})
    with pytest.raises(errors.Unauthorized, match="no client certificate"):
        await fetch(load_client_config(path, environ={}))


async def test_insecure_skip_verify(https_url: str, alice: KeyPair, tmp_path: Path) -> None:
    path = write_kubeconfig(
        tmp_path,
        {"server": https_url, "insecure-skip-tls-verify": True},
        {"client-certificate-data": b64(alice.cert), "client-key-data": b64(alice.key)},
    )
    assert (await fetch(load_client_config(path, environ={})))["user"] == "alice"


async def test_tls_server_name(ca: CA, alice: KeyPair, serve: Serve, tmp_path: Path) -> None:
    """A certificate for kubernetes.default.svc only: 127.0.0.1 works once tls-server-name names it."""
    ctx = server_context(ca, ca.issue("apiserver", server=True, sans=("kubernetes.default.svc",)), tmp_path)
    user = {"client-certificate-data": b64(alice.cert), "client-key-data": b64(alice.key)}
    async with serve(echo, ctx) as url:
        cluster = {"server": url, "certificate-authority-data": b64(ca.pem)}
        plain = write_kubeconfig(tmp_path / "plain", cluster, user)
        with pytest.raises(aiohttp.ClientConnectorCertificateError, match=r"not valid for '127\.0\.0\.1'"):
            await fetch(load_client_config(plain, environ={}))
        named = write_kubeconfig(tmp_path / "named", {**cluster, "tls-server-name": "kubernetes.default.svc"}, user)
        assert (await fetch(load_client_config(named, environ={})))["user"] == "alice"


async def test_exec_plugin_client_certificate(https_url: str, ca: CA, tmp_path: Path) -> None:
    pair = ca.issue("exec-user")
    (tmp_path / "exec.crt").write_bytes(pair.cert)
    (tmp_path / "exec.key").write_bytes(pair.key)
    plugin = Plugin(tmp_path / "plugin")
    env = [
        {"name": "CERT_FILE", "value": str(tmp_path / "exec.crt")},
        {"name": "KEY_FILE", "value": str(tmp_path / "exec.key")},
        {"name": "NO_TOKEN", "value": "1"},
    ]
    path = write_kubeconfig(
        tmp_path, {"server": https_url, "certificate-authority-data": b64(ca.pem)}, {"exec": plugin.stanza(env=env)}
    )
    cfg = load_client_config(path, environ={})
    assert isinstance(cfg.auth_provider(), ExecAuth)
    assert await fetch(cfg) == {"user": "exec-user", "auth": ""}
    assert plugin.runs == 1


async def test_token_file_rotation_on_requests_and_watches(
    https_url: str, ca: CA, alice: KeyPair, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    user = {"client-certificate-data": b64(alice.cert), "client-key-data": b64(alice.key), "tokenFile": "token"}
    path = write_kubeconfig(tmp_path, {"server": https_url, "certificate-authority-data": b64(ca.pem)}, user)
    async with load_client_config(path, environ={}).rest_client() as client:
        assert (await client.get(CONFIGMAPS, "echo", "default"))["data"]["auth"] == "Bearer first"
        token.write_text("second-token\n")
        assert (await client.get(CONFIGMAPS, "echo", "default"))["data"]["auth"] == "Bearer second-token"
        events = [e async for e in client.watch(CONFIGMAPS, "default")]
        assert [(e.type, e.object["data"]["auth"]) for e in events] == [("ADDED", "Bearer second-token")]
