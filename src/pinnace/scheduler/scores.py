"""Score plugins: how good is each feasible node? Upstream's default scores and weights.

A plugin's ``prescore(pod, state, nodes)`` returns a :class:`Scorer` — a raw
score per node, how to normalise the raws to 0-100 across the feasible nodes,
and the plugin's weight — or None when it would give every node the same
score (which cannot change the choice, so it is not computed). The node with
the highest weighted sum wins; ties are broken at random, as upstream.

Weights are upstream v1.32's defaults: TaintToleration 3, NodeAffinity 2,
PodTopologySpread 2, InterPodAffinity 2, NodeResourcesFit (LeastAllocated) 1,
NodeResourcesBalancedAllocation 1, ImageLocality 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pinnace.scheduler.filters import spread_term
from pinnace.scheduler.state import HARD_AFFINITY, PREFERRED_AFFINITY, PREFERRED_ANTI, ClusterState
from pinnace.scheduler.types import NodeInfo, PodInfo, node_selector_term_matches, tolerates

__all__ = ["DEFAULT_SCORES", "MAX_NODE_SCORE", "ScorePlugin", "Scorer", "score_nodes"]

MAX_NODE_SCORE = 100
_MB = 1024 * 1024
_IMAGE_MIN = 23 * _MB
_IMAGE_MAX = 1000 * _MB


@dataclass(frozen=True, slots=True)
class Scorer:
    """One plugin's view of one pod: raw score per node, normalisation, weight."""

    name: str
    weight: int
    score: Callable[[NodeInfo], int]
    normalize: Callable[[list[int]], list[int]] | None = None


ScorePlugin = Callable[[PodInfo, ClusterState, Sequence[NodeInfo]], Scorer | None]


