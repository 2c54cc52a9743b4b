"""Taint-based eviction: pods leave nodes whose NoExecute taints they do not tolerate (long enough).

Upstream's taint-eviction controller (``pkg/controller/tainteviction``), as
rules and a small timer table; :class:`TaintEvictor` is driven by the node
lifecycle controller, which owns the taints it acts on:

- a pod that does not tolerate every NoExecute taint of its node is deleted
  at once;
- a pod that tolerates them all is deleted after the smallest
  ``tolerationSeconds`` of the tolerations used (none set: it stays), counted
  from when the eviction was first scheduled;
- when the taints go before that, the deletion is cancelled.

Upstream's DefaultTolerationSeconds admission gives every pod tolerations of
300 s for ``node.kubernetes.io/not-ready`` and ``…/unreachable``. Here a pod
without its own toleration for one of those two taints is treated as if it
had that toleration with ``default_toleration_seconds`` (the controller
manager's ``--pod-eviction-timeout``), so the delay is configured in one
place.

An eviction first adds the ``DisruptionTarget`` condition to the pod
(reason ``DeletionByTaintManager``), records a ``TaintManagerEviction``
event ("Marking for deletion Pod ns/name") and then deletes the pod with its
own grace period.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pinnace.api import errors
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.runtime.cache.indexer import object_key
from pinnace.runtime.clock import Clock
from pinnace.runtime.events import NORMAL, EventRecorder

__all__ = [
    "NOT_READY",
    "UNREACHABLE",
    "TaintEvictor",
    "eviction_delay",
    "matching_tolerations",
    "tolerates",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

PODS = ResourceRef("", "v1", "pods")
NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
STRATEGIC = "application/strategic-merge-patch+json"


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """Whether ``toleration`` tolerates ``taint`` (upstream's ToleratesTaint)."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def matching_tolerations(taints: Sequence[Obj], tolerations: Sequence[Obj]) -> list[Obj] | None:
    """For each taint the first toleration of it; None if some taint is not tolerated."""
    used = []
    for taint in taints:
        found = next((t for t in tolerations if tolerates(t, taint)), None)
        if found is None:
            return None
        used.append(found)
    return used


def _with_defaults(tolerations: Sequence[Obj], default_seconds: float) -> list[Obj]:
    """The pod's tolerations plus DefaultTolerationSeconds' two, for the taints it does not tolerate itself."""
    out = list(tolerations)
    for key in (NOT_READY, UNREACHABLE):
        probe = {"key": key, "effect": "NoExecute"}
        if not any(tolerates(t, probe) for t in tolerations):
            out.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": default_seconds})
    return out


def eviction_delay(pod: Obj, taints: Iterable[Obj], default_seconds: float) -> float | None:
    """Seconds until ``pod`` must leave a node with these NoExecute ``taints``: 0 now, None never."""
    no_execute = [t for t in taints if t.get("effect") == "NoExecute"]
    if not no_execute:
        return None
    tolerations = _with_defaults((pod.get("spec") or {}).get("tolerations") or [], default_seconds)
    used = matching_tolerations(no_execute, tolerations)
    if used is None:
        return 0.0
    seconds = [float(t["tolerationSeconds"]) for t in used if t.get("tolerationSeconds") is not None]
    if not seconds:
        return None
    return max(0.0, min(seconds))


@dataclass
class _Scheduled:
    created: float
    deadline: float


class TaintEvictor:
    """Schedules, cancels and carries out the evictions of pods from NoExecute-tainted nodes."""

    def __init__(
        self, rest: RestClient, recorder: EventRecorder, clock: Clock, *, default_toleration_seconds: float = 300.0
    ) -> None:
        self.rest = rest
        self.recorder = recorder
        self.clock = clock
        self.default_toleration_seconds = default_toleration_seconds
        self._scheduled: dict[str, _Scheduled] = {}

    def next_deadline(self) -> float | None:
        """The monotonic time of the earliest scheduled eviction."""
        return min((s.deadline for s in self._scheduled.values()), default=None)

    async def process_node(self, taints: Sequence[Obj], pods: Iterable[Obj]) -> None:
        """Schedule, cancel or carry out the evictions of ``pods`` (all on one node with ``taints``)."""
        now = self.clock.now()
        for pod in pods:
            key = object_key(pod)
            if (pod.get("metadata") or {}).get("deletionTimestamp"):
                self._scheduled.pop(key, None)
                continue
            delay = eviction_delay(pod, taints, self.default_toleration_seconds)
            scheduled = self._scheduled.get(key)
            if delay is None:
                if scheduled is not None:
                    del self._scheduled[key]
                    self._event(pod, f"Cancelling deletion of Pod {key}")
                continue
            if scheduled is None or scheduled.created + delay < scheduled.deadline:
                created = scheduled.created if scheduled is not None else now
                scheduled = self._scheduled[key] = _Scheduled(created, created + delay)
            if scheduled.deadline <= now:
                del self._scheduled[key]
                await self._evict(pod)

    def forget(self, keys: Iterable[str]) -> None:
        """Drop scheduled evictions of pods that are gone or moved."""
        for key in keys:
            self._scheduled.pop(key, None)

    def scheduled(self) -> set[str]:
        """The keys of the pods with an eviction scheduled."""
        return set(self._scheduled)

    async def _evict(self, pod: Obj) -> None:
        meta = pod["metadata"]
        key = object_key(pod)
        stamp = self.clock.wall().strftime("%Y-%m-%dT%H:%M:%SZ")
        condition = {
            "type": "DisruptionTarget",
            "status": "True",
            "lastTransitionTime": stamp,
            "reason": "DeletionByTaintManager",
            "message": "Taint manager: deleting due to NoExecute taint",
        }
        self._event(pod, f"Marking for deletion Pod {key}")
        try:
            await self.rest.patch(
                PODS,
                meta["name"],
                {"status": {"conditions": [condition]}},
                meta["namespace"],
                patch_type=STRATEGIC,
                subresource="status",
            )
            with contextlib.suppress(errors.NotFound):
                await self.rest.delete(PODS, meta["name"], meta["namespace"], preconditions={"uid": meta["uid"]})
        except (errors.NotFound, errors.Conflict):
            return
        log.info("evicted pod %s from a NoExecute-tainted node", key)

    def _event(self, pod: Obj, message: str) -> None:
        self.recorder.event({**pod, "apiVersion": "v1", "kind": "Pod"}, NORMAL, "TaintManagerEviction", message)
