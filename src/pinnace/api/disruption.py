"""A PodDisruptionBudget's status, as upstream's disruption controller computes it.

Shared by the ``pods/eviction`` subresource (which checks a budget at eviction
time) and the disruption controller (which keeps every budget's status, so
``kubectl get pdb`` shows ALLOWED DISRUPTIONS). Pure but for one callback:
``get(api_version, kind, namespace, name)`` reads a pod's controller (None if
it is gone), so each caller reads objects its own way.

The status: ``expectedPods`` (the scale of the budget's workloads — a
ReplicaSet counts as its Deployment — or, for an integer ``minAvailable``, the
pods there are), ``desiredHealthy`` (``minAvailable``, or the expected pods
less ``maxUnavailable``; percentages round up), ``currentHealthy`` (ready pods
not being deleted and not recently evicted), ``disruptionsAllowed`` (their
difference, at least 0), ``disruptedPods`` (evictions not yet seen deleted, for
two minutes), ``observedGeneration`` and the ``DisruptionAllowed`` condition.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pinnace.api.podutil import is_pod_ready, set_pod_condition

__all__ = ["DELETION_TIMEOUT", "Getter", "budget_status", "set_allowed_condition"]

Obj = dict[str, Any]

#: Reads one object by apiVersion, kind, namespace and name; None when it does not exist.
Getter = Callable[[str, str, str, str], Awaitable[Obj | None]]

#: How long an evicted pod stays in ``disruptedPods`` without being deleted (upstream DeletionTimeout).
DELETION_TIMEOUT = 120.0

#: The controllers whose scale a budget counts, by (group, kind).
_SCALED = {("apps", "ReplicaSet"), ("apps", "StatefulSet"), ("apps", "Deployment"), ("", "ReplicationController")}


def _parse_time(text: str) -> float:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0


def _scaled(value: Any, total: int, *, round_up: bool) -> int:
    """An IntOrString of a budget against ``total`` pods (percentages rounded as upstream)."""
    if isinstance(value, str) and value.endswith("%"):
        try:
            percent = int(value[:-1])
        except ValueError:
            return 0
        exact = percent * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


async def _controller_scale(get: Getter, namespace: str, ref: Obj) -> int | None:
    """The desired replicas of a pod's controller (a ReplicaSet counts as its Deployment), if known."""
    api_version, kind = str(ref.get("apiVersion") or ""), str(ref.get("kind") or "")
    if (api_version.rpartition("/")[0], kind) not in _SCALED:
        return None
    obj = await get(api_version, kind, namespace, str(ref.get("name") or ""))
    if obj is None:
        return None
    if kind == "ReplicaSet":
        for owner in (obj.get("metadata") or {}).get("ownerReferences") or []:
            if owner.get("controller") and owner.get("kind") == "Deployment":
                deployment = await _controller_scale(get, namespace, owner)
                if deployment is not None:
                    return deployment
    replicas = (obj.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


async def _expected_pods(get: Getter, namespace: str, pods: list[Obj]) -> int:
    """How many pods the budget's workloads want: their controllers' scale, else the pods there are."""
    controllers: dict[str, Obj] = {}
    uncontrolled = 0
    for pod in pods:
        ref = next((o for o in (pod["metadata"].get("ownerReferences") or []) if o.get("controller")), None)
        if ref is None:
            uncontrolled += 1
        else:
            controllers[str(ref.get("uid") or ref.get("name"))] = ref
    total = uncontrolled
    for ref in controllers.values():
        scale = await _controller_scale(get, namespace, ref)
        total += (
            scale
            if scale is not None
            else sum(
                1
                for p in pods
                if any(o.get("uid") == ref.get("uid") for o in p["metadata"].get("ownerReferences") or [])
            )
        )
    return total


async def budget_status(get: Getter, pdb: Obj, pods: list[Obj], now: float) -> Obj:
    """A PodDisruptionBudget's status from the pods its selector matches (``now`` in epoch seconds)."""
    spec = pdb.get("spec") or {}
    namespace = pdb["metadata"]["namespace"]
    old = pdb.get("status") or {}
    names = {p["metadata"]["name"] for p in pods}
    disrupted = {
        name: stamp
        for name, stamp in (old.get("disruptedPods") or {}).items()
        if name in names and now - _parse_time(stamp) < DELETION_TIMEOUT
    }
    healthy = sum(
        1
        for p in pods
        if not p["metadata"].get("deletionTimestamp") and p["metadata"]["name"] not in disrupted and is_pod_ready(p)
    )
    if spec.get("maxUnavailable") is not None:
        expected = await _expected_pods(get, namespace, pods)
        desired = max(0, expected - _scaled(spec["maxUnavailable"], expected, round_up=True))
    elif isinstance(spec.get("minAvailable"), str):
        expected = await _expected_pods(get, namespace, pods)
        desired = _scaled(spec["minAvailable"], expected, round_up=True)
    else:
        expected = len(pods)
        desired = _scaled(spec.get("minAvailable", 1), expected, round_up=True)
    allowed = max(0, healthy - desired)
    status: Obj = {
        "observedGeneration": pdb["metadata"].get("generation", 1),
        "disruptionsAllowed": allowed,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
    }
    if disrupted:
        status["disruptedPods"] = disrupted
    status["conditions"] = [dict(c) for c in old.get("conditions") or []]
    set_allowed_condition(status)
    return status


def set_allowed_condition(status: Obj) -> None:
    """Set the ``DisruptionAllowed`` condition from ``disruptionsAllowed`` (its transition time kept if unchanged)."""
    allowed = status["disruptionsAllowed"] > 0
    wanted = {
        "type": "DisruptionAllowed",
        "status": "True" if allowed else "False",
        "reason": "SufficientPods" if allowed else "InsufficientPods",
        "message": "",
        "observedGeneration": status["observedGeneration"],
    }
    holder: Obj = {"status": {"conditions": status["conditions"]}}
    set_pod_condition(holder, wanted)
    for c in holder["status"]["conditions"]:
        c.pop("lastProbeTime", None)
    status["conditions"] = holder["status"]["conditions"]