def _normalize_max(raws: list[int]) -> list[int]:
    top = max(raws, default=0)
    if top == 0:
        return [0] * len(raws)
    return [r * MAX_NODE_SCORE // top for r in raws]


def _normalize_reverse(raws: list[int]) -> list[int]:
    top = max(raws, default=0)
    if top == 0:
        return [MAX_NODE_SCORE] * len(raws)
    return [MAX_NODE_SCORE - r * MAX_NODE_SCORE // top for r in raws]


def _normalize_min_max(raws: list[int]) -> list[int]:
    low, high = min(raws, default=0), max(raws, default=0)
    if high == low:
        return [0] * len(raws)
    return [(r - low) * MAX_NODE_SCORE // (high - low) for r in raws]


def least_allocated(pod: PodInfo, state: ClusterState, nodes: Sequence[NodeInfo]) -> Scorer | None:
    """NodeResourcesFit, LeastAllocated: favour nodes with more cpu and memory left (equal weights)."""
    cpu, memory = pod.nonzero_cpu, pod.nonzero_memory

    def score(node: NodeInfo) -> int:
        total = 0
        alloc = node.allocatable.get("cpu", 0)
        used = node.nonzero_cpu + cpu
        if alloc and used <= alloc:
            total += (alloc - used) * MAX_NODE_SCORE // alloc
        alloc = node.allocatable.get("memory", 0)
        used = node.nonzero_memory + memory
        if alloc and used <= alloc:
            total += (alloc - used) * MAX_NODE_SCORE // alloc
        return total // 2

    return Scorer("NodeResourcesFit", 1, score)


def balanced_allocation(pod: PodInfo, state: ClusterState, nodes: Sequence[NodeInfo]) -> Scorer | None:
    """NodeResourcesBalancedAllocation: favour nodes whose cpu and memory use stay in proportion."""
    cpu, memory = pod.requests.get("cpu", 0), pod.requests.get("memory", 0)

    def score(node: NodeInfo) -> int:
        alloc_cpu = node.allocatable.get("cpu", 0)
        alloc_mem = node.allocatable.get("memory", 0)
        cpu_fraction = min(1.0, (node.requested.get("cpu", 0) + cpu) / alloc_cpu) if alloc_cpu else 1.0
        mem_fraction = min(1.0, (node.requested.get("memory", 0) + memory) / alloc_mem) if alloc_mem else 1.0
        return int((1 - abs(cpu_fraction - mem_fraction) / 2) * MAX_NODE_SCORE)

    return Scorer("NodeResourcesBalancedAllocation", 1, score)


def image_locality(pod: PodInfo, state: ClusterState, nodes: Sequence[NodeInfo]) -> Scorer | None:
    """ImageLocality: favour nodes that already have the pod's images (scaled by how widespread they are)."""
    present = [image for image in pod.images if image in state.image_nodes]
    if not present:
        return None
    total_nodes = max(1, len(state.node_list))
    top = _IMAGE_MAX * max(1, len(pod.images))

    def score(node: NodeInfo) -> int:
        total = sum(node.images.get(i, 0) * state.image_nodes[i] // total_nodes for i in present)
        total = min(max(total, _IMAGE_MIN), top)
        return (total - _IMAGE_MIN) * MAX_NODE_SCORE // (top - _IMAGE_MIN)

    return Scorer("ImageLocality", 1, score)


def node_affinity_preferred(pod: PodInfo, state: ClusterState, nodes: Sequence[NodeInfo]) -> Scorer | None:
    """NodeAffinity: the summed weights of the preferred node terms a node matches."""
    terms = [(int(t.get("weight") or 0), t.get("preference") or {}) for t in pod.preferred_node_affinity]
    if not terms:
        return None

    def score(node: NodeInfo) -> int:
        return sum(w for w, term in terms if node_selector_term_matches(term, node.labels, node.name))

    return Scorer("NodeAffinity", 2, score, _normalize_max)


def taint_toleration_preferred(pod: PodInfo, state: ClusterState, nodes: Sequence[NodeInfo]) -> Scorer | None:
    """TaintToleration: fewer untolerated PreferNoSchedule taints is better."""
    if not any(node.soft_taints for node in nodes):
        return None
    tolerations = [t for t in pod.tolerations if t.get("effect") in (None, "", "PreferNoSchedule")]

    def score(node: NodeInfo) -> int:
        return sum(1 for taint in node.soft_taints if not tolerates(tolerations, taint))

    return Scorer("TaintToleration", 3, score, _normalize_reverse)


def inter_pod_affinity_preferred(pod: PodInfo, state: ClusterState, nodes: Sequence[NodeInfo]) -> Scorer | None:
    """InterPodAffinity: preferred terms of the pod, and terms of placed pods that match it."""
    weighted = [(state.counter(t), t.weight) for t in pod.preferred_affinity]
    weighted += [(state.counter(t), -t.weight) for t in pod.preferred_anti_affinity]
    ns_labels = state.namespace_labels
    groups = [
        (group, sign)
        for kind, sign in ((HARD_AFFINITY, 1), (PREFERRED_AFFINITY, 1), (PREFERRED_ANTI, -1))
        for group in state.groups[kind].values()
        if group.term.matches(pod, ns_labels)
    ]
    if not weighted and not groups:
        return None

    def score(node: NodeInfo) -> int:
        labels = node.labels
        total = 0
        for counter, weight in weighted:
            value = labels.get(counter.term.topology_key)
            if value is not None:
                total += weight * counter.counts.get(value, 0)
        for group, sign in groups:
            value = labels.get(group.term.topology_key)
            if value is not None:
                total += sign * group.counts.get(value, 0)
        return total

    return Scorer("InterPodAffinity", 2, score, _normalize_min_max)


def pod_topology_spread_preferred(pod: PodInfo, state: ClusterState, nodes: Sequence[NodeInfo]) -> Scorer | None:
    """PodTopologySpread (``ScheduleAnyway``): fewer matching pods in the node's domain is better."""
    soft = [c for c in pod.spread if c.get("whenUnsatisfiable") == "ScheduleAnyway"]
    if not soft:
        return None
    prepared = []
    for constraint in soft:
        term = spread_term(pod, constraint)
        counter = state.counter(term)
        domains = {n.labels[term.topology_key] for n in nodes if term.topology_key in n.labels}
        weight = math.log(len(domains) + 2)
        max_skew = int(constraint.get("maxSkew") or 1)
        prepared.append((counter, term.topology_key, weight, max_skew))

    def score(node: NodeInfo) -> int:
        total = 0.0
        for counter, key, weight, max_skew in prepared:
            value = node.labels.get(key)
            if value is not None:
                total += (counter.counts.get(value, 0) + max_skew - 1) * weight
        return round(total)

    def normalize(raws: list[int]) -> list[int]:
        top, low = max(raws, default=0), min(raws, default=0)
        if top == 0:
            return [MAX_NODE_SCORE] * len(raws)
        return [MAX_NODE_SCORE * (top + low - r) // top for r in raws]

    return Scorer("PodTopologySpread", 2, score, normalize)


#: Upstream v1.32's default score plugins.
DEFAULT_SCORES: tuple[ScorePlugin, ...] = (
    taint_toleration_preferred,
    node_affinity_preferred,
    pod_topology_spread_preferred,
    inter_pod_affinity_preferred,
    least_allocated,
    balanced_allocation,
    image_locality,
)


def score_nodes(
    pod: PodInfo, state: ClusterState, nodes: Sequence[NodeInfo], plugins: Sequence[ScorePlugin] = DEFAULT_SCORES
) -> list[int]:
    """The weighted total score of each of ``nodes`` (same order)."""
    totals = [0] * len(nodes)
    for plugin in plugins:
        scorer = plugin(pod, state, nodes)
        if scorer is None:
            continue
        raws = [scorer.score(node) for node in nodes]
        if scorer.normalize is not None:
            raws = scorer.normalize(raws)
        weight = scorer.weight
        totals = [t + weight * r for t, r in zip(totals, raws, strict=True)]
    return totals
