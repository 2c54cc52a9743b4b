"""Volume binding decisions (upstream's VolumeBinding plugin and its binder): which nodes a pod's claims allow.

A pod's PersistentVolumeClaims (named, or a generic ephemeral volume's
``<pod>-<volume>``) fall into three groups, as upstream's ``GetPodVolumeClaims``
sorts them:

- **bound** — ``spec.volumeName`` set and the binder's ``bind-completed``
  annotation: the pod fits only nodes the volume's required node affinity admits;
- **unbound, delayed** — the claim's StorageClass is ``WaitForFirstConsumer``
  and no volume is named yet: a node fits if an Available volume could bind there
  (class, selector, access modes, size, volume mode, node affinity) or the class's
  provisioner can make one there (allowedTopologies; Pinnace's local-path
  provisioner needs the node to publish its root directory);
- **unbound, immediate** — anything else unbound: the binder must bind it first,
  so the pod is unschedulable everywhere until it does.

:class:`VolumeState` is the scheduler's view of claims, volumes and classes,
fed by informers; the scheduler's own decisions (a volume prebound to a claim,
a claim given its selected node) are *assumed* in it at once, so the next pod
does not pick the same volume, until the informer brings the written objects.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pinnace.api import selectors
from pinnace.api.podutil import value_of
from pinnace.api.volumes import (
    ANN_BIND_COMPLETED,
    ANN_BOUND_BY_CONTROLLER,
    ANN_LOCAL_PATH_ROOT,
    ANN_SELECTED_NODE,
    LOCAL_PATH_PROVISIONER,
    claim_class,
    claim_owned_by_pod,
    volume_class,
)
from pinnace.scheduler.types import NodeInfo, PodInfo, node_selector_matches

__all__ = [
    "BIND_CONFLICT",
    "NODE_CONFLICT",
    "PV_NOT_EXIST",
    "UNBOUND_IMMEDIATE",
    "ClaimError",
    "PodClaims",
    "PodVolumes",
    "VolumeState",
    "find_pod_volumes",
    "is_fully_bound",
    "pod_claims",
    "resource_version",
    "volume_fits_node",
]

Obj = dict[str, Any]

#: Upstream's reasons (the FailedScheduling message counts nodes per reason).
UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
NODE_CONFLICT = "node(s) had volume node affinity conflict"
BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
PV_NOT_EXIST = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
#: A class whose volumes are made by hand only (upstream's NotSupportedProvisioner).
NO_PROVISIONER = "kubernetes.io/no-provisioner"
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"


class ClaimError(Exception):
    """The pod's claims rule out every node (upstream's PreFilter rejection); the message is the reason."""


def _meta(obj: Mapping[str, Any]) -> Obj:
    return obj.get("metadata") or {}


def _spec(obj: Mapping[str, Any]) -> Obj:
    return obj.get("spec") or {}


def _annotations(obj: Mapping[str, Any]) -> Obj:
    return _meta(obj).get("annotations") or {}


def resource_version(obj: Mapping[str, Any] | None) -> int:
    """An object's resourceVersion as a number (0 when it has none), to tell newer versions from older."""
    if obj is None:
        return 0
    try:
        return int(_meta(obj).get("resourceVersion") or 0)
    except ValueError:
        return 0


def is_fully_bound(claim: Mapping[str, Any]) -> bool:
    """Whether the binder finished binding the claim: a volume named and ``bind-completed`` set (upstream)."""
    return bool(_spec(claim).get("volumeName")) and ANN_BIND_COMPLETED in _annotations(claim)


def volume_fits_node(volume: Mapping[str, Any], node: NodeInfo) -> bool:
    """Whether a PersistentVolume's required node affinity admits the node (no affinity: every node)."""
    required = (_spec(volume).get("nodeAffinity") or {}).get("required")
    return required is None or node_selector_matches(required, node.labels, node.name)


def _storage(resources: Mapping[str, Any] | None) -> int:
    return value_of((resources or {}).get("storage") or 0)


