"""The pvc-protection and pv-protection controllers: claims and volumes in use are not removed under their users.

Upstream's two storage-object-in-use protection controllers. The
StorageObjectInUseProtection admission plugin gives every new claim the finalizer
``kubernetes.io/pvc-protection`` and every new volume ``kubernetes.io/pv-protection``;
these controllers add them to objects made before (or without the plugin) and take
them off when deletion may go ahead:

- **pvc-protection**: a claim being deleted keeps its finalizer while a pod that has
  been scheduled uses it (a volume naming it, or a generic ephemeral volume of a pod
  still running whose claim it is). A pod not scheduled yet does not count: the
  scheduler and the node refuse a claim being deleted. The pod cache says "unused"
  first; a live list of the namespace's pods confirms it before the finalizer goes, as
  upstream asks the API server, since a pod just created may not be in the cache yet.
  So ``kubectl delete pvc`` of a claim a running pod mounts leaves it Terminating until
  the pod is gone, and only then is its volume released.
- **pv-protection**: a volume being deleted keeps its finalizer while its status says
  Bound; once the binder releases it (its claim gone) the finalizer goes.
"""

from __future__ import annotations

from typing import Any

from pinnace.api import errors
from pinnace.api.volumes import (
    PV_PROTECTION_FINALIZER,
    PVC_PROTECTION_FINALIZER,
    claim_owned_by_pod,
    claims_of_pod,
    meta_of,
    phase_of,
)
from pinnace.runtime.builder import Builder
from pinnace.runtime.client import Client
from pinnace.runtime.controller import Controller
from pinnace.runtime.controllerutil import add_finalizer, get_or_none, has_finalizer, remove_finalizer
from pinnace.runtime.handler import EnqueueRequestsFromMapFunc
from pinnace.runtime.manager import Manager
from pinnace.runtime.reconcile import Request, Result

__all__ = [
    "PVCProtection",
    "PVProtection",
    "add_pv_protection_controller",
    "add_pvc_protection_controller",
    "pod_uses_claim",
]

Obj = dict[str, Any]

CLAIMS = "v1/PersistentVolumeClaim"
VOLUMES = "v1/PersistentVolume"
PODS = "v1/Pod"


def _claims_of(pod: Obj) -> list[Request]:
    """The claims a pod's volumes name: their protection may have changed with the pod."""
    namespace = str(meta_of(pod).get("namespace") or "")
    volumes = (pod.get("spec") or {}).get("volumes")
    return [Request(namespace, claim.name) for claim in claims_of_pod(str(meta_of(pod).get("name")), volumes)]


def _shut_down(pod: Obj) -> bool:
    return phase_of(pod) in ("Succeeded", "Failed")


def pod_uses_claim(pod: Obj, claim: Obj) -> bool:
    """Whether ``pod`` keeps ``claim`` (same namespace) from being removed (upstream's ``podUsesPVC``)."""
    if not (pod.get("spec") or {}).get("nodeName"):
        return False
    name = meta_of(claim).get("name")
    pod_uid = meta_of(pod).get("uid")
    for used in claims_of_pod(str(meta_of(pod).get("name")), (pod.get("spec") or {}).get("volumes")):
        if used.name != name:
            continue
        if not used.ephemeral:
            return True
        if not _shut_down(pod) and claim_owned_by_pod(claim, pod_uid):
            return True
    return False


async def add_pvc_protection_controller(manager: Manager) -> Controller:
    """Add the pvc-protection controller to ``manager``."""
    return await (
        Builder(manager)
        .named("pvc-protection")
        .for_(CLAIMS)
        .watches(PODS, EnqueueRequestsFromMapFunc(_claims_of))
        .complete(PVCProtection(manager.client))
    )


async def add_pv_protection_controller(manager: Manager) -> Controller:
    """Add the pv-protection controller to ``manager``."""
    return await Builder(manager).named("pv-protection").for_(VOLUMES).complete(PVProtection(manager.client))


async def _write(client: Client, obj: Obj) -> Result:
    """Write ``obj`` (its finalizers changed); a conflict or a vanished object means look again."""
    try:
        await client.update(obj)
    except errors.Conflict:
        return Result(requeue=True)
    except errors.NotFound:
        pass
    return Result()


class PVCProtection:
    """Adds ``kubernetes.io/pvc-protection`` to claims, and removes it from deleted claims no pod uses."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def reconcile(self, request: Request) -> Result:
        """Protect the claim, or let it go."""
        claim = await get_or_none(self.client, CLAIMS, request.name, request.namespace)
        if claim is None:
            return Result()
        if not meta_of(claim).get("deletionTimestamp"):
            return await _write(self.client, claim) if add_finalizer(claim, PVC_PROTECTION_FINALIZER) else Result()
        if not has_finalizer(claim, PVC_PROTECTION_FINALIZER):
            return Result()
        cached = await self.client.list(PODS, request.namespace)
        if any(pod_uses_claim(pod, claim) for pod in cached):
            return Result()  # the pod's deletion (an event on the watch) brings the claim back
        live = await self.client.api_reader.list(PODS, request.namespace)
        if any(pod_uses_claim(pod, claim) for pod in live):
            return Result()
        remove_finalizer(claim, PVC_PROTECTION_FINALIZER)
        return await _write(self.client, claim)


class PVProtection:
    """Adds ``kubernetes.io/pv-protection`` to volumes, and removes it from deleted volumes no longer bound."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def reconcile(self, request: Request) -> Result:
        """Protect the volume, or let it go."""
        volume = await get_or_none(self.client, VOLUMES, request.name)
        if volume is None:
            return Result()
        if not meta_of(volume).get("deletionTimestamp"):
            return await _write(self.client, volume) if add_finalizer(volume, PV_PROTECTION_FINALIZER) else Result()
        if phase_of(volume) == "Bound" or not remove_finalizer(volume, PV_PROTECTION_FINALIZER):
            return Result()  # in use: its release (an update on the watch) brings it back
        return await _write(self.client, volume)
