"""The aggregation layer end to end: an extension API server behind a secured in-process API server.

The extension is a tiny aiohttp server on loopback with TLS (its serving
certificate for ``metrics-api.ext.svc`` from a CA of the test's own), which
records the headers and the client certificate of every request and serves
``metrics.k8s.io/v1beta1``: its APIResourceList, and a list, get and watch of
``pods``. It is registered as metrics-server is: a Service without a selector
(port 443), an EndpointSlice at 127.0.0.1, and the APIService
``v1beta1.metrics.k8s.io`` with its CA bundle. The API server has the PKI of
``pinnace up`` (secure_server, RBAC), so the front-proxy client certificate and
the ``extension-apiserver-authentication`` ConfigMap are the real ones; the
judges are plain HTTP, the official ``kubernetes`` client and kubectl.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import kubernetes.client
import kubernetes.config
import orjson
import pytest
from aiohttp import web
from kubernetes.client.exceptions import ApiException

from pinnace.adm import kubeconfigs, pki
from pinnace.apiserver.authz import enable_rbac
from pinnace.apiserver.server import APIServer
from pinnace.cluster.security import SecurityConfig, secure_server
from pinnace.storage.sqlite import SQLiteStore

Obj = dict[str, Any]

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
APISERVICE = f"{VERSION}.{GROUP}"
NAMESPACE, SERVICE = "ext", "metrics-api"
GV_PATH = f"/apis/{GROUP}/{VERSION}"
SLICES = f"/apis/discovery.k8s.io/v1/namespaces/{NAMESPACE}/endpointslices"
RESOURCES = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": f"{GROUP}/{VERSION}",
    "resources": [
        {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
        {
            "name": "pods",
            "singularName": "",
            "namespaced": True,
            "kind": "PodMetrics",
            "verbs": ["get", "list", "watch"],
        },
        {"name": "pods/status", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get"]},
    ],
}


def pod_metrics(namespace: str, name: str) -> Obj:
    return {
        "kind": "PodMetrics",
        "apiVersion": f"{GROUP}/{VERSION}",
        "metadata": {"name": name, "namespace": namespace},
        "timestamp": "2025-01-01T00:00:00Z",
        "window": "10s",
        "containers": [{"name": "app", "usage": {"cpu": "1m", "memory": "1Mi"}}],
    }


# ---- the extension API server ----------------------------------------------------------------------------------
@dataclass
class Extension:
    """A fake extension API server: what it was asked, and a switch for the watch's second event."""

    ca_pem: bytes
    port: int = 0
    seen: list[Obj] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    runner: web.AppRunner | None = None

    def requests_for(self, path: str) -> list[Obj]:
        return [r for r in self.seen if r["path"] == path]

    def record(self, request: web.Request) -> None:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        subject = dict(item[0] for item in peer["subject"]) if peer else {}
        self.seen.append(
            {
                "path": request.path,
                "query": dict(request.query),
                "client_cn": subject.get("commonName"),
                "users": request.headers.getall("X-Remote-User", []),
                "groups": request.headers.getall("X-Remote-Group", []),
                "extra": {k: v for k, v in request.headers.items() if k.lower().startswith("x-remote-extra-")},
                "authorization": request.headers.get("Authorization"),
                "impersonate": [k for k in request.headers if k.lower().startswith("impersonate-")],
            }
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.record(request)
        path = request.path.rstrip("/")
        if path == GV_PATH:
            return web.json_response(RESOURCES)
        parts = path[len(GV_PATH) + 1 :].split("/") if path.startswith(GV_PATH + "/") else []
        if parts[:1] == ["namespaces"] and len(parts) >= 3 and parts[2] == "pods":
            namespace = parts[1]
            if len(parts) == 4:
                return web.json_response(pod_metrics(namespace, parts[3]))
            if request.query.get("watch") in ("true", "1"):
                return await self.watch(request, namespace)
            items = [pod_metrics(namespace, n) for n in ("a", "b")]
            kind = {"kind": "PodMetricsList", "apiVersion": f"{GROUP}/{VERSION}"}
            return web.json_response({**kind, "metadata": {}, "items": items})
        status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}
        return web.json_response(status, status=404)

    async def watch(self, request: web.Request, namespace: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for name in ("a", "b"):
            await response.write(orjson.dumps({"type": "ADDED", "object": pod_metrics(namespace, name)}) + b"\n")
            if name == "a":
                await self.release.wait()  # the second event only once the client has seen the first
        await response.write_eof()
        return response

    async def start(self, serving: ssl.SSLContext, port: int = 0) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port, ssl_context=serving)
        await site.start()
        server = site._server
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


