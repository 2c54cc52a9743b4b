"""Preemption (upstream's DefaultPreemption PostFilter): make room by evicting lower-priority pods.

When no node fits a pod, each node whose failure preemption could resolve
(not a taint, a selector or a missing label) is tried without all its pods
of lower priority; if the pod would fit, victims are then *reprieved* one at
a time, most important first, as long as the pod still fits — leaving the
smallest set worth evicting. Among candidate nodes the pick is upstream's:
the lowest highest-victim priority, then the lowest sum of victim
priorities, then the fewest victims, then the node whose most important
victims started last.

The caller deletes the victims and nominates the node on the pod
(``status.nominatedNodeName``); the pod is tried again once they are gone.
When nothing can be done the message says why, in upstream's words
("preemption: 0/5 nodes are available: 5 Preemption is not helpful for
scheduling.").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pinnace.scheduler.filters import Rejected, prefilter_all
from pinnace.scheduler.framework import Diagnosis, first_failure, fit_message
from pinnace.scheduler.state import ClusterState
from pinnace.scheduler.types import NodeInfo, PodInfo

__all__ = ["NOT_HELPFUL", "NO_VICTIMS", "Preemption", "preempt"]

NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"


@dataclass(slots=True)
class Preemption:
    """The outcome: a node and its victims, or a message saying why there is none."""

    node: NodeInfo | None = None
    victims: list[PodInfo] = field(default_factory=list)
    message: str = ""
    #: Whether nodes were searched (False when the pod may not preempt at all).
    searched: bool = True


def _eligible(pod: PodInfo, state: ClusterState) -> str:
    """Why the pod may not preempt ("" if it may), as upstream's PodEligibleToPreemptOthers."""
    spec = pod.pod.get("spec") or {}
    if spec.get("preemptionPolicy") == "Never":
        return "not eligible due to preemptionPolicy=Never."
    nominated = str((pod.pod.get("status") or {}).get("nominatedNodeName") or "")
    node = state.nodes.get(nominated) if nominated else None
    if node is not None:
        for other in node.pods.values():
            if other.priority < pod.priority and (other.pod.get("metadata") or {}).get("deletionTimestamp"):
                return "not eligible due to a terminating pod on the nominated node."
    return ""


def preempt(pod: PodInfo, state: ClusterState, diagnosis: Diagnosis) -> Preemption:
    """Find a node where evicting lower-priority pods lets ``pod`` fit."""
    why = _eligible(pod, state)
    if why:
        return Preemption(message="preemption: " + why, searched=False)
    try:
        checks = prefilter_all(pod, state)
    except Rejected:  # nothing to evict can help a pod ruled out everywhere (its claims)
        total = len(state.node_list)
        return Preemption(message="preemption: " + fit_message(total, [NOT_HELPFUL] * total))
    candidates: list[tuple[tuple[int, int, int, str], int, NodeInfo, list[PodInfo]]] = []
    reasons: list[str] = []
    for index, node in enumerate(state.node_list):
        failure = diagnosis.failures.get(node.name)
        if failure is not None and not failure.resolvable:
            reasons.append(NOT_HELPFUL)
            continue
        lower = [p for p in node.pods.values() if p.priority < pod.priority]
        if not lower or first_failure(checks, node, tuple(lower)) is not None:
            reasons.append(NO_VICTIMS)
            continue
        victims = list(lower)
        for keep in sorted(lower, key=lambda p: (-p.priority, p.start_time)):
            trial = [v for v in victims if v is not keep]
            if first_failure(checks, node, tuple(trial)) is None:
                victims = trial
        candidates.append((_rank(victims), index, node, victims))
    if not candidates:
        return Preemption(message="preemption: " + fit_message(len(state.node_list), reasons))
    _, _, node, victims = min(candidates, key=lambda c: (c[0], c[1]))
    return Preemption(node, victims)


def _rank(victims: list[PodInfo]) -> tuple[int, int, int, str]:
    """Upstream's order of candidates: smaller is better."""
    highest = max(v.priority for v in victims)
    latest_start = max((v.start_time for v in victims if v.priority == highest), default="")
    # A later start of the most important victims is better: invert the timestamp's characters.
    inverted = "".join(chr(0x10FFFF - ord(c)) for c in latest_start)
    return (highest, sum(v.priority for v in victims), len(victims), inverted)
