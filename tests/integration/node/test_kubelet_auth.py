"""The kubelet API secured as kubeadm's kubelet: HTTPS, callers authenticated and authorized through the API server.

A real node agent (process runtime) whose cluster has a CA serves its kubelet
API over HTTPS; an in-process API server with RBAC answers its TokenReviews
and SubjectAccessReviews, and reaches it as ``kube-apiserver-kubelet-client``.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from tests.integration.node.agentenv import kubelet_pki, running_agent
from tests.integration.tokenusers import authenticate_tokens

from pinnace.adm.pki import CLUSTER_ADMINS_GROUP, ECDSA_P256, CertSpec, ensure_ca, ensure_cert
from pinnace.apiserver.authz import enable_rbac
from pinnace.apiserver.proxy import KubeletProxy
from pinnace.apiserver.server import APIServer
from pinnace.apiserver.user import UserInfo
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.node.kubeletauth import kubelet_security
from pinnace.node.process import ProcessRuntime
from pinnace.node.server import KubeletServer
from pinnace.storage.sqlite import SQLiteStore

pytestmark = pytest.mark.timeout(60)

NODE = "n1"
USERS = {
    "admin": UserInfo("kubernetes-admin", groups=("system:masters",)),
    "node": UserInfo(f"system:node:{NODE}", groups=("system:nodes",)),
    "prober": UserInfo("prober"),
    "viewer": UserInfo("viewer"),
}
CLUSTER_ROLES = ResourceRef("rbac.authorization.k8s.io", "v1", "clusterroles", namespaced=False)
CLUSTER_ROLE_BINDINGS = ResourceRef("rbac.authorization.k8s.io", "v1", "clusterrolebindings", namespaced=False)
SERVICE_ACCOUNTS = ResourceRef("", "v1", "serviceaccounts")


@dataclass
class Setup:
    kubelet_url: str
    api_url: str
    pki: Path


def client_context(pki: Path, name: str | None = None) -> ssl.SSLContext:
    """A caller of the kubelet: with the client certificate ``name`` of ``pki`` (if any); not verifying the
    kubelet's self-signed serving certificate, as the API server does not."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if name:
        ctx.load_cert_chain(str(pki / f"{name}.crt"), str(pki / f"{name}.key"))
    return ctx


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    pki = tmp_path / "pki"
    ca = kubelet_pki(pki)
    ensure_cert(pki, "jane", CertSpec("jane", ("devs",), client=True), ca, ECDSA_P256)
    other_ca = ensure_ca(tmp_path / "other", "ca", "someone-else", ECDSA_P256)
    ensure_cert(
        pki, "forged", CertSpec("kube-apiserver-kubelet-client", (CLUSTER_ADMINS_GROUP,), client=True), other_ca
    )

    store = await SQLiteStore.open(tmp_path / "store.db", durable=False)
    server = APIServer(store, admission_plugins=("NamespaceLifecycle", "NodeRestriction"))
    authenticate_tokens(server, USERS, tmp_path, anonymous=False)
    rbac = await enable_rbac(server)
    server.subresource_handlers.update(
        KubeletProxy(
            server.rest, client_cert=(pki / "apiserver-kubelet-client.crt", pki / "apiserver-kubelet-client.key")
        ).handlers()
    )
    await server.listen("127.0.0.1", 0)
    admin, node = RestClient(server.url, token="admin"), RestClient(server.url, token="node")
    role = {
        "metadata": {"name": "kubelet-prober"},
        "rules": [{"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}],
    }
    await admin.create(CLUSTER_ROLES, role)
    await admin.create(CLUSTER_ROLE_BINDINGS, prober_binding("kubelet-prober", {"kind": "User", "name": "prober"}))
    try:
        async with running_agent(node, tmp_path / "node", NODE, client_ca=ca.cert_pem()) as agent:
            assert agent.kubelet is not None
            yield Setup(agent.kubelet.url, server.url, pki)
    finally:
        await admin.close()
        await node.close()
        rbac.stop()
        await server.stop()
        await store.close()


def prober_binding(name: str, subject: dict[str, str]) -> dict[str, object]:
    """A binding of the kubelet-prober role (get nodes/proxy) to ``subject``."""
    if subject["kind"] == "User":
        subject = {"apiGroup": "rbac.authorization.k8s.io", **subject}
    return {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubelet-prober"},
        "subjects": [subject],
    }


async def get(url: str, ctx: ssl.SSLContext | None = None, token: str = "") -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.get(url, ssl=ctx or False, headers=headers) as response:
        return response.status, await response.text()


async def test_callers_are_authenticated_and_authorized(setup: Setup) -> None:
    url, pki = setup.kubelet_url, setup.pki
    assert url.startswith("https://")
    assert await get(f"{url}/pods", client_context(pki)) == (401, "Unauthorized")
    assert await get(f"{url}/healthz", client_context(pki)) == (401, "Unauthorized")  # no exception for healthz
    assert await get(f"{url}/pods", client_context(pki, "jane")) == (
        403,
        "Forbidden (user=jane, verb=get, resource=nodes, subresource=proxy)",
    )
    assert await get(f"{url}/stats/summary", client_context(pki, "jane")) == (
        403,
        "Forbidden (user=jane, verb=get, resource=nodes, subresource=stats)",
    )
    status, body = await get(f"{url}/pods", client_context(pki, "apiserver-kubelet-client"))
    assert status == 200 and '"kind":"PodList"' in body


async def test_bearer_tokens_are_reviewed_by_the_api_server(setup: Setup) -> None:
    url, ctx = setup.kubelet_url, client_context(setup.pki)
    assert await get(f"{url}/healthz", ctx, token="prober") == (200, "ok")
    assert await get(f"{url}/healthz", ctx, token="viewer") == (
        403,
        "Forbidden (user=viewer, verb=get, resource=nodes, subresource=proxy)",
    )
    assert await get(f"{url}/healthz", ctx, token="not-a-token") == (401, "Unauthorized")


async def test_a_certificate_of_another_ca_fails_the_handshake(setup: Setup) -> None:
    with pytest.raises(aiohttp.ClientError):
        await get(f"{setup.kubelet_url}/pods", client_context(setup.pki, "forged"))


async def test_the_api_server_reaches_the_kubelet_with_its_client_certificate(setup: Setup) -> None:
    async with RestClient(setup.api_url, token="admin") as admin:
        listed = await admin.request("GET", f"/api/v1/nodes/{NODE}/proxy/pods")
    assert listed["kind"] == "PodList"


async def test_review_answers_are_cached_as_upstreams_kubelet_caches_them(setup: Setup) -> None:
    """Tokens 2 min, allowed 5 min, denied 30 s: a revoked token or role keeps working that long, as upstream."""
    url, ctx = setup.kubelet_url, client_context(setup.pki)
    async with RestClient(setup.api_url, token="admin") as admin:
        await admin.create(SERVICE_ACCOUNTS, {"metadata": {"name": "probe"}}, "default")
        subject = {"kind": "ServiceAccount", "name": "probe", "namespace": "default"}
        await admin.create(CLUSTER_ROLE_BINDINGS, prober_binding("probe", subject))
        answer = await admin.request("POST", SERVICE_ACCOUNTS.path("default", "probe", "token"), body={"spec": {}})
        token = answer["status"]["token"]
        assert await get(f"{url}/healthz", ctx, token=token) == (200, "ok")
        await admin.delete(SERVICE_ACCOUNTS, "probe", "default")  # the token is dead at the API server now
        assert await get(f"{url}/healthz", ctx, token=token) == (200, "ok")  # … but cached by the kubelet

        denied = (403, "Forbidden (user=viewer, verb=get, resource=nodes, subresource=proxy)")
        assert await get(f"{url}/healthz", ctx, token="viewer") == denied
        await admin.create(CLUSTER_ROLE_BINDINGS, prober_binding("viewer", {"kind": "User", "name": "viewer"}))
        assert await get(f"{url}/healthz", ctx, token="viewer") == denied  # the denial is cached (30 s)

        assert (await get(f"{url}/pods", ctx, token="prober"))[0] == 200
        await admin.delete(CLUSTER_ROLE_BINDINGS, "kubelet-prober")
        assert (await get(f"{url}/healthz", ctx, token="prober"))[0] == 200  # allowed is cached (5 min), any path


async def test_without_the_api_server_nothing_gets_through(tmp_path: Path) -> None:
    """Reviews that cannot be made let nothing through: a token is 401, a certificate's user an authorization error."""
    pki = tmp_path / "pki"
    ca = kubelet_pki(pki)
    unreachable = RestClient("http://127.0.0.1:9", timeout=2)  # the discard port: nothing answers
    security = kubelet_security(unreachable, NODE, tmp_path / "kubelet", ["127.0.0.1"], ca.cert_pem())
    kubelet = KubeletServer(
        ProcessRuntime(tmp_path / "rt"), list, port=0, node_name=NODE, tls=security.tls, auth=security.auth
    )
    await kubelet.start()
    try:
        assert await get(f"{kubelet.url}/pods", client_context(pki), token="some-token") == (401, "Unauthorized")
        assert await get(f"{kubelet.url}/pods", client_context(pki, "apiserver-kubelet-client")) == (
            500,
            "Authorization error (user=kube-apiserver-kubelet-client, verb=get, resource=nodes, subresource=proxy)",
        )
    finally:
        await kubelet.stop()
        await unreachable.close()