def _topology_matches(terms: Iterable[Mapping[str, Any]], labels: Mapping[str, str]) -> bool:
    """A StorageClass's allowedTopologies: none means anywhere, else any term whose every expression holds."""
    terms = list(terms)
    if not terms:
        return True
    for term in terms:
        expressions = term.get("matchLabelExpressions") or []
        if all(labels.get(str(e.get("key"))) in (e.get("values") or []) for e in expressions):
            return True
    return False


def _bound_to(volume: Mapping[str, Any], claim: Mapping[str, Any]) -> bool:
    """Whether a volume's claimRef names the claim (any uid, or the claim's)."""
    ref = _spec(volume).get("claimRef")
    if not ref:
        return False
    meta = _meta(claim)
    if ref.get("name") != meta.get("name") or ref.get("namespace") != meta.get("namespace"):
        return False
    return not ref.get("uid") or ref.get("uid") == meta.get("uid")


@dataclass(slots=True)
class PodClaims:
    """A pod's claims, sorted as upstream's binder sorts them (see the module docstring)."""

    bound: list[Obj] = field(default_factory=list)
    delayed: list[Obj] = field(default_factory=list)

    @property
    def all_bound(self) -> bool:
        """Whether no claim waits for binding (the pod can be bound at once)."""
        return not self.delayed


@dataclass(slots=True)
class PodVolumes:
    """What binding the pod's claims on one node takes: volumes to prebind, claims to provision for."""

    #: (volume, claim): an Available volume chosen for an unbound claim.
    bindings: list[tuple[Obj, Obj]] = field(default_factory=list)
    #: Claims a provisioner must make a volume for (the node goes in their selected-node annotation).
    provisions: list[Obj] = field(default_factory=list)


