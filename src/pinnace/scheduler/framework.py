"""One scheduling decision: filter a sample of nodes, score the feasible ones, pick the best.

As upstream's ``schedulePod``: the filters run on nodes in round-robin order
from where the last pod stopped, until enough feasible nodes are found —
``percentageOfNodesToScore`` of them, adaptive by default (50% minus 1% per
125 nodes, at least 5%, and never fewer than 100 nodes) — so a big cluster
is not scanned whole for every pod. A pod nominated to a node by preemption
tries that node first. When no node fits, :class:`FitError` carries, per
node, why not; its message is upstream's "0/N nodes are available: …".
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from pinnace.scheduler.filters import Check, Failure, Rejected, prefilter_all
from pinnace.scheduler.scores import score_nodes
from pinnace.scheduler.state import ClusterState
from pinnace.scheduler.types import NodeInfo, PodInfo

__all__ = [
    "NO_NODES",
    "Diagnosis",
    "FitError",
    "Framework",
    "first_failure",
    "fit_message",
    "num_feasible_nodes_to_find",
]

NO_NODES = "no nodes available to schedule pods"
MIN_FEASIBLE_NODES = 100
MIN_FEASIBLE_PERCENTAGE = 5
BASE_PERCENTAGE = 50


def num_feasible_nodes_to_find(num_nodes: int, percentage: int = 0) -> int:
    """How many feasible nodes to look for before scoring (upstream's numFeasibleNodesToFind)."""
    if num_nodes < MIN_FEASIBLE_NODES:
        return num_nodes
    if percentage <= 0:
        percentage = max(MIN_FEASIBLE_PERCENTAGE, BASE_PERCENTAGE - num_nodes // 125)
    return max(MIN_FEASIBLE_NODES, num_nodes * min(percentage, 100) // 100)


def fit_message(num_nodes: int, reasons: Iterable[str], post: str = "") -> str:
    """Upstream's FitError wording: ``0/N nodes are available: <count reason, …>. <post>``."""
    message = f"0/{num_nodes} nodes are available:"
    histogram = Counter(reasons)
    parts = sorted(f"{count} {reason}" for reason, count in histogram.items())
    if parts:
        message += f" {', '.join(parts)}."
    if post:
        message += f" {post}"
    return message


@dataclass(slots=True)
class Diagnosis:
    """Why a pod fits nowhere: each node's failure."""

    num_nodes: int
    failures: dict[str, Failure] = field(default_factory=dict)
    post_filter_message: str = ""
    #: A PreFilter rejection's reason (the same for every node): the message names it instead of counting nodes.
    pre_filter_message: str = ""

    def message(self) -> str:
        """The FailedScheduling message."""
        if self.num_nodes == 0:
            return NO_NODES
        if self.pre_filter_message:
            message = f"0/{self.num_nodes} nodes are available: {self.pre_filter_message}."
            return f"{message} {self.post_filter_message}" if self.post_filter_message else message
        reasons = (r for f in self.failures.values() for r in f.reasons)
        return fit_message(self.num_nodes, reasons, self.post_filter_message)


class FitError(Exception):
    """No node can take the pod."""

    def __init__(self, pod: PodInfo, diagnosis: Diagnosis) -> None:
        super().__init__(diagnosis.message())
        self.pod = pod
        self.diagnosis = diagnosis


class Framework:
    """Filter, score and select for one pod at a time, over a :class:`ClusterState`."""

    def __init__(self, state: ClusterState, *, percentage_of_nodes_to_score: int = 0, seed: int | None = None) -> None:
        self.state = state
        self.percentage = percentage_of_nodes_to_score
        self.rng = random.Random(seed)
        self._next_start = 0

    def schedule(self, pod: PodInfo) -> NodeInfo:
        """The node the pod should go to; FitError if none fits."""
        feasible = self.find_feasible(pod)
        if len(feasible) == 1:
            return feasible[0]
        return self.select(feasible, score_nodes(pod, self.state, feasible))

    def find_feasible(self, pod: PodInfo) -> list[NodeInfo]:
        """Feasible nodes, sampled; FitError with every node's failure if there are none."""
        nodes = self.state.node_list
        total = len(nodes)
        if total == 0:
            raise FitError(pod, Diagnosis(0))
        try:
            checks = prefilter_all(pod, self.state)
        except Rejected as exc:
            rejected = dict.fromkeys((n.name for n in nodes), exc.failure)
            raise FitError(pod, Diagnosis(total, rejected, pre_filter_message=str(exc))) from None
        nominated = str((pod.pod.get("status") or {}).get("nominatedNodeName") or "")
        if nominated:
            node = self.state.nodes.get(nominated)
            if (
                node is not None
                and node.node is not None
                and first_failure(checks, self.state.with_nominated(node, pod)) is None
            ):
                return [node]
        want = num_feasible_nodes_to_find(total, self.percentage)
        feasible: list[NodeInfo] = []
        failures: dict[str, Failure] = {}
        start = self._next_start % total
        processed = 0
        any_nominated = bool(self.state.nominated)
        for node in nodes[start:] + nodes[:start] if start else nodes:
            processed += 1
            failure = first_failure(checks, self.state.with_nominated(node, pod) if any_nominated else node)
            if failure is None:
                feasible.append(node)
                if len(feasible) >= want:
                    break
            else:
                failures[node.name] = failure
        self._next_start = (start + processed) % total
        if not feasible:
            raise FitError(pod, Diagnosis(total, failures))
        return feasible

    def select(self, nodes: list[NodeInfo], scores: list[int]) -> NodeInfo:
        """The highest-scoring node; ties broken uniformly at random (reservoir sampling)."""
        best = scores[0]
        chosen = nodes[0]
        ties = 1
        for node, score in zip(nodes[1:], scores[1:], strict=True):
            if score > best:
                best, chosen, ties = score, node, 1
            elif score == best:
                ties += 1
                if self.rng.randrange(ties) == 0:
                    chosen = node
        return chosen


def first_failure(checks: list[Check], node: NodeInfo, removed: tuple[PodInfo, ...] = ()) -> Failure | None:
    """The first check the node fails (with ``removed`` pods gone), or None if the pod fits."""
    for check in checks:
        failure = check(node, removed)
        if failure is not None:
            return failure
    return None
