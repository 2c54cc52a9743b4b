"""The metrics server's API as the aggregator reaches it: request-header authentication by the front proxy's client
certificate, delegated authorization through SubjectAccessReviews to a real API server with RBAC, and
metrics.k8s.io objects built from its readings (joined with the pods' and nodes' labels from its informers)."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.integration.tokenusers import authenticate_tokens

from pinnace.adm.pki import CertSpec, ensure_ca, ensure_cert
from pinnace.apiserver.authz import enable_rbac
from pinnace.apiserver.server import APIServer
from pinnace.apiserver.user import UserInfo
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.cluster.metricsserver import METRICS_USER, metrics_rbac
from pinnace.metricsserver import MetricsServer, MetricsServerConfig
from pinnace.metricsserver.samples import NodeScrape, Point
from pinnace.storage.sqlite import SQLiteStore

pytestmark = pytest.mark.timeout(60)

SECOND = 1_000_000_000
USERS = {
    "admin": UserInfo("kubernetes-admin", groups=("system:masters",)),
    "metrics": UserInfo(METRICS_USER),
}
CONFIGMAPS = ResourceRef("", "v1", "configmaps")
NAMESPACES = ResourceRef("", "v1", "namespaces", namespaced=False)
NODES = ResourceRef("", "v1", "nodes", namespaced=False)
PODS = ResourceRef("", "v1", "pods")
CLUSTER_ROLE_BINDINGS = ResourceRef("rbac.authorization.k8s.io", "v1", "clusterrolebindings", namespaced=False)
GROUP_PATH = "/apis/metrics.k8s.io/v1beta1"


@dataclass
class Setup:
    url: str
    pki: Path
    server: MetricsServer
    admin: RestClient


def rbac_ref(plural: str) -> ResourceRef:
    group = "rbac.authorization.k8s.io"
    return ResourceRef(group, "v1", plural, namespaced=plural == "rolebindings")


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    pki = tmp_path / "pki"
    front_proxy_ca = ensure_ca(pki, "front-proxy-ca", "front-proxy-ca")
    ensure_cert(pki, "front-proxy-client", CertSpec("front-proxy-client", client=True), front_proxy_ca)
    ensure_cert(pki, "impostor", CertSpec("someone-else", client=True), front_proxy_ca)
    serving_ca = ensure_ca(pki, "serving-ca", "serving-ca")
    ensure_cert(pki, "serving", CertSpec("metrics-server", ip_addresses=("127.0.0.1",), server=True), serving_ca)

    store = await SQLiteStore.open(tmp_path / "store.db", durable=False)
    api = APIServer(store)
    authenticate_tokens(api, USERS, tmp_path, anonymous=False)
    await enable_rbac(api)
    await api.listen("127.0.0.1", 0)
    admin = RestClient(api.url, token="admin")
    metrics_rest = RestClient(api.url, token="metrics")
    for plural, obj in metrics_rbac():
        await admin.create(rbac_ref(plural), obj, obj["metadata"].get("namespace"))
    data = {
        "requestheader-client-ca-file": (pki / "front-proxy-ca.crt").read_text(),
        "requestheader-allowed-names": json.dumps(["front-proxy-client"]),
        "requestheader-username-headers": json.dumps(["X-Remote-User"]),
        "requestheader-group-headers": json.dumps(["X-Remote-Group"]),
        "requestheader-extra-headers-prefix": json.dumps(["X-Remote-Extra-"]),
    }
    await admin.create(
        CONFIGMAPS,
        {"metadata": {"name": "extension-apiserver-authentication", "namespace": "kube-system"}, "data": data},
        "kube-system",
    )
    await admin.create(NAMESPACES, {"metadata": {"name": "shop"}})
    await admin.create(NODES, {"metadata": {"name": "n1", "labels": {"zone": "a"}}})
    for name, app in (("web-1", "web"), ("db-1", "db")):
        pod = {
            "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
        }
        await admin.create(PODS, pod, "shop")

    config = MetricsServerConfig("127.0.0.1", 0, str(pki / "serving.crt"), str(pki / "serving.key"), resolution=3600)
    server = MetricsServer(metrics_rest, config)
    port = await server.start()
    for informer in (server.nodes, server.pods):
        await informer.wait_for_sync(10)
    # Two rounds of readings, as two scrapes of n1 15 s apart would give.
    first = {("shop", n): {"c": Point(100.0, 0, 1 << 20, 50.0)} for n in ("web-1", "db-1")}
    second = {
        ("shop", "web-1"): {"c": Point(115.0, 3 * SECOND, 64 << 20, 50.0)},
        ("shop", "db-1"): {"c": Point(115.0, SECOND // 100, 32 << 20, 50.0)},
    }
    server.storage.store([NodeScrape("n1", 100.0, Point(100.0, 0, 1 << 30), first)])
    server.storage.store([NodeScrape("n1", 115.0, Point(115.0, 15 * SECOND, 2 << 30), second)])
    try:
        yield Setup(f"https://127.0.0.1:{port}", pki, server, admin)
    finally:
        await server.stop()
        await metrics_rest.close()
        await admin.close()
        await api.stop()
        await store.close()


def tls(pki: Path, cert: str | None = "front-proxy-client") -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "serving-ca.crt"))
    if cert:
        context.load_cert_chain(str(pki / f"{cert}.crt"), str(pki / f"{cert}.key"))
    return context


async def get(
    setup: Setup,
    path: str,
    *,
    user: str | None = "kubernetes-admin",
    groups: tuple[str, ...] = ("system:masters", "system:authenticated"),
    cert: str | None = "front-proxy-client",
    accept: str = "application/json",
) -> tuple[int, Any]:
    headers: list[tuple[str, str]] = [("Accept", accept)]
    if user is not None:
        headers.append(("X-Remote-User", user))
    headers += [("X-Remote-Group", g) for g in groups]
    async with (
        aiohttp.ClientSession() as session,
        session.get(setup.url + path, headers=headers, ssl=tls(setup.pki, cert)) as response,
    ):
        return response.status, await response.json(content_type=None)


async def test_pod_and_node_metrics(setup: Setup) -> None:
    status, body = await get(setup, f"{GROUP_PATH}/namespaces/shop/pods")
    assert status == 200, body
    assert body["kind"] == "PodMetricsList"
    by_name = {item["metadata"]["name"]: item for item in body["items"]}
    assert set(by_name) == {"web-1", "db-1"}
    web = by_name["web-1"]
    assert web["metadata"]["labels"] == {"app": "web"} and web["window"] == "15s"
    assert web["containers"] == [{"name": "c", "usage": {"cpu": "200m", "memory": "64Mi"}}]
    assert by_name["db-1"]["containers"][0]["usage"]["cpu"] == "666666n"

    status, body = await get(setup, f"{GROUP_PATH}/namespaces/shop/pods?labelSelector=app%3Dweb")
    assert [i["metadata"]["name"] for i in body["items"]] == ["web-1"]
    status, body = await get(setup, f"{GROUP_PATH}/pods?fieldSelector=metadata.name%3Ddb-1")
    assert [i["metadata"]["name"] for i in body["items"]] == ["db-1"]
    status, body = await get(setup, f"{GROUP_PATH}/namespaces/shop/pods/web-1")
    assert status == 200 and body["kind"] == "PodMetrics"
    status, body = await get(setup, f"{GROUP_PATH}/namespaces/shop/pods/nope")
    assert status == 404 and body["reason"] == "NotFound"
    assert body["message"] == 'podmetrics.metrics.k8s.io "shop/nope" not found'

    status, body = await get(setup, f"{GROUP_PATH}/nodes")
    assert status == 200 and [i["metadata"]["name"] for i in body["items"]] == ["n1"]
    assert body["items"][0]["usage"] == {"cpu": "1", "memory": "2Gi"}
    status, body = await get(setup, f"{GROUP_PATH}/nodes?labelSelector=zone%3Db")
    assert body["items"] == []

    status, body = await get(setup, f"{GROUP_PATH}/nodes", accept="application/json;as=Table;v=v1;g=meta.k8s.io")
    assert body["kind"] == "Table" and body["rows"][0]["cells"] == ["n1", "1", "2Gi", "15s"]
    status, body = await get(setup, f"{GROUP_PATH}/pods?watch=true")
    assert status == 405 and body["kind"] == "Status"
    status, body = await get(setup, f"{GROUP_PATH}/nodes?labelSelector=a%20in")
    assert status == 400 and body["kind"] == "Status"


async def test_discovery(setup: Setup) -> None:
    status, body = await get(setup, GROUP_PATH)
    assert status == 200 and body["groupVersion"] == "metrics.k8s.io/v1beta1"
    assert {r["name"] for r in body["resources"]} == {"nodes", "pods"}
    status, body = await get(setup, "/apis")
    assert body["groups"][0]["name"] == "metrics.k8s.io"


async def test_only_the_front_proxy_is_believed(setup: Setup) -> None:
    status, body = await get(setup, f"{GROUP_PATH}/nodes", cert=None)
    assert status == 401 and body["reason"] == "Unauthorized"
    status, body = await get(setup, f"{GROUP_PATH}/nodes", cert="impostor")  # right CA, name not allowed
    assert status == 401
    status, body = await get(setup, f"{GROUP_PATH}/nodes", user=None)
    assert status == 401
    async with aiohttp.ClientSession() as session, session.get(setup.url + "/healthz", ssl=tls(setup.pki)) as r:
        assert r.status == 200  # health needs no user


async def test_users_are_authorized_by_the_api_server(setup: Setup) -> None:
    status, body = await get(setup, f"{GROUP_PATH}/namespaces/shop/pods", user="jane", groups=("system:authenticated",))
    assert status == 403 and body["reason"] == "Forbidden"
    assert 'User "jane" cannot list "pods" in API group "metrics.k8s.io" in the namespace "shop"' in body["message"]
    # Bound to the role metrics-server's manifest aggregates into view/edit/admin: allowed (RBAC read afresh by
    # the API server; a decision the metrics server got is remembered for a few seconds, so janet asks first now).
    binding = {
        "metadata": {"name": "janet-metrics"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "system:aggregated-metrics-reader"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "janet"}],
    }  # fmt: skip
    await setup.admin.create(CLUSTER_ROLE_BINDINGS, binding)
    status, body = await get(setup, f"{GROUP_PATH}/namespaces/shop/pods", user="janet", groups=())
    assert status == 200, body
    # Discovery: allowed to every authenticated user (system:discovery), which the front proxy need not say.
    status, body = await get(setup, GROUP_PATH, user="jane", groups=())
    assert status == 200, body