def serving_context(tmp: Path, front_proxy_ca: Path) -> tuple[ssl.SSLContext, bytes]:
    """The extension's TLS: a serving certificate for the Service's name from a CA of its own; client certificates
    of the front-proxy CA are asked for (and recorded), not required."""
    key = pki.generate_key(pki.ECDSA_P256)
    ca = pki.CertPair(pki.new_ca("extension-ca", key), key)
    serving_key = pki.generate_key(pki.ECDSA_P256)
    spec = pki.CertSpec(f"{SERVICE}.{NAMESPACE}.svc", dns_names=(f"{SERVICE}.{NAMESPACE}.svc",), server=True)
    pair = pki.CertPair(pki.issue(spec, ca, serving_key), serving_key)
    pki.write_pair(tmp / "ext.crt", tmp / "ext.key", pair)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(tmp / "ext.crt"), str(tmp / "ext.key"))
    ctx.load_verify_locations(cafile=str(front_proxy_ca))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx, ca.cert_pem()


# ---- the API server ---------------------------------------------------------------------------------------------
@dataclass
class Env:
    server: APIServer
    data: Path
    pki: pki.PKI
    ext: Extension
    serving: ssl.SSLContext

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def kubeconfig(self) -> Path:
        return self.data / "admin.conf"

    def client_ssl(self, identity: kubeconfigs.ClientIdentity | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cadata=self.pki.ca.cert_pem().decode())
        if identity is not None:
            cert, key = self.data / f"{identity.user}.crt", self.data / f"{identity.user}.key"
            pki.write_pair(cert, key, kubeconfigs.client_pair(self.pki, identity))
            ctx.load_cert_chain(str(cert), str(key))
        return ctx

    async def call(
        self,
        method: str,
        path: str,
        body: Obj | None = None,
        *,
        token: str | None = None,
        identity: kubeconfigs.ClientIdentity | None = kubeconfigs.ADMIN,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        connector = aiohttp.TCPConnector(ssl=self.client_ssl(None if token else identity))
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.request(method, self.url + path, json=body, headers=sent) as resp,
        ):
            data = await resp.read()
            return resp.status, json.loads(data) if data else None

    async def create(self, path: str, body: Obj) -> Obj:
        status, answer = await self.call("POST", path, body)
        assert status == 201, answer
        return dict(answer)

    async def apiservice(self) -> Obj:
        status, answer = await self.call("GET", f"/apis/apiregistration.k8s.io/v1/apiservices/{APISERVICE}")
        assert status == 200, answer
        return dict(answer)

    async def condition(self) -> Obj | None:
        conditions: list[Obj] = (await self.apiservice()).get("status", {}).get("conditions") or []
        return next((dict(c) for c in conditions if c["type"] == "Available"), None)

    async def wait_condition(self, status: str, reason: str, timeout: float = 10.0) -> Obj:
        async def check() -> Obj | None:
            found = await self.condition()
            return found if found and (found["status"], found["reason"]) == (status, reason) else None

        found: Obj = await eventually(check, timeout)
        return found

    async def register(self, *, ready: bool = True, ca: bytes | None = None) -> None:
        """The extension's Service, EndpointSlice and APIService, as metrics-server's manifests make them."""
        await self.create(f"/api/v1/namespaces/{NAMESPACE}/services", service())
        await self.create(SLICES, endpoint_slice(self.ext.port, ready=ready))
        await self.create("/apis/apiregistration.k8s.io/v1/apiservices", apiservice(ca or self.ext.ca_pem))


def service() -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": SERVICE, "namespace": NAMESPACE},
        "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}]},
    }


def endpoint_slice(port: int, *, ready: bool = True, name: str = f"{SERVICE}-1") -> Obj:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"kubernetes.io/service-name": SERVICE}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": ready}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    }


