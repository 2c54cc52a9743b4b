"""``serverTLSBootstrap``: a node's kubelet API serves with a certificate of the cluster CA, asked for by a CSR.

A real node agent asks for a ``kubernetes.io/kubelet-serving`` certificate; no
TLS handshake succeeds until an admin approves the request and the controller
manager's csrsigning issues it; then callers can verify the kubelet against the
cluster CA, and a restarted agent serves with the stored certificate at once.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from tests.integration.node.agentenv import eventually, kubelet_pki, running_agent
from tests.integration.tokenusers import authenticate_tokens

from pinnace.apiserver.authz import enable_rbac
from pinnace.apiserver.server import APIServer
from pinnace.apiserver.user import UserInfo
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.cluster.testenv import TestEnv
from pinnace.controllers import controller_factory
from pinnace.node.servingcsr import CURRENT_FILE, SERVING_SIGNER
from pinnace.storage.sqlite import SQLiteStore

pytestmark = pytest.mark.timeout(60)

NODE = "n1"
CSRS = ResourceRef("certificates.k8s.io", "v1", "certificatesigningrequests", namespaced=False)
USERS = {
    "admin": UserInfo("kubernetes-admin", groups=("system:masters",)),
    "node": UserInfo(f"system:node:{NODE}", groups=("system:nodes",)),
    "kcm": UserInfo("system:kube-controller-manager"),
}


@dataclass
class Cluster:
    admin: RestClient
    node: RestClient
    pki: Path


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    pki = tmp_path / "pki"
    kubelet_pki(pki)
    store = await SQLiteStore.open(tmp_path / "store.db", durable=False)
    server = APIServer(store)
    authenticate_tokens(server, USERS, tmp_path, anonymous=False)
    rbac = await enable_rbac(server)
    await server.listen("127.0.0.1", 0)
    admin, node, kcm = (RestClient(server.url, token=t) for t in ("admin", "node", "kcm"))
    env = TestEnv(server.url, kcm)
    manager = env.manager()
    await controller_factory("csrsigning")(manager, cert_file=pki / "ca.crt", key_file=pki / "ca.key")
    await env.start(manager)
    try:
        yield Cluster(admin, node, pki)
    finally:
        await env.close()
        for client in (admin, node, kcm):
            await client.close()
        rbac.stop()
        await server.stop()
        await store.close()


async def fetch_pods(url: str, pki: Path) -> tuple[int, x509.Certificate]:
    """GET /pods as the API server's kubelet client, verifying the kubelet against the cluster CA."""
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))  # hostname checked too: the IP SAN
    ctx.load_cert_chain(str(pki / "apiserver-kubelet-client.crt"), str(pki / "apiserver-kubelet-client.key"))
    async with aiohttp.ClientSession() as session, session.get(f"{url}/pods", ssl=ctx) as response:
        status = response.status
    host, port = url.removeprefix("https://").rsplit(":", 1)
    pem = await asyncio.to_thread(ssl.get_server_certificate, (host, int(port)))
    return status, x509.load_pem_x509_certificate(pem.encode())


async def test_the_kubelet_serves_with_a_certificate_the_cluster_issued(cluster: Cluster, tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    ca_pem = (cluster.pki / "ca.crt").read_bytes()
    async with running_agent(cluster.node, data_dir, NODE, client_ca=ca_pem, server_tls_bootstrap=True) as agent:
        assert agent.kubelet is not None
        url = agent.kubelet.url

        async def pending() -> dict[str, object] | None:
            items = (await cluster.admin.list(CSRS))["items"]
            mine = [c for c in items if c["spec"]["signerName"] == SERVING_SIGNER]
            return mine[0] if mine else None

        csr = await eventually(pending)
        assert csr["spec"]["username"] == f"system:node:{NODE}"  # type: ignore[index]
        with pytest.raises(aiohttp.ClientError):  # nothing to serve with until it is issued
            await fetch_pods(url, cluster.pki)
        csr["status"] = {  # type: ignore[index]
            "conditions": [{"type": "Approved", "status": "True", "reason": "AdminApproved", "message": "test"}]
        }
        await cluster.admin.update(CSRS, csr, subresource="approval")  # type: ignore[arg-type]

        async def served() -> x509.Certificate | None:
            try:
                status, cert = await fetch_pods(url, cluster.pki)
            except aiohttp.ClientError:
                return None
            return cert if status == 200 else None

        cert = await eventually(served)
        assert cert.subject.rfc4514_string() == f"CN=system:node:{NODE},O=system:nodes"
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sans.get_values_for_type(x509.DNSName) == [NODE]
        assert (data_dir / "pki" / CURRENT_FILE).stat().st_mode & 0o777 == 0o600
    async with running_agent(cluster.node, data_dir, NODE, client_ca=ca_pem, server_tls_bootstrap=True) as again:
        assert again.kubelet is not None
        status, cert_again = await fetch_pods(again.kubelet.url, cluster.pki)  # the stored one, at once
        assert status == 200 and cert_again == cert
    assert len((await cluster.admin.list(CSRS))["items"]) == 1  # and no new request
