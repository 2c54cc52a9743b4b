"""pods/proxy and services/proxy: requests relayed by the API server to a pod, through the official client.

The "pods" are objects whose status carries the address of a small HTTP server
the test runs on a loopback address of its own (127.0.0.3): it answers every
request with what it received, so a test sees exactly what the API server
forwarded. The Endpoints of the services are written by the test too.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import aiohttp
import kubernetes.client
import pytest
from aiohttp import web
from kubernetes.client import CoreV1Api
from kubernetes.client.rest import ApiException
from tests.integration.conftest import ThreadedServer, raw_request

from pinnace.apiserver.podproxy import split_scheme_name_port
from pinnace.cluster.ports import free_port

POD_IP = "127.0.0.3"


@pytest.fixture
def backend(threaded_server: ThreadedServer) -> Iterator[int]:
    """An echo server on POD_IP (its port), running on the API server's loop."""

    async def echo(request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/redirect"):  # /redirect?to=LOCATION: a 302 there, with CORS headers
            cors = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": "true"}
            cookies = [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
            return web.Response(status=302, headers=[("Location", request.query["to"]), *cors.items(), *cookies])
        if request.headers.get("Upgrade", "").lower() == "websocket":
            ws = web.WebSocketResponse(protocols=("echo.example",))
            await ws.prepare(request)
            async for message in ws:
                await ws.send_str(f"{request.path}: {message.data}")
            return ws
        body = await request.read()
        seen = {
            "method": request.method,
            "path": request.path,
            "query": request.query_string,
            "body": body.decode(),
            "authorization": request.headers.get("Authorization"),
            "custom": request.headers.get("X-Custom"),
        }
        return web.json_response(seen, status=201 if request.method == "POST" else 200, headers={"X-Echo": "1"})

    port = free_port(POD_IP)

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", echo)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, POD_IP, port).start()
        return runner

    runner = threaded_server.call(start())
    try:
        yield port
    finally:
        threaded_server.call(runner.cleanup())


def make_pod(api: CoreV1Api, name: str, ip: str | None, ports: list[dict[str, Any]] | None = None) -> None:
    """A pod object (nothing runs it) whose status says it has ``ip``."""
    container: dict[str, Any] = {"name": "c", "image": "busybox"}
    if ports:
        container["ports"] = ports
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container]}}
    api.create_namespaced_pod("default", body)
    if ip is not None:
        status = {"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}}
        api.patch_namespaced_pod_status(name, "default", status)


def make_service(api: CoreV1Api, name: str, port: int, target: int, pod: str, ip: str) -> None:
    """A service with one port named ``web`` and Endpoints naming ``pod`` at ``ip``."""
    spec = {"ports": [{"name": "web", "port": port, "targetPort": target}]}
    api.create_namespaced_service("default", {"metadata": {"name": name}, "spec": spec})
    subset = {
        "addresses": [{"ip": ip, "targetRef": {"kind": "Pod", "name": pod, "namespace": "default"}}],
        "ports": [{"name": "web", "port": target}],
    }
    api.create_namespaced_endpoints("default", {"metadata": {"name": name}, "subsets": [subset]})


def echoed(response: Any) -> dict[str, Any]:
    """The echo server's answer, from a connect_* call made with ``_preload_content=False`` (the raw body)."""
    answer: dict[str, Any] = json.loads(response.data)
    return answer


def test_pod_proxy_forwards_method_path_query_and_body(backend: int, k8s_client: kubernetes.client.ApiClient) -> None:
    api = CoreV1Api(k8s_client)
    make_pod(api, "web", POD_IP)
    got = echoed(
        api.connect_get_namespaced_pod_proxy_with_path(
            f"web:{backend}", "default", "a/b", path2="x", _preload_content=False
        )
    )
    assert got["method"] == "GET" and got["path"] == "/a/b" and got["query"] == "path=x"
    assert got["authorization"] is None  # the client's credentials to the API server are not passed on
    status, answer = raw_request(
        k8s_client.configuration.host,
        "POST",
        f"/api/v1/namespaces/default/pods/http:web:{backend}/proxy/submit?q=1",
        b"payload",
        {"X-Custom": "kept", "Authorization": "Bearer secret"},
    )
    assert status == 201
    assert answer["method"] == "POST" and answer["path"] == "/submit" and answer["query"] == "q=1"
    assert answer["body"] == "payload" and answer["custom"] == "kept" and answer["authorization"] is None


def test_a_websocket_goes_through_pod_and_service_proxy(backend: int, k8s_client: kubernetes.client.ApiClient) -> None:
    api = CoreV1Api(k8s_client)
    make_pod(api, "web", POD_IP)
    make_service(api, "svc", 80, backend, "web", POD_IP)
    base = k8s_client.configuration.host.replace("http", "ws", 1) + "/api/v1/namespaces/default"

    async def talk(url: str) -> tuple[str | None, list[str]]:
        async with aiohttp.ClientSession() as session, session.ws_connect(url, protocols=("echo.example",)) as ws:
            replies = []
            for text in ("one", "two"):
                await ws.send_str(text)
                replies.append((await ws.receive(timeout=10)).data)
            return ws.protocol, replies

    protocol, replies = asyncio.run(talk(f"{base}/pods/web:{backend}/proxy/chat"))
    assert protocol == "echo.example"  # the subprotocol the pod chose came back through the relay
    assert replies == ["/chat: one", "/chat: two"]
    assert asyncio.run(talk(f"{base}/services/svc:web/proxy/room"))[1] == ["/room: one", "/room: two"]


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/login?next=1", "/api/v1/namespaces/default/pods/web:{port}/proxy/login?next=1"),
        ("http://{pod}/home", "/api/v1/namespaces/default/pods/web:{port}/proxy/home"),
        ("relative/page", "relative/page"),
        ("https://elsewhere.example/x", "https://elsewhere.example/x"),
    ],
)
def test_pod_proxy_answers_stay_under_the_proxy(
    backend: int, k8s_client: kubernetes.client.ApiClient, location: str, expected: str
) -> None:
    api = CoreV1Api(k8s_client)
    make_pod(api, "web", POD_IP)
    pod = f"{POD_IP}:{backend}"
    url = f"{k8s_client.configuration.host}/api/v1/namespaces/default/pods/web:{backend}/proxy/redirect"

    async def fetch() -> tuple[int, Any]:
        async with aiohttp.ClientSession() as session:
            params = {"to": location.format(pod=pod)}
            async with session.get(url, params=params, allow_redirects=False) as answer:
                return answer.status, answer.headers

    status, headers = asyncio.run(fetch())
    assert status == 302
    assert headers["Location"] == expected.format(port=backend)
    assert "Access-Control-Allow-Origin" not in headers and "Access-Control-Allow-Credentials" not in headers
    assert headers.getall("Set-Cookie") == ["a=1", "b=2"]  # repeated headers all reach the client