class VolumeState:
    """Claims, volumes and StorageClasses as the scheduler knows them (informer-fed, with assumed changes)."""

    def __init__(self) -> None:
        #: "namespace/name" -> PersistentVolumeClaim.
        self.claims: dict[str, Obj] = {}
        #: name -> PersistentVolume.
        self.volumes: dict[str, Obj] = {}
        #: name -> StorageClass.
        self.classes: dict[str, Obj] = {}
        self._assumed_volumes: dict[str, Obj | None] = {}
        self._assumed_claims: dict[str, Obj | None] = {}

    # ---- informer events --------------------------------------------------------------
    def set_claim(self, claim: Obj) -> None:
        """A claim was added or changed (a newer version ends an assumption about it)."""
        key = f"{_meta(claim).get('namespace')}/{_meta(claim).get('name')}"
        self._take(self.claims, self._assumed_claims, key, claim)

    def remove_claim(self, key: str) -> None:
        """A claim is gone ("namespace/name")."""
        self.claims.pop(key, None)
        self._assumed_claims.pop(key, None)

    def set_volume(self, volume: Obj) -> None:
        """A PersistentVolume was added or changed."""
        self._take(self.volumes, self._assumed_volumes, str(_meta(volume).get("name")), volume)

    def remove_volume(self, name: str) -> None:
        """A PersistentVolume is gone."""
        self.volumes.pop(name, None)
        self._assumed_volumes.pop(name, None)

    def set_class(self, storage_class: Obj) -> None:
        """A StorageClass was added or changed."""
        self.classes[str(_meta(storage_class).get("name"))] = storage_class

    def remove_class(self, name: str) -> None:
        """A StorageClass is gone."""
        self.classes.pop(name, None)

    @staticmethod
    def _take(cache: dict[str, Obj], assumed: dict[str, Obj | None], key: str, obj: Obj) -> None:
        if key in assumed:
            current = cache.get(key)
            # An assumed version stays until the informer shows one at least as new as the one it replaced.
            if current is not None and resource_version(obj) < resource_version(current):
                return
            del assumed[key]
        cache[key] = obj

    # ---- the scheduler's own decisions ----------------------------------------------------
    def assume(self, plan: PodVolumes, node: str) -> PodVolumes:
        """Record ``plan`` for ``node`` in the cache before the API has it; the objects to write."""
        out = PodVolumes()
        for volume, claim in plan.bindings:
            name = str(_meta(volume).get("name"))
            bound = copy.deepcopy(volume)
            cmeta = _meta(claim)
            bound["spec"]["claimRef"] = {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": cmeta.get("namespace"),
                "name": cmeta.get("name"),
                "uid": cmeta.get("uid"),
                "resourceVersion": cmeta.get("resourceVersion"),
            }
            if not _spec(volume).get("claimRef"):
                bound["metadata"].setdefault("annotations", {})[ANN_BOUND_BY_CONTROLLER] = "yes"
            self._assumed_volumes.setdefault(name, self.volumes.get(name))
            self.volumes[name] = bound
            out.bindings.append((bound, claim))
        for claim in plan.provisions:
            meta = _meta(claim)
            key = f"{meta.get('namespace')}/{meta.get('name')}"
            selected = copy.deepcopy(claim)
            selected["metadata"].setdefault("annotations", {})[ANN_SELECTED_NODE] = node
            self._assumed_claims.setdefault(key, self.claims.get(key))
            self.claims[key] = selected
            out.provisions.append(selected)
        return out

    def revert(self, plan: PodVolumes) -> None:
        """Undo what :meth:`assume` recorded for ``plan`` and the informer has not overtaken."""
        for volume, _ in plan.bindings:
            self._restore(self.volumes, self._assumed_volumes, str(_meta(volume).get("name")))
        for claim in plan.provisions:
            meta = _meta(claim)
            self._restore(self.claims, self._assumed_claims, f"{meta.get('namespace')}/{meta.get('name')}")

    @staticmethod
    def _restore(cache: dict[str, Obj], assumed: dict[str, Obj | None], key: str) -> None:
        if key not in assumed:
            return
        before = assumed.pop(key)
        if before is None:
            cache.pop(key, None)
        else:
            cache[key] = before

    # ---- lookups --------------------------------------------------------------------------
    def delay_binding(self, claim: Mapping[str, Any]) -> bool:
        """Whether the claim's class waits for the first consumer (no class, or an unknown one: immediate)."""
        name = claim_class(claim) or ""
        storage_class = self.classes.get(name) if name else None
        return storage_class is not None and storage_class.get("volumeBindingMode") == WAIT_FOR_FIRST_CONSUMER

    def matching_volume(self, claim: Mapping[str, Any], node: NodeInfo, chosen: set[str]) -> Obj | None:
        """The smallest volume the claim could bind on ``node`` (upstream's FindMatchingVolume, delayed mode)."""
        spec = _spec(claim)
        wanted = _storage((spec.get("resources") or {}).get("requests"))
        wanted_class = claim_class(claim) or ""
        wanted_mode = spec.get("volumeMode") or "Filesystem"
        modes = set(spec.get("accessModes") or [])
        try:
            selector = selectors.from_label_selector(spec["selector"]) if spec.get("selector") else None
        except Exception:
            selector = selectors.NOTHING
        best: Obj | None = None
        best_size = 0
        for name, volume in self.volumes.items():
            vspec = _spec(volume)
            if name in chosen or (vspec.get("claimRef") and not _bound_to(volume, claim)):
                continue
            size = _storage(vspec.get("capacity"))
            if size < wanted or (vspec.get("volumeMode") or "Filesystem") != wanted_mode:
                continue
            if _meta(volume).get("deletionTimestamp"):
                continue
            fits = volume_fits_node(volume, node)
            if _bound_to(volume, claim):
                return volume if fits else None  # prebound to this claim: this volume or none
            if (volume.get("status") or {}).get("phase") != "Available":
                continue
            if selector is not None and not selector.matches(_meta(volume).get("labels") or {}):
                continue
            if volume_class(volume) != wanted_class or not fits:
                continue
            if not modes <= set(vspec.get("accessModes") or []):
                continue
            if best is None or size < best_size:
                best, best_size = volume, size
        return best

    def can_provision(self, claim: Mapping[str, Any], node: NodeInfo) -> bool:
        """Whether the claim's class has a provisioner that can make a volume on ``node``."""
        storage_class = self.classes.get(claim_class(claim) or "")
        if storage_class is None:
            return False
        provisioner = str(storage_class.get("provisioner") or "")
        if not provisioner or provisioner == NO_PROVISIONER:
            return False
        if not _topology_matches(storage_class.get("allowedTopologies") or [], node.labels):
            return False
        if provisioner == LOCAL_PATH_PROVISIONER:
            return ANN_LOCAL_PATH_ROOT in _annotations(node.node or {})
        return True


