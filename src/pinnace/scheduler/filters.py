"""Filter plugins: can this pod run on this node? Upstream's default filters, in upstream's order.

Each plugin's ``prefilter(pod, state)`` looks at the pod once and returns a
check for single nodes — or None when the plugin has nothing to say about
this pod (upstream's PreFilter *Skip*), so a plain pod pays only for the
checks that can fail it. A check answers None (fits) or a :class:`Failure`:
the reasons, worded as upstream (they make up the FailedScheduling message),
and whether preemption could help (upstream's Unschedulable, as opposed to
UnschedulableAndUnresolvable).

Checks take ``removed``: pods to pretend are gone from the node, which is
how preemption asks "would it fit without these victims?".

A plugin may also rule the pod out everywhere at once by raising
:class:`Rejected` (upstream's PreFilter returning Unschedulable): VolumeBinding
does when a claim is missing or waits for its binder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pinnace.api import selectors
from pinnace.scheduler.state import ANTI, ClusterState
from pinnace.scheduler.types import AffinityTerm, NodeInfo, PodInfo, node_selector_matches, tolerates
from pinnace.scheduler.volumes import ClaimError, find_pod_volumes, pod_claims

__all__ = [
    "DEFAULT_FILTERS",
    "Check",
    "Failure",
    "FilterPlugin",
    "Rejected",
    "node_affinity_matches",
    "prefilter_all",
    "volume_binding",
    "volume_restrictions",
]


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a node does not fit, as upstream words it, and whether evicting pods could change that."""

    plugin: str
    reasons: tuple[str, ...]
    resolvable: bool


class Rejected(Exception):
    """A plugin's PreFilter verdict: the pod fits no node, for this reason (the same for every node)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(", ".join(failure.reasons))
        self.failure = failure


Check = Callable[[NodeInfo, Sequence[PodInfo]], Failure | None]
FilterPlugin = Callable[[PodInfo, ClusterState], Check | None]

UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}

_UNSCHEDULABLE = Failure("NodeUnschedulable", ("node(s) were unschedulable",), False)
_NODE_NAME = Failure("NodeName", ("node(s) didn't match the requested node name",), False)
_NODE_AFFINITY = Failure("NodeAffinity", ("node(s) didn't match Pod's node affinity/selector",), False)
_PORTS = Failure("NodePorts", ("node(s) didn't have free ports for the requested pod ports",), True)
_TOO_MANY_PODS = "Too many pods"
_AFFINITY = Failure("InterPodAffinity", ("node(s) didn't match pod affinity rules",), False)
_ANTI_AFFINITY = Failure("InterPodAffinity", ("node(s) didn't match pod anti-affinity rules",), True)
_EXISTING_ANTI = Failure("InterPodAffinity", ("node(s) didn't satisfy existing pods anti-affinity rules",), True)
_SPREAD = Failure("PodTopologySpread", ("node(s) didn't match pod topology spread constraints",), True)
_SPREAD_LABEL = Failure(
    "PodTopologySpread", ("node(s) didn't match pod topology spread constraints (missing required label)",), False
)


def node_unschedulable(pod: PodInfo, state: ClusterState) -> Check | None:
    """NodeUnschedulable: ``spec.unschedulable`` nodes, unless the pod tolerates their taint."""
    if tolerates(pod.tolerations, UNSCHEDULABLE_TAINT):
        return None

    def check(node: NodeInfo, removed: Sequence[PodInfo]) -> Failure | None:
        return _UNSCHEDULABLE if node.unschedulable else None

    return check


def node_name(pod: PodInfo, state: ClusterState) -> Check | None:
    """NodeName: a pod that names its node fits only there."""
    wanted = pod.node
    if not wanted:
        return None

    def check(node: NodeInfo, removed: Sequence[PodInfo]) -> Failure | None:
        return None if node.name == wanted else _NODE_NAME

    return check


_taint_failures: dict[tuple[str, str], Failure] = {}


def _taint_failure(taint: dict[str, str]) -> Failure:
    key = (str(taint.get("key") or ""), str(taint.get("value") or ""))
    failure = _taint_failures.get(key)
    if failure is None:
        failure = _taint_failures[key] = Failure(
            "TaintToleration", (f"node(s) had untolerated taint {{{key[0]}: {key[1]}}}",), False
        )
    return failure


def taint_toleration(pod: PodInfo, state: ClusterState) -> Check | None:
    """TaintToleration: NoSchedule and NoExecute taints the pod does not tolerate."""
    tolerations = pod.tolerations

    def check(node: NodeInfo, removed: Sequence[PodInfo]) -> Failure | None:
        for taint in node.hard_taints:
            if not tolerates(tolerations, taint):
                return _taint_failure(taint)
        return None

    return check


def node_affinity_matches(pod: PodInfo, node: NodeInfo) -> bool:
    """Whether the pod's nodeSelector and required node affinity admit the node."""
    labels = node.labels
    for key, value in pod.node_selector.items():
        if labels.get(key) != value:
            return False
    required = pod.required_node_affinity
    return required is None or node_selector_matches(required, labels, node.name)


