"""The kubelet's TLS bootstrap: a bootstrap token buys a node its own client certificate.

With the cluster found and trusted (:mod:`pinnace.adm.discovery`), the node
makes a key (ECDSA P-256, as the kubelet does) and a CertificateSigningRequest
for ``CN=system:node:<name>, O=system:nodes`` with signer
``kubernetes.io/kube-apiserver-client-kubelet``, authenticated by the bootstrap
token. The controller manager's csrapproving approves it (the token's group
may create node client CSRs) and csrsigning issues it; the node waits for the
certificate and writes its kubeconfig (kubeadm's ``kubelet.conf``). From then
on it is ``system:node:<name>``; the token is not used again.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pinnace.adm.discovery import DiscoveredCluster
from pinnace.api import errors
from pinnace.client import kubeconfig
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.client.tls import TLSConfig, build_ssl_context

__all__ = ["BootstrapError", "NodeCredentials", "request_node_credentials", "write_node_kubeconfig"]

CSRS = ResourceRef("certificates.k8s.io", "v1", "certificatesigningrequests", namespaced=False)
NODES = ResourceRef("", "v1", "nodes", namespaced=False)
KUBELET_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"


class BootstrapError(Exception):
    """The TLS bootstrap failed; the message says why."""


@dataclass(frozen=True, slots=True)
class NodeCredentials:
    """A node's client certificate (PEM, issued by the cluster CA) and its key (PEM)."""

    cert_pem: bytes
    key_pem: bytes


def _node_csr(node_name: str) -> tuple[bytes, dict[str, Any]]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node_name}"),
        ]
    )
    request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    body = {
        "metadata": {"generateName": "node-csr-"},
        "spec": {
            "request": base64.b64encode(request.public_bytes(serialization.Encoding.PEM)).decode(),
            "signerName": KUBELET_CLIENT_SIGNER,
            "usages": ["digital signature", "client auth"],
        },
    }
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, body


async def _refuse_taken_name(rest: RestClient, node_name: str) -> None:
    """kubeadm's check: a Ready Node of that name means another node already is it."""
    try:
        node = await rest.get(NODES, node_name)
    except (errors.NotFound, errors.Forbidden):
        return
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            raise BootstrapError(
                f'a Node with name "{node_name}" and status "Ready" already exists in the cluster. '
                "You must delete the existing Node or change the name of this new joining Node"
            )


async def request_node_credentials(
    cluster: DiscoveredCluster, token: str, node_name: str, *, timeout: float = 120.0
) -> NodeCredentials:
    """Create the node's CSR with the bootstrap token and wait until it is issued (or denied, or failed)."""
    rest = RestClient(cluster.server, token=token, ssl_context=build_ssl_context(TLSConfig(ca=cluster.ca_pem)))
    try:
        await _refuse_taken_name(rest, node_name)
        key_pem, body = _node_csr(node_name)
        try:
            created = await rest.create(CSRS, body)
        except errors.StatusError as exc:
            raise BootstrapError(f"the cluster refused the node's certificate signing request: {exc}") from None
        name = created["metadata"]["name"]
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            csr = await rest.get(CSRS, name)
            status = csr.get("status") or {}
            for condition in status.get("conditions") or []:
                if condition.get("type") in ("Denied", "Failed") and condition.get("status", "True") == "True":
                    why = condition.get("message") or condition.get("reason") or ""
                    raise BootstrapError(f"certificate signing request {name} was {condition['type'].lower()}: {why}")
            if status.get("certificate"):
                return NodeCredentials(base64.b64decode(status["certificate"]), key_pem)
            if asyncio.get_running_loop().time() > deadline:
                raise BootstrapError(
                    f"timed out after {timeout:.0f}s waiting for certificate signing request {name} to be issued "
                    "(is the controller manager running csrapproving and csrsigning?)"
                )
            await asyncio.sleep(0.2)
    except (aiohttp.ClientError, ssl.SSLError, OSError) as exc:
        raise BootstrapError(f"could not reach the API server at {cluster.server}: {exc}") from None
    except errors.Unauthorized:
        raise BootstrapError("the API server did not accept the bootstrap token (deleted or expired?)") from None
    finally:
        await rest.close()


def write_node_kubeconfig(path: Path, cluster: DiscoveredCluster, node_name: str, creds: NodeCredentials) -> None:
    """Write the node's kubeconfig (kubeadm's kubelet.conf): the server, its CA, the node's certificate and key."""
    user = f"system:node:{node_name}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "kubernetes",
                "cluster": {
                    "server": cluster.server,
                    "certificate-authority-data": base64.b64encode(cluster.ca_pem).decode(),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": base64.b64encode(creds.cert_pem).decode(),
                    "client-key-data": base64.b64encode(creds.key_pem).decode(),
                },
            }
        ],
        "contexts": [{"name": f"{user}@kubernetes", "context": {"cluster": "kubernetes", "user": user}}],
        "current-context": f"{user}@kubernetes",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    kubeconfig.write(path, config)
