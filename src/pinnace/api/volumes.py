"""Persistent volumes: the annotations and facts the binder, the provisioner, the scheduler and the node share.

Upstream spreads these over ``pkg/controller/volume/persistentvolume/util`` and
``storage/v1`` helpers. Claims and volumes are plain dicts, as everywhere.
The binding protocol the pieces follow, with upstream's annotations:

- a claim's StorageClass is ``spec.storageClassName``, or the older
  ``volume.beta.kubernetes.io/storage-class`` annotation, which wins when set;
- the scheduler writes :data:`ANN_SELECTED_NODE` on a claim of a
  ``WaitForFirstConsumer`` class once it has chosen the consumer pod's node;
- the binder writes :data:`ANN_STORAGE_PROVISIONER` (and its beta twin) on a
  claim it wants a provisioner to serve, binds claim and volume, and marks both
  :data:`ANN_BOUND_BY_CONTROLLER`; a bound claim carries :data:`ANN_BIND_COMPLETED`;
- a provisioner names its volumes in :data:`ANN_PROVISIONED_BY`;
- Pinnace's own provisioner (:data:`LOCAL_PATH_PROVISIONER`) makes a directory
  under the path a node agent published in :data:`ANN_LOCAL_PATH_ROOT` on its Node.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any, NamedTuple

from pinnace.api import quantity
from pinnace.api.selectors import from_label_selector

__all__ = [
    "ANN_BETA_DEFAULT_STORAGE_CLASS",
    "ANN_BETA_STORAGE_CLASS",
    "ANN_BETA_STORAGE_PROVISIONER",
    "ANN_BIND_COMPLETED",
    "ANN_BOUND_BY_CONTROLLER",
    "ANN_DEFAULT_STORAGE_CLASS",
    "ANN_LOCAL_PATH_ROOT",
    "ANN_PROVISIONED_BY",
    "ANN_SELECTED_NODE",
    "ANN_STORAGE_PROVISIONER",
    "DEFAULT_STORAGE_CLASS_NAME",
    "LOCAL_PATH_PROVISIONER",
    "PVC_PROTECTION_FINALIZER",
    "PV_PROTECTION_FINALIZER",
    "PodClaim",
    "access_modes_satisfied",
    "annotations_of",
    "claim_class",
    "claim_owned_by_pod",
    "claim_reference",
    "claim_request",
    "claims_of_pod",
    "default_class",
    "ephemeral_claim_name",
    "find_best_match",
    "is_default_class",
    "is_volume_bound_to_claim",
    "meta_of",
    "phase_of",
    "spec_of",
    "volume_capacity",
    "volume_class",
    "volume_mode_mismatch",
    "volume_unsuitable_for",
]

#: The node the scheduler chose for a claim's first consumer (WaitForFirstConsumer classes).
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
#: The provisioner the binder asks to serve a claim.
ANN_STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
#: The same, under its beta name, which upstream still writes beside the GA one.
ANN_BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
#: On a claim: the binder finished binding it ("yes").
ANN_BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
#: On a claim or volume: the binder, not a user, bound it ("yes").
ANN_BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
#: On a volume: the provisioner that made it (and must delete it, under the Delete reclaim policy).
ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
#: On a StorageClass: "true" makes it the class of claims that name none.
ANN_DEFAULT_STORAGE_CLASS = "storageclass.kubernetes.io/is-default-class"
#: The same, under its beta name, which upstream still honours.
ANN_BETA_DEFAULT_STORAGE_CLASS = "storageclass.beta.kubernetes.io/is-default-class"
#: On a claim: its class, before spec.storageClassName existed (still honoured, and it wins).
ANN_BETA_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"

#: Pinnace's dynamic provisioner: a directory on the consumer's node (as kind's local-path-provisioner).
LOCAL_PATH_PROVISIONER = "pinnace.dev/local-path"
#: On a Node: the absolute directory under which the local-path provisioner makes that node's volumes.
ANN_LOCAL_PATH_ROOT = "pinnace.dev/local-path-root"
#: On a claim: it is not removed while a pod uses it (StorageObjectInUseProtection; the pvc-protection controller).
PVC_PROTECTION_FINALIZER = "kubernetes.io/pvc-protection"
#: On a volume: it is not removed while it is bound to a claim (the pv-protection controller).
PV_PROTECTION_FINALIZER = "kubernetes.io/pv-protection"
#: The default StorageClass ``pinnace up`` installs (the name kind uses).
DEFAULT_STORAGE_CLASS_NAME = "standard"

Obj = dict[str, Any]


def claim_class(claim: Mapping[str, Any]) -> str | None:
    """A claim's StorageClass name: the beta annotation if set, else ``spec.storageClassName``.

    None means the claim names no class (the DefaultStorageClass admission plugin may fill it in); ""
    means explicitly no class (only volumes without a class may bind it)."""
    annotations = (claim.get("metadata") or {}).get("annotations") or {}
    if ANN_BETA_STORAGE_CLASS in annotations:
        return str(annotations[ANN_BETA_STORAGE_CLASS])
    name = (claim.get("spec") or {}).get("storageClassName")
    return None if name is None else str(name)


def volume_class(volume: Mapping[str, Any]) -> str:
    """A PersistentVolume's StorageClass name ("" for none), the beta annotation winning as for claims."""
    annotations = (volume.get("metadata") or {}).get("annotations") or {}
    if ANN_BETA_STORAGE_CLASS in annotations:
        return str(annotations[ANN_BETA_STORAGE_CLASS])
    return str((volume.get("spec") or {}).get("storageClassName") or "")


