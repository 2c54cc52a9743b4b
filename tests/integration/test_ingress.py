"""The Ingress controller against a real API server: Ingresses, Services and EndpointSlices made through the
client, two real aiohttp backends on loopback, requests through the controller's HTTP and HTTPS listeners (aiohttp
client, TLS verified with the test's own CA), and the status read back with the official client and kubectl."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import shutil
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import kubernetes.client
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.x509.oid import NameOID

from pinnace.adm.pki import ECDSA_P256, CertPair, CertSpec, generate_key, issue, new_ca
from pinnace.apiserver.server import APIServer
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.ingress import IngressConfig, IngressController

T = TypeVar("T")
Obj = dict[str, Any]

NS = "ingress-test"
NAMESPACES = ResourceRef("", "v1", "namespaces", namespaced=False)
SERVICES = ResourceRef("", "v1", "services")
SLICES = ResourceRef("discovery.k8s.io", "v1", "endpointslices")
SECRETS = ResourceRef("", "v1", "secrets")
INGRESSES = ResourceRef("networking.k8s.io", "v1", "ingresses")
CLASSES = ResourceRef("networking.k8s.io", "v1", "ingressclasses", namespaced=False)


# ---- real backends ----------------------------------------------------------------------------------------------
@dataclass
class Backend:
    """An aiohttp server on loopback that says who it is and echoes what it got."""

    name: str
    port: int = 0
    runner: web.AppRunner | None = None
    #: Set by the test to let /stream write its second chunk.
    go_on: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set when /stream finds its client (the proxy) gone before the second chunk.
    stream_abandoned: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/stream", self.stream)
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/ws", self.websocket)
        app.router.add_get("/broken", self.broken)
        app.router.add_route("*", "/{tail:.*}", self.echo)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {
                "backend": self.name,
                "method": request.method,
                "path": request.raw_path,
                "headers": dict(request.headers),
                "body_sha256": hashlib.sha256(body).hexdigest(),
                "body_length": len(body),
            },
            headers={"X-Backend": self.name, "Set-Cookie": "a=1"},
        )

    async def stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: first\n\n")
        await asyncio.wait_for(self.go_on.wait(), 5)
        try:
            await response.write(b"data: second\n\n")
        except ConnectionResetError:
            self.stream_abandoned.set()
            return response
        await response.write_eof()
        return response

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.Response(text="late")

    async def broken(self, request: web.Request) -> web.StreamResponse:
        """Promises 100 bytes, sends 10, and hangs up."""
        response = web.StreamResponse(headers={"Content-Length": "100"})
        await response.prepare(request)
        await response.write(b"0123456789")
        assert request.transport is not None
        request.transport.close()
        return response

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("echo.v1",))
        await ws.prepare(request)
        async for message in ws:
            if message.type is aiohttp.WSMsgType.TEXT and message.data == "bye":
                await ws.close(code=4001, message=b"backend says bye")
            elif message.type is aiohttp.WSMsgType.TEXT:
                await ws.send_str(f"{self.name}: {message.data}")
            elif message.type is aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(message.data[::-1])
        return ws


@pytest.fixture
async def backends() -> AsyncIterator[dict[str, Backend]]:
    servers = {name: Backend(name) for name in ("one", "two")}
    for server in servers.values():
        await server.start()
    try:
        yield servers
    finally:
        for server in servers.values():
            await server.stop()


# ---- objects --------------------------------------------------------------------------------------------------------
def service(name: str, *, port_name: str = "http") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"ports": [{"name": port_name, "port": 80, "targetPort": 8080, "protocol": "TCP"}]},
    }


def endpoint_slice(name: str, service_name: str, ports: list[int], *, port_name: str = "http") -> Obj:
    """An EndpointSlice of ``service_name``: 127.0.0.1 on each of ``ports`` (one slice per port: one port each)."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": NS, "labels": {"kubernetes.io/service-name": service_name}},
        "addressType": "IPv4",
        "ports": [{"name": port_name, "port": ports[0], "protocol": "TCP"}],
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
    }


def backend(name: str, port: int | str = 80) -> Obj:
    return {"service": {"name": name, "port": {"number": port} if isinstance(port, int) else {"name": port}}}