def pod_claims(pod: PodInfo, state: VolumeState) -> PodClaims:
    """The pod's claims, sorted; ClaimError when they rule out every node (upstream's PreFilter)."""
    out = PodClaims()
    immediate = False
    for ref in pod.claims:
        claim = state.claims.get(f"{pod.namespace}/{ref.name}")
        if claim is None:
            if ref.ephemeral:
                raise ClaimError(
                    f'waiting for ephemeral volume controller to create the persistentvolumeclaim "{ref.name}"'
                )
            raise ClaimError(f'persistentvolumeclaim "{ref.name}" not found')
        if (claim.get("status") or {}).get("phase") == "Lost":
            volume = _spec(claim).get("volumeName") or ""
            raise ClaimError(f'persistentvolumeclaim "{ref.name}" bound to non-existent persistentvolume "{volume}"')
        if _meta(claim).get("deletionTimestamp"):
            raise ClaimError(f'persistentvolumeclaim "{ref.name}" is being deleted')
        if ref.ephemeral and not claim_owned_by_pod(claim, pod.uid):
            raise ClaimError(
                f"PVC {pod.namespace}/{ref.name} was not created for pod {pod.namespace}/{pod.name} (pod is not owner)"
            )
        if is_fully_bound(claim):
            out.bound.append(claim)
        elif state.delay_binding(claim) and not _spec(claim).get("volumeName"):
            out.delayed.append(claim)
        else:
            immediate = True  # prebound claims count too: the binder must finish them
    if immediate:
        raise ClaimError(UNBOUND_IMMEDIATE)
    return out


def find_pod_volumes(claims: PodClaims, state: VolumeState, node: NodeInfo) -> tuple[PodVolumes, tuple[str, ...]]:
    """How the claims would be bound on ``node``, and upstream's reasons when they cannot (upstream's order)."""
    plan = PodVolumes()
    node_conflict = missing = bind_conflict = False
    for claim in claims.bound:
        volume = state.volumes.get(str(_spec(claim).get("volumeName")))
        if volume is None:
            missing = True
            break
        if not volume_fits_node(volume, node):
            node_conflict = True
            break
    if claims.delayed:
        bind_conflict = not _plan_unbound(claims.delayed, state, node, plan)
    reasons = []
    if node_conflict:
        reasons.append(NODE_CONFLICT)
    if bind_conflict:
        reasons.append(BIND_CONFLICT)
    if missing:
        reasons.append(PV_NOT_EXIST)
    return plan, tuple(reasons)


def _plan_unbound(delayed: list[Obj], state: VolumeState, node: NodeInfo, plan: PodVolumes) -> bool:
    """Fill ``plan`` for the unbound delayed claims on ``node``; whether every one is served."""
    to_match: list[Obj] = []
    for claim in delayed:
        selected = _annotations(claim).get(ANN_SELECTED_NODE)
        if selected is None:
            to_match.append(claim)
        elif selected != node.name:
            return False  # an earlier attempt chose another node for it
        else:
            plan.provisions.append(claim)
    chosen: set[str] = set()
    for claim in sorted(to_match, key=lambda c: _storage((_spec(c).get("resources") or {}).get("requests"))):
        volume = state.matching_volume(claim, node, chosen)
        if volume is None:
            plan.provisions.append(claim)
        else:
            chosen.add(str(_meta(volume).get("name")))
            plan.bindings.append((volume, claim))
    return all(state.can_provision(claim, node) for claim in plan.provisions)
