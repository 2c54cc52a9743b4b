"""Persistent volumes: the annotations and facts the binder, the provisioner, the scheduler and the node share.

Upstream spreads these over ``pkg/controller/volume/persistentvolume/util`` and
``storage/v1`` helpers. Claims and volumes are plain dicts, as everywhere.
The binding protocol the pieces follow, with upstream's annotations:

- a claim's StorageClass is ``spec.storageClassName``, or the older
  ``volume.beta.kubernetes.io/storage-class`` annotation, which wins when set;
- the scheduler writes :data:`ANN_SELECTED_NODE` on a claim of a
  ``WaitForFirstConsumer`` class once it has chosen the consumer pod's node;
- the binder writes :data:`ANN_STORAGE_PROVISIONER` (and its beta twin) on a
  claim it wants a provisioner to serve, binds claim and volume, and marks both
  :data:`ANN_BOUND_BY_CONTROLLER`; a bound claim carries :data:`ANN_BIND_COMPLETED`;
- a provisioner names its volumes in :data:`ANN_PROVISIONED_BY`;
- Pinnace's own provisioner (:data:`LOCAL_PATH_PROVISIONER`) makes a directory
  under the path a node agent published in :data:`ANN_LOCAL_PATH_ROOT` on its Node.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ANN_BETA_STORAGE_CLASS",
    "ANN_BETA_STORAGE_PROVISIONER",
    "ANN_BIND_COMPLETED",
    "ANN_BOUND_BY_CONTROLLER",
    "ANN_DEFAULT_STORAGE_CLASS",
    "ANN_LOCAL_PATH_ROOT",
    "ANN_PROVISIONED_BY",
    "ANN_SELECTED_NODE",
    "ANN_STORAGE_PROVISIONER",
    "DEFAULT_STORAGE_CLASS_NAME",
    "LOCAL_PATH_PROVISIONER",
    "claim_class",
    "is_default_class",
    "volume_class",
]

#: The node the scheduler chose for a claim's first consumer (WaitForFirstConsumer classes).
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
#: The provisioner the binder asks to serve a claim.
ANN_STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
#: The same, under its beta name, which upstream still writes beside the GA one.
ANN_BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
#: On a claim: the binder finished binding it ("yes").
ANN_BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
#: On a claim or volume: the binder, not a user, bound it ("yes").
ANN_BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
#: On a volume: the provisioner that made it (and must delete it, under the Delete reclaim policy).
ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
#: On a StorageClass: "true" makes it the class of claims that name none.
ANN_DEFAULT_STORAGE_CLASS = "storageclass.kubernetes.io/is-default-class"
#: On a claim: its class, before spec.storageClassName existed (still honoured, and it wins).
ANN_BETA_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"

#: Pinnace's dynamic provisioner: a directory on the consumer's node (as kind's local-path-provisioner).
LOCAL_PATH_PROVISIONER = "pinnace.dev/local-path"
#: On a Node: the absolute directory under which the local-path provisioner makes that node's volumes.
ANN_LOCAL_PATH_ROOT = "pinnace.dev/local-path-root"
#: The default StorageClass ``pinnace up`` installs (the name kind uses).
DEFAULT_STORAGE_CLASS_NAME = "standard"

Obj = dict[str, Any]


def claim_class(claim: Mapping[str, Any]) -> str | None:
    """A claim's StorageClass name: the beta annotation if set, else ``spec.storageClassName``.

    None means the claim names no class (the DefaultStorageClass admission plugin may fill it in); ""
    means explicitly no class (only volumes without a class may bind it)."""
    annotations = (claim.get("metadata") or {}).get("annotations") or {}
    if ANN_BETA_STORAGE_CLASS in annotations:
        return str(annotations[ANN_BETA_STORAGE_CLASS])
    name = (claim.get("spec") or {}).get("storageClassName")
    return None if name is None else str(name)


def volume_class(volume: Mapping[str, Any]) -> str:
    """A PersistentVolume's StorageClass name ("" for none), the beta annotation winning as for claims."""
    annotations = (volume.get("metadata") or {}).get("annotations") or {}
    if ANN_BETA_STORAGE_CLASS in annotations:
        return str(annotations[ANN_BETA_STORAGE_CLASS])
    return str((volume.get("spec") or {}).get("storageClassName") or "")


def is_default_class(storage_class: Mapping[str, Any]) -> bool:
    """Whether a StorageClass is marked as the default (the annotation's value "true", as upstream)."""
    annotations = (storage_class.get("metadata") or {}).get("annotations") or {}
    return annotations.get(ANN_DEFAULT_STORAGE_CLASS) == "true"
