"""A PodDisruptionBudget's status, as upstream's disruption controller computes it.

Shared by the ``pods/eviction`` subresource (which checks a budget at eviction
time) and the disruption controller (which keeps every budget's status, so
``kubectl get pdb`` shows ALLOWED DISRUPTIONS). Pure but for two callbacks:
``get(api_version, kind, namespace, name)`` reads a pod's built-in controller
(None if it is gone), and ``read_scale`` the ``scale`` subresource of any other
controller (a custom resource's), so each caller reads objects its own way.

The status: ``expectedPods`` (the scale of the budget's workloads, each
counted once — a ReplicaSet counts as its Deployment — or, for an integer
``minAvailable``, the pods there are), ``desiredHealthy`` (``minAvailable``, or
the expected pods less ``maxUnavailable``; percentages round up),
``currentHealthy`` (ready pods not being deleted and not recently evicted),
``disruptionsAllowed`` (their difference, at least 0, and 0 while no pod is
expected), ``disruptedPods`` (evictions not yet seen deleted, for two minutes),
``observedGeneration`` and the ``DisruptionAllowed`` condition.

As upstream since 1.27, pods with no controller are left out of a scaled
budget's expected pods (the controller warns about them with an
``UnmanagedPods`` event); a pod whose controller is gone, or has no scale (a
Job, a DaemonSet, a custom resource without the scale subresource), makes the
count impossible, and the budget fails safe: no disruption allowed,
``DisruptionAllowed`` False with reason ``SyncFailed``.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pinnace.api.podutil import is_pod_ready, set_pod_condition

__all__ = [
    "DELETION_TIMEOUT",
    "Assessment",
    "ExpectedPodsUnknown",
    "Getter",
    "ScaleReader",
    "assess",
    "budget_status",
    "set_allowed_condition",
]

Obj = dict[str, Any]

#: Reads one object by apiVersion, kind, namespace and name; None when it does not exist.
Getter = Callable[[str, str, str, str], Awaitable[Obj | None]]
#: Reads the ``scale`` subresource (an autoscaling/v1 Scale) of a pod's controller of any other kind (a custom
#: resource's), by apiVersion, kind, namespace and name: None when the object does not exist; raises
#: :class:`ExpectedPodsUnknown` when its kind is not served or has no scale subresource.
ScaleReader = Callable[[str, str, str, str], Awaitable[Obj | None]]

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


#: Built-in kinds that own pods but have no scale subresource, by (group, kind): their GroupResource, as
#: upstream names it when it cannot count a budget's pods.
_UNSCALED = {
    ("batch", "Job"): "jobs.batch",
    ("apps", "DaemonSet"): "daemonsets.apps",
    ("", "Node"): "nodes",
}


class ExpectedPodsUnknown(Exception):
    """A budget's expected pods cannot be counted: a pod's controller is gone or has no scale (upstream's
    getExpectedScale error; the budget then fails safe)."""


async def _controller_scale(get: Getter, namespace: str, ref: Obj) -> tuple[str, int] | None:
    """The UID and desired replicas of a pod's controller (a ReplicaSet counts as its Deployment), if found."""
    api_version, kind = str(ref.get("apiVersion") or ""), str(ref.get("kind") or "")
    obj = await get(api_version, kind, namespace, str(ref.get("name") or ""))
    meta = (obj or {}).get("metadata") or {}
    if obj is None or (ref.get("uid") and meta.get("uid") != ref.get("uid")):
        return None
    if kind == "ReplicaSet":
        for owner in meta.get("ownerReferences") or []:
            if owner.get("controller") and owner.get("kind") == "Deployment":
                deployment = await _controller_scale(get, namespace, owner)
                if deployment is not None:
                    return deployment
    replicas = (obj.get("spec") or {}).get("replicas")
    return str(meta.get("uid") or ref.get("name")), 1 if replicas is None else int(replicas)


async def _custom_scale(read_scale: ScaleReader, namespace: str, ref: Obj) -> tuple[str, int] | None:
    """The UID and ``spec.replicas`` of a custom controller's Scale, if it is the pod's controller."""
    scale = await read_scale(str(ref.get("apiVersion") or ""), str(ref.get("kind") or ""), namespace, str(ref["name"]))
    uid = ((scale or {}).get("metadata") or {}).get("uid")
    if scale is None or (ref.get("uid") and uid != ref.get("uid")):
        return None
    replicas = (scale.get("spec") or {}).get("replicas")
    return str(uid or ref.get("name")), int(replicas or 0)


