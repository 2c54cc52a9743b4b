"""The ephemeral volume controller: a pod's generic ephemeral volumes get their PersistentVolumeClaims.

Upstream's ``ephemeral-volume`` controller. For each ``ephemeral`` volume of a
pod not being deleted, the claim ``<pod>-<volume>`` is created from the volume's
``volumeClaimTemplate`` (its labels, annotations and spec), owned by the pod as
its controller (``blockOwnerDeletion``), so the garbage collector removes it with
the pod. From then on the claim is like any other: the scheduler waits for it,
the binder and a provisioner give it a volume, the node mounts it. A claim of that
name that already exists and is not the pod's is left alone; the pod cannot use it
(the scheduler and the node say so), a Warning event on the pod says why, and the
pod is looked at again with backoff (the claim may be removed).
"""

from __future__ import annotations

from typing import Any

from pinnace.api import errors
from pinnace.api.volumes import claim_owned_by_pod, ephemeral_claim_name, meta_of, spec_of
from pinnace.runtime.builder import Builder
from pinnace.runtime.client import Client
from pinnace.runtime.controller import Controller
from pinnace.runtime.controllerutil import get_or_none
from pinnace.runtime.events import WARNING, EventRecorder
from pinnace.runtime.manager import Manager
from pinnace.runtime.predicate import new_predicate
from pinnace.runtime.reconcile import Request, Result

__all__ = ["EphemeralVolumeController", "add_ephemeral_volume_controller", "claim_for"]

Obj = dict[str, Any]

PODS = "v1/Pod"
CLAIMS = "v1/PersistentVolumeClaim"


def _has_ephemeral_volumes(pod: Obj) -> bool:
    return any(isinstance(v, dict) and v.get("ephemeral") is not None for v in spec_of(pod).get("volumes") or [])


def claim_for(pod: Obj, volume: Obj) -> Obj:
    """The claim an ephemeral volume of ``pod`` asks for: its template, named ``<pod>-<volume>``, owned by the pod."""
    template = (volume.get("ephemeral") or {}).get("volumeClaimTemplate") or {}
    template_meta = template.get("metadata") or {}
    pod_meta = meta_of(pod)
    metadata: Obj = {
        "name": ephemeral_claim_name(pod_meta["name"], volume["name"]),
        "namespace": pod_meta.get("namespace"),
        "ownerReferences": [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": pod_meta["name"],
                "uid": pod_meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    for key in ("labels", "annotations"):
        if template_meta.get(key):
            metadata[key] = dict(template_meta[key])
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata, "spec": template.get("spec")}


async def add_ephemeral_volume_controller(manager: Manager) -> Controller:
    """Add the ephemeral volume controller to ``manager``."""
    reconciler = EphemeralVolumeController(manager.client, manager.get_event_recorder("ephemeral_volume"))
    return await (
        Builder(manager)
        .named("ephemeral-volume")
        .for_(PODS, new_predicate(_has_ephemeral_volumes))
        .owns(CLAIMS)  # a claim deleted under a live pod is made again
        .complete(reconciler)
    )


class EphemeralVolumeController:
    """Creates the claims of pods' generic ephemeral volumes."""

    def __init__(self, client: Client, recorder: EventRecorder) -> None:
        self.client = client
        self.recorder = recorder

    async def reconcile(self, request: Request) -> Result:
        """Make the pod's missing ephemeral claims."""
        pod = await get_or_none(self.client, PODS, request.name, request.namespace)
        if pod is None or meta_of(pod).get("deletionTimestamp"):
            return Result()
        for volume in spec_of(pod).get("volumes") or []:
            if not isinstance(volume, dict) or volume.get("ephemeral") is None:
                continue
            claim = claim_for(pod, volume)
            name = claim["metadata"]["name"]
            existing = await get_or_none(self.client, CLAIMS, name, request.namespace)
            if existing is not None:
                if not claim_owned_by_pod(existing, meta_of(pod).get("uid")):
                    note = (
                        f"ephemeral volume {volume['name']}: PVC {request.namespace}/{name} was not created for pod "
                        f"{request.namespace}/{request.name} (pod is not owner)"
                    )
                    self.recorder.event(pod, WARNING, "FailedBinding", note)
                    return Result(requeue=True)  # with backoff, as upstream retries: the claim may be removed
                continue
            try:
                await self.client.create(claim)
            except errors.AlreadyExists:
                return Result(requeue=True)  # made meanwhile (the cache had not seen it): look again
        return Result()
