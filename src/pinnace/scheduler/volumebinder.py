"""Binding a pod's claims before the pod (upstream VolumeBinding's Reserve and PreBind).

Once the scheduler has chosen a node for a pod with unbound WaitForFirstConsumer
claims, :class:`VolumeBinder` makes upstream's API updates — a chosen Available
volume is *prebound* (its ``spec.claimRef`` names the claim, for the binder to
finish), a claim to provision gets ``volume.kubernetes.io/selected-node`` — and
then waits until the binder (and the provisioner) have bound every one of
them, up to upstream's bind timeout (600 s). It waits on informer events, not
by polling the API, and in the pod's own binding task, so other pods keep
being scheduled meanwhile.

Failures are worded as upstream's (``running PreBind plugin "VolumeBinding":
binding volumes: …``); the scheduler reports them and tries the pod again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from pinnace.api.volumes import ANN_SELECTED_NODE
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.runtime.clock import Clock
from pinnace.scheduler.state import ClusterState
from pinnace.scheduler.types import NodeInfo, PodInfo
from pinnace.scheduler.volumes import (
    PodVolumes,
    VolumeState,
    find_pod_volumes,
    is_fully_bound,
    pod_claims,
    resource_version,
    volume_fits_node,
)

__all__ = ["BIND_TIMEOUT", "CLAIMS", "VOLUMES", "VolumeBinder", "VolumeBindingError"]

Obj = dict[str, Any]
CLAIMS = ResourceRef("", "v1", "persistentvolumeclaims")
VOLUMES = ResourceRef("", "v1", "persistentvolumes", namespaced=False)
#: Upstream's VolumeBindingArgs.bindTimeoutSeconds default.
BIND_TIMEOUT = 600.0
_PREFIX = 'running PreBind plugin "VolumeBinding": '


class VolumeBindingError(Exception):
    """The claims could not be bound for the pod (the message is the FailedScheduling one)."""


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name"))


def _key(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


class VolumeBinder:
    """Prebinds and provisions a scheduled pod's claims, then waits for them to be bound (module docstring)."""

    def __init__(
        self,
        rest: RestClient,
        cluster: ClusterState,
        *,
        clock: Clock,
        field_manager: str,
        timeout: float = BIND_TIMEOUT,
    ) -> None:
        self.rest = rest
        self.cluster = cluster
        self.state: VolumeState = cluster.volumes
        self.clock = clock
        self.field_manager = field_manager
        self.timeout = timeout
        self._changed = asyncio.Event()

    def notify(self) -> None:
        """A claim or volume changed: binders waiting on one look again."""
        self._changed.set()
        self._changed = asyncio.Event()

    def reserve(self, pod: PodInfo, node: NodeInfo) -> PodVolumes | None:
        """What binding the pod's claims on ``node`` takes, assumed in the cache; None when all are bound."""
        if not pod.claims:
            return None
        claims = pod_claims(pod, self.state)
        if claims.all_bound:
            return None
        plan, _ = find_pod_volumes(claims, self.state, node)
        return self.state.assume(plan, node.name)

    def unreserve(self, plan: PodVolumes) -> None:
        """The pod will not go to the node after all: forget what :meth:`reserve` assumed."""
        self.state.revert(plan)

    async def bind(self, pod: PodInfo, node: str, plan: PodVolumes, alive: Callable[[], bool]) -> None:
        """Write the plan, then wait until every claim is bound; VolumeBindingError otherwise.

        ``alive`` says whether the pod still waits for this node (False once it is deleted)."""
        try:
            written = await self._write(plan)
        except Exception as exc:  # an API error (a conflict: someone else bound it), or the server out of reach
            raise VolumeBindingError(f"{_PREFIX}{exc}") from exc
        deadline = self.clock.now() + self.timeout
        while True:
            changed = self._changed
            try:
                if self._bound(node, written):
                    return
            except VolumeBindingError as exc:
                raise VolumeBindingError(f"{_PREFIX}binding volumes: {exc}") from None
            if not alive():
                raise VolumeBindingError(f"{_PREFIX}binding volumes: pod does not exist any more")
            left = deadline - self.clock.now()
            if left <= 0:
                raise VolumeBindingError(f"{_PREFIX}binding volumes: context deadline exceeded")
            # Woken by informer events; the periodic look also sees the pod gone and the deadline pass.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=min(left, 1.0))

    async def _write(self, plan: PodVolumes) -> PodVolumes:
        """Upstream's bindAPIUpdate: prebind the chosen volumes, mark the claims to provision."""
        out = PodVolumes()
        for volume, claim in plan.bindings:
            meta = volume["metadata"]
            patch: Obj = {
                "metadata": {"resourceVersion": meta.get("resourceVersion")},
                "spec": {"claimRef": volume["spec"]["claimRef"]},
            }
            if meta.get("annotations"):
                patch["metadata"]["annotations"] = meta["annotations"]
            written = await self.rest.patch(VOLUMES, _name(volume), patch, field_manager=self.field_manager)
            out.bindings.append((written, claim))
        for claim in plan.provisions:
            meta = claim["metadata"]
            patch = {
                "metadata": {
                    "resourceVersion": meta.get("resourceVersion"),
                    "annotations": {ANN_SELECTED_NODE: meta["annotations"][ANN_SELECTED_NODE]},
                }
            }
            written = await self.rest.patch(
                CLAIMS, _name(claim), patch, str(meta.get("namespace")), field_manager=self.field_manager
            )
            out.provisions.append(written)
        return out

    def _bound(self, node_name: str, plan: PodVolumes) -> bool:
        """Upstream's checkBindings, on the informer's objects: True when done, VolumeBindingError when failed."""
        node = self.cluster.nodes.get(node_name)
        if node is None or node.node is None:
            raise VolumeBindingError(f'failed to get node "{node_name}": node "{node_name}" not found')
        for written, claim in plan.bindings:
            volume = self.state.volumes.get(_name(written))
            current = self.state.claims.get(_key(claim))
            if volume is None or current is None:
                raise VolumeBindingError(f'failed to check binding: "{_name(written)}" not found')
            if resource_version(written) > resource_version(volume):
                return False  # the informer has not caught up with our own write yet
            if not volume_fits_node(volume, node):
                raise VolumeBindingError(f'pv "{_name(volume)}" node affinity doesn\'t match node "{node_name}"')
            ref = (volume.get("spec") or {}).get("claimRef") or {}
            if not ref.get("uid"):
                raise VolumeBindingError(f'ClaimRef got reset for pv "{_name(volume)}"')
            if not is_fully_bound(current):
                return False
        for written in plan.provisions:
            current = self.state.claims.get(_key(written))
            if current is None:
                raise VolumeBindingError(f'failed to check provisioning pvc: "{_key(written)}" not found')
            if resource_version(written) > resource_version(current):
                return False
            annotations = (current.get("metadata") or {}).get("annotations") or {}
            if ANN_SELECTED_NODE not in annotations:
                raise VolumeBindingError(f'selectedNode annotation reset for PVC "{_name(current)}"')
            if annotations[ANN_SELECTED_NODE] != node_name:
                raise VolumeBindingError(f'provisioning failed for PVC "{_name(current)}"')
            volume_name = (current.get("spec") or {}).get("volumeName")
            if volume_name:
                volume = self.state.volumes.get(str(volume_name))
                if volume is None:
                    return False  # not seen yet (or gone: the claim will be unbound then)
                if not volume_fits_node(volume, node):
                    raise VolumeBindingError(f'pv "{volume_name}" node affinity doesn\'t match node "{node_name}"')
            if not is_fully_bound(current):
                return False
        return True
