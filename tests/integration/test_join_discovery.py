"""A node's side of joining, against an in-process HTTPS API server: token discovery, then the TLS bootstrap.

The server serves TLS with a kubeadm-layout PKI, authenticates client
certificates, a token file and bootstrap tokens, authorizes with RBAC and the
bootstrap policy, and runs the controller manager's csrapproving, csrsigning,
bootstrapsigner and tokencleaner. What ``pinnace adm join`` does is done here
step by step: discover the cluster with a token and a CA pin, obtain a node
client certificate, and act as ``system:node:<name>``. A wrong pin, a deleted
or expired token, or a malformed one is refused with kubeadm's messages.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pinnace.adm.discovery import DiscoveryError, cluster_info, discover_with_file, discover_with_token
from pinnace.adm.join import cluster_dns_address
from pinnace.adm.pki import ECDSA_P256, PKIConfig, create_pki
from pinnace.adm.tlsbootstrap import request_node_credentials, write_node_kubeconfig
from pinnace.adm.tokens import DEFAULT_GROUP, ca_cert_hash, create_token
from pinnace.api.bootstraptoken import BootstrapToken, generate_token
from pinnace.apiserver.authn import AuthenticationConfig, enable_authentication, serving_context
from pinnace.apiserver.authz import enable_rbac
from pinnace.apiserver.server import APIServer
from pinnace.client.config import load_client_config
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.client.tls import TLSConfig, build_ssl_context
from pinnace.cluster.clusterdns import dns_service
from pinnace.cluster.testenv import TestEnv
from pinnace.controllers import controller_factory
from pinnace.storage.sqlite import SQLiteStore

CONFIGMAPS = ResourceRef("", "v1", "configmaps")
SERVICES = ResourceRef("", "v1", "services")
SELF_SUBJECT_REVIEWS = ResourceRef("authentication.k8s.io", "v1", "selfsubjectreviews", namespaced=False)


@dataclass
class Joinable:
    endpoint: str
    admin: RestClient
    ca_pem: bytes


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Joinable]:
    pki = create_pki(tmp_path, PKIConfig(node_name="cp", encryption_algorithm=ECDSA_P256))
    tokens = tmp_path / "tokens.csv"
    tokens.write_text('admin-token,kubernetes-admin,1,"system:masters"\nkcm-token,system:kube-controller-manager,2\n')
    store = await SQLiteStore.open(tmp_path / "store.db", durable=False)
    server = APIServer(store, service_account_key=pki.sa_key)
    enable_authentication(server, AuthenticationConfig(token_file=tokens, anonymous=True))
    rbac = await enable_rbac(server)
    cert, key = pki.path("apiserver")
    ca_cert, ca_key = pki.path("ca")
    await server.listen("127.0.0.1", 0, ssl=serving_context(cert, key, ca_cert))
    ca_pem = ca_cert.read_bytes()
    tls = build_ssl_context(TLSConfig(ca=ca_pem))
    admin = RestClient(server.url, token="admin-token", ssl_context=tls)
    kcm = RestClient(server.url, token="kcm-token", ssl_context=tls)
    env = TestEnv(server.url, kcm)
    manager = env.manager()
    for name in ("csrapproving", "bootstrapsigner", "tokencleaner", "gc"):
        await controller_factory(name)(manager)
    await controller_factory("csrsigning")(manager, cert_file=ca_cert, key_file=ca_key)
    await env.start(manager)
    await admin.create(CONFIGMAPS, cluster_info(server.url, ca_pem), "kube-public")
    try:
        yield Joinable(server.address, admin, ca_pem)
    finally:
        await env.close()
        await admin.close()
        await kcm.close()
        rbac.stop()
        await server.stop()
        await store.close()


async def _signed_token(cluster: Joinable, **fields: object) -> BootstrapToken:
    token = await create_token(cluster.admin, BootstrapToken.parse(generate_token(), **fields))  # type: ignore[arg-type]
    for _ in range(200):  # the bootstrap signer signs cluster-info with it
        data = (await cluster.admin.get(CONFIGMAPS, "cluster-info", "kube-public")).get("data") or {}
        if f"jws-kubeconfig-{token.token_id}" in data:
            return token
        await asyncio.sleep(0.05)
    raise AssertionError("cluster-info was never signed")


async def test_a_node_discovers_the_cluster_and_bootstraps_its_identity(cluster: Joinable, tmp_path: Path) -> None:
    token = await _signed_token(cluster, groups=(DEFAULT_GROUP,))
    found = await discover_with_token(cluster.endpoint, token.token, [ca_cert_hash(cluster.ca_pem)])
    assert found.server == f"https://{cluster.endpoint}" and found.ca_pem == cluster.ca_pem
    creds = await request_node_credentials(found, token.token, "worker-1", timeout=20)
    kubelet_conf = tmp_path / "node" / "kubelet.conf"
    write_node_kubeconfig(kubelet_conf, found, "worker-1", creds)
    as_node = load_client_config(kubelet_conf).rest_client()
    try:
        review = await as_node.create(
            SELF_SUBJECT_REVIEWS, {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        )
    finally:
        await as_node.close()
    user = review["status"]["userInfo"]
    assert user["username"] == "system:node:worker-1"
    assert "system:nodes" in user["groups"] and "system:authenticated" in user["groups"]
    # File discovery: the same cluster from a kubeconfig file.
    assert (await discover_with_file(str(kubelet_conf))).server == found.server
    # The node's clusterDNS, read as the node: none until the cluster has kube-dns, then that Service's address.
    assert await cluster_dns_address(kubelet_conf) == ""
    await cluster.admin.create(SERVICES, dns_service("10.96.0.10"), "kube-system")
    assert await cluster_dns_address(kubelet_conf) == "10.96.0.10"


async def test_discovery_refuses_what_it_cannot_trust(cluster: Joinable) -> None:
    token = await _signed_token(cluster, groups=(DEFAULT_GROUP,))
    wrong = "sha256:" + "0" * 64
    with pytest.raises(
        DiscoveryError,
        match=r"cluster CA found in cluster-info ConfigMap is invalid: "
        r"none of the public keys \"sha256:[0-9a-f]{64}\" are pinned",
    ):
        await discover_with_token(cluster.endpoint, token.token, [wrong])
    with pytest.raises(DiscoveryError, match="without --discovery-token-ca-cert-hash can be unsafe"):
        await discover_with_token(cluster.endpoint, token.token, [])
    unsafe = await discover_with_token(cluster.endpoint, token.token, [], unsafe_skip_ca_verification=True)
    assert unsafe.ca_pem == cluster.ca_pem
    with pytest.raises(DiscoveryError, match='the bootstrap token "nope" was not of the form'):
        await discover_with_token(cluster.endpoint, "nope", [ca_cert_hash(cluster.ca_pem)])
    # Another token with the right id shape but a wrong secret: the signature does not verify.
    forged = f"{token.token_id}.{'x' * 16}"
    with pytest.raises(DiscoveryError, match="failed to verify JWS signature"):
        await discover_with_token(cluster.endpoint, forged, [ca_cert_hash(cluster.ca_pem)])
    # A deleted token no longer signs cluster-info.
    from pinnace.adm.tokens import delete_token

    await delete_token(cluster.admin, token.token_id)
    message = f'token id "{token.token_id}" is invalid for this cluster or it has expired'
    for _ in range(200):
        try:
            await discover_with_token(cluster.endpoint, token.token, [ca_cert_hash(cluster.ca_pem)])
        except DiscoveryError as exc:
            assert message in str(exc)
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the deleted token kept working")


async def test_an_expired_token_is_refused(cluster: Joinable) -> None:
    token = await _signed_token(cluster, groups=(DEFAULT_GROUP,))
    secrets = ResourceRef("", "v1", "secrets")
    stored = await cluster.admin.get(secrets, token.secret_name, "kube-system")
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1)
    stored["data"]["expiration"] = base64.b64encode(soon.strftime("%Y-%m-%dT%H:%M:%SZ").encode()).decode()
    await cluster.admin.update(secrets, stored)
    message = f'token id "{token.token_id}" is invalid for this cluster or it has expired'
    for _ in range(200):
        try:
            await discover_with_token(cluster.endpoint, token.token, [ca_cert_hash(cluster.ca_pem)])
        except DiscoveryError as exc:
            assert message in str(exc)
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the expired token kept working")
