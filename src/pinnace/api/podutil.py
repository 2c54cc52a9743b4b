"""Facts about pods that several layers need: conditions, readiness, and resource requests.

Plain functions on pod dicts, as upstream's ``podutil`` and
``resourcehelper``: the API server sets ``PodScheduled`` when it binds and
counts ready pods when it checks a disruption budget; the scheduler reads a
pod's effective requests and writes its scheduling condition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pinnace.api import quantity

__all__ = [
    "POD_TEMPLATE_PATHS",
    "SYSTEM_PRIORITY_CLASSES",
    "condition",
    "is_pod_ready",
    "milli_value",
    "pod_requests",
    "pod_template",
    "set_pod_condition",
    "value_of",
]

Obj = dict[str, Any]

#: The PriorityClasses kube-apiserver creates at start: name -> value.
#: Marks a Node as simulated (``pinnace up --sim-nodes``; kwok marks its nodes the same way, ``kwok.x-k8s.io/node:
#: fake``): no kubelet serves it, so the API server dials none for its pods' logs, exec or proxy.
ANNOTATION_SIMULATED_NODE = "pinnace.dev/simulated"
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(pod: Mapping[str, Any], type_: str) -> Obj | None:
    """The pod's status condition of the given type, if any."""
    for c in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == type_:
            return c
    return None


def set_pod_condition(pod: Obj, cond: Mapping[str, Any], *, now: str | None = None) -> bool:
    """Set a status condition (in place) as upstream's UpdatePodCondition; True if anything changed.

    ``lastTransitionTime`` moves only when the condition's status changes;
    ``lastProbeTime`` is null, as the scheduler and binding leave it.
    """
    status = pod.get("status")
    if not isinstance(status, dict):
        status = pod["status"] = {}
    conditions = status.get("conditions")
    if not isinstance(conditions, list):
        conditions = status["conditions"] = []
    new: Obj = {"lastProbeTime": None, **cond}
    for i, existing in enumerate(conditions):
        if not isinstance(existing, dict) or existing.get("type") != cond["type"]:
            continue
        same = existing.get("status") == new["status"]
        new["lastTransitionTime"] = existing.get("lastTransitionTime") if same else (now or _now())
        if existing == new:
            return False
        conditions[i] = new
        return True
    new["lastTransitionTime"] = now or _now()
    conditions.append(new)
    return True


def is_pod_ready(pod: Mapping[str, Any]) -> bool:
    """Whether the pod's Ready condition is True."""
    c = condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def milli_value(text: Any) -> int:
    """A quantity in thousandths, rounded up (CPU in millicores); 0 for nothing or nonsense."""
    try:
        value = quantity.parse(str(text)).value * 1000
    except quantity.QuantityError:
        return 0
    return int(-(-value.numerator // value.denominator))


def value_of(text: Any) -> int:
    """A quantity as a whole number, rounded up (memory in bytes, pod counts); 0 for nonsense."""
    try:
        value = quantity.parse(str(text)).value
    except quantity.QuantityError:
        return 0
    return int(-(-value.numerator // value.denominator))


def _add(into: dict[str, int], requests: Mapping[str, Any]) -> None:
    for name, amount in requests.items():
        into[name] = into.get(name, 0) + (milli_value(amount) if name == "cpu" else value_of(amount))


def _max(into: dict[str, int], other: Mapping[str, int]) -> None:
    for name, amount in other.items():
        if amount > into.get(name, 0):
            into[name] = amount


def _container_requests(container: Mapping[str, Any]) -> Mapping[str, Any]:
    resources = container.get("resources") or {}
    requests = resources.get("requests")
    if requests:
        return dict(requests)
    return dict(resources.get("limits") or {})  # limits without requests default the requests


def pod_requests(spec: Mapping[str, Any]) -> dict[str, int]:
    """What a pod asks of a node (cpu in millicores, the rest in units), as upstream's PodRequests.

    The larger of: the sum of the regular containers (plus sidecars, init
    containers with ``restartPolicy: Always``), and each init container's
    request on top of the sidecars started before it; plus the pod overhead.
    """
    regular: dict[str, int] = {}
    for c in _dicts(spec.get("containers")):
        _add(regular, _container_requests(c))
    sidecars: dict[str, int] = {}
    init_peak: dict[str, int] = {}
    for c in _dicts(spec.get("initContainers")):
        if c.get("restartPolicy") == "Always":
            _add(sidecars, _container_requests(c))
            _max(init_peak, sidecars)
            continue
        step = dict(sidecars)
        _add(step, _container_requests(c))
        _max(init_peak, step)
    total = dict(regular)
    for name, amount in sidecars.items():
        total[name] = total.get(name, 0) + amount
    _max(total, init_peak)
    _add(total, spec.get("overhead") or {})
    return total


def _dicts(value: Any) -> Iterable[Mapping[str, Any]]:
    return [v for v in value or [] if isinstance(v, dict)]


#: Where each workload kind keeps its pod template, by (group, kind).
POD_TEMPLATE_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "PodTemplate"): ("template",),
    ("", "ReplicationController"): ("spec", "template"),
    ("apps", "ReplicaSet"): ("spec", "template"),
    ("apps", "Deployment"): ("spec", "template"),
    ("apps", "StatefulSet"): ("spec", "template"),
    ("apps", "DaemonSet"): ("spec", "template"),
    ("batch", "Job"): ("spec", "template"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template"),
}


def pod_template(group: str, kind: str, obj: Obj) -> Obj | None:
    """A workload object's pod template (None for a kind without one, or if it has none)."""
    path = POD_TEMPLATE_PATHS.get((group, kind))
    node: Any = obj if path is not None else None
    for key in path or ():
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None
