"""The binder's matching rules (api/volumes): which volume a claim gets, and which class is the default."""

from __future__ import annotations

from typing import Any

from pinnace.api.volumes import (
    access_modes_satisfied,
    claim_class,
    claim_reference,
    default_class,
    find_best_match,
    is_default_class,
    is_volume_bound_to_claim,
    volume_unsuitable_for,
)

Obj = dict[str, Any]


def claim(size: str = "1Gi", modes: tuple[str, ...] = ("ReadWriteOnce",), **spec: Any) -> Obj:
    return {
        "metadata": {"name": "data", "namespace": "ns", "uid": "u-1", "resourceVersion": "7"},
        "spec": {"accessModes": list(modes), "resources": {"requests": {"storage": size}}, **spec},
    }


def volume(
    name: str,
    size: str = "1Gi",
    modes: tuple[str, ...] = ("ReadWriteOnce",),
    phase: str = "Available",
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> Obj:
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"capacity": {"storage": size}, "accessModes": list(modes), **spec},
        "status": {"phase": phase},
    }


def names(found: Any) -> str | None:
    return None if found is None else str(found["metadata"]["name"])


def test_the_smallest_fitting_volume_of_the_class_wins() -> None:
    vols = [
        volume("big", "10Gi"),
        volume("small", "2Gi"),
        volume("tiny", "500Mi"),
        volume("exact", "1Gi", phase="Released"),
    ]
    assert names(find_best_match(claim("1Gi"), vols)) == "small"
    assert names(find_best_match(claim("1Gi", storageClassName="fast"), vols)) is None
    fast = [*vols, volume("fast-1", "5Gi", storageClassName="fast")]
    assert names(find_best_match(claim("1Gi", storageClassName="fast"), fast)) == "fast-1"
    # no class asked at all (None) binds volumes of no class, as "" does
    assert claim_class(claim()) is None and claim_class(claim(storageClassName="")) == ""
    assert names(find_best_match(claim("1Gi", storageClassName=""), vols)) == "small"


def test_access_modes_volume_mode_selector_and_deletion_filter() -> None:
    rwx = claim("1Gi", ("ReadWriteMany",))
    vols = [volume("rwo", "1Gi"), volume("both", "5Gi", ("ReadWriteOnce", "ReadWriteMany"))]
    assert names(find_best_match(rwx, vols)) == "both"
    # fewer modes first (upstream's access-mode index), even when bigger
    mixed = [volume("rwo-rwx", "1Gi", ("ReadWriteOnce", "ReadWriteMany")), volume("rwo-big", "9Gi")]
    assert names(find_best_match(claim(), mixed)) == "rwo-big"
    assert names(find_best_match(claim(volumeMode="Block"), [volume("fs", "1Gi")])) is None
    assert names(find_best_match(claim(volumeMode="Block"), [volume("blk", "1Gi", volumeMode="Block")])) == "blk"
    selected = claim(selector={"matchLabels": {"tier": "gold"}})
    labelled = [volume("plain", "1Gi"), volume("gold", "3Gi", labels={"tier": "gold"})]
    assert names(find_best_match(selected, labelled)) == "gold"
    going = volume("going", "1Gi")
    going["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert find_best_match(claim(), [going]) is None
    assert access_modes_satisfied(rwx, vols[1]) and not access_modes_satisfied(rwx, vols[0])


def test_a_volume_pre_bound_to_the_claim_wins_and_others_claims_are_skipped() -> None:
    mine = volume("mine", "8Gi", phase="Available", claimRef={"namespace": "ns", "name": "data"})
    theirs = volume("theirs", "1Gi", claimRef={"namespace": "ns", "name": "other"})
    stale = volume("stale", "1Gi", claimRef={"namespace": "ns", "name": "data", "uid": "old"})
    assert names(find_best_match(claim(), [volume("small", "1Gi"), mine, theirs, stale])) == "mine"
    assert is_volume_bound_to_claim(mine, claim()) and not is_volume_bound_to_claim(stale, claim())
    # waiting for the first consumer: only a pre-bound volume, never a free one (the scheduler picks those)
    assert names(find_best_match(claim(), [volume("small", "1Gi"), mine], delay_binding=True)) == "mine"
    assert find_best_match(claim(), [volume("small", "1Gi")], delay_binding=True) is None
    # a pre-bound volume that is too small is not taken
    assert find_best_match(claim("10Gi"), [mine]) is None


def test_a_volume_asked_for_by_name_is_checked_with_upstreams_messages() -> None:
    assert volume_unsuitable_for(volume("v", "1Gi"), claim("1Gi")) is None
    assert volume_unsuitable_for(volume("v", "500Mi"), claim("1Gi")) == "requested PV is too small"
    assert volume_unsuitable_for(volume("v", storageClassName="x"), claim()) == "storageClassName does not match"
    assert volume_unsuitable_for(volume("v", volumeMode="Block"), claim()) == "incompatible volumeMode"
    assert volume_unsuitable_for(volume("v", modes=("ReadOnlyMany",)), claim()) == "incompatible accessMode"
    going = volume("v")
    going["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert volume_unsuitable_for(going, claim()) == 'the volume is marked for deletion "v"'


def test_the_claim_reference_a_volume_holds() -> None:
    assert claim_reference(claim()) == {
        "kind": "PersistentVolumeClaim",
        "namespace": "ns",
        "name": "data",
        "uid": "u-1",
        "apiVersion": "v1",
        "resourceVersion": "7",
    }


def sc(name: str, created: str, default: bool = True, beta: bool = False) -> Obj:
    key = "storageclass.beta.kubernetes.io/is-default-class" if beta else "storageclass.kubernetes.io/is-default-class"
    return {
        "metadata": {"name": name, "creationTimestamp": created, "annotations": {key: "true" if default else "false"}}
    }


def test_the_newest_default_class_wins_then_the_first_name() -> None:
    assert default_class([sc("a", "2024-01-01T00:00:00Z", default=False)]) is None
    classes = [
        sc("old", "2024-01-01T00:00:00Z"),
        sc("new-b", "2024-06-01T00:00:00Z"),
        sc("new-a", "2024-06-01T00:00:00Z"),
    ]
    assert names(default_class(classes)) == "new-a"
    assert is_default_class(sc("beta", "2024-01-01T00:00:00Z", beta=True))
    assert names(default_class([*classes, sc("newest", "2025-01-01T00:00:00Z", default=False)])) == "new-a"