def http_path(path: str, service_name: str, path_type: str = "Prefix") -> Obj:
    return {"path": path, "pathType": path_type, "backend": backend(service_name)}


def ingress(name: str, rules: list[Obj], *, class_name: str | None = "pinnace", **spec: Any) -> Obj:
    body: Obj = {"rules": rules, **spec}
    if class_name is not None:
        body["ingressClassName"] = class_name
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": NS},
        "spec": body,
    }


def ingress_class(name: str, controller: str = "pinnace.dev/ingress") -> Obj:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": name},
        "spec": {"controller": controller},
    }


@pytest.fixture
async def cluster(client: RestClient, backends: dict[str, Backend]) -> RestClient:
    """Namespace, the ``pinnace`` IngressClass, Services ``one`` and ``two`` on the two backends."""
    await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    await client.create(CLASSES, ingress_class("pinnace"))
    for name, server in backends.items():
        await client.create(SERVICES, service(name), NS)
        await client.create(SLICES, endpoint_slice(f"{name}-1", name, [server.port]), NS)
    return client


@pytest.fixture
async def controller(cluster: RestClient, api_server: APIServer) -> AsyncIterator[IngressController]:
    async with RestClient(api_server.url) as rest:
        ctl = IngressController(rest, IngressConfig())
        await ctl.start("127.0.0.1", 0, 0)
        try:
            yield ctl
        finally:
            await ctl.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 5.0) -> T:
    """Await ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


class Through:
    """Requests through the controller's HTTP listener."""

    def __init__(self, http: aiohttp.ClientSession, ctl: IngressController) -> None:
        self.http = http
        self.ctl = ctl

    async def get(self, host: str, path: str, **kwargs: Any) -> tuple[int, Any, aiohttp.ClientResponse]:
        """Status, the decoded JSON (or text) body, and the response."""
        method = kwargs.pop("method", "GET")
        headers = {"Host": host, **kwargs.pop("headers", {})}
        url = f"http://127.0.0.1:{self.ctl.http_port}{path}"
        async with self.http.request(method, url, headers=headers, allow_redirects=False, **kwargs) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text), response
            except ValueError:
                return response.status, text, response

    async def backend_of(self, host: str, path: str) -> str | int:
        """The backend that answered, or the status when none did."""
        status, body, _ = await self.get(host, path)
        return body["backend"] if status == 200 and isinstance(body, dict) else status


@pytest.fixture
def through(http: aiohttp.ClientSession, controller: IngressController) -> Through:
    return Through(http, controller)


# ---- routing --------------------------------------------------------------------------------------------------------
async def test_host_and_path_routing_with_forwarded_headers(
    cluster: RestClient, through: Through, backends: dict[str, Backend]
) -> None:
    rules = [
        {"host": "one.example.com", "http": {"paths": [http_path("/", "one")]}},
        {
            "host": "api.example.com",
            "http": {
                "paths": [http_path("/api", "two"), http_path("/api/exact", "one", "Exact"), http_path("/", "one")]
            },
        },
        {"host": "*.wild.example.com", "http": {"paths": [http_path("/", "two")]}},
        {"host": "ext.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": backend("external", backends["two"].port)}]}},
    ]  # fmt: skip
    external = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "external", "namespace": NS},
                "spec": {"type": "ExternalName", "externalName": "localhost"}}  # fmt: skip
    await cluster.create(SERVICES, external, NS)
    await cluster.create(INGRESSES, ingress("routes", rules), NS)
    await eventually(lambda: _is(through.backend_of("one.example.com", "/"), "one"))

    assert await through.backend_of("ONE.example.com:8080", "/anything") == "one"
    assert await through.backend_of("api.example.com", "/api/v1") == "two"
    assert await through.backend_of("api.example.com", "/api/exact") == "one"
    assert await through.backend_of("api.example.com", "/api/exact/more") == "two"
    assert await through.backend_of("api.example.com", "/apiary") == "one"
    assert await through.backend_of("x.wild.example.com", "/") == "two"
    assert await through.backend_of("x.y.wild.example.com", "/") == 404
    assert await through.backend_of("unknown.example.com", "/") == 404
    # ExternalName: the external host, at the backend's port.
    await eventually(lambda: _is(through.backend_of("ext.example.com", "/"), "two"))

    status, body, response = await through.get(
        "api.example.com:8080",
        "/api/v1/items?limit=5&q=a%20b",
        method="PUT",
        headers={"Connection": "keep-alive, X-Drop-Me", "X-Drop-Me": "1", "X-Custom": "kept",
                 "X-Forwarded-For": "6.6.6.6"},
    )  # fmt: skip
    assert status == 200
    assert body["method"] == "PUT"
    assert body["path"] == "/api/v1/items?limit=5&q=a%20b"
    headers = body["headers"]
    assert headers["Host"] == "api.example.com:8080"
    assert headers["X-Custom"] == "kept" and "X-Drop-Me" not in headers
    assert headers["X-Forwarded-For"] == "127.0.0.1" and headers["X-Real-IP"] == "127.0.0.1"
    assert headers["X-Forwarded-Host"] == "api.example.com:8080"
    assert headers["X-Forwarded-Port"] == str(through.ctl.http_port)
    assert headers["X-Forwarded-Proto"] == "http"
    assert headers["X-Request-ID"]
    assert "User-Agent" in headers  # the client's own, passed on
    assert response.headers["X-Backend"] == "two" and response.headers["Set-Cookie"] == "a=1"

    status, text, response = await through.get("unknown.example.com", "/")
    assert status == 404 and "404 Not Found" in text and response.content_type == "text/html"


