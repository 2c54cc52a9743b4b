"""The ``kubeconfig`` phase: kubeconfig files with client certificates of the cluster CA, as kubeadm writes them.

In the data directory (kubeadm's ``/etc/kubernetes``):

=========================  ==================================  =====================================
file                       user (CN)                           groups (O)
=========================  ==================================  =====================================
admin.conf                 kubernetes-admin                    kubeadm:cluster-admins
super-admin.conf           kubernetes-super-admin              system:masters
controller-manager.conf    system:kube-controller-manager      —
scheduler.conf             system:kube-scheduler               —
=========================  ==================================  =====================================

``kubeadm:cluster-admins`` gets cluster-admin from a ClusterRoleBinding the
RBAC bootstrap creates; ``system:masters`` bypasses authorization altogether,
which is why kubeadm keeps that file apart. :func:`node_kubeconfig` makes a
node's (``system:node:<name>``, ``O=system:nodes``), what the node
authorizer recognises. Every file embeds the CA and the client certificate
and key (``-data`` fields), so it can be copied as one file. An existing
file whose certificate is still good (same subject, signed by the current CA,
not expiring) keeps its key and certificate; only the server URL is rewritten.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pinnace.adm.pki import (
    CLUSTER_ADMINS_GROUP,
    PKI,
    RSA_2048,
    CertPair,
    CertSpec,
    generate_key,
    issue,
    load_private_key,
    still_good,
)
from pinnace.client import kubeconfig

__all__ = [
    "ADMIN",
    "CONTROLLER_MANAGER",
    "KUBECONFIGS",
    "SCHEDULER",
    "SUPER_ADMIN",
    "ClientIdentity",
    "client_kubeconfig",
    "create_kubeconfigs",
    "node_identity",
    "node_kubeconfig",
    "renamed",
]

Obj = dict[str, Any]

#: kubeadm's cluster name in the kubeconfigs it writes.
CLUSTER_NAME = "kubernetes"


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """Who a kubeconfig's client certificate says its holder is."""

    user: str
    groups: tuple[str, ...] = ()


ADMIN = ClientIdentity("kubernetes-admin", (CLUSTER_ADMINS_GROUP,))
SUPER_ADMIN = ClientIdentity("kubernetes-super-admin", ("system:masters",))
CONTROLLER_MANAGER = ClientIdentity("system:kube-controller-manager")
SCHEDULER = ClientIdentity("system:kube-scheduler")

#: File name → identity, in the order kubeadm writes them.
KUBECONFIGS: dict[str, ClientIdentity] = {
    "admin.conf": ADMIN,
    "super-admin.conf": SUPER_ADMIN,
    "controller-manager.conf": CONTROLLER_MANAGER,
    "scheduler.conf": SCHEDULER,
}


def node_identity(node_name: str) -> ClientIdentity:
    """A kubelet's identity: ``system:node:<name>`` in ``system:nodes``."""
    return ClientIdentity(f"system:node:{node_name}", ("system:nodes",))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _one_context(cluster_name: str, cluster: Obj, user_name: str, user: Obj, context_name: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "users": [{"name": user_name, "user": user}],
        "contexts": [{"name": context_name, "context": {"cluster": cluster_name, "user": user_name}}],
        "current-context": context_name,
    }


def client_kubeconfig(
    server: str, ca: x509.Certificate, pair: CertPair, identity: ClientIdentity, *, context: str | None = None
) -> Obj:
    """A kubeconfig for ``identity`` at ``server``: CA, client certificate and key embedded.

    ``context``: the name of the cluster, user and context (default kubeadm's
    ``kubernetes`` cluster and ``<user>@kubernetes`` context).
    """
    cluster = {"server": server, "certificate-authority-data": _b64(ca.public_bytes(serialization.Encoding.PEM))}
    user = {"client-certificate-data": _b64(pair.cert_pem()), "client-key-data": _b64(pair.key_pem())}
    if context:
        return _one_context(context, cluster, context, user, context)
    return _one_context(CLUSTER_NAME, cluster, identity.user, user, f"{identity.user}@{CLUSTER_NAME}")


def renamed(config: Obj, name: str) -> Obj:
    """A one-context kubeconfig with its cluster, user and context all called ``name`` (for merging)."""
    return _one_context(name, config["clusters"][0]["cluster"], name, config["users"][0]["user"], name)


def _existing_pair(path: Path) -> CertPair | None:
    """The client certificate and key embedded in a kubeconfig file, if it has them."""
    try:
        config = kubeconfig.load(path)
        user = (config.get("users") or [{}])[0].get("user") or {}
        cert = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
        key = load_private_key(base64.b64decode(user["client-key-data"]))
    except (OSError, ValueError, KeyError, IndexError, AttributeError, TypeError, binascii.Error):
        return None
    return CertPair(cert, key)


def client_pair(
    pki: PKI, identity: ClientIdentity, existing: CertPair | None = None, algorithm: str = RSA_2048
) -> CertPair:
    """A client certificate for ``identity`` from the cluster CA (``existing`` kept when still good)."""
    spec = CertSpec(identity.user, identity.groups, client=True)
    if existing is not None and still_good(existing, spec, pki.ca):
        return existing
    key = generate_key(algorithm)
    return CertPair(issue(spec, pki.ca, key), key)


def write_kubeconfig(
    path: Path,
    pki: PKI,
    server: str,
    identity: ClientIdentity,
    *,
    context: str | None = None,
    algorithm: str = RSA_2048,
) -> Obj:
    """Write (or refresh) one kubeconfig file for ``identity``; returns its contents."""
    pair = client_pair(pki, identity, _existing_pair(path), algorithm)
    config = client_kubeconfig(server, pki.ca.cert, pair, identity, context=context)
    kubeconfig.write(path, config)
    return config


#: The files that name the control-plane endpoint when there is one (kubeadm: the components' own name this host's
#: API server, so a control-plane node keeps working while the endpoint's load balancer is down).
ENDPOINT_KUBECONFIGS = ("admin.conf", "super-admin.conf")


def create_kubeconfigs(
    data_dir: Path, pki: PKI, server: str, algorithm: str = RSA_2048, *, endpoint: str | None = None
) -> dict[str, Path]:
    """Run the kubeconfig phase: admin, super-admin, controller-manager and scheduler ``.conf`` files.

    ``endpoint``: the control-plane endpoint's URL, for admin.conf and super-admin.conf (``server`` for the rest).
    """
    written = {}
    for name, identity in KUBECONFIGS.items():
        path = data_dir / name
        url = endpoint if endpoint and name in ENDPOINT_KUBECONFIGS else server
        write_kubeconfig(path, pki, url, identity, algorithm=algorithm)
        written[name] = path
    return written


def node_kubeconfig(pki: PKI, node_name: str, server: str, *, algorithm: str = RSA_2048) -> Obj:
    """A kubeconfig for the node agent of ``node_name`` (kubeadm's ``kubelet.conf``), with a fresh key."""
    identity = node_identity(node_name)
    return client_kubeconfig(server, pki.ca.cert, client_pair(pki, identity, algorithm=algorithm), identity)
