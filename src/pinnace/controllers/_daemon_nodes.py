"""Which nodes a DaemonSet's pod belongs on (helpers of :mod:`.daemonset`).

Upstream's ``NodeShouldRunDaemonPod``: a node is eligible when the pod's
``nodeName`` (if any), ``nodeSelector`` and required node affinity match it
and every NoSchedule/NoExecute taint is tolerated — by the pod's own
tolerations plus those :data:`DAEMON_TOLERATIONS` that every daemon pod gets.
An untolerated NoSchedule taint only stops new pods (a running one stays); an
untolerated NoExecute taint evicts it too. A daemon pod is pinned to its
node with a required ``matchFields metadata.name In [node]`` term that the
scheduler honours (:func:`pin_to_node`, :func:`target_node`).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = [
    "DAEMON_TOLERATIONS",
    "add_daemon_tolerations",
    "node_matches_affinity",
    "pin_to_node",
    "should_run",
    "target_node",
    "tolerates",
]

Obj = dict[str, Any]


def _toleration(key: str, effect: str) -> Obj:
    return {"key": key, "operator": "Exists", "effect": effect}


#: What ``AddOrUpdateDaemonPodTolerations`` adds to every daemon pod.
DAEMON_TOLERATIONS: list[Obj] = [
    _toleration("node.kubernetes.io/not-ready", "NoExecute"),
    _toleration("node.kubernetes.io/unreachable", "NoExecute"),
    _toleration("node.kubernetes.io/disk-pressure", "NoSchedule"),
    _toleration("node.kubernetes.io/memory-pressure", "NoSchedule"),
    _toleration("node.kubernetes.io/pid-pressure", "NoSchedule"),
    _toleration("node.kubernetes.io/unschedulable", "NoSchedule"),
]
#: Added too for pods on the host network.
HOST_NETWORK_TOLERATION = _toleration("node.kubernetes.io/network-unavailable", "NoSchedule")


def add_daemon_tolerations(spec: Obj) -> None:
    """Give a daemon pod spec the tolerations upstream adds (in place; existing ones by key and effect stay)."""
    tolerations = list(spec.get("tolerations") or [])
    wanted = DAEMON_TOLERATIONS + ([HOST_NETWORK_TOLERATION] if spec.get("hostNetwork") else [])
    for toleration in wanted:
        if not any(t.get("key") == toleration["key"] and t.get("effect") == toleration["effect"] for t in tolerations):
            tolerations.append(dict(toleration))
    spec["tolerations"] = tolerations


def pin_to_node(spec: Obj, node: str) -> None:
    """Require the node by name (``ReplaceDaemonSetPodNodeNameNodeAffinity``), keeping other affinity."""
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [term]}


def target_node(pod: Obj) -> str:
    """The node a daemon pod runs on, or is pinned to while not yet bound ("" if neither)."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            values = field.get("values") or []
            if field.get("key") == "metadata.name" and field.get("operator") == "In" and len(values) == 1:
                return str(values[0])
    return ""


def _requirement(expr: Obj, value: str | None) -> bool:
    op, values = expr.get("operator"), [str(v) for v in expr.get("values") or []]
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            have, limit = int(value), int(values[0])
        except ValueError:
            return False
        return have > limit if op == "Gt" else have < limit
    return False


def node_matches_affinity(spec: Obj, node: Obj) -> bool:
    """The pod spec's nodeSelector and required node affinity admit ``node``."""
    meta = node.get("metadata") or {}
    labels = meta.get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if not required:
        return True
    fields = {"metadata.name": meta.get("name")}
    for term in required.get("nodeSelectorTerms") or []:
        exprs = term.get("matchExpressions") or []
        field_exprs = term.get("matchFields") or []
        if not exprs and not field_exprs:
            continue  # an empty term matches nothing
        if all(_requirement(e, labels.get(e.get("key"))) for e in exprs) and all(
            _requirement(f, fields.get(f.get("key"))) for f in field_exprs
        ):
            return True
    return False


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """Whether ``toleration`` tolerates ``taint`` (upstream's ``ToleratesTaint``)."""
    if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
        return False
    if toleration.get("key") and toleration.get("key") != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def should_run(template_spec: Obj, node: Obj) -> tuple[bool, bool]:
    """(whether a daemon pod should run on ``node``, whether one already there may stay)."""
    spec = copy.deepcopy(template_spec)
    add_daemon_tolerations(spec)
    name = (node.get("metadata") or {}).get("name")
    if spec.get("nodeName") and spec["nodeName"] != name:
        return False, False
    if not node_matches_affinity(spec, node):
        return False, False
    run, stay = True, True
    tolerations = spec.get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        effect = taint.get("effect")
        if effect not in ("NoSchedule", "NoExecute") or any(tolerates(t, taint) for t in tolerations):
            continue
        run = False
        if effect == "NoExecute":
            stay = False
    return run, stay