def apiservice(ca: bytes) -> Obj:
    return {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": APISERVICE},
        "spec": {
            "group": GROUP,
            "version": VERSION,
            "service": {"namespace": NAMESPACE, "name": SERVICE, "port": 443},
            "caBundle": base64.b64encode(ca).decode(),
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
        },
    }


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := await check()):
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
    return result


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    data = tmp_path / "data"
    cluster_pki = pki.create_pki(data, pki.PKIConfig(node_name="test-node", encryption_algorithm=pki.ECDSA_P256))
    tokens = tmp_path / "tokens.csv"
    tokens.write_text('nobody-token,nobody,1001,"devs"\n')
    store = await SQLiteStore.open(tmp_path / "store.db", durable=False)
    server = APIServer(store, service_account_key=cluster_pki.sa_key)
    tls = secure_server(server, cluster_pki, SecurityConfig(token_auth_file=tokens))
    server.aggregator.resync_interval = 0.5  # backends going down are noticed quickly
    await enable_rbac(server)
    await server.listen("127.0.0.1", 0, ssl=tls)
    kubeconfigs.create_kubeconfigs(data, cluster_pki, server.url)
    serving, ca_pem = serving_context(tmp_path, cluster_pki.path("front-proxy-ca")[0])
    ext = Extension(ca_pem)
    await ext.start(serving)
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    environment = Env(server, data, cluster_pki, ext, serving)
    await environment.create("/api/v1/namespaces", ns)
    try:
        yield environment
    finally:
        ext.release.set()
        await ext.stop()
        await server.stop()
        await store.close()


# ---- proxying -------------------------------------------------------------------------------------------------
async def test_requests_are_proxied_with_the_user_and_the_front_proxy_certificate(env: Env) -> None:
    await env.register()
    condition = await env.wait_condition("True", "Passed")
    assert condition["message"] == "all checks passed"

    status, got = await env.call("GET", f"{GV_PATH}/namespaces/default/pods/web", headers={"X-Remote-User": "forged"})
    assert status == 200, got
    assert got["kind"] == "PodMetrics" and got["metadata"] == {"name": "web", "namespace": "default"}
    status, listed = await env.call("GET", f"{GV_PATH}/namespaces/default/pods?limit=5")
    assert status == 200 and [i["metadata"]["name"] for i in listed["items"]] == ["a", "b"]
    status, resources = await env.call("GET", GV_PATH)
    assert status == 200 and resources == RESOURCES

    (seen,) = env.ext.requests_for(f"{GV_PATH}/namespaces/default/pods/web")
    assert seen["client_cn"] == "front-proxy-client"
    assert seen["users"] == ["kubernetes-admin"]
    assert seen["groups"] == ["kubeadm:cluster-admins", "system:authenticated"]
    assert seen["authorization"] is None and seen["impersonate"] == []
    (listing,) = env.ext.requests_for(f"{GV_PATH}/namespaces/default/pods")
    assert listing["query"] == {"limit": "5"}
    # The availability checks and discovery fetches come as the aggregator itself.
    checks = env.ext.requests_for(GV_PATH)
    assert {tuple(c["users"]) for c in checks} >= {("system:kube-aggregator",)}
    assert all(c["client_cn"] == "front-proxy-client" for c in checks)


async def test_a_bearer_token_is_not_forwarded_and_extra_values_are(env: Env) -> None:
    await env.register()
    await env.wait_condition("True", "Passed")
    # The admin impersonates a user with extra values: the extension sees the impersonated user.
    headers = {
        "Impersonate-User": "jane",
        "Impersonate-Group": "devs",
        "Impersonate-Extra-scopes.example.com%2Fx": "a b",
    }
    status, got = await env.call("GET", f"{GV_PATH}/namespaces/default/pods/x", headers=headers)
    assert status == 403, got  # jane has no rights on metrics.k8s.io pods: RBAC refused before any proxying
    assert env.ext.requests_for(f"{GV_PATH}/namespaces/default/pods/x") == []
    status, got = await env.call("GET", f"{GV_PATH}/namespaces/default/pods/x", token="nobody-token")
    assert status == 403 and got["reason"] == "Forbidden", got
    assert 'cannot get resource "pods" in API group "metrics.k8s.io"' in got["message"]
    assert env.ext.requests_for(f"{GV_PATH}/namespaces/default/pods/x") == []

    rbac = "rbac.authorization.k8s.io"
    role = {
        "apiVersion": f"{rbac}/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "metrics"},
        "rules": [{"apiGroups": [GROUP], "resources": ["pods"], "verbs": ["get", "list", "watch"]}],
    }
    binding = {
        "apiVersion": f"{rbac}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "metrics-devs"},
        "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "metrics"},
        "subjects": [{"kind": "Group", "name": "devs", "apiGroup": rbac}],
    }
    await env.create("/apis/rbac.authorization.k8s.io/v1/clusterroles", role)
    await env.create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", binding)

    async def allowed() -> bool:
        status, _ = await env.call("GET", f"{GV_PATH}/namespaces/default/pods/x", token="nobody-token")
        return status == 200

    await eventually(allowed)
    seen = env.ext.requests_for(f"{GV_PATH}/namespaces/default/pods/x")[-1]
    assert seen["users"] == ["nobody"] and seen["groups"] == ["devs", "system:authenticated"]
    assert seen["authorization"] is None
    status, _ = await env.call("GET", f"{GV_PATH}/namespaces/default/pods/y", headers=headers)
    assert status == 200
    seen = env.ext.requests_for(f"{GV_PATH}/namespaces/default/pods/y")[-1]
    assert seen["users"] == ["jane"] and "devs" in seen["groups"] and seen["impersonate"] == []
    assert seen["extra"] == {"X-Remote-Extra-scopes.example.com%2Fx": "a b"}


