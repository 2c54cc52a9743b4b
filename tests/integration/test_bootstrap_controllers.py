"""The cluster side of a node's TLS bootstrap, in process: bootstrap tokens, cluster-info's signatures, CSRs.

An API server with kube-apiserver's authenticators (a token file for the
admin and the controller manager, bootstrap tokens) and RBAC with the
bootstrap policy; the controller manager's csrapproving, csrsigning,
bootstrapsigner and tokencleaner run as system:kube-controller-manager. A
client holding only a bootstrap token asks for a node client certificate, as
``pinnace adm join`` does, and gets one signed by the cluster CA.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pinnace.api import errors
from pinnace.api.bootstraptoken import CLUSTER_INFO, JWS_PREFIX, BootstrapToken, generate_token, verify_detached_jws
from pinnace.apiserver.authn import AuthenticationConfig, enable_authentication
from pinnace.apiserver.authz import enable_rbac
from pinnace.apiserver.server import APIServer
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.cluster.testenv import TestEnv
from pinnace.controllers import controller_factory
from pinnace.storage.sqlite import SQLiteStore

Obj = dict[str, Any]
SECRETS = ResourceRef("", "v1", "secrets")
CONFIGMAPS = ResourceRef("", "v1", "configmaps")
CSRS = ResourceRef("certificates.k8s.io", "v1", "certificatesigningrequests", namespaced=False)
NODE_TOKEN_GROUP = "system:bootstrappers:kubeadm:default-node-token"


def _ca(tmp_path: Path) -> tuple[Path, Path, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "ca.crt", tmp_path / "ca.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file, cert


@dataclass
class Bootstrap:
    server: APIServer
    admin: RestClient
    ca: x509.Certificate
    connect: Callable[[str], RestClient]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Bootstrap]:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text('admin-token,kubernetes-admin,1,"system:masters"\nkcm-token,system:kube-controller-manager,2\n')
    cert_file, key_file, ca = _ca(tmp_path)
    store = await SQLiteStore.open(tmp_path / "store.db", durable=False)
    server = APIServer(store)
    enable_authentication(server, AuthenticationConfig(client_certificates=False, token_file=tokens))
    rbac = await enable_rbac(server)
    await server.listen("127.0.0.1", 0)
    clients: list[RestClient] = []

    def connect(token: str) -> RestClient:
        clients.append(RestClient(server.url, token=token))
        return clients[-1]

    env = TestEnv(server.url, connect("kcm-token"))
    manager = env.manager()
    for name in ("csrapproving", "bootstrapsigner", "tokencleaner"):
        await controller_factory(name)(manager)
    await controller_factory("csrsigning")(manager, cert_file=cert_file, key_file=key_file)
    await env.start(manager)
    try:
        yield Bootstrap(server, connect("admin-token"), ca, connect)
    finally:
        await env.close()
        for client in clients:
            await client.close()
        rbac.stop()
        await server.stop()
        await store.close()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def node_csr(node: str) -> tuple[ec.EllipticCurvePrivateKey, Obj]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"), x509.NameAttribute(NameOID.COMMON_NAME, node)]
    )
    request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    pem = request.public_bytes(serialization.Encoding.PEM)
    body = {
        "metadata": {"generateName": "node-csr-"},
        "spec": {
            "request": base64.b64encode(pem).decode(),
            "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
            "usages": ["digital signature", "client auth"],
        },
    }
    return key, body


async def test_a_bootstrap_token_gets_a_node_client_certificate(cluster: Bootstrap) -> None:
    token = BootstrapToken.parse(generate_token(), groups=(NODE_TOKEN_GROUP,)).ttl(datetime.timedelta(hours=1))
    await cluster.admin.create(SECRETS, token.to_secret(), "kube-system")
    joiner = cluster.connect(token.token)
    key, body = node_csr("system:node:worker-1")
    created = await joiner.create(CSRS, body)
    assert created["spec"]["username"] == f"system:bootstrap:{token.token_id}"
    assert NODE_TOKEN_GROUP in created["spec"]["groups"]
    name = created["metadata"]["name"]

    async def issued() -> Obj | None:
        csr = await joiner.get(CSRS, name)
        return csr if (csr.get("status") or {}).get("certificate") else None

    csr = await eventually(issued)
    approved = [c for c in csr["status"]["conditions"] if c["type"] == "Approved"]
    assert approved and approved[0]["reason"] == "AutoApproved"
    cert = x509.load_pem_x509_certificate(base64.b64decode(csr["status"]["certificate"]))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:worker-1"
    assert cert.issuer == cluster.ca.subject
    cert.verify_directly_issued_by(cluster.ca)
    assert cert.public_key() == key.public_key()
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert datetime.timedelta(days=364) < lifetime <= datetime.timedelta(days=366)


async def test_requests_the_requester_may_not_make_stay_pending_and_bad_ones_fail(cluster: Bootstrap) -> None:
    # A token without the kubeadm node group may create CSRs (system:bootstrappers) but not node client ones.
    token = BootstrapToken.parse(generate_token())
    await cluster.admin.create(SECRETS, token.to_secret(), "kube-system")
    with pytest.raises(errors.Forbidden):
        await cluster.connect(token.token).create(CSRS, node_csr("system:node:x")[1])
    # An admin's request for a node certificate is allowed by RBAC (system:masters) and approved.
    _, body = node_csr("system:node:by-admin")
    csr = await cluster.admin.create(CSRS, body)

    async def issued() -> bool:
        got = await cluster.admin.get(CSRS, csr["metadata"]["name"])
        return bool((got.get("status") or {}).get("certificate"))

    await eventually(issued)
    # Approved by hand but not a node client request: the kubelet signer refuses it.
    _, bad = node_csr("not-a-node")
    bad_csr = await cluster.admin.create(CSRS, bad)
    bad_csr["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "ByHand"}]}
    await cluster.admin.update(CSRS, bad_csr, subresource="approval")

    async def failed() -> Obj | None:
        got = await cluster.admin.get(CSRS, bad_csr["metadata"]["name"])
        return next((c for c in (got.get("status") or {}).get("conditions") or [] if c["type"] == "Failed"), None)

    condition = await eventually(failed)
    assert condition["reason"] == "SignerValidationFailure"
    assert condition["message"] == 'subject common name does not begin with "system:node:"'


async def test_cluster_info_is_signed_by_each_signing_token_and_expired_tokens_go(cluster: Bootstrap) -> None:
    kubeconfig = "apiVersion: v1\nkind: Config\nclusters: []\n"
    cm = {"metadata": {"name": CLUSTER_INFO}, "data": {"kubeconfig": kubeconfig}}
    await cluster.admin.create(CONFIGMAPS, cm, "kube-public")
    signing = BootstrapToken.parse(generate_token())
    auth_only = BootstrapToken.parse(generate_token(), usages=("authentication",))
    for token in (signing, auth_only):
        await cluster.admin.create(SECRETS, token.to_secret(), "kube-system")

    async def signatures() -> dict[str, str]:
        data = (await cluster.admin.get(CONFIGMAPS, CLUSTER_INFO, "kube-public")).get("data") or {}
        return {k: v for k, v in data.items() if k.startswith(JWS_PREFIX)}

    signed = await eventually(signatures)
    assert list(signed) == [JWS_PREFIX + signing.token_id]
    assert verify_detached_jws(
        signed[JWS_PREFIX + signing.token_id], kubeconfig, signing.token_id, signing.token_secret
    )
    assert not verify_detached_jws(
        signed[JWS_PREFIX + signing.token_id], kubeconfig + " ", signing.token_id, signing.token_secret
    )

    # A token that expires is deleted by the token cleaner, and its signature goes with it.
    short = BootstrapToken.parse(generate_token()).ttl(datetime.timedelta(seconds=2))
    await cluster.admin.create(SECRETS, short.to_secret(), "kube-system")
    await eventually(lambda: _has(signatures, JWS_PREFIX + short.token_id))

    async def gone() -> bool:
        try:
            await cluster.admin.get(SECRETS, short.secret_name, "kube-system")
        except errors.NotFound:
            return JWS_PREFIX + short.token_id not in await signatures()
        return False

    await eventually(gone)
    assert JWS_PREFIX + signing.token_id in await signatures()


async def _has(signatures: Callable[[], Awaitable[dict[str, str]]], key: str) -> bool:
    return key in await signatures()
