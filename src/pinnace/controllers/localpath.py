"""The local-path provisioner: a volume for a claim is a directory on the node its first pod was scheduled to.

Pinnace's default dynamic provisioner (``pinnace.dev/local-path``, the provisioner of
the ``standard`` StorageClass), as kind's and k3s's rancher local-path-provisioner,
working by the external provisioner protocol:

- **provisioning**: a claim the persistent-volume binder annotated for this
  provisioner (``volume.kubernetes.io/storage-provisioner``), of a class of ours and
  still unbound, gets a PersistentVolume ``pvc-<claim uid>`` pre-bound to it (the
  binder then binds the two). The volume is a ``hostPath`` directory
  ``<root>/pvc-<uid>_<namespace>_<name>`` (``DirectoryOrCreate``: the node agent makes
  it when a pod mounts it) under the root the selected node published in its
  ``pinnace.dev/local-path-root`` annotation, with node affinity to that node's
  hostname. The node is the one the scheduler wrote in
  ``volume.kubernetes.io/selected-node``, so the class must be ``WaitForFirstConsumer``;
  with an ``Immediate`` class, or a node that published no root, provisioning fails
  with a Warning ``ProvisioningFailed`` event and is retried.
- **deletion**: a volume it provisioned that is ``Released`` under the ``Delete``
  reclaim policy has its directory removed and is then deleted. Only a path strictly
  under the node's published root is removed, symbolic links are never followed out of
  it, and a volume whose node is gone is deleted without touching any directory.
  Directories are removed on this machine, which is where ``pinnace up`` runs every node
  agent: a node agent on another machine keeps its volumes' directories (a known limit —
  upstream runs a helper pod on the node for that).

Events carry the external-provisioner library's reasons and messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from pinnace.api import errors
from pinnace.api.volumes import (
    ANN_BETA_STORAGE_PROVISIONER,
    ANN_LOCAL_PATH_ROOT,
    ANN_PROVISIONED_BY,
    ANN_SELECTED_NODE,
    ANN_STORAGE_PROVISIONER,
    LOCAL_PATH_PROVISIONER,
    annotations_of,
    claim_class,
    claim_reference,
    meta_of,
    spec_of,
)
from pinnace.controllers.persistentvolume import CLAIMS, CLASSES, RESYNC_PERIOD, VOLUMES, unbound_claims
from pinnace.runtime.builder import Builder
from pinnace.runtime.cache.indexer import Indexer
from pinnace.runtime.client import Client
from pinnace.runtime.controller import Controller
from pinnace.runtime.controllerutil import get_or_none
from pinnace.runtime.events import NORMAL, WARNING, EventRecorder
from pinnace.runtime.handler import EnqueueRequestsFromMapFunc
from pinnace.runtime.manager import Manager
from pinnace.runtime.predicate import new_predicate
from pinnace.runtime.reconcile import ReconcilerFunc, Request, Result

__all__ = ["LocalPathProvisioner", "add_local_path_provisioner", "removable_path", "volume_directory"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

NODES = "v1/Node"
HOSTNAME_LABEL = "kubernetes.io/hostname"
#: The access modes a directory on one node can offer.
ACCESS_MODES = frozenset({"ReadWriteOnce", "ReadWriteOncePod"})


def volume_directory(root: str, claim: Obj) -> str:
    """Where a claim's volume lives under a node's root (rancher's ``pvc-<uid>_<namespace>_<name>``)."""
    meta = meta_of(claim)
    return os.path.join(root, f"pvc-{meta.get('uid')}_{meta.get('namespace')}_{meta.get('name')}")


def removable_path(root: str, path: str) -> Path | None:
    """``path`` if it is strictly under ``root`` by its own components and by the real location of its parent
    directory (no ``..``, no symbolic link on the way out of the root), else None. The last component itself is
    not resolved: a link there is removed as a link, never followed."""
    if not os.path.isabs(root) or not os.path.isabs(path):
        return None
    normal_root, normal_path = os.path.normpath(root), os.path.normpath(path)
    if normal_path != path.rstrip("/") or normal_root == normal_path:
        return None  # ".." or "." in the path: refuse rather than interpret
    if os.path.commonpath([normal_root, normal_path]) != normal_root:
        return None
    real_root = os.path.realpath(normal_root)
    real_parent = os.path.realpath(os.path.dirname(normal_path))
    if os.path.commonpath([real_root, real_parent]) != real_root:
        return None
    return Path(real_parent) / os.path.basename(normal_path)


def _remove(path: Path) -> None:
    """Remove a volume's directory (or a link or file in its place), without following links."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _provisioned_by_us(volume: Obj) -> bool:
    return annotations_of(volume).get(ANN_PROVISIONED_BY) == LOCAL_PATH_PROVISIONER


def _asks_us(claim: Obj) -> bool:
    annotations = annotations_of(claim)
    wanted = annotations.get(ANN_STORAGE_PROVISIONER) or annotations.get(ANN_BETA_STORAGE_PROVISIONER)
    return wanted == LOCAL_PATH_PROVISIONER and not spec_of(claim).get("volumeName")


def _claims_on_node(claims: Indexer, node: Obj) -> list[Request]:
    """Claims waiting for this provisioner on a node (which may just have published its root)."""
    name = meta_of(node).get("name")
    return [
        request
        for request in unbound_claims(claims)
        if (claim := claims.get(f"{request.namespace}/{request.name}")) is not None
        and annotations_of(claim).get(ANN_SELECTED_NODE) == name
    ]


async def add_local_path_provisioner(manager: Manager) -> tuple[Controller, Controller]:
    """Add the provisioner's claim (provisioning) and volume (deletion) controllers to ``manager``."""
    provisioner = LocalPathProvisioner(manager.client, manager.get_event_recorder(LOCAL_PATH_PROVISIONER))
    claims = (await manager.cache.informer_for(CLAIMS, wait=False)).indexer
    claim_controller = await (
        Builder(manager)
        .named("local-path-provisioner-claims")
        .for_(CLAIMS, new_predicate(_asks_us))
        .watches(NODES, EnqueueRequestsFromMapFunc(functools.partial(_claims_on_node, claims)))
        .complete(ReconcilerFunc(provisioner.provision))
    )
    volume_controller = await (
        Builder(manager)
        .named("local-path-provisioner-volumes")
        .for_(VOLUMES, new_predicate(_provisioned_by_us))
        .complete(ReconcilerFunc(provisioner.delete))
    )
    return claim_controller, volume_controller


class LocalPathProvisioner:
    """Makes and removes the local-path volumes."""

    def __init__(self, client: Client, recorder: EventRecorder) -> None:
        self.client = client
        self.recorder = recorder

    # ---- provisioning -----------------------------------------------------------------------------------------
    async def provision(self, request: Request) -> Result:
        """Make the volume of a claim waiting for this provisioner."""
        claim = await get_or_none(self.client, CLAIMS, request.name, request.namespace)
        if claim is None or not _asks_us(claim) or meta_of(claim).get("deletionTimestamp"):
            return Result()
        class_name = claim_class(claim) or ""
        storage_class = await get_or_none(self.client, CLASSES, class_name) if class_name else None
        if storage_class is None or storage_class.get("provisioner") != LOCAL_PATH_PROVISIONER:
            return Result()  # not ours (any more): the binder tells the story
        name = f"pvc-{meta_of(claim).get('uid')}"
        if await get_or_none(self.client, VOLUMES, name) is not None:
            return Result()  # made already: the binder binds it
        selected = annotations_of(claim).get(ANN_SELECTED_NODE)
        if not selected and storage_class.get("volumeBindingMode") == "WaitForFirstConsumer":
            return Result()  # the scheduler has not chosen the node yet
        key = f"{meta_of(claim).get('namespace')}/{meta_of(claim).get('name')}"
        self.recorder.event(
            claim, NORMAL, "Provisioning", f'External provisioner is provisioning volume for claim "{key}"'
        )
        volume, problem, retry = await self._volume_for(claim, storage_class, name, selected)
        if volume is None:
            message = f'failed to provision volume with StorageClass "{class_name}": {problem}'
            self.recorder.event(claim, WARNING, "ProvisioningFailed", message)
            return Result(requeue_after=RESYNC_PERIOD) if retry else Result()
        with contextlib.suppress(errors.AlreadyExists):
            await self.client.create(volume)
            self.recorder.event(claim, NORMAL, "ProvisioningSucceeded", f"Successfully provisioned volume {name}")
        return Result()

    async def _volume_for(
        self, claim: Obj, storage_class: Obj, name: str, node_name: str | None
    ) -> tuple[Obj | None, str, bool]:
        """The volume to make for a claim, or None with why not and whether trying again may help."""
        spec = spec_of(claim)
        if spec.get("selector") is not None:
            return None, "claim.Spec.Selector is not supported", False
        modes = [str(m) for m in spec.get("accessModes") or []]
        if not set(modes) <= ACCESS_MODES:
            return None, "NodePath only supports ReadWriteOnce and ReadWriteOncePod access modes", False
        if not node_name:
            message = "configuration error, no node was specified (the StorageClass needs WaitForFirstConsumer)"
            return None, message, True
        node = await get_or_none(self.client, NODES, node_name)
        if node is None:
            return None, f'failed to get node {node_name}: nodes "{node_name}" not found', True
        root = str(annotations_of(node).get(ANN_LOCAL_PATH_ROOT) or "")
        if not os.path.isabs(root):
            problem = f"node {node_name} has published no local-path root (its {ANN_LOCAL_PATH_ROOT} annotation)"
            return None, problem, True
        hostname = str((meta_of(node).get("labels") or {}).get(HOSTNAME_LABEL) or node_name)
        request = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        affinity_term = {"matchExpressions": [{"key": HOSTNAME_LABEL, "operator": "In", "values": [hostname]}]}
        volume = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {ANN_PROVISIONED_BY: LOCAL_PATH_PROVISIONER}},
            "spec": {
                "capacity": {"storage": request},
                "accessModes": modes,
                "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy") or "Delete",
                "storageClassName": claim_class(claim),
                "volumeMode": "Filesystem",
                "claimRef": claim_reference(claim),
                "hostPath": {"path": volume_directory(root, claim), "type": "DirectoryOrCreate"},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [affinity_term]}},
            },
        }
        return volume, "", False

    # ---- deletion ---------------------------------------------------------------------------------------------
    async def delete(self, request: Request) -> Result:
        """Remove a released volume's directory, then the volume."""
        volume = await get_or_none(self.client, VOLUMES, request.name)
        if (
            volume is None
            or not _provisioned_by_us(volume)
            or (volume.get("status") or {}).get("phase") != "Released"
            or spec_of(volume).get("persistentVolumeReclaimPolicy") != "Delete"
            or meta_of(volume).get("deletionTimestamp")
        ):
            return Result()
        try:
            await self._remove_directory(volume)
        except OSError as exc:
            self.recorder.event(volume, WARNING, "VolumeFailedDelete", f"failed to delete volume {request.name}: {exc}")
            return Result(requeue_after=RESYNC_PERIOD)
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.client.delete(volume, preconditions={"uid": str(meta_of(volume)["uid"])})
        return Result()

    async def _remove_directory(self, volume: Obj) -> None:
        """Remove the volume's directory if its node (still there) published the root it lies under."""
        path = str((spec_of(volume).get("hostPath") or {}).get("path") or "")
        node = await self._node_of(volume)
        if node is None:
            log.warning(
                "local-path volume %s: its node is gone; %s is left as it is", meta_of(volume).get("name"), path
            )
            return
        root = str(annotations_of(node).get(ANN_LOCAL_PATH_ROOT) or "")
        target = removable_path(root, path)
        if target is None:
            raise OSError(f"refusing to remove {path!r}: not under the local-path root {root!r} of its node")
        await asyncio.to_thread(_remove, target)

    async def _node_of(self, volume: Obj) -> Obj | None:
        """The node a volume's affinity names (by hostname label, else by name), or None if it is gone."""
        hostnames = {
            value
            for term in ((spec_of(volume).get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms")
            or []
            for expression in term.get("matchExpressions") or []
            if expression.get("key") == HOSTNAME_LABEL
            for value in expression.get("values") or []
        }
        for node in await self.client.list(NODES):
            labels = meta_of(node).get("labels") or {}
            if labels.get(HOSTNAME_LABEL, meta_of(node).get("name")) in hostnames:
                return dict(node)
        return None
