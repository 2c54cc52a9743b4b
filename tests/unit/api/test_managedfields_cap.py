"""Upstream's cap on Update managers: past ten, the oldest merge into one ``ancient-changes`` entry per version."""

from __future__ import annotations

from typing import Any

from pinnace.api.managedfields import ANCIENT_CHANGES, MAX_UPDATE_MANAGERS, cap_update_managers

Obj = dict[str, Any]


def entry(manager: str, second: int, key: str, *, version: str = "v1", op: str = "Update", sub: str = "") -> Obj:
    item: Obj = {
        "manager": manager,
        "operation": op,
        "apiVersion": version,
        "time": f"2026-11-27T10:00:{second:02d}Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {f"f:{key}": {}}},
    }
    if sub:
        item["subresource"] = sub
    return item


def owned(item: Obj) -> set[str]:
    return set(item["fieldsV1"]["f:data"])


def test_ten_update_managers_and_any_appliers_are_kept_as_they_are() -> None:
    items = [entry("apply", 0, "a", op="Apply")] + [entry(f"m{i}", i, f"k{i}") for i in range(MAX_UPDATE_MANAGERS)]
    assert cap_update_managers(items) is items


def test_the_oldest_merge_into_one_bucket_per_version_timed_as_the_newest_merged() -> None:
    items = [entry("apply", 0, "a", op="Apply")]
    items += [entry(f"m{i:02d}", 10 + i, f"k{i}") for i in range(12)]  # m00 oldest
    capped = cap_update_managers(items)
    names = [(e["manager"], e["operation"]) for e in capped]
    assert names[0] == ("apply", "Apply")  # appliers are not counted nor touched
    updates = [e for e in capped if e["operation"] == "Update"]
    assert len(updates) == MAX_UPDATE_MANAGERS
    bucket = next(e for e in updates if e["manager"] == ANCIENT_CHANGES)
    assert owned(bucket) == {"f:k0", "f:k1", "f:k2"}  # m00 became the bucket; m01 and m02 merged into it
    assert bucket["time"] == "2026-11-27T10:00:12Z" and "subresource" not in bucket
    assert [e["manager"] for e in updates] == [ANCIENT_CHANGES] + [f"m{i:02d}" for i in range(3, 12)]


def test_versions_get_buckets_of_their_own_and_a_lone_oldest_of_a_version_stays() -> None:
    items = [entry("old-apps", 0, "x", version="apps/v1beta1")]  # alone in its version: kept
    items += [entry(f"m{i:02d}", 10 + i, f"k{i}") for i in range(11)]
    capped = cap_update_managers(items)
    assert len(capped) == MAX_UPDATE_MANAGERS
    assert [e["manager"] for e in capped][:2] == ["old-apps", ANCIENT_CHANGES]
    assert owned(capped[1]) == {"f:k0", "f:k1", "f:k2"}  # the lone one is no merge: one more of v1 is


def test_same_second_goes_by_who_the_manager_is_and_status_writers_count_too() -> None:
    items = [entry(name, 5, name) for name in ("zeta", "alpha", "mid")]  # same second: alpha, mid, zeta
    items += [entry(f"n{i}", 30 + i, f"n{i}", sub="status") for i in range(9)]
    capped = cap_update_managers(items)
    bucket = next(e for e in capped if e["manager"] == ANCIENT_CHANGES)
    assert owned(bucket) == {"f:alpha", "f:mid", "f:zeta"}
    assert len(capped) == MAX_UPDATE_MANAGERS


def test_a_bucket_newer_than_a_lone_manager_of_its_version_keeps_what_it_owns() -> None:
    """Upstream deletes the bucket here (and what it owned); the lone manager is merged into it instead."""
    items = [entry("lone", 1, "lone"), entry(ANCIENT_CHANGES, 20, "old-a")]
    items += [entry(f"m{i:02d}", 30 + i, f"k{i}") for i in range(9)]
    capped = cap_update_managers(items)
    bucket = next(e for e in capped if e["manager"] == ANCIENT_CHANGES)
    assert owned(bucket) == {"f:old-a", "f:lone"}
    assert bucket["time"] == "2026-11-27T10:00:20Z"
    assert len(capped) == MAX_UPDATE_MANAGERS and not any(e["manager"] == "lone" for e in capped)
