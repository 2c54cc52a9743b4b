"""The ``bootstrap-token`` phase's public half: ``cluster-info`` in kube-public, for nodes that join.

``pinnace up`` (kubeadm init) publishes the ConfigMap ``kube-public/cluster-info``
holding a kubeconfig with the control-plane endpoint and the cluster CA, and
no credentials. Anonymous users may read it (the bootstrap policy's
``kubeadm:bootstrap-signer-clusterinfo``); the bootstrap signer adds one
signature per bootstrap token, by which a joining node trusts it. It is kept
current when the endpoint changes (a restart on another port).
"""

from __future__ import annotations

import contextlib
import copy

from pinnace.adm.discovery import cluster_info
from pinnace.api import errors
from pinnace.api.bootstraptoken import CLUSTER_INFO
from pinnace.apiserver.server import APIServer

__all__ = ["publish_cluster_info"]


async def publish_cluster_info(server: APIServer, endpoint: str, ca_pem: bytes) -> None:
    """Create ``cluster-info`` naming ``endpoint`` and the CA, or correct its kubeconfig (keeping signatures)."""
    info = server.registry.get("", "v1", "configmaps")
    assert info is not None
    wanted = cluster_info(endpoint, ca_pem)
    current = await server.rest.get_cached(info, "kube-public", CLUSTER_INFO)
    if current is None:
        with contextlib.suppress(errors.AlreadyExists):
            await server.rest.create(info, "kube-public", wanted)
        return
    if (current.obj.get("data") or {}).get("kubeconfig") == wanted["data"]["kubeconfig"]:
        return
    updated = copy.deepcopy(current.obj)
    updated.setdefault("data", {})["kubeconfig"] = wanted["data"]["kubeconfig"]
    await server.rest.update(info, "kube-public", CLUSTER_INFO, updated)
