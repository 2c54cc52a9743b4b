"""What ``adm`` keeps in the cluster about itself: the ``kubeadm-config`` ConfigMap, read and written over the API.

upload-config writes the ClusterConfiguration there (with kubeadm's Role and
RoleBinding letting nodes and joining tokens read it); join, upgrade and reset
read it back. With stacked etcd it also lists the members' client URLs (key
``EtcdEndpoints``, Pinnace's: kubeadm finds them on the etcd static pods), which
a joining control plane needs to add its own member. :func:`create_or_update`
is how every phase writes an object so that running it again converges.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pinnace.adm import tokens
from pinnace.adm.config import ClusterConfiguration, dump_documents, load_documents, parse_config
from pinnace.api import errors
from pinnace.client.rest import ResourceRef, RestClient

__all__ = [
    "ETCD_ENDPOINTS",
    "KUBEADM_CONFIG",
    "InitError",
    "create_or_update",
    "download_config",
    "kubeadm_config_objects",
    "read_etcd_endpoints",
    "record_etcd_endpoint",
    "upload_config",
]

Obj = dict[str, Any]

#: The ConfigMap in kube-system holding the ClusterConfiguration.
KUBEADM_CONFIG = "kubeadm-config"
#: Its key listing the stacked etcd members' client URLs.
ETCD_ENDPOINTS = "EtcdEndpoints"

CONFIGMAPS = ResourceRef("", "v1", "configmaps")
ROLES = ResourceRef("rbac.authorization.k8s.io", "v1", "roles")
ROLEBINDINGS = ResourceRef("rbac.authorization.k8s.io", "v1", "rolebindings")


class InitError(ValueError):
    """A phase could not do its job; the message says why (kubeadm's wording where it has one)."""


async def create_or_update(rest: RestClient, ref: ResourceRef, obj: Obj, namespace: str | None) -> Obj:
    """Create ``obj``, or replace the one of that name with it (metadata merged): a phase run again converges."""
    try:
        return await rest.create(ref, obj, namespace)
    except errors.AlreadyExists:
        current = await rest.get(ref, obj["metadata"]["name"], namespace)
        merged = {**current, **{k: v for k, v in obj.items() if k != "metadata"}}
        merged["metadata"] = {**current["metadata"], **obj["metadata"]}
        return await rest.update(ref, merged)


def kubeadm_config_objects(
    cluster: ClusterConfiguration, etcd_endpoints: Sequence[str] = ()
) -> list[tuple[ResourceRef, Obj]]:
    """What upload-config writes in kube-system: the ``kubeadm-config`` ConfigMap holding the ClusterConfiguration
    (and, with stacked etcd, the members' client URLs), and kubeadm's Role and RoleBinding letting nodes and joining
    tokens read it (the ConfigMap first)."""
    role_name = "kubeadm:nodes-kubeadm-config"
    rbac = "rbac.authorization.k8s.io"
    data = {"ClusterConfiguration": dump_documents([cluster.to_document()])}
    if etcd_endpoints:
        data[ETCD_ENDPOINTS] = ",".join(etcd_endpoints)
    configmap = {"metadata": {"name": KUBEADM_CONFIG, "namespace": "kube-system"}, "data": data}
    rules = [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [KUBEADM_CONFIG], "verbs": ["get"]}]
    role = {"metadata": {"name": role_name, "namespace": "kube-system"}, "rules": rules}
    binding = {
        "metadata": {"name": role_name, "namespace": "kube-system"},
        "roleRef": {"apiGroup": rbac, "kind": "Role", "name": role_name},
        "subjects": [
            {"apiGroup": rbac, "kind": "Group", "name": tokens.DEFAULT_GROUP},
            {"apiGroup": rbac, "kind": "Group", "name": "system:nodes"},
        ],
    }
    return [(CONFIGMAPS, configmap), (ROLES, role), (ROLEBINDINGS, binding)]


async def upload_config(rest: RestClient, cluster: ClusterConfiguration, etcd_endpoints: Sequence[str] = ()) -> Obj:
    """``kubeadm-config`` in kube-system holding the ClusterConfiguration, and kubeadm's Role letting nodes read it."""
    objects = kubeadm_config_objects(cluster, etcd_endpoints)
    written = [await create_or_update(rest, ref, obj, "kube-system") for ref, obj in objects]
    return written[0]


async def read_etcd_endpoints(rest: RestClient) -> list[str]:
    """The stacked etcd members' client URLs recorded in ``kubeadm-config`` ([] when the cluster has none)."""
    configmap = await rest.get(CONFIGMAPS, KUBEADM_CONFIG, "kube-system")
    return [e for e in str((configmap.get("data") or {}).get(ETCD_ENDPOINTS) or "").split(",") if e]


async def record_etcd_endpoint(rest: RestClient, url: str, *, remove: bool = False) -> list[str]:
    """Add (or remove) a member's client URL in ``kubeadm-config``; the URLs now recorded."""
    while True:
        configmap = await rest.get(CONFIGMAPS, KUBEADM_CONFIG, "kube-system")
        data = configmap.setdefault("data", {})
        endpoints = [e for e in str(data.get(ETCD_ENDPOINTS) or "").split(",") if e and e != url]
        endpoints += [] if remove else [url]
        data[ETCD_ENDPOINTS] = ",".join(endpoints)
        try:
            await rest.update(CONFIGMAPS, configmap)
        except errors.Conflict:
            continue
        return endpoints


async def download_config(rest: RestClient) -> ClusterConfiguration:
    """The ClusterConfiguration in ``kubeadm-config`` (InitError if there is none)."""
    try:
        configmap = await rest.get(CONFIGMAPS, KUBEADM_CONFIG, "kube-system")
    except errors.NotFound:
        raise InitError(
            'unable to fetch the kubeadm-config ConfigMap: configmaps "kubeadm-config" not found '
            "(was the cluster made with `pinnace adm init`?)"
        ) from None
    text = (configmap.get("data") or {}).get("ClusterConfiguration") or ""
    return parse_config(load_documents(text))[1]
