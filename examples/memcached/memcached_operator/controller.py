"""The Memcached controller: ``spec.size`` becomes a Deployment; ``status.nodes`` lists its pods.

It owns the Deployment (a controller reference, so deleting the Memcached
deletes it through the garbage collector), keeps a finalizer to record an
event before the Memcached goes, and sets an ``Available`` condition.
"""

from __future__ import annotations

import logging
from typing import Any

from memcached_operator.api import Memcached, MemcachedStatus
from pinnace.api import errors
from pinnace.runtime import Builder, Client, Controller, EventRecorder, Manager, MergeFrom, Request, Result
from pinnace.runtime.conditions import set_status_condition
from pinnace.runtime.controllerutil import add_finalizer, remove_finalizer, set_controller_reference
from pinnace.runtime.handler import EnqueueRequestsFromMapFunc

log = logging.getLogger(__name__)

FINALIZER = "cache.example.com/finalizer"
DEPLOYMENT = "apps/v1/Deployment"
POD = "v1/Pod"


def labels_for(name: str) -> dict[str, str]:
    """The labels of a Memcached's pods."""
    return {"app.kubernetes.io/name": "memcached", "app.kubernetes.io/instance": name}


def desired_deployment(mc: Memcached) -> dict[str, Any]:
    """The Deployment a Memcached should have."""
    labels = labels_for(mc.name)
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": mc.name, "namespace": mc.namespace, "labels": labels},
        "spec": {
            "replicas": mc.spec.size,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "memcached",
                            "image": mc.spec.image,
                            "command": ["memcached", "-m=64", "-o", "modern", "-v"],
                            "ports": [{"containerPort": 11211, "name": "memcached"}],
                        }
                    ]
                },
            },
        },
    }
    set_controller_reference(mc.to_object(), deployment)
    return deployment


class MemcachedReconciler:
    """Reconciles Memcached objects."""

    def __init__(self, client: Client, recorder: EventRecorder) -> None:
        self.client = client
        self.recorder = recorder

    async def reconcile(self, request: Request) -> Result:
        """Converge one Memcached."""
        try:
            mc: Memcached = await self.client.get(Memcached, request.name, request.namespace)
        except errors.NotFound:
            return Result()
        wire = mc.to_object()
        if mc.metadata.get("deletionTimestamp"):
            if remove_finalizer(wire, FINALIZER):
                self.recorder.event(wire, "Normal", "Deleting", f"memcached {mc.name} is being deleted")
                await self.client.update(wire)
            return Result()
        if add_finalizer(wire, FINALIZER):
            await self.client.update(wire)
            return Result()  # the update triggers the next reconcile

        try:
            current = await self.client.get(DEPLOYMENT, mc.name, mc.namespace)
        except errors.NotFound:
            await self.client.create(desired_deployment(mc))
            self.recorder.event(wire, "Normal", "Created", f"created deployment {mc.name} with {mc.spec.size} replicas")
            return Result()
        if current["spec"].get("replicas") != mc.spec.size or self._image(current) != mc.spec.image:
            changed = {**current, "spec": {**current["spec"], **desired_deployment(mc)["spec"]}}
            await self.client.patch(changed, MergeFrom(current))
            self.recorder.event(wire, "Normal", "Scaled", f"deployment {mc.name} set to {mc.spec.size} replicas")

        pods = await self.client.list(POD, mc.namespace, label_selector=_selector(labels_for(mc.name)))
        nodes = sorted(p["metadata"]["name"] for p in pods)
        status = mc.status.model_copy(deep=True) if mc.status else MemcachedStatus()
        ready = int((current.get("status") or {}).get("readyReplicas") or 0)
        changed_status = status.nodes != nodes or status.replicas != ready
        status.nodes, status.replicas = nodes, ready
        available = "True" if ready >= mc.spec.size else "False"
        reason = "Available" if available == "True" else "Scaling"
        changed_status |= set_status_condition(
            status.conditions, "Available", available, reason, f"{ready}/{mc.spec.size} ready"
        )
        if changed_status:
            before = mc.to_object()
            mc.status = status
            await self.client.status().patch(mc, MergeFrom(before))
        return Result()

    @staticmethod
    def _image(deployment: dict[str, Any]) -> str:
        containers = deployment["spec"]["template"]["spec"].get("containers") or [{}]
        return str(containers[0].get("image", ""))


def _selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _owner_of_pod(pod: dict[str, Any]) -> list[Request]:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    name = labels.get("app.kubernetes.io/instance")
    if labels.get("app.kubernetes.io/name") != "memcached" or not name:
        return []
    return [Request(pod["metadata"].get("namespace", ""), name)]


async def setup(manager: Manager) -> Controller:
    """Add the Memcached controller to ``manager``: for Memcached, owning Deployments, watching their pods."""
    reconciler = MemcachedReconciler(manager.client, manager.get_event_recorder("memcached-controller"))
    return await (
        Builder(manager)
        .for_(Memcached)
        .owns(DEPLOYMENT)
        .watches(POD, EnqueueRequestsFromMapFunc(_owner_of_pod))
        .complete(reconciler)
    )