async def _is(value: Awaitable[Any], expected: Any) -> bool:
    return bool(await value == expected)


async def test_default_backend_and_error_statuses(
    cluster: RestClient, through: Through, backends: dict[str, Backend]
) -> None:
    await cluster.create(SERVICES, service("empty"), NS)  # no endpoints at all
    await cluster.create(SERVICES, service("dead"), NS)
    closed = _free_port()
    await cluster.create(SLICES, endpoint_slice("dead-1", "dead", [closed]), NS)
    rules = [
        {
            "host": "err.example.com",
            "http": {
                "paths": [
                    http_path("/empty", "empty"),
                    http_path("/dead", "dead"),
                    {"path": "/bucket", "pathType": "Prefix",
                     "backend": {"resource": {"apiGroup": "k8s.example.com", "kind": "Bucket", "name": "b"}}},
                    {"path": "/noport", "pathType": "Prefix", "backend": backend("one", 81)},
                ]
            },
        }
    ]  # fmt: skip
    await cluster.create(INGRESSES, ingress("errors", rules), NS)
    await cluster.create(INGRESSES, ingress("fallback", [], defaultBackend=backend("two", "http")), NS)
    await eventually(lambda: _is(through.backend_of("anything.example.com", "/"), "two"))
    await eventually(lambda: _is(through.backend_of("err.example.com", "/dead"), 502))  # its Service and slice seen

    assert await through.backend_of("err.example.com", "/unmatched") == "two"
    status, text, _ = await through.get("err.example.com", "/empty")
    assert status == 503 and "Service Temporarily Unavailable" in text and "no ready endpoints" in text
    status, text, _ = await through.get("err.example.com", "/bucket")
    assert status == 503 and "not supported" in text
    status, text, _ = await through.get("err.example.com", "/noport")
    assert status == 503 and "has no port 81" in text
    status, text, _ = await through.get("err.example.com", "/dead")
    assert status == 502 and "502 Bad Gateway" in text

    # A Service with a dead endpoint and a live one: the dead one is skipped, every request answered.
    await cluster.create(SERVICES, service("mixed"), NS)
    await cluster.create(SLICES, endpoint_slice("mixed-dead", "mixed", [closed]), NS)
    await cluster.create(SLICES, endpoint_slice("mixed-live", "mixed", [backends["one"].port]), NS)
    await cluster.patch(INGRESSES, "fallback", {"spec": {"defaultBackend": backend("mixed", "http")}}, NS)
    await eventually(lambda: _is(through.backend_of("anything.example.com", "/"), "one"))
    assert [await through.backend_of("anything.example.com", "/") for _ in range(4)] == ["one"] * 4

    await cluster.delete(INGRESSES, "fallback", NS)
    await eventually(lambda: _is(through.backend_of("anything.example.com", "/"), 404))