def is_default_class(storage_class: Mapping[str, Any]) -> bool:
    """Whether a StorageClass is marked as the default (the annotation's value "true", as upstream; its beta
    name counts too)."""
    annotations = (storage_class.get("metadata") or {}).get("annotations") or {}
    return (
        annotations.get(ANN_DEFAULT_STORAGE_CLASS) == "true"
        or annotations.get(ANN_BETA_DEFAULT_STORAGE_CLASS) == "true"
    )


def default_class(classes: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The default StorageClass among ``classes``, or None: of several marked default, the newest (by
    creationTimestamp) wins, then the first by name (upstream's ``GetDefaultClass`` since 1.28)."""
    marked = [c for c in classes if is_default_class(c)]
    if not marked:
        return None
    marked.sort(key=lambda c: str((c.get("metadata") or {}).get("name") or ""))
    marked.sort(key=lambda c: str((c.get("metadata") or {}).get("creationTimestamp") or ""), reverse=True)
    return marked[0]


def _storage(resources: Any) -> Fraction:
    value = resources.get("storage") if isinstance(resources, Mapping) else None
    if value is None:
        return Fraction(0)
    try:
        return quantity.from_json(value).value
    except quantity.QuantityError:
        return Fraction(0)


def claim_request(claim: Mapping[str, Any]) -> Fraction:
    """The storage a claim asks for (``spec.resources.requests.storage``; 0 when absent)."""
    return _storage(((claim.get("spec") or {}).get("resources") or {}).get("requests"))


def volume_capacity(volume: Mapping[str, Any]) -> Fraction:
    """The storage a volume offers (``spec.capacity.storage``; 0 when absent)."""
    return _storage((volume.get("spec") or {}).get("capacity"))


def volume_mode_mismatch(claim: Mapping[str, Any], volume: Mapping[str, Any]) -> bool:
    """Whether claim and volume want different volume modes (both Filesystem unless they say)."""
    wanted = (claim.get("spec") or {}).get("volumeMode") or "Filesystem"
    offered = (volume.get("spec") or {}).get("volumeMode") or "Filesystem"
    return bool(wanted != offered)


def _modes(obj: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(str(m) for m in (obj.get("spec") or {}).get("accessModes") or [])


def access_modes_satisfied(claim: Mapping[str, Any], volume: Mapping[str, Any]) -> bool:
    """Whether the volume offers every access mode the claim asks for (upstream's ``CheckAccessModes``)."""
    return _modes(claim) <= _modes(volume)


def meta_of(obj: Mapping[str, Any]) -> Obj:
    """An object's metadata ({} when it has none)."""
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def spec_of(obj: Mapping[str, Any]) -> Obj:
    """An object's spec ({} when it has none)."""
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def annotations_of(obj: Mapping[str, Any]) -> Obj:
    """An object's annotations ({} when it has none)."""
    annotations = meta_of(obj).get("annotations")
    return annotations if isinstance(annotations, dict) else {}


def phase_of(obj: Mapping[str, Any]) -> str:
    """An object's ``status.phase`` ("" when it has none)."""
    status = obj.get("status")
    return str(status.get("phase") or "") if isinstance(status, dict) else ""


def is_volume_bound_to_claim(volume: Mapping[str, Any], claim: Mapping[str, Any]) -> bool:
    """Whether the volume's claimRef names the claim (namespace and name, and its uid when the ref has one)."""
    ref = (volume.get("spec") or {}).get("claimRef")
    if not isinstance(ref, Mapping):
        return False
    meta = meta_of(claim)
    if ref.get("name") != meta.get("name") or ref.get("namespace") != meta.get("namespace"):
        return False
    return not ref.get("uid") or ref.get("uid") == meta.get("uid")


def claim_reference(claim: Mapping[str, Any]) -> Obj:
    """The object reference a volume's ``spec.claimRef`` holds for a claim it is bound to."""
    meta = meta_of(claim)
    ref = {
        "kind": "PersistentVolumeClaim",
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "apiVersion": "v1",
        "resourceVersion": meta.get("resourceVersion"),
    }
    return {k: v for k, v in ref.items() if v}


def volume_unsuitable_for(volume: Mapping[str, Any], claim: Mapping[str, Any]) -> str | None:
    """Why a volume the claim asked for by name cannot serve it (None: it can); upstream's
    ``checkVolumeSatisfyClaim`` and its messages."""
    if meta_of(volume).get("deletionTimestamp"):
        return f'the volume is marked for deletion "{meta_of(volume).get("name")}"'
    if volume_capacity(volume) < claim_request(claim):
        return "requested PV is too small"
    if volume_class(volume) != (claim_class(claim) or ""):
        return "storageClassName does not match"
    if volume_mode_mismatch(claim, volume):
        return "incompatible volumeMode"
    if not access_modes_satisfied(claim, volume):
        return "incompatible accessMode"
    return None


def _fits(volume: Mapping[str, Any], claim: Mapping[str, Any]) -> bool:
    """The checks every candidate passes, pre-bound or not: size, volume mode, not being deleted."""
    return (
        volume_capacity(volume) >= claim_request(claim)
        and not volume_mode_mismatch(claim, volume)
        and not meta_of(volume).get("deletionTimestamp")
    )


def find_best_match(
    claim: Mapping[str, Any], volumes: Iterable[Mapping[str, Any]], *, delay_binding: bool = False
) -> Mapping[str, Any] | None:
    """The volume the binder should bind an unbound claim to, or None (upstream's ``findBestMatchForClaim``).

    A volume pre-bound to the claim (its claimRef names it) wins if it is big enough, of the right volume mode and
    not being deleted. Otherwise, unless binding waits for the first consumer (then the scheduler picks), the
    smallest Available volume of the claim's class whose labels match the claim's selector and that offers every
    access mode asked for; volumes offering fewer access modes are preferred, as upstream searches its access-mode
    index from the smallest matching set up.
    """
    candidates = [v for v in volumes if _fits(v, claim)]
    for volume in candidates:
        if is_volume_bound_to_claim(volume, claim):
            return volume
    if delay_binding:
        return None
    selector_spec = (claim.get("spec") or {}).get("selector")
    selector = from_label_selector(selector_spec) if selector_spec is not None else None
    wanted_class = claim_class(claim) or ""
    wanted_modes = _modes(claim)
    groups: dict[frozenset[str], list[Mapping[str, Any]]] = {}
    for volume in candidates:
        spec = volume.get("spec") or {}
        if spec.get("claimRef") is not None or (volume.get("status") or {}).get("phase") != "Available":
            continue
        if selector is not None and not selector.matches(meta_of(volume).get("labels")):
            continue
        if volume_class(volume) != wanted_class or not wanted_modes <= _modes(volume):
            continue
        groups.setdefault(_modes(volume), []).append(volume)
    if not groups:
        return None
    fewest = min(groups, key=lambda m: (len(m), sorted(m)))
    return min(groups[fewest], key=volume_capacity)


class PodClaim(NamedTuple):
    """A PersistentVolumeClaim a pod's volume uses: a named claim, or a generic ephemeral volume's claim."""

    #: The claim's name in the pod's namespace (``<pod>-<volume>`` for an ephemeral volume).
    name: str
    #: Whether the claim is a generic ephemeral volume's (made by the ephemeral volume controller).
    ephemeral: bool


def claims_of_pod(pod_name: str, volumes: Any) -> tuple[PodClaim, ...]:
    """The claims a pod named ``pod_name`` uses through ``volumes`` (its ``spec.volumes``), in volume order."""
    out = []
    for volume in volumes or ():
        if not isinstance(volume, dict):
            continue
        source = volume.get("persistentVolumeClaim")
        if source is not None:
            out.append(PodClaim(str((source or {}).get("claimName") or ""), False))
        elif volume.get("ephemeral") is not None:
            out.append(PodClaim(ephemeral_claim_name(pod_name, str(volume.get("name"))), True))
    return tuple(out)


def ephemeral_claim_name(pod_name: str, volume_name: str) -> str:
    """The claim of a pod's generic ephemeral volume: ``<pod>-<volume>``."""
    return f"{pod_name}-{volume_name}"


def claim_owned_by_pod(claim: Mapping[str, Any], pod_uid: Any) -> bool:
    """Whether the pod (by uid) is the claim's controlling owner: an ephemeral volume's claim made for it."""
    return any(o.get("controller") and o.get("uid") == pod_uid for o in meta_of(claim).get("ownerReferences") or [])
