"""The persistent-volume binder: binds claims to volumes, asks provisioners for new ones, releases the old.

Upstream's ``persistentvolume-binder`` (kube-controller-manager's PV controller), in
two controllers on one :class:`PersistentVolumeBinder`, as upstream has a claim queue
and a volume queue:

- **claims** (:meth:`PersistentVolumeBinder.sync_claim`). An unbound claim that names
  no volume is bound to the best volume (:func:`~pinnace.api.volumes.find_best_match`:
  one pre-bound to it, else the smallest Available one of its class that fits — none
  but pre-bound ones for a ``WaitForFirstConsumer`` class, whose volumes the scheduler
  picks). With none, a claim of no class gets the default class (upstream's retroactive
  default StorageClass); a claim whose class waits for its first consumer waits for the
  scheduler's ``volume.kubernetes.io/selected-node``; a claim of a class with a
  provisioner is annotated for it (``volume.kubernetes.io/storage-provisioner``), which
  then makes a volume pre-bound to the claim; a claim of no class is told no volume is
  available. A claim that names a volume is bound to it if it fits. Binding writes the
  volume first (``spec.claimRef``, then phase Bound), then the claim (``spec.volumeName``
  and the bind-completed annotation, then status Bound with the volume's access modes
  and capacity); a conflict on the way requeues, and the next pass finishes the job. A
  bound claim whose volume is gone or bound elsewhere is Lost.
- **volumes** (:meth:`PersistentVolumeBinder.sync_volume`). A volume without a claim is
  Available; one whose claim is gone (or was replaced by another of the same name) is
  Released and reclaimed by its policy: ``Retain`` keeps it, ``Delete`` leaves a
  provisioned volume to its provisioner (upstream's external deleter; Pinnace has no
  in-tree deleters, so another one fails), ``Recycle`` is not supported (the volume
  fails, with upstream's event). A volume the binder bound to a claim that went to
  another volume is unbound again.

Unbound claims are looked at again every :data:`RESYNC_PERIOD` seconds (upstream's
``--pvclaimbinder-sync-period``), and at once when a volume or StorageClass changes
or a pod that uses them is created (sooner than upstream, which waits for the resync).
Events carry upstream's reasons and messages, from ``persistentvolume-controller``.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

from pinnace.api import errors
from pinnace.api.volumes import (
    ANN_BETA_STORAGE_PROVISIONER,
    ANN_BIND_COMPLETED,
    ANN_BOUND_BY_CONTROLLER,
    ANN_PROVISIONED_BY,
    ANN_SELECTED_NODE,
    ANN_STORAGE_PROVISIONER,
    annotations_of,
    claim_class,
    claim_reference,
    claims_of_pod,
    default_class,
    find_best_match,
    is_volume_bound_to_claim,
    meta_of,
    phase_of,
    spec_of,
    volume_mode_mismatch,
    volume_unsuitable_for,
)
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

__all__ = [
    "CLAIMS",
    "CLASSES",
    "RESYNC_PERIOD",
    "VOLUMES",
    "PersistentVolumeBinder",
    "add_persistent_volume_binder",
    "claimed_volumes_index",
    "unbound_claims",
]

Obj = dict[str, Any]

CLAIMS = "v1/PersistentVolumeClaim"
VOLUMES = "v1/PersistentVolume"
CLASSES = "storage.k8s.io/v1/StorageClass"
PODS = "v1/Pod"
#: Seconds between looks at a claim still unbound (upstream's default sync period).
RESYNC_PERIOD = 15.0
#: The volume index by the claim its claimRef names ("namespace/name").
CLAIM_INDEX = "pinnace.dev/claim-ref"

NO_VOLUMES = "no persistent volumes available for this claim and no storage class is set"
EXTERNAL_PROVISIONING = (
    "Waiting for a volume to be created either by the external provisioner '{}' or manually by the system "
    "administrator. If volume creation is delayed, please verify that the provisioner is running and correctly "
    "registered."
)


def _claim_key(volume: Obj) -> list[str]:
    ref = spec_of(volume).get("claimRef") or {}
    return [f"{ref.get('namespace')}/{ref.get('name')}"] if ref.get("name") else []


def claimed_volumes_index(indexer: Indexer) -> None:
    """Index a volume informer's volumes by the claim their claimRef names (once per informer)."""
    if CLAIM_INDEX not in indexer.index_names():
        indexer.add_indexers({CLAIM_INDEX: _claim_key})