def test_pod_proxy_port_from_the_containers(backend: int, k8s_client: kubernetes.client.ApiClient) -> None:
    api = CoreV1Api(k8s_client)
    make_pod(api, "named", POD_IP, [{"containerPort": backend, "name": "http"}])
    host = k8s_client.configuration.host
    for ident in ("named", "named:http"):  # no port: the first container port; a name: that port
        status, answer = raw_request(host, "GET", f"/api/v1/namespaces/default/pods/{ident}/proxy/p")
        assert status == 200 and answer["path"] == "/p", (ident, answer)
    status, answer = raw_request(host, "GET", "/api/v1/namespaces/default/pods/named:nope/proxy/")
    assert status == 400 and answer["message"] == 'pod named has no container port named "nope"'


def test_service_proxy_reaches_a_pod_of_its_endpoints(backend: int, k8s_client: kubernetes.client.ApiClient) -> None:
    api = CoreV1Api(k8s_client)
    make_pod(api, "web", POD_IP)
    make_service(api, "svc", 80, backend, "web", POD_IP)
    for ident in ("svc:80", "svc:web", "http:svc:web"):
        got = echoed(
            api.connect_get_namespaced_service_proxy_with_path(ident, "default", "hello", _preload_content=False)
        )
        assert got["path"] == "/hello", ident
    got = echoed(
        api.connect_post_namespaced_service_proxy_with_path("svc:web", "default", "post", _preload_content=False)
    )
    assert got["method"] == "POST"


def test_service_proxy_refusals_are_upstreams(backend: int, k8s_client: kubernetes.client.ApiClient) -> None:
    api = CoreV1Api(k8s_client)
    host = k8s_client.configuration.host
    make_pod(api, "web", POD_IP)
    make_service(api, "svc", 80, backend, "web", POD_IP)
    make_service(api, "liar", 80, backend, "web", "127.0.0.4")  # the address is not the pod's
    cases = {
        "svc": (503, 'no endpoints available for service "svc"'),  # the only port is named: "" matches none
        "svc:81": (503, 'no service port 81 found for service "svc"'),
        "liar:web": (503, 'no endpoints available for service "liar:web"'),
        "nosuch": (404, 'endpoints "nosuch" not found'),
    }
    for ident, (code, message) in cases.items():
        status, answer = raw_request(host, "GET", f"/api/v1/namespaces/default/services/{ident}/proxy/")
        assert (status, answer["message"]) == (code, message), ident
        assert answer["kind"] == "Status"


def test_pod_proxy_refusals(backend: int, k8s_client: kubernetes.client.ApiClient) -> None:
    api = CoreV1Api(k8s_client)
    host = k8s_client.configuration.host
    make_pod(api, "pending", None)
    make_pod(api, "linklocal", "169.254.169.254")
    make_pod(api, "hostself", "127.0.0.1")
    make_pod(api, "web", POD_IP)
    closed = free_port(POD_IP)
    cases = {
        "a:b:c:d": (400, 'invalid pod request "a:b:c:d"'),
        "ftp:web:1": (400, 'invalid pod request "ftp:web:1"'),
        "missing:80": (404, 'pods "missing" not found'),
        "pending:80": (400, "pod pending has no IP address yet"),
        "linklocal:80": (400, "address not allowed"),
        "hostself:80": (400, "address not allowed"),
        f"web:{closed}": (
            503,
            f"error trying to reach service: dial tcp {POD_IP}:{closed}: connect: connection refused",
        ),
    }
    for ident, (code, message) in cases.items():
        status, answer = raw_request(host, "GET", f"/api/v1/namespaces/default/pods/{ident}/proxy/")
        assert (status, answer["message"]) == (code, message), ident
    with pytest.raises(ApiException) as caught:
        api.connect_get_namespaced_pod_proxy("missing", "default")
    assert caught.value.status == 404


def test_split_scheme_name_port() -> None:
    assert split_scheme_name_port("web") == ("http", "web", "")
    assert split_scheme_name_port("web:80") == ("http", "web", "80")
    assert split_scheme_name_port("https:web:443") == ("https", "web", "443")
    for bad in ("", ":80", "ftp:web:21", "a:b:c:d"):
        with pytest.raises(ValueError):
            split_scheme_name_port(bad)