async def _expected_pods(
    get: Getter, read_scale: ScaleReader, namespace: str, pods: list[Obj]
) -> tuple[int, list[str]]:
    """The sum of the scales of the pods' controllers (each once), and the pods with no controller, which
    upstream leaves out (``getExpectedScale``). Raises :class:`ExpectedPodsUnknown` for a pod whose
    controller cannot be found or has no scale."""
    scales: dict[str, int] = {}
    unmanaged: list[str] = []
    for pod in pods:
        meta = pod["metadata"]
        ref = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
        if ref is None:
            unmanaged.append(str(meta["name"]))
            continue
        group, kind = str(ref.get("apiVersion") or "").rpartition("/")[0], str(ref.get("kind") or "")
        if (group, kind) in _UNSCALED:
            raise ExpectedPodsUnknown(f"{_UNSCALED[group, kind]} does not implement the scale subresource")
        if (group, kind) in _SCALED:
            found = await _controller_scale(get, namespace, ref)
        else:  # any other controller (a custom resource's): its scale subresource, as upstream's getScaleController
            found = await _custom_scale(read_scale, namespace, ref)
        if found is None:
            raise ExpectedPodsUnknown(f'found no controllers for pod "{meta["name"]}"')
        scales[found[0]] = found[1]
    return sum(scales.values()), unmanaged


@dataclass
class Assessment:
    """What the disruption controller makes of a budget: its status, the pods it cannot account for
    (no controller: an ``UnmanagedPods`` event), and why the expected pods could not be counted (then
    the status fails safe: no disruption allowed, ``DisruptionAllowed`` False with reason SyncFailed)."""

    status: Obj
    unmanaged: list[str] = field(default_factory=list)
    failure: str | None = None


async def budget_status(get: Getter, read_scale: ScaleReader, pdb: Obj, pods: list[Obj], now: float) -> Obj:
    """A PodDisruptionBudget's status from the pods its selector matches (``now`` in epoch seconds)."""
    return (await assess(get, read_scale, pdb, pods, now)).status


async def assess(get: Getter, read_scale: ScaleReader, pdb: Obj, pods: list[Obj], now: float) -> Assessment:
    """A PodDisruptionBudget's status and what went wrong computing it (``now`` in epoch seconds)."""
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
    unmanaged: list[str] = []
    try:
        if spec.get("maxUnavailable") is not None:
            expected, unmanaged = await _expected_pods(get, read_scale, namespace, pods)
            desired = max(0, expected - _scaled(spec["maxUnavailable"], expected, round_up=True))
        elif isinstance(spec.get("minAvailable"), str):
            expected, unmanaged = await _expected_pods(get, read_scale, namespace, pods)
            desired = _scaled(spec["minAvailable"], expected, round_up=True)
        else:
            expected = len(pods)
            desired = _scaled(spec.get("minAvailable", 1), expected, round_up=True)
    except ExpectedPodsUnknown as exc:
        return Assessment(_fail_safe(old, str(exc)), failure=str(exc))
    # No disruption while no pod is expected: a budget whose first pods just appeared is safe until counted.
    allowed = max(0, healthy - desired) if expected > 0 else 0
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
    return Assessment(status, unmanaged)


def _fail_safe(old: Obj, message: str) -> Obj:
    """The status upstream's ``failSafe`` writes: the old one with no disruption allowed and the reason."""
    status: Obj = {"currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0, **old, "disruptionsAllowed": 0}
    status["conditions"] = [dict(c) for c in old.get("conditions") or []]
    cond: Obj = {"type": "DisruptionAllowed", "status": "False", "reason": "SyncFailed", "message": message}
    if old.get("observedGeneration"):
        cond["observedGeneration"] = old["observedGeneration"]
    _set_condition(status, cond)
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
    _set_condition(status, wanted)


def _set_condition(status: Obj, wanted: Obj) -> None:
    """Set a metav1.Condition in ``status["conditions"]`` (its transition time kept if its status is unchanged)."""
    holder: Obj = {"status": {"conditions": status["conditions"]}}
    set_pod_condition(holder, wanted)
    for c in holder["status"]["conditions"]:
        c.pop("lastProbeTime", None)
    status["conditions"] = holder["status"]["conditions"]
