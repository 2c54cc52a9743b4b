"""What ``pinnace up`` publishes as kubeadm init would: ``cluster-info`` (for joining nodes) and ``kubeadm-config``.

``pinnace up`` (kubeadm init) publishes the ConfigMap ``kube-public/cluster-info``
holding a kubeconfig with the control-plane endpoint and the cluster CA, and
no credentials. Anonymous users may read it (the bootstrap policy's
``kubeadm:bootstrap-signer-clusterinfo``); the bootstrap signer adds one
signature per bootstrap token, by which a joining node trusts it. It is kept
current when the endpoint changes (a restart on another port).

``kubeadm-config`` in kube-system holds the ClusterConfiguration (the
upload-config phase), which ``pinnace adm upgrade`` and joins read; it is made
once and then left to ``adm`` (an upgrade records its version there).
"""

from __future__ import annotations

import contextlib
import copy

from pinnace.adm.config import ClusterConfiguration
from pinnace.adm.discovery import cluster_info
from pinnace.adm.kubeadmconfig import kubeadm_config_objects
from pinnace.api import errors
from pinnace.api.bootstraptoken import CLUSTER_INFO
from pinnace.apiserver.server import APIServer

__all__ = ["publish_cluster_info", "publish_kubeadm_config"]


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


async def publish_kubeadm_config(server: APIServer, endpoint: str, encryption_algorithm: str) -> None:
    """Create ``kube-system/kubeadm-config`` with this cluster's ClusterConfiguration, and the Role that lets nodes
    and joining tokens read it (kubeadm's ``kubeadm:nodes-kubeadm-config``), if they are not there."""
    host = endpoint.split("://", 1)[-1].rstrip("/")
    cluster = ClusterConfiguration(control_plane_endpoint=host, encryption_algorithm=encryption_algorithm)
    for ref, obj in kubeadm_config_objects(cluster):
        info = server.registry.get(ref.group, ref.version, ref.plural)
        assert info is not None
        if await server.rest.get_cached(info, "kube-system", obj["metadata"]["name"]) is None:
            with contextlib.suppress(errors.AlreadyExists):
                await server.rest.create(info, "kube-system", obj)
