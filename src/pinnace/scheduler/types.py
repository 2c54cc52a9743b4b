"""What the scheduler knows about one pod and one node, parsed once.

:class:`PodInfo` holds a pod's effective requests, priority, tolerations,
node affinity and its inter-pod affinity terms, parsed from the object when
it arrives, so that filtering a thousand nodes never re-reads the dict.
:class:`NodeInfo` is upstream's ``framework.NodeInfo``: the node's
allocatable resources, labels and taints, the pods placed on it (bound or
assumed) and the sum of their requests, kept up to date incrementally.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pinnace.api import selectors
from pinnace.api.podutil import milli_value, pod_requests, value_of
from pinnace.api.volumes import PodClaim, claims_of_pod

__all__ = [
    "DEFAULT_MEMORY_REQUEST",
    "DEFAULT_MILLI_CPU_REQUEST",
    "AffinityTerm",
    "NodeInfo",
    "PodInfo",
    "node_selector_matches",
    "node_selector_term_matches",
    "tolerates",
]

Obj = dict[str, Any]

#: What a pod without requests counts as when scoring (upstream's non-zero defaults).
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024

_NODE_OPERATORS = {
    "In": selectors.IN,
    "NotIn": selectors.NOT_IN,
    "Exists": selectors.EXISTS,
    "DoesNotExist": selectors.DOES_NOT_EXIST,
    "Gt": selectors.GREATER_THAN,
    "Lt": selectors.LESS_THAN,
}


def _requirement(expr: Mapping[str, Any]) -> selectors.Requirement | None:
    op = _NODE_OPERATORS.get(str(expr.get("operator")))
    if op is None:
        return None
    return selectors.Requirement(str(expr.get("key") or ""), op, tuple(str(v) for v in expr.get("values") or []))


def node_selector_term_matches(term: Mapping[str, Any], labels: Mapping[str, str], name: str) -> bool:
    """A NodeSelectorTerm: every expression and field requirement holds (an empty term matches nothing)."""
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    for expr in exprs:
        req = _requirement(expr)
        if req is None or not req.matches(labels):
            return False
    for expr in fields:
        req = _requirement(expr)
        if req is None or expr.get("key") != "metadata.name" or not req.matches({"metadata.name": name}):
            return False
    return True


def node_selector_matches(node_selector: Mapping[str, Any], labels: Mapping[str, str], name: str) -> bool:
    """A NodeSelector: any of its terms matches."""
    return any(node_selector_term_matches(t, labels, name) for t in node_selector.get("nodeSelectorTerms") or [])


def tolerates(tolerations: list[Obj], taint: Mapping[str, Any]) -> bool:
    """Whether any toleration tolerates the taint (upstream ``ToleratesTaint``)."""
    for t in tolerations:
        effect = t.get("effect")
        if effect and effect != taint.get("effect"):
            continue
        key = t.get("key")
        if key and key != taint.get("key"):
            continue
        op = t.get("operator") or "Equal"
        if op == "Exists" or (op == "Equal" and (t.get("value") or "") == (taint.get("value") or "")):
            return True
    return False


@dataclass(frozen=True, slots=True)
class AffinityTerm:
    """One pod (anti-)affinity term: which pods, in which namespaces, counted per which topology."""

    selector: selectors.LabelSelector
    namespaces: frozenset[str]
    namespace_selector: selectors.LabelSelector | None
    topology_key: str
    weight: int = 1

    @classmethod
    def parse(cls, term: Mapping[str, Any], namespace: str, weight: int = 1) -> AffinityTerm:
        """A PodAffinityTerm of a pod in ``namespace`` (its own namespace when none are named)."""
        try:
            selector = selectors.from_label_selector(term.get("labelSelector"))
        except Exception:
            selector = selectors.NOTHING
        ns_sel_raw = term.get("namespaceSelector")
        ns_selector = None
        if ns_sel_raw is not None:
            try:
                ns_selector = selectors.from_label_selector(ns_sel_raw)
            except Exception:
                ns_selector = selectors.NOTHING
        names = frozenset(str(n) for n in term.get("namespaces") or [])
        if not names and ns_selector is None:
            names = frozenset({namespace})
        return cls(selector, names, ns_selector, str(term.get("topologyKey") or ""), weight)

    @property
    def signature(self) -> tuple[str, frozenset[str], str, str]:
        """What makes two terms count the same pods (for shared counters)."""
        ns_sel = "-" if self.namespace_selector is None else str(self.namespace_selector) or "*"
        return (str(self.selector) + ("!" if self.selector.nothing else ""), self.namespaces, ns_sel, self.topology_key)

    def matches(self, pod: PodInfo, namespace_labels: Mapping[str, Mapping[str, str]]) -> bool:
        """Whether ``pod`` is one of the pods this term is about."""
        if pod.namespace not in self.namespaces:
            sel = self.namespace_selector
            if sel is None or not sel.matches(namespace_labels.get(pod.namespace) or {}):
                return False
        return self.selector.matches(pod.labels)


def _terms(affinity: Mapping[str, Any], kind: str, namespace: str) -> tuple[list[AffinityTerm], list[AffinityTerm]]:
    section = affinity.get(kind) or {}
    required = [
        AffinityTerm.parse(t, namespace) for t in section.get("requiredDuringSchedulingIgnoredDuringExecution") or []
    ]
    preferred = [
        AffinityTerm.parse(w.get("podAffinityTerm") or {}, namespace, int(w.get("weight") or 0))
        for w in section.get("preferredDuringSchedulingIgnoredDuringExecution") or []
    ]
    return required, preferred


@dataclass(slots=True)
class PodInfo:
    """A pod as the scheduler sees it (parsed once per version of the pod)."""

    pod: Obj
    key: str
    namespace: str
    name: str
    uid: str
    labels: dict[str, str]
    node: str
    priority: int
    requests: dict[str, int]
    nonzero_cpu: int
    nonzero_memory: int
    tolerations: list[Obj]
    node_selector: dict[str, str]
    required_node_affinity: Obj | None
    preferred_node_affinity: list[Obj]
    affinity: list[AffinityTerm]
    anti_affinity: list[AffinityTerm]
    preferred_affinity: list[AffinityTerm]
    preferred_anti_affinity: list[AffinityTerm]
    spread: list[Obj]
    host_ports: list[tuple[str, str, int]]
    images: list[str]
    start_time: str
    #: The claims its volumes use, in volume order (empty for most pods: VolumeBinding then skips them).
    claims: tuple[PodClaim, ...] = ()

    @classmethod
    def of(cls, pod: Obj, priority: int | None = None) -> PodInfo:
        """Parse a pod; ``priority`` overrides ``spec.priority`` (resolved from its PriorityClass)."""
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        namespace = str(meta.get("namespace") or "")
        name = str(meta.get("name") or "")
        requests = pod_requests(spec)
        affinity = spec.get("affinity") or {}
        node_affinity = affinity.get("nodeAffinity") or {}
        required_affinity, preferred_affinity = _terms(affinity, "podAffinity", namespace)
        required_anti, preferred_anti = _terms(affinity, "podAntiAffinity", namespace)
        containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
        ports = [
            (str(p.get("hostIP") or "0.0.0.0"), str(p.get("protocol") or "TCP"), int(p["hostPort"]))
            for c in containers + [c for c in spec.get("initContainers") or [] if isinstance(c, dict)]
            for p in c.get("ports") or []
            if p.get("hostPort")
        ]
        return cls(
            pod=pod,
            key=f"{namespace}/{name}",
            namespace=namespace,
            name=name,
            uid=str(meta.get("uid") or ""),
            labels=dict(meta.get("labels") or {}),
            node=str(spec.get("nodeName") or ""),
            priority=int(spec.get("priority") or 0) if priority is None else priority,
            requests=requests,
            nonzero_cpu=requests.get("cpu") or DEFAULT_MILLI_CPU_REQUEST,
            nonzero_memory=requests.get("memory") or DEFAULT_MEMORY_REQUEST,
            tolerations=[t for t in spec.get("tolerations") or [] if isinstance(t, dict)],
            node_selector=dict(spec.get("nodeSelector") or {}),
            required_node_affinity=node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution"),
            preferred_node_affinity=list(node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []),
            affinity=required_affinity,
            anti_affinity=required_anti,
            preferred_affinity=preferred_affinity,
            preferred_anti_affinity=preferred_anti,
            spread=[c for c in spec.get("topologySpreadConstraints") or [] if isinstance(c, dict)],
            host_ports=ports,
            images=[str(c.get("image") or "") for c in containers],
            start_time=str((pod.get("status") or {}).get("startTime") or meta.get("creationTimestamp") or ""),
            claims=claims_of_pod(name, spec.get("volumes")) if spec.get("volumes") else (),
        )

    @property
    def has_pod_affinity(self) -> bool:
        """Whether the pod carries any inter-pod (anti-)affinity term."""
        return bool(self.affinity or self.anti_affinity or self.preferred_affinity or self.preferred_anti_affinity)


def _allocatable(node: Obj) -> dict[str, int]:
    status = node.get("status") or {}
    raw = status.get("allocatable") or status.get("capacity") or {}
    return {name: (milli_value(v) if name == "cpu" else value_of(v)) for name, v in raw.items()}


@dataclass(slots=True)
class NodeInfo:
    """One node and the pods placed on it (upstream's ``framework.NodeInfo``)."""

    name: str
    node: Obj | None = None
    labels: dict[str, str] = field(default_factory=dict)
    allocatable: dict[str, int] = field(default_factory=dict)
    allowed_pods: int = 0
    hard_taints: list[Obj] = field(default_factory=list)
    soft_taints: list[Obj] = field(default_factory=list)
    unschedulable: bool = False
    images: dict[str, int] = field(default_factory=dict)
    pods: dict[str, PodInfo] = field(default_factory=dict)
    requested: dict[str, int] = field(default_factory=dict)
    nonzero_cpu: int = 0
    nonzero_memory: int = 0
    used_ports: set[tuple[str, str, int]] = field(default_factory=set)
    generation: int = 0

    def set_node(self, node: Obj) -> None:
        """Take a (new version of the) Node object."""
        self.node = node
        self.labels = dict((node.get("metadata") or {}).get("labels") or {})
        self.allocatable = _allocatable(node)
        self.allowed_pods = self.allocatable.get("pods", 110)
        spec = node.get("spec") or {}
        taints = [t for t in spec.get("taints") or [] if isinstance(t, dict)]
        self.hard_taints = [t for t in taints if t.get("effect") in ("NoSchedule", "NoExecute")]
        self.soft_taints = [t for t in taints if t.get("effect") == "PreferNoSchedule"]
        self.unschedulable = bool(spec.get("unschedulable"))
        self.images = {}
        for image in (node.get("status") or {}).get("images") or []:
            for image_name in image.get("names") or []:
                self.images[str(image_name)] = int(image.get("sizeBytes") or 0)
        self.generation += 1

    def add_pod(self, pod: PodInfo) -> None:
        """Count a pod placed here."""
        self.pods[pod.key] = pod
        for name, amount in pod.requests.items():
            self.requested[name] = self.requested.get(name, 0) + amount
        self.nonzero_cpu += pod.nonzero_cpu
        self.nonzero_memory += pod.nonzero_memory
        self.used_ports.update(pod.host_ports)
        self.generation += 1

    def remove_pod(self, key: str) -> PodInfo | None:
        """Stop counting a pod; returns it if it was here."""
        pod = self.pods.pop(key, None)
        if pod is None:
            return None
        for name, amount in pod.requests.items():
            self.requested[name] = self.requested.get(name, 0) - amount
        self.nonzero_cpu -= pod.nonzero_cpu
        self.nonzero_memory -= pod.nonzero_memory
        if pod.host_ports:
            self.used_ports = {p for other in self.pods.values() for p in other.host_ports}
        self.generation += 1
        return pod