async def test_a_watch_streams_events_as_the_extension_writes_them(env: Env) -> None:
    await env.register()
    await env.wait_condition("True", "Passed")
    connector = aiohttp.TCPConnector(ssl=env.client_ssl(kubeconfigs.ADMIN))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(f"{env.url}{GV_PATH}/namespaces/default/pods?watch=true") as resp,
    ):
        assert resp.status == 200
        first = json.loads(await asyncio.wait_for(resp.content.readline(), 5))
        assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "a")
        env.ext.release.set()  # the second event is written only now
        second = json.loads(await asyncio.wait_for(resp.content.readline(), 5))
        assert second["object"]["metadata"]["name"] == "b"


# ---- unavailable backends -------------------------------------------------------------------------------------
async def test_availability_follows_the_service_its_endpoints_and_the_backend(env: Env) -> None:
    await env.create("/apis/apiregistration.k8s.io/v1/apiservices", apiservice(env.ext.ca_pem))
    condition = await env.wait_condition("False", "ServiceNotFound")
    assert condition["message"] == f'service/{SERVICE} in "{NAMESPACE}" is not present'
    status, got = await env.call("GET", f"{GV_PATH}/namespaces/default/pods")
    assert (status, got["message"], got["reason"]) == (503, "service unavailable", "ServiceUnavailable")

    await env.create(f"/api/v1/namespaces/{NAMESPACE}/services", service())
    condition = await env.wait_condition("False", "MissingEndpoints")
    assert (
        condition["message"]
        == f'endpoints for service/{SERVICE} in "{NAMESPACE}" have no addresses with port name "https"'
    )

    await env.create(SLICES, endpoint_slice(env.ext.port, ready=False))
    await asyncio.sleep(0.3)
    assert (await env.condition() or {}).get("reason") == "MissingEndpoints"  # a not-ready endpoint is no backend

    path = f"/apis/discovery.k8s.io/v1/namespaces/{NAMESPACE}/endpointslices/{SERVICE}-1"
    _, current = await env.call("GET", path)
    ready = endpoint_slice(env.ext.port)
    ready["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    status, _ = await env.call("PUT", path, ready)
    assert status == 200
    first = await env.wait_condition("True", "Passed")

    # The backend goes away: the next check fails, and requests get the dial error.
    await env.ext.stop()
    condition = await env.wait_condition("False", "FailedDiscoveryCheck")
    url = f"https://127.0.0.1:{env.ext.port}{GV_PATH}"
    assert condition["message"].startswith(f'failing or missing response from {url}: Get "{url}": dial tcp ')
    assert "connection refused" in condition["message"]
    assert condition["lastTransitionTime"] >= first["lastTransitionTime"]
    status, got = await env.call("GET", f"{GV_PATH}/namespaces/default/pods")
    assert (status, got["message"]) == (503, "service unavailable")

    # Back on the same port: Available again (the periodic check), and requests pass.
    await env.ext.start(env.serving, env.ext.port)
    await env.wait_condition("True", "Passed")
    status, _ = await env.call("GET", f"{GV_PATH}/namespaces/default/pods")
    assert status == 200


async def test_a_backend_that_refuses_connections_answers_503(env: Env) -> None:
    await env.register()
    await env.wait_condition("True", "Passed")
    # A second endpoint where nothing listens: the APIService stays Available (a probe of the live one passes),
    # and the requests the random pick sends there get the dial error.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    await env.create(SLICES, endpoint_slice(dead, name=f"{SERVICE}-dead"))
    answers: list[tuple[int, str]] = []
    for _ in range(60):
        status, got = await env.call("GET", f"{GV_PATH}/namespaces/default/pods")
        answers.append((status, got.get("message", "") if status != 200 else ""))
        if {s for s, _ in answers} == {200, 503}:
            break
    refused = [message for status, message in answers if status == 503]
    assert refused and 200 in {s for s, _ in answers}, answers
    assert refused[0] == f"error trying to reach service: dial tcp 127.0.0.1:{dead}: connect: connection refused"
    assert (await env.condition() or {}).get("reason") == "Passed"


async def test_a_backend_certificate_not_of_the_ca_bundle_is_refused(env: Env) -> None:
    other_key = pki.generate_key(pki.ECDSA_P256)
    other_ca = pki.new_ca("another-ca", other_key)
    await env.register(ca=pki.CertPair(other_ca, other_key).cert_pem())
    # The availability check does not verify (as upstream): it passes; the proxy verifies, and refuses.
    await env.wait_condition("True", "Passed")
    status, got = await env.call("GET", f"{GV_PATH}/namespaces/default/pods")
    assert status == 503, got
    assert got["message"].startswith("error trying to reach service: tls: ")
    assert env.ext.requests_for(f"{GV_PATH}/namespaces/default/pods") == []
    # Its discovery could not be fetched either: the group-version is listed, stale.
    status, doc = await env.call("GET", "/apis", headers={"Accept": AGGREGATED_V2})
    (group,) = [g for g in doc["items"] if g["metadata"]["name"] == GROUP]
    assert group["versions"] == [{"version": VERSION, "resources": [], "freshness": "Stale"}]


# ---- discovery ------------------------------------------------------------------------------------------------
AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"


async def test_discovery_lists_the_extension_group(env: Env) -> None:
    await env.register()
    await env.wait_condition("True", "Passed")

    async def listed() -> Obj | None:
        _, doc = await env.call("GET", "/apis", headers={"Accept": AGGREGATED_V2})
        found = [g for g in doc["items"] if g["metadata"]["name"] == GROUP]
        return found[0] if found and found[0]["versions"][0]["freshness"] == "Current" else None

    group = await eventually(listed)
    (version,) = group["versions"]
    assert version["version"] == VERSION
    by_name = {r["resource"]: r for r in version["resources"]}
    kind = {"group": "", "version": "", "kind": "PodMetrics"}  # the APIResourceList names no group
    assert by_name["pods"] == {
        "resource": "pods",
        "responseKind": kind,
        "scope": "Namespaced",
        "singularResource": "",
        "verbs": ["get", "list", "watch"],
        "subresources": [{"subresource": "status", "responseKind": kind, "verbs": ["get"]}],
    }
    assert by_name["nodes"]["scope"] == "Cluster"
    _, beta = await env.call("GET", "/apis", headers={"Accept": AGGREGATED_V2BETA1})
    assert beta["apiVersion"] == "apidiscovery.k8s.io/v2beta1"
    assert next(g for g in beta["items"] if g["metadata"]["name"] == GROUP)["versions"] == group["versions"]

    status, legacy = await env.call("GET", "/apis")
    assert status == 200
    names = [g["name"] for g in legacy["groups"]]
    assert names[-1] == GROUP  # priority 100: after every built-in group (and CRD groups, at 1000)
    assert legacy["groups"][-1]["preferredVersion"] == {"groupVersion": f"{GROUP}/{VERSION}", "version": VERSION}
    status, group_doc = await env.call("GET", f"/apis/{GROUP}")
    assert status == 200 and group_doc["kind"] == "APIGroup" and group_doc["name"] == GROUP

    # The APIService goes: so does the group.
    status, _ = await env.call("DELETE", f"/apis/apiregistration.k8s.io/v1/apiservices/{APISERVICE}")
    assert status == 200

    async def gone() -> bool:
        _, doc = await env.call("GET", "/apis")
        status, _ = await env.call("GET", f"{GV_PATH}/namespaces/default/pods")
        return GROUP not in [g["name"] for g in doc["groups"]] and status == 404

    await eventually(gone)


# ---- the extension's authentication ConfigMap -----------------------------------------------------------------
async def test_the_extension_apiserver_authentication_configmap(env: Env) -> None:
    path = "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"
    status, cm = await env.call("GET", path)
    assert status == 200, cm
    data = dict(cm["data"])
    assert data["client-ca-file"] == env.pki.ca.cert_pem().decode()
    assert data["requestheader-client-ca-file"] == env.pki.front_proxy_ca.cert_pem().decode()
    assert json.loads(data["requestheader-allowed-names"]) == ["front-proxy-client"]
    assert json.loads(data["requestheader-extra-headers-prefix"]) == ["X-Remote-Extra-"]
    assert json.loads(data["requestheader-group-headers"]) == ["X-Remote-Group"]
    assert json.loads(data["requestheader-username-headers"]) == ["X-Remote-User"]
    # Put back when changed.
    cm["data"]["client-ca-file"] = "tampered"
    status, _ = await env.call("PUT", path, cm)
    assert status == 200
    assert env.server.aggregator.authentication is not None
    await env.server.aggregator.authentication.sync()
    _, again = await env.call("GET", path)
    assert again["data"] == data


# ---- real clients ---------------------------------------------------------------------------------------------
async def test_the_official_client_sees_and_reads_the_extension(env: Env) -> None:
    await env.register()
    await env.wait_condition("True", "Passed")

    def run() -> tuple[list[str], Any, Any, Any]:
        with kubernetes.config.new_client_from_config(config_file=str(env.kubeconfig)) as api:  # type: ignore[no-untyped-call]
            groups = [g.name for g in kubernetes.client.ApisApi(api).get_api_versions().groups]
            custom = kubernetes.client.CustomObjectsApi(api)
            listed = custom.list_namespaced_custom_object(GROUP, VERSION, "default", "pods")
            one = custom.get_namespaced_custom_object(GROUP, VERSION, "default", "pods", "web")
            apiservice = kubernetes.client.ApiregistrationV1Api(api).read_api_service(APISERVICE)
            return groups, listed, one, apiservice

    groups, listed, one, read = await asyncio.to_thread(run)
    assert GROUP in groups
    assert listed["kind"] == "PodMetricsList" and len(listed["items"]) == 2
    assert one["metadata"]["name"] == "web"
    (condition,) = read.status.conditions
    assert (condition.type, condition.status, condition.reason) == ("Available", "True", "Passed")

    def refused() -> int:
        config = kubernetes.client.Configuration(host=env.url)
        config.ssl_ca_cert = str(env.pki.path("ca")[0])
        config.api_key = {"authorization": "nobody-token"}
        config.api_key_prefix = {"authorization": "Bearer"}
        with kubernetes.client.ApiClient(config) as api, pytest.raises(ApiException) as info:
            kubernetes.client.CustomObjectsApi(api).list_namespaced_custom_object(GROUP, VERSION, "default", "pods")
        return int(info.value.status)

    assert await asyncio.to_thread(refused) == 403


async def kubectl(env: Env, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        "kubectl", f"--kubeconfig={env.kubeconfig}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_kubectl_lists_and_reads_the_extension_resources(env: Env, tmp_path: Path) -> None:
    await env.register()
    await env.wait_condition("True", "Passed")

    async def current() -> bool:
        _, doc = await env.call("GET", "/apis", headers={"Accept": AGGREGATED_V2})
        return any(g["metadata"]["name"] == GROUP and g["versions"][0]["freshness"] == "Current" for g in doc["items"])

    await eventually(current)
    code, out, err = await kubectl(env, "api-resources", f"--api-group={GROUP}", f"--cache-dir={tmp_path}/cache")
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()[1:]]
    assert ["nodes", f"{GROUP}/{VERSION}", "false", "NodeMetrics"] in rows
    assert ["pods", f"{GROUP}/{VERSION}", "true", "PodMetrics"] in rows

    code, out, err = await kubectl(env, "get", "--raw", f"{GV_PATH}/namespaces/default/pods/web")
    assert code == 0, err
    assert json.loads(out)["kind"] == "PodMetrics"
    code, out, err = await kubectl(env, "get", "--raw", GV_PATH)
    assert code == 0 and json.loads(out)["groupVersion"] == f"{GROUP}/{VERSION}", err
    code, out, err = await kubectl(env, "get", "apiservice", APISERVICE, "--no-headers")
    assert code == 0, err
    assert out.split()[:3] == [APISERVICE, f"{NAMESPACE}/{SERVICE}", "True"]