async def test_http_only_controller_with_short_timeout(
    cluster: RestClient, api_server: APIServer, http: aiohttp.ClientSession
) -> None:
    rules = [{"host": "x.example.com", "http": {"paths": [http_path("/", "one")]}}]
    await cluster.create(INGRESSES, ingress("slow", rules, tls=[{"hosts": ["x.example.com"]}]), NS)
    async with RestClient(api_server.url) as rest:
        ctl = IngressController(rest, IngressConfig(read_timeout=0.3))
        await ctl.start("127.0.0.1", 0, None)
        try:
            assert ctl.https_port is None and ctl.synced
            through = Through(http, ctl)
            assert await through.backend_of("x.example.com", "/fast") == "one"  # TLS host, but no HTTPS: no redirect
            status, text, _ = await through.get("x.example.com", "/slow")
            assert status == 504 and "504 Gateway Time-out" in text
        finally:
            await ctl.stop()


async def test_watch_namespace(cluster: RestClient, api_server: APIServer, http: aiohttp.ClientSession) -> None:
    await cluster.create(INGRESSES, ingress("elsewhere", [{"http": {"paths": [http_path("/", "one")]}}]), NS)
    async with RestClient(api_server.url) as rest:
        ctl = IngressController(rest, IngressConfig(watch_namespace="default", address="ingress.local"))
        await ctl.start("127.0.0.1", 0, None)
        try:
            assert await Through(http, ctl).backend_of("x", "/") == 404
            assert not ctl.table.served
        finally:
            await ctl.stop()
    obj = await cluster.get(INGRESSES, "elsewhere", NS)
    assert not (obj.get("status") or {}).get("loadBalancer", {}).get("ingress")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- bodies ---------------------------------------------------------------------------------------------------------