def node_affinity(pod: PodInfo, state: ClusterState) -> Check | None:
    """NodeAffinity: ``nodeSelector`` and required node affinity."""
    if not pod.node_selector and pod.required_node_affinity is None:
        return None

    def check(node: NodeInfo, removed: Sequence[PodInfo]) -> Failure | None:
        return None if node_affinity_matches(pod, node) else _NODE_AFFINITY

    return check


def _ports_conflict(wanted: tuple[str, str, int], used: tuple[str, str, int]) -> bool:
    if wanted[1:] != used[1:]:
        return False
    return wanted[0] == used[0] or "0.0.0.0" in (wanted[0], used[0])


def node_ports(pod: PodInfo, state: ClusterState) -> Check | None:
    """NodePorts: host ports already taken on the node."""
    if not pod.host_ports:
        return None

    def check(node: NodeInfo, removed: Sequence[PodInfo]) -> Failure | None:
        used = node.used_ports
        if removed:
            gone = {r.key for r in removed}
            used = {p for other in node.pods.values() if other.key not in gone for p in other.host_ports}
        for wanted in pod.host_ports:
            if any(_ports_conflict(wanted, u) for u in used):
                return _PORTS
        return None

    return check


def node_resources_fit(pod: PodInfo, state: ClusterState) -> Check | None:
    """NodeResourcesFit: requests against allocatable minus what is placed, and the pod count."""
    wanted = [(name, amount) for name, amount in pod.requests.items() if amount > 0]

    def check(node: NodeInfo, removed: Sequence[PodInfo]) -> Failure | None:
        requested = node.requested
        count = len(node.pods)
        if removed:
            requested = dict(requested)
            for victim in removed:
                for name, amount in victim.requests.items():
                    requested[name] = requested.get(name, 0) - amount
            count -= len(removed)
        reasons: list[str] = []
        if count + 1 > node.allowed_pods:
            reasons.append(_TOO_MANY_PODS)
        allocatable = node.allocatable
        for name, amount in wanted:
            if amount > allocatable.get(name, 0) - requested.get(name, 0):
                reasons.append(f"Insufficient {name}")
        return Failure("NodeResourcesFit", tuple(reasons), True) if reasons else None

    return check


def _removed_matching(term: AffinityTerm, removed: Sequence[PodInfo], state: ClusterState) -> int:
    return sum(1 for r in removed if term.matches(r, state.namespace_labels))


def spread_selector(pod: PodInfo, constraint: dict[str, Any]) -> selectors.LabelSelector:
    """A constraint's selector, with ``matchLabelKeys`` pinned to the pod's own values."""
    try:
        selector = selectors.from_label_selector(constraint.get("labelSelector"))
    except Exception:
        return selectors.NOTHING
    extra = [
        selectors.Requirement(str(key), selectors.IN, (pod.labels[str(key)],))
        for key in constraint.get("matchLabelKeys") or []
        if str(key) in pod.labels
    ]
    if extra and not selector.nothing:
        selector = selectors.LabelSelector(tuple(sorted((*selector.requirements, *extra), key=lambda r: r.key)))
    return selector


def spread_term(pod: PodInfo, constraint: dict[str, Any]) -> AffinityTerm:
    """The pods a topology spread constraint counts: the pod's namespace, its selector, its key."""
    return AffinityTerm(
        spread_selector(pod, constraint), frozenset({pod.namespace}), None, str(constraint.get("topologyKey") or "")
    )


