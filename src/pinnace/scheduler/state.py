"""The scheduler's cache: nodes, the pods placed on them, and counters for inter-pod rules.

Upstream's scheduler cache and snapshot in one object, fed by informer events
and by the scheduler itself: a pod the scheduler has just chosen a node for
is *assumed* there at once (:meth:`ClusterState.assume`), so the next pod
sees its requests before the binding round-trips through the API server and
the informer; the informer's bound version later *confirms* it, a failed
binding *forgets* it.

Inter-pod affinity, anti-affinity and topology spread would otherwise scan
every placed pod for every pod to schedule. Instead, pods are counted per
topology domain by term: a :class:`TermCounter` holds, for one (selector,
namespaces, topology key), how many placed pods match in each domain; and the
terms that placed pods carry are grouped the same way (:class:`TermGroup`), so
"does an existing pod's anti-affinity forbid this domain" is one lookup per
distinct term. Both are updated incrementally as pods come and go.

Claims, volumes and StorageClasses live beside, in :attr:`ClusterState.volumes`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pinnace.scheduler.types import AffinityTerm, NodeInfo, PodInfo
from pinnace.scheduler.volumes import VolumeState

__all__ = ["ANTI", "HARD_AFFINITY", "PREFERRED_AFFINITY", "PREFERRED_ANTI", "ClusterState", "TermCounter", "TermGroup"]

Obj = dict[str, Any]

#: Kinds of terms placed pods carry, grouped in :attr:`ClusterState.groups`.
ANTI = "anti"
HARD_AFFINITY = "affinity"
PREFERRED_AFFINITY = "preferred-affinity"
PREFERRED_ANTI = "preferred-anti"

Signature = tuple[str, frozenset[str], str, str]


@dataclass(slots=True)
class TermCounter:
    """How many placed pods a term matches, per value of its topology key."""

    term: AffinityTerm
    counts: dict[str, int] = field(default_factory=dict)
    total: int = 0


@dataclass(slots=True)
class TermGroup:
    """Placed pods carrying one term (by signature): their summed weight per topology value."""

    term: AffinityTerm
    counts: dict[str, int] = field(default_factory=dict)


def _carried(pod: PodInfo) -> Iterator[tuple[str, AffinityTerm]]:
    for term in pod.anti_affinity:
        yield ANTI, term
    for term in pod.affinity:
        yield HARD_AFFINITY, term
    for term in pod.preferred_affinity:
        yield PREFERRED_AFFINITY, term
    for term in pod.preferred_anti_affinity:
        yield PREFERRED_ANTI, term


class ClusterState:
    """Nodes and placed pods, with incremental per-node sums and per-domain term counts."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        #: Nodes with a Node object, in a stable order (the sampling walks it round-robin).
        self.node_list: list[NodeInfo] = []
        self.pods: dict[str, PodInfo] = {}
        self.assumed: set[str] = set()
        self.namespace_labels: dict[str, dict[str, str]] = {}
        self.counters: dict[Signature, TermCounter] = {}
        self.groups: dict[str, dict[Signature, TermGroup]] = {
            ANTI: {},
            HARD_AFFINITY: {},
            PREFERRED_AFFINITY: {},
            PREFERRED_ANTI: {},
        }
        #: How many nodes hold each image (for ImageLocality's spread factor).
        self.image_nodes: dict[str, int] = {}
        #: Pending pods nominated to a node by preemption: node name -> pod key -> pod.
        self.nominated: dict[str, dict[str, PodInfo]] = {}
        self._nominated_on: dict[str, str] = {}
        #: PersistentVolumeClaims, PersistentVolumes and StorageClasses (for VolumeBinding).
        self.volumes = VolumeState()

    # ---- nodes ------------------------------------------------------------------
    def set_node(self, node: Obj) -> tuple[NodeInfo, bool]:
        """Add or update a Node; returns its info and whether what scheduling depends on changed."""
        name = str(node["metadata"]["name"])
        info = self.nodes.get(name)
        if info is None:
            info = self.nodes[name] = NodeInfo(name)
        had_node = info.node is not None
        before = (info.labels, info.allocatable, info.hard_taints, info.soft_taints, info.unschedulable, info.images)
        self._count_images(info, -1)
        info.set_node(node)
        self._count_images(info, +1)
        after = (info.labels, info.allocatable, info.hard_taints, info.soft_taints, info.unschedulable, info.images)
        if not had_node:
            self.node_list.append(info)
        if before[0] != after[0] or not had_node:
            self._recount()
        return info, before != after or not had_node

    def remove_node(self, name: str) -> None:
        """Forget a Node (pods still bound to it stay counted until they go)."""
        info = self.nodes.get(name)
        if info is None:
            return
        self._count_images(info, -1)
        info.node = None
        self.node_list = [n for n in self.node_list if n.name != name]
        if not info.pods:
            del self.nodes[name]

    def _count_images(self, info: NodeInfo, sign: int) -> None:
        for image in info.images:
            self.image_nodes[image] = self.image_nodes.get(image, 0) + sign
            if self.image_nodes[image] <= 0:
                del self.image_nodes[image]

    # ---- pods -------------------------------------------------------------------
    def add_pod(self, pod: PodInfo) -> None:
        """Count a pod bound to (or assumed on) ``pod.node``; a known pod is replaced."""
        if pod.key in self.pods:
            self.remove_pod(pod.key)
        node = self.nodes.get(pod.node)
        if node is None:
            node = self.nodes[pod.node] = NodeInfo(pod.node)
        node.add_pod(pod)
        self.pods[pod.key] = pod
        self._count(pod, node.labels, +1)

    def remove_pod(self, key: str) -> PodInfo | None:
        """Stop counting a pod; returns it if it was placed."""
        pod = self.pods.pop(key, None)
        self.assumed.discard(key)
        if pod is None:
            return None
        node = self.nodes.get(pod.node)
        if node is not None:
            node.remove_pod(key)
            self._count(pod, node.labels, -1)
            if node.node is None and not node.pods:
                del self.nodes[pod.node]
        return pod

    def assume(self, pod: PodInfo, node: str) -> None:
        """Place ``pod`` on ``node`` before the API server has it bound."""
        pod.node = node
        self.add_pod(pod)
        self.assumed.add(pod.key)

    def confirm(self, pod: PodInfo) -> None:
        """The informer's bound version of a pod replaces the assumed one."""
        self.add_pod(pod)
        self.assumed.discard(pod.key)

    def forget(self, key: str) -> None:
        """An assumed pod's binding failed: it is not there after all."""
        if key in self.assumed:
            self.remove_pod(key)

    # ---- nominated pods -----------------------------------------------------------
    def nominate(self, pod: PodInfo, node: str) -> None:
        """Remember that preemption made room for ``pod`` on ``node`` (``status.nominatedNodeName``)."""
        self.unnominate(pod.key)
        self.nominated.setdefault(node, {})[pod.key] = pod
        self._nominated_on[pod.key] = node

    def unnominate(self, key: str) -> None:
        """The pod is bound, gone or no longer nominated."""
        node = self._nominated_on.pop(key, None)
        if node is not None:
            pods = self.nominated.get(node, {})
            pods.pop(key, None)
            if not pods:
                self.nominated.pop(node, None)

    def with_nominated(self, node: NodeInfo, pod: PodInfo) -> NodeInfo:
        """The node as ``pod`` must see it: with the pods of at least its priority nominated there.

        Upstream's filters do the same, so that a lower-priority pod does not take the room
        preemption made for a higher-priority one.
        """
        nominated = self.nominated.get(node.name)
        if not nominated:
            return node
        ahead = [p for p in nominated.values() if p.priority >= pod.priority and p.key != pod.key]
        if not ahead:
            return node
        view = dataclasses.replace(
            node, pods=dict(node.pods), requested=dict(node.requested), used_ports=set(node.used_ports)
        )
        for other in ahead:
            view.add_pod(dataclasses.replace(other, node=node.name))
        return view

    # ---- term counters ----------------------------------------------------------
    def counter(self, term: AffinityTerm) -> TermCounter:
        """The per-domain count of placed pods matching ``term`` (built once, then kept up to date)."""
        sig = term.signature
        counter = self.counters.get(sig)
        if counter is None:
            counter = self.counters[sig] = TermCounter(term)
            key = term.topology_key
            for pod in self.pods.values():
                node = self.nodes.get(pod.node)
                value = node.labels.get(key) if node is not None else None
                if value is not None and term.matches(pod, self.namespace_labels):
                    counter.counts[value] = counter.counts.get(value, 0) + 1
                    counter.total += 1
        return counter

    def _count(self, pod: PodInfo, labels: dict[str, str], sign: int) -> None:
        if self.counters:
            ns_labels = self.namespace_labels
            for counter in self.counters.values():
                term = counter.term
                value = labels.get(term.topology_key)
                if value is not None and term.matches(pod, ns_labels):
                    counter.counts[value] = counter.counts.get(value, 0) + sign
                    counter.total += sign
        if pod.has_pod_affinity:
            for kind, term in _carried(pod):
                value = labels.get(term.topology_key)
                if value is None:
                    continue
                groups = self.groups[kind]
                group = groups.get(term.signature)
                if group is None:
                    group = groups[term.signature] = TermGroup(term)
                group.counts[value] = group.counts.get(value, 0) + sign * term.weight
                if group.counts[value] == 0:
                    del group.counts[value]
                    if not group.counts:
                        del groups[term.signature]

    def _recount(self) -> None:
        """Rebuild every per-domain count (node labels changed: domains moved)."""
        terms = [c.term for c in self.counters.values()]
        self.counters.clear()
        for groups in self.groups.values():
            groups.clear()
        for pod in self.pods.values():
            node = self.nodes.get(pod.node)
            self._count(pod, node.labels if node is not None else {}, +1)
        for term in terms:
            self.counter(term)

    def placed(self) -> Iterable[PodInfo]:
        """Every placed pod."""
        return self.pods.values()