async def test_request_bodies_and_streamed_answers(
    cluster: RestClient, through: Through, backends: dict[str, Backend]
) -> None:
    await cluster.create(INGRESSES, ingress("bodies", [{"http": {"paths": [http_path("/", "one")]}}]), NS)
    await eventually(lambda: _is(through.backend_of("x", "/"), "one"))

    payload = bytes(range(256)) * 4096  # 1 MiB
    status, body, _ = await through.get("x", "/upload", method="POST", data=payload)
    assert status == 200 and body["method"] == "POST"
    assert body["body_length"] == len(payload) and body["body_sha256"] == hashlib.sha256(payload).hexdigest()

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield payload[:1000]

    status, body, _ = await through.get("x", "/chunked", method="POST", data=chunks())
    assert status == 200 and body["body_length"] == 8000
    assert body["headers"].get("Transfer-Encoding") == "chunked"

    # The first event arrives before the backend writes the second (which waits for the test to see the first).
    url = f"http://127.0.0.1:{through.ctl.http_port}/stream"
    async with through.http.get(url, headers={"Host": "x"}) as response:
        assert response.status == 200 and response.headers["Content-Type"] == "text/event-stream"
        assert response.headers.get("Transfer-Encoding") == "chunked"
        first = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 5)
        assert first == b"data: first\n\n"
        backends["one"].go_on.set()
        assert await asyncio.wait_for(response.content.read(), 5) == b"data: second\n\n"

    # A client that hangs up midway: the proxy hangs up on the backend too.
    backends["one"].go_on.clear()
    reader, writer = await asyncio.open_connection("127.0.0.1", through.ctl.http_port)
    writer.write(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"data: first" in await asyncio.wait_for(reader.readuntil(b"data: first"), 5)
    writer.close()
    await asyncio.sleep(0.1)
    backends["one"].go_on.set()
    await asyncio.wait_for(backends["one"].stream_abandoned.wait(), 5)


async def _raw(port: int, request: bytes) -> bytes:
    """Send ``request`` as-is on a fresh connection; everything the server answers until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


async def test_odd_requests_and_broken_backends(cluster: RestClient, through: Through) -> None:
    rules: list[Obj] = [
        {"http": {"paths": [http_path("/", "one")]}},
        {"host": "abs.example.com", "http": {"paths": [http_path("/", "two")]}},
    ]
    await cluster.create(INGRESSES, ingress("odd", rules), NS)
    await eventually(lambda: _is(through.backend_of("x", "/"), "one"))
    port = through.ctl.http_port

    answer = await _raw(port, b"GET /%zz/../a%00b HTTP/1.1\r\nHost: [::1\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200") and b'"path": "/%zz/../a%00b"' in answer
    answer = await _raw(port, b"GET http://abs.example.com/abs?q=1 HTTP/1.1\r\nHost: abs.example.com\r\n"
                              b"Connection: close\r\n\r\n")  # fmt: skip
    assert answer.startswith(b"HTTP/1.1 200") and b'"backend": "two"' in answer and b'"path": "/abs?q=1"' in answer
    answer = await _raw(port, b"GET / HTTP/1.0\r\n\r\n")  # no Host at all: the host-less rules
    assert answer.startswith(b"HTTP/1.0 200") and b'"backend": "one"' in answer
    answer = await _raw(port, b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400")
    answer = await _raw(port, b"NONSENSE\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 400")

    status, body, response = await through.get("x", "/head", method="HEAD")
    assert status == 200 and body == "" and int(response.headers["Content-Length"]) > 0

    status, body, _ = await through.get("x", "/expect", method="POST", data=b"payload", expect100=True)
    assert status == 200 and body["body_length"] == 7

    url = f"http://127.0.0.1:{port}/broken"
    async with through.http.get(url, headers={"Host": "x"}) as response:
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    assert await through.backend_of("x", "/") == "one"  # and the proxy goes on


async def test_websocket_passes_through(cluster: RestClient, through: Through) -> None:
    await cluster.create(INGRESSES, ingress("ws", [{"http": {"paths": [http_path("/", "two")]}}]), NS)
    await eventually(lambda: _is(through.backend_of("x", "/"), "two"))
    url = f"http://127.0.0.1:{through.ctl.http_port}/ws"
    async with through.http.ws_connect(url, headers={"Host": "x"}, protocols=("echo.v1",)) as ws:
        assert ws.protocol == "echo.v1"
        await ws.send_str("hello")
        assert await asyncio.wait_for(ws.receive_str(), 5) == "two: hello"
        await ws.send_bytes(b"abc")
        assert await asyncio.wait_for(ws.receive_bytes(), 5) == b"cba"
        await ws.send_str("bye")  # the backend closes: the client gets its code and reason
        closing = await asyncio.wait_for(ws.receive(), 5)
        assert (closing.type, closing.data, closing.extra) == (aiohttp.WSMsgType.CLOSE, 4001, "backend says bye")
    async with through.http.ws_connect(url, headers={"Host": "x"}) as ws:
        await ws.send_str("again")
        assert await asyncio.wait_for(ws.receive_str(), 5) == "two: again"
        await asyncio.wait_for(ws.close(code=4000), 5)  # the client closes: the backend answers through the proxy
        assert ws.close_code == 4000
    upgrade = {"Host": "x", "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "x3JJHMbDL1EzLkh9GBhXDw=="}  # fmt: skip
    async with through.http.get(url.replace("/ws", "/not-ws"), headers=upgrade) as response:
        # The echo route answers a plain 200, not an upgrade: the client gets that status and headers.
        assert response.status == 200 and response.headers["X-Backend"] == "two"
    # A backend that cannot be reached.
    await cluster.create(SERVICES, service("dead"), NS)
    await cluster.create(SLICES, endpoint_slice("dead-1", "dead", [_free_port()]), NS)
    await cluster.patch(INGRESSES, "ws", {"spec": {"rules": [{"http": {"paths": [http_path("/", "dead")]}}]}}, NS)

    async def refused() -> int | None:
        try:
            async with through.http.ws_connect(url, headers={"Host": "x"}):
                return None  # still the old route
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status

    assert await eventually(refused) == 502


# ---- updates and classes --------------------------------------------------------------------------------------------
async def test_updates_take_effect(cluster: RestClient, through: Through, backends: dict[str, Backend]) -> None:
    await cluster.create(INGRESSES, ingress("moving", [{"host": "m.example.com", "http": {"paths": [
        http_path("/", "one")]}}]), NS)  # fmt: skip
    await eventually(lambda: _is(through.backend_of("m.example.com", "/"), "one"))

    patch = {"spec": {"rules": [{"host": "m.example.com", "http": {"paths": [http_path("/", "two")]}}]}}
    await cluster.patch(INGRESSES, "moving", patch, NS)
    await eventually(lambda: _is(through.backend_of("m.example.com", "/"), "two"))

    # A second endpoint for Service "two": requests take turns.
    await cluster.create(SLICES, endpoint_slice("two-2", "two", [backends["one"].port]), NS)

    async def both() -> bool:
        seen = {await through.backend_of("m.example.com", "/") for _ in range(4)}
        return seen == {"one", "two"}

    await eventually(both)

    await cluster.delete(INGRESSES, "moving", NS)
    await eventually(lambda: _is(through.backend_of("m.example.com", "/"), 404))


async def test_ingress_class_selection(cluster: RestClient, through: Through) -> None:
    await cluster.create(CLASSES, ingress_class("other", "example.com/other-controller"))
    rules = [{"host": "c.example.com", "http": {"paths": [http_path("/", "one")]}}]
    await cluster.create(INGRESSES, ingress("other-class", rules, class_name="other"), NS)
    rules = [{"host": "n.example.com", "http": {"paths": [http_path("/", "one")]}}]
    await cluster.create(INGRESSES, ingress("no-class", rules, class_name=None), NS)
    legacy = ingress("legacy", [{"host": "l.example.com", "http": {"paths": [http_path("/", "two")]}}], class_name=None)
    legacy["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "pinnace"}
    await cluster.create(INGRESSES, legacy, NS)
    await eventually(lambda: _is(through.backend_of("l.example.com", "/"), "two"))
    assert await through.backend_of("c.example.com", "/") == 404
    assert await through.backend_of("n.example.com", "/") == 404

    # Our class becomes the default: the class-less Ingress is served.
    annotations = {"metadata": {"annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}}}
    await cluster.patch(CLASSES, "pinnace", annotations)
    await eventually(lambda: _is(through.backend_of("n.example.com", "/"), "one"))
    # The other Ingress moves to our class, and away again.
    await cluster.patch(INGRESSES, "other-class", {"spec": {"ingressClassName": "pinnace"}}, NS)
    await eventually(lambda: _is(through.backend_of("c.example.com", "/"), "one"))
    await cluster.patch(INGRESSES, "other-class", {"spec": {"ingressClassName": "other"}}, NS)
    await eventually(lambda: _is(through.backend_of("c.example.com", "/"), 404))

    async def status_of(name: str) -> list[Obj]:
        obj = await cluster.get(INGRESSES, name, NS)
        return list((obj.get("status") or {}).get("loadBalancer", {}).get("ingress") or [])

    await eventually(lambda: _is(status_of("no-class"), [{"ip": "127.0.0.1"}]))
    await eventually(lambda: _is(status_of("other-class"), []))  # written while served, cleared after


# ---- TLS ------------------------------------------------------------------------------------------------------------
@dataclass
class PKI:
    ca: CertPair
    ca_pem: bytes

    def pair(self, host: str) -> CertPair:
        key = generate_key(ECDSA_P256)
        return CertPair(issue(CertSpec(common_name=host, dns_names=(host,), server=True), self.ca, key), key)


def tls_secret(name: str, pair: CertPair) -> Obj:
    def encode(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": encode(pair.cert_pem()), "tls.key": encode(pair.key_pem())},
    }


async def _peer_common_name(port: int, server_name: str, context: ssl.SSLContext) -> str:
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=server_name)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
    cert = x509.load_der_x509_certificate(der)
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


async def _peer_serial(port: int, server_name: str, context: ssl.SSLContext) -> int:
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=server_name)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
    return int(x509.load_der_x509_certificate(der).serial_number)


async def test_tls_by_sni_and_redirect(cluster: RestClient, through: Through) -> None:
    ca_key = generate_key(ECDSA_P256)
    ca = CertPair(new_ca("ingress-test-ca", ca_key), ca_key)
    pki = PKI(ca, ca.cert_pem())
    await cluster.create(SECRETS, tls_secret("a-tls", pki.pair("a.example.com")), NS)
    await cluster.create(SECRETS, tls_secret("b-tls", pki.pair("b.example.com")), NS)
    rules = [
        {"host": host, "http": {"paths": [http_path("/", svc)]}}
        for host, svc in (("a.example.com", "one"), ("b.example.com", "two"), ("plain.example.com", "one"))
    ]
    tls = [
        {"hosts": ["a.example.com"], "secretName": "a-tls"},
        {"hosts": ["b.example.com"], "secretName": "b-tls"},
    ]
    await cluster.create(INGRESSES, ingress("secure", rules, tls=tls), NS)
    await eventually(lambda: _is(through.backend_of("plain.example.com", "/"), "one"))

    https_port = through.ctl.https_port
    assert https_port
    verify = ssl.create_default_context(cadata=pki.ca_pem.decode())
    for host, expected in (("a.example.com", "one"), ("b.example.com", "two")):
        url = f"https://127.0.0.1:{https_port}/path?x=1"

        async def answer(host: str = host, url: str = url) -> str | None:
            try:
                async with through.http.get(url, headers={"Host": host}, ssl=verify, server_hostname=host) as r:
                    body = await r.json()
                    return str(body["backend"]) if body["headers"]["X-Forwarded-Proto"] == "https" else None
            except aiohttp.ClientConnectorCertificateError:
                return None  # the Secret is not loaded yet

        assert await eventually(answer) == expected
        assert await _peer_common_name(https_port, host, verify) == host

    # A new certificate in the Secret is served without a restart.
    renewed = pki.pair("a.example.com")
    await cluster.update(SECRETS, tls_secret("a-tls", renewed))

    async def serves_renewed() -> bool:
        serial = await _peer_serial(https_port, "a.example.com", verify)
        return serial == renewed.cert.serial_number

    await eventually(serves_renewed)

    # A host without a certificate of its own gets the default, self-signed one (which the CA does not verify).
    anything = ssl.create_default_context()
    anything.check_hostname, anything.verify_mode = False, ssl.CERT_NONE
    name = await _peer_common_name(https_port, "plain.example.com", anything)
    assert name == "Kubernetes Ingress Controller Fake Certificate"
    with pytest.raises(ssl.SSLCertVerificationError):
        await _peer_common_name(https_port, "plain.example.com", verify)

    # Plain HTTP for a TLS host is redirected; for the others it is served.
    status, _, response = await through.get("a.example.com", "/path?x=1", method="POST")
    assert status == 308
    assert response.headers["Location"] == f"https://a.example.com:{https_port}/path?x=1"
    assert await through.backend_of("plain.example.com", "/") == "one"


# ---- status ---------------------------------------------------------------------------------------------------------
async def test_status_seen_by_official_client_and_kubectl(
    cluster: RestClient, through: Through, api_server: APIServer
) -> None:
    rules = [{"host": "s.example.com", "http": {"paths": [http_path("/", "one")]}}]
    await cluster.create(INGRESSES, ingress("shown", rules), NS)
    await cluster.create(INGRESSES, ingress("ignored", rules, class_name="nobody"), NS)

    def read_status(name: str) -> Any:
        config = kubernetes.client.Configuration(host=api_server.url)
        with kubernetes.client.ApiClient(config) as api:
            return kubernetes.client.NetworkingV1Api(api).read_namespaced_ingress_status(name, NS)

    async def address() -> str | None:
        found = await asyncio.to_thread(read_status, "shown")
        entries = found.status.load_balancer.ingress or []
        return entries[0].ip if entries else None

    assert await eventually(address) == "127.0.0.1"
    ignored = await asyncio.to_thread(read_status, "ignored")
    assert not (ignored.status.load_balancer.ingress or [])

    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not installed")
    process = await asyncio.create_subprocess_exec(
        "kubectl", f"--server={api_server.url}", "get", "ingress", "-n", NS, "shown",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    header, row = out.decode().splitlines()[:2]
    columns = dict(zip(header.split(), row.split(), strict=True))
    assert columns["ADDRESS"] == "127.0.0.1" and columns["HOSTS"] == "s.example.com" and columns["CLASS"] == "pinnace"