def unbound_claims(claims: Indexer, _changed: Obj | None = None) -> list[Request]:
    """Every cached claim that names no volume yet: what a new volume or StorageClass may serve."""
    return [
        Request(str(meta_of(c).get("namespace") or ""), str(meta_of(c).get("name") or ""))
        for c in claims.objects()
        if not spec_of(c).get("volumeName") and not meta_of(c).get("deletionTimestamp")
    ]


def _claims_of_volume(claims: Indexer, volume: Obj) -> list[Request]:
    """The claim a volume's claimRef names; every unbound claim when the volume is free (it may serve one)."""
    ref = spec_of(volume).get("claimRef")
    if ref:
        return [Request(str(ref.get("namespace") or ""), str(ref.get("name") or ""))]
    return unbound_claims(claims)


def _volumes_of_claim(volumes: Indexer, claim: Obj) -> list[Request]:
    """The volume a claim names and those whose claimRef names it."""
    names = {str(v["metadata"]["name"]) for v in volumes.by_index(CLAIM_INDEX, _object_key(claim))}
    if spec_of(claim).get("volumeName"):
        names.add(str(spec_of(claim)["volumeName"]))
    return [Request("", name) for name in sorted(names)]


def _unscheduled(pod: Obj) -> bool:
    return not spec_of(pod).get("nodeName") and bool(spec_of(pod).get("volumes"))


def _claims_of_waiting_pod(pod: Obj) -> list[Request]:
    """The claims a pod not yet scheduled uses: a claim waiting for its first consumer says it now waits for it."""
    namespace = str(meta_of(pod).get("namespace") or "")
    return [Request(namespace, name) for name in sorted(_claims_of_pod(pod))]


def _object_key(obj: Obj) -> str:
    return f"{meta_of(obj).get('namespace')}/{meta_of(obj).get('name')}"


async def add_persistent_volume_binder(manager: Manager) -> tuple[Controller, Controller]:
    """Add the binder's claim and volume controllers to ``manager``."""
    binder = PersistentVolumeBinder(manager.client, manager.get_event_recorder("persistentvolume-controller"))
    claims = (await manager.cache.informer_for(CLAIMS, wait=False)).indexer
    volumes = (await manager.cache.informer_for(VOLUMES, wait=False)).indexer
    claimed_volumes_index(volumes)
    claim_controller = await (
        Builder(manager)
        .named("persistentvolume-binder-claims")
        .for_(CLAIMS)
        .watches(VOLUMES, EnqueueRequestsFromMapFunc(functools.partial(_claims_of_volume, claims)))
        .watches(CLASSES, EnqueueRequestsFromMapFunc(functools.partial(unbound_claims, claims)))
        .watches(PODS, EnqueueRequestsFromMapFunc(_claims_of_waiting_pod), new_predicate(_unscheduled))
        .complete(ReconcilerFunc(binder.sync_claim))
    )
    volume_controller = await (
        Builder(manager)
        .named("persistentvolume-binder-volumes")
        .for_(VOLUMES)
        .watches(CLAIMS, EnqueueRequestsFromMapFunc(functools.partial(_volumes_of_claim, volumes)))
        .complete(ReconcilerFunc(binder.sync_volume))
    )
    return claim_controller, volume_controller