def pod_topology_spread(pod: PodInfo, state: ClusterState) -> Check | None:
    """PodTopologySpread (``whenUnsatisfiable: DoNotSchedule``): the skew a placement would make."""
    hard = [c for c in pod.spread if c.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule"]
    if not hard:
        return None
    prepared = []
    for constraint in hard:
        term = spread_term(pod, constraint)
        counter = state.counter(term)
        key = term.topology_key
        honor_affinity = constraint.get("nodeAffinityPolicy", "Honor") == "Honor"
        honor_taints = constraint.get("nodeTaintsPolicy", "Ignore") == "Honor"
        domains: set[str] = set()
        for node in state.node_list:
            value = node.labels.get(key)
            if value is None or (honor_affinity and not node_affinity_matches(pod, node)):
                continue
            if honor_taints and any(not tolerates(pod.tolerations, t) for t in node.hard_taints):
                continue
            domains.add(value)
        minimum = min((counter.counts.get(v, 0) for v in domains), default=0)
        min_domains = int(constraint.get("minDomains") or 1)
        if len(domains) < min_domains:
            minimum = 0
        self_match = 1 if term.selector.matches(pod.labels) else 0
        max_skew = int(constraint.get("maxSkew") or 1)
        prepared.append((term, counter, key, minimum, self_match, max_skew))

    def check(node: NodeInfo, removed: Sequence[PodInfo]) -> Failure | None:
        for term, counter, key, minimum, self_match, max_skew in prepared:
            value = node.labels.get(key)
            if value is None:
                return _SPREAD_LABEL
            count = counter.counts.get(value, 0)
            if removed:
                count -= _removed_matching(term, removed, state)
            if count + self_match - minimum > max_skew:
                return _SPREAD
        return None

    return check


def inter_pod_affinity(pod: PodInfo, state: ClusterState) -> Check | None:
    """InterPodAffinity: the pod's required (anti-)affinity, and placed pods' required anti-affinity."""
    ns_labels = state.namespace_labels
    existing = [g for g in state.groups[ANTI].values() if g.term.matches(pod, ns_labels)]
    if not existing and not pod.affinity and not pod.anti_affinity:
        return None
    affinity = [state.counter(t) for t in pod.affinity]
    # The first pod of a group that matches its own affinity may go anywhere (upstream's special case).
    lone = (
        bool(affinity) and all(c.total == 0 for c in affinity) and all(t.matches(pod, ns_labels) for t in pod.affinity)
    )
    anti = [state.counter(t) for t in pod.anti_affinity]

    def check(node: NodeInfo, removed: Sequence[PodInfo]) -> Failure | None:
        labels = node.labels
        if affinity and not lone:
            for counter in affinity:
                value = labels.get(counter.term.topology_key)
                if value is None or counter.counts.get(value, 0) - _removed_matching(counter.term, removed, state) <= 0:
                    return _AFFINITY
        for counter in anti:
            value = labels.get(counter.term.topology_key)
            count = counter.counts.get(value, 0) if value is not None else 0
            if count > 0 and (not removed or count - _removed_matching(counter.term, removed, state) > 0):
                return _ANTI_AFFINITY
        for group in existing:
            value = labels.get(group.term.topology_key)
            if value is not None and group.counts.get(value, 0) > 0:
                if not removed:
                    return _EXISTING_ANTI
                sig = group.term.signature
                carried = sum(1 for r in removed for t in r.anti_affinity if t.signature == sig)
                if group.counts[value] - carried > 0:
                    return _EXISTING_ANTI
        return None

    return check


#: VolumeRestrictions' reason when another pod holds a ReadWriteOncePod claim of the pod (preemption may free it).
_READ_WRITE_ONCE_POD = Failure(
    "VolumeRestrictions",
    ("node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode",),
    True,
)


def volume_restrictions(pod: PodInfo, state: ClusterState) -> Check | None:
    """VolumeRestrictions, its ReadWriteOncePod part: a claim with that access mode serves one pod in the
    cluster at a time, so the pod fits nowhere while another placed pod uses one of its such claims."""
    if not pod.claims:
        return None
    claims = state.volumes.claims
    single = {
        ref.name
        for ref in pod.claims
        if "ReadWriteOncePod"
        in ((claims.get(f"{pod.namespace}/{ref.name}") or {}).get("spec") or {}).get("accessModes", ())
    }
    if not single:
        return None
    holders = [
        other.key
        for other in state.pods.values()
        if other.namespace == pod.namespace and other.key != pod.key and any(c.name in single for c in other.claims)
    ]
    if not holders:
        return None

    def check(node: NodeInfo, removed: Sequence[PodInfo]) -> Failure | None:
        gone = {r.key for r in removed}
        return _READ_WRITE_ONCE_POD if any(key not in gone for key in holders) else None

    return check


_volume_failures: dict[tuple[str, ...], Failure] = {}


def volume_binding(pod: PodInfo, state: ClusterState) -> Check | None:
    """VolumeBinding: the pod's PersistentVolumeClaims — bound ones' node affinity, unbound ones' chances.

    Rejects the pod everywhere when a claim is missing, being deleted, or unbound in an Immediate class
    (see :mod:`pinnace.scheduler.volumes`); pods without claims skip it."""
    if not pod.claims:
        return None
    volumes = state.volumes
    try:
        claims = pod_claims(pod, volumes)
    except ClaimError as exc:
        raise Rejected(Failure("VolumeBinding", (str(exc),), False)) from None
    if not claims.bound and not claims.delayed:
        return None

    def check(node: NodeInfo, removed: Sequence[PodInfo]) -> Failure | None:
        _, reasons = find_pod_volumes(claims, volumes, node)
        if not reasons:
            return None
        failure = _volume_failures.get(reasons)
        if failure is None:
            failure = _volume_failures[reasons] = Failure("VolumeBinding", reasons, False)
        return failure

    return check


#: Upstream v1.32's default filters (those Pinnace's nodes need), in its order.
DEFAULT_FILTERS: tuple[FilterPlugin, ...] = (
    node_unschedulable,
    node_name,
    taint_toleration,
    node_affinity,
    node_ports,
    node_resources_fit,
    volume_restrictions,
    volume_binding,
    pod_topology_spread,
    inter_pod_affinity,
)


def prefilter_all(pod: PodInfo, state: ClusterState, plugins: Sequence[FilterPlugin] = DEFAULT_FILTERS) -> list[Check]:
    """The checks that apply to ``pod``, in order; :class:`Rejected` when a plugin rules out every node."""
    checks = []
    for plugin in plugins:
        check = plugin(pod, state)
        if check is not None:
            checks.append(check)
    return checks