class PersistentVolumeBinder:
    """Binds claims and volumes, and releases volumes whose claims are gone."""

    def __init__(self, client: Client, recorder: EventRecorder) -> None:
        self.client = client
        self.recorder = recorder

    # ---- claims -----------------------------------------------------------------------------------------------
    async def sync_claim(self, request: Request) -> Result:
        """Bind an unbound claim, or check a bound one (upstream's ``syncClaim``); a claim or volume deleted
        meanwhile ends the pass (its deletion's event says what is left to do)."""
        claim = await get_or_none(self.client, CLAIMS, request.name, request.namespace)
        try:
            if claim is None:
                return Result()
            if ANN_BIND_COMPLETED not in annotations_of(claim):
                return await self._sync_unbound_claim(claim)
            await self._sync_bound_claim(claim)
        except errors.NotFound:
            pass
        return Result()

    async def _sync_unbound_claim(self, claim: Obj) -> Result:
        wanted = str(spec_of(claim).get("volumeName") or "")
        if wanted:
            await self._sync_claim_naming_volume(claim, wanted)
            return Result(requeue_after=RESYNC_PERIOD)
        storage_class = await self._class_of(claim)
        delay = bool(storage_class and storage_class.get("volumeBindingMode") == "WaitForFirstConsumer")
        volume = find_best_match(claim, await self.client.list(VOLUMES), delay_binding=delay)
        if volume is not None:
            await self.bind(dict(volume), claim)
            return Result()
        if await self._assign_default_class(claim):
            return Result()  # the claim's update brings it back, with its class
        name = claim_class(claim) or ""
        if delay and ANN_SELECTED_NODE not in annotations_of(claim):
            await self._wait_for_first_consumer(claim)
        elif name:
            claim = await self._provision(claim, name, storage_class)
        else:
            self.recorder.event(claim, NORMAL, "FailedBinding", NO_VOLUMES)
        await self._update_claim_status(claim, "Pending", None)
        return Result(requeue_after=RESYNC_PERIOD)

    async def _sync_claim_naming_volume(self, claim: Obj, name: str) -> None:
        """A claim that asked for one volume by name: bind it if that volume fits and is free."""
        volume = await get_or_none(self.client, VOLUMES, name)
        if volume is None:  # not there (yet): look again later
            await self._update_claim_status(claim, "Pending", None)
            return
        if not spec_of(volume).get("claimRef"):
            problem = volume_unsuitable_for(volume, claim)
            if problem is None:
                await self.bind(volume, claim)
                return
            self.recorder.event(
                claim, WARNING, "VolumeMismatch", f'Cannot bind to requested volume "{name}": {problem}'
            )
            await self._update_claim_status(claim, "Pending", None)
        elif is_volume_bound_to_claim(volume, claim):
            await self.bind(volume, claim)
        else:
            self.recorder.event(claim, WARNING, "FailedBinding", f'volume "{name}" already bound to a different claim.')
            await self._update_claim_status(claim, "Pending", None)

    async def _sync_bound_claim(self, claim: Obj) -> None:
        """A claim once bound: keep it so, or call it Lost when its volume is gone or bound elsewhere."""
        name = str(spec_of(claim).get("volumeName") or "")
        if not name:
            message = "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!"
            await self._claim_lost(claim, "ClaimLost", message)
            return
        volume = await get_or_none(self.client, VOLUMES, name)
        if volume is None:
            await self._claim_lost(
                claim, "ClaimLost", "Bound claim has lost its PersistentVolume. Data on the volume is lost!"
            )
            return
        ref = spec_of(volume).get("claimRef")
        if not ref or ref.get("uid") == meta_of(claim).get("uid"):
            await self.bind(volume, claim)  # (re)bind, or nothing to do when all is in place
            return
        message = "Two claims are bound to the same volume, this one is bound incorrectly"
        await self._claim_lost(claim, "ClaimMisbound", message)

    async def _claim_lost(self, claim: Obj, reason: str, message: str) -> None:
        if phase_of(claim) != "Lost":
            await self._update_claim_status(claim, "Lost", None)
            self.recorder.event(claim, WARNING, reason, message)

    async def _class_of(self, claim: Obj) -> Obj | None:
        name = claim_class(claim)
        return await get_or_none(self.client, CLASSES, name) if name else None

    async def _assign_default_class(self, claim: Obj) -> bool:
        """Upstream's retroactive default StorageClass: a claim of no class at all gets the default one."""
        if claim_class(claim) is not None:
            return False
        found = default_class(await self.client.list(CLASSES))
        if found is None:
            return False
        claim.setdefault("spec", {})["storageClassName"] = str(found["metadata"]["name"])
        await self.client.update(claim)
        return True

    async def _wait_for_first_consumer(self, claim: Obj) -> None:
        """Say what a claim of a WaitForFirstConsumer class waits for: a pod, or its pods' scheduling."""
        waiting = sorted(
            str(meta_of(pod).get("name"))
            for pod in await self.client.list(PODS, meta_of(claim).get("namespace"))
            if not spec_of(pod).get("nodeName")
            and phase_of(pod) not in ("Succeeded", "Failed")
            and str(meta_of(claim).get("name")) in _claims_of_pod(pod)
        )
        if not waiting:
            message = "waiting for first consumer to be created before binding"
            self.recorder.event(claim, NORMAL, "WaitForFirstConsumer", message)
        else:
            which = f"pods {','.join(waiting)}" if len(waiting) > 1 else f"pod {waiting[0]}"
            self.recorder.event(claim, NORMAL, "WaitForPodScheduled", f"waiting for {which} to be scheduled")

    async def _provision(self, claim: Obj, name: str, storage_class: Obj | None) -> Obj:
        """Ask the class's provisioner for a volume (upstream's external provisioning): annotate the claim for it."""
        if storage_class is None:
            self.recorder.event(claim, WARNING, "ProvisioningFailed", f'storageclass.storage.k8s.io "{name}" not found')
            return claim
        provisioner = str(storage_class.get("provisioner") or "")
        if provisioner.startswith("kubernetes.io/"):  # an in-tree plugin: Pinnace has none
            self.recorder.event(claim, WARNING, "ProvisioningFailed", f"no volume plugin matched name: {provisioner}")
            return claim
        annotations = annotations_of(claim)
        if annotations.get(ANN_STORAGE_PROVISIONER) != provisioner or ANN_BETA_STORAGE_PROVISIONER not in annotations:
            wanted = {ANN_STORAGE_PROVISIONER: provisioner, ANN_BETA_STORAGE_PROVISIONER: provisioner}
            claim["metadata"]["annotations"] = {**annotations, **wanted}
            try:
                claim = await self.client.update(claim)
            except errors.StatusError as exc:
                self.recorder.event(claim, WARNING, "ProvisioningFailed", f"Error saving claim: {exc}")
                raise
        self.recorder.event(claim, NORMAL, "ExternalProvisioning", EXTERNAL_PROVISIONING.format(provisioner))
        return claim

    # ---- binding ----------------------------------------------------------------------------------------------
    async def bind(self, volume: Obj, claim: Obj) -> None:
        """Bind volume and claim both ways: the volume's claimRef, its phase, the claim's volume name, its status."""
        volume = await self._bind_volume_to_claim(volume, claim)
        volume = await self._update_volume_phase(volume, "Bound")
        claim = await self._bind_claim_to_volume(claim, volume)
        await self._update_claim_status(claim, "Bound", volume)

    async def _bind_volume_to_claim(self, volume: Obj, claim: Obj) -> Obj:
        dirty = False
        by_controller = not is_volume_bound_to_claim(volume, claim)
        ref = spec_of(volume).get("claimRef") or {}
        claim_meta = meta_of(claim)
        if (ref.get("name"), ref.get("namespace"), ref.get("uid")) != (
            claim_meta.get("name"),
            claim_meta.get("namespace"),
            claim_meta.get("uid"),
        ):
            volume.setdefault("spec", {})["claimRef"] = claim_reference(claim)
            dirty = True
        if by_controller and ANN_BOUND_BY_CONTROLLER not in annotations_of(volume):
            volume["metadata"]["annotations"] = {**annotations_of(volume), ANN_BOUND_BY_CONTROLLER: "yes"}
            dirty = True
        return dict(await self.client.update(volume)) if dirty else volume

    async def _bind_claim_to_volume(self, claim: Obj, volume: Obj) -> Obj:
        dirty = False
        annotations = dict(annotations_of(claim))
        name = str(meta_of(volume)["name"])
        if spec_of(claim).get("volumeName") != name:
            claim.setdefault("spec", {})["volumeName"] = name
            dirty = True
            if ANN_BOUND_BY_CONTROLLER not in annotations:
                annotations[ANN_BOUND_BY_CONTROLLER] = "yes"
        if ANN_BIND_COMPLETED not in annotations:
            annotations[ANN_BIND_COMPLETED] = "yes"
            dirty = True
        if not dirty:
            return claim
        claim["metadata"]["annotations"] = annotations
        return dict(await self.client.update(claim))

    async def _update_claim_status(self, claim: Obj, phase: str, volume: Obj | None) -> Obj:
        """Set a claim's phase, with the access modes and capacity of its volume (none without one)."""
        status = dict(claim.get("status") or {})
        before = dict(status)
        status["phase"] = phase
        if volume is None:
            status.pop("accessModes", None)
            status.pop("capacity", None)
        else:
            status["accessModes"] = list(spec_of(volume).get("accessModes") or [])
            capacity = (spec_of(volume).get("capacity") or {}).get("storage")
            if phase_of(claim) != phase and capacity is not None:  # only on becoming Bound: a resize may differ later
                status["capacity"] = {"storage": capacity}
        if status == before:
            return claim
        return dict(await self.client.status().update({**claim, "status": status}))

    async def _update_volume_phase(self, volume: Obj, phase: str, message: str = "") -> Obj:
        status = dict(volume.get("status") or {})
        if status.get("phase") == phase and str(status.get("message") or "") == message:
            return volume
        status["phase"] = phase
        if message:
            status["message"] = message
        else:
            status.pop("message", None)
        return dict(await self.client.status().update({**volume, "status": status}))

    async def _fail_volume(self, volume: Obj, reason: str, message: str) -> None:
        """Mark a volume Failed with an event — once: not at every sync of a volume already failed."""
        if phase_of(volume) != "Failed":
            failed = await self._update_volume_phase(volume, "Failed", message)
            self.recorder.event(failed, WARNING, reason, message)

    # ---- volumes ----------------------------------------------------------------------------------------------
    async def sync_volume(self, request: Request) -> Result:
        """Keep a volume's phase in step with its claim, and reclaim it when the claim is gone (``syncVolume``)."""
        volume = await get_or_none(self.client, VOLUMES, request.name)
        if volume is not None:
            with contextlib.suppress(errors.NotFound):
                await self._sync_volume(volume)
        return Result()

    async def _sync_volume(self, volume: Obj) -> None:
        ref = spec_of(volume).get("claimRef")
        if not ref or not ref.get("uid"):  # free, or reserved for a claim that the claim sync binds
            await self._update_volume_phase(volume, "Available")
            return
        claim = await self._claim_of(ref)
        if claim is None:
            if phase_of(volume) not in ("Released", "Failed"):
                volume = await self._update_volume_phase(volume, "Released")
            await self._reclaim(volume)
            return
        volume_name = str(meta_of(volume)["name"])
        claimed = str(spec_of(claim).get("volumeName") or "")
        if not claimed:  # the claim sync binds it (a volume event has queued the claim too)
            if volume_mode_mismatch(claim, volume):
                volume_message = (
                    f'Cannot bind PersistentVolume to requested PersistentVolumeClaim "{meta_of(claim).get("name")}" '
                    "due to incompatible volumeMode."
                )
                claim_message = (
                    f'Cannot bind PersistentVolume "{volume_name}" to requested PersistentVolumeClaim due to '
                    "incompatible volumeMode."
                )
                self.recorder.event(volume, WARNING, "VolumeMismatch", volume_message)
                self.recorder.event(claim, WARNING, "VolumeMismatch", claim_message)
            return
        if claimed == volume_name:
            await self._update_volume_phase(volume, "Bound")
            return
        # The claim went to another volume.
        if (
            annotations_of(volume).get(ANN_PROVISIONED_BY)
            and spec_of(volume).get("persistentVolumeReclaimPolicy") == "Delete"
        ):
            if phase_of(volume) not in ("Released", "Failed"):
                volume = await self._update_volume_phase(volume, "Released")
            await self._reclaim(volume)
        else:
            await self._unbind_volume(volume)
        return

    async def _claim_of(self, ref: Obj) -> Obj | None:
        """The live claim a claimRef names (None if it is gone or was replaced by another of its name); a claim
        missing from the cache, or of another uid there, is looked up on the server before it counts as gone."""
        namespace, name = str(ref.get("namespace") or ""), str(ref.get("name") or "")
        claim = await get_or_none(self.client, CLAIMS, name, namespace)
        if claim is None or meta_of(claim).get("uid") != ref.get("uid"):
            claim = await get_or_none(self.client.api_reader, CLAIMS, name, namespace)
        if claim is None or meta_of(claim).get("uid") != ref.get("uid"):
            return None
        return dict(claim)

    async def _reclaim(self, volume: Obj) -> None:
        """Apply the reclaim policy of a Released volume."""
        policy = spec_of(volume).get("persistentVolumeReclaimPolicy")
        if policy == "Retain":
            return
        if policy == "Recycle":
            await self._fail_volume(volume, "VolumeFailedRecycle", "No recycler plugin found for the volume!")
        elif policy == "Delete":
            provisioner = str(annotations_of(volume).get(ANN_PROVISIONED_BY) or "")
            if provisioner and not provisioner.startswith("kubernetes.io/"):
                return  # an external deleter's (the provisioner's) job
            name = meta_of(volume).get("name")
            message = f'error getting deleter volume plugin for volume "{name}": no deletable volume plugin matched'
            await self._fail_volume(volume, "VolumeFailedDelete", message)
        else:
            message = "Volume has unrecognized PersistentVolumeReclaimPolicy"
            await self._fail_volume(volume, "VolumeUnknownReclaimPolicy", message)

    async def _unbind_volume(self, volume: Obj) -> None:
        """Free a volume whose claim went elsewhere: drop the binder's claimRef, or only its uid if a user set it."""
        annotations = dict(annotations_of(volume))
        if ANN_BOUND_BY_CONTROLLER in annotations:
            volume["spec"].pop("claimRef", None)
            annotations.pop(ANN_BOUND_BY_CONTROLLER)
            volume["metadata"]["annotations"] = annotations
        else:
            volume["spec"]["claimRef"] = {k: v for k, v in volume["spec"]["claimRef"].items() if k != "uid"}
        updated = dict(await self.client.update(volume))
        await self._update_volume_phase(updated, "Available")


def _claims_of_pod(pod: Obj) -> set[str]:
    """The names of the claims a pod's volumes use."""
    return {claim.name for claim in claims_of_pod(str(meta_of(pod).get("name")), spec_of(pod).get("volumes"))}
