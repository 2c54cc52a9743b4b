"""LimitRanger's pure parts: item defaults, container defaults with the annotation, and upstream's messages."""

from __future__ import annotations

from typing import Any

from pinnace.apiserver.admission.limitranger import (
    claim_violations,
    effective_items,
    is_readable,
    pod_violations,
    set_pod_defaults,
)


def items(*limits: dict[str, Any]) -> list[dict[str, Any]]:
    return effective_items({"spec": {"limits": list(limits)}})


def pod(*containers: dict[str, Any], init: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"containers": list(containers), "initContainers": init or []}}


def test_item_defaults_follow_upstream() -> None:
    [item] = items({"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "1Mi"}})
    assert item["default"] == {"cpu": "2"}
    assert item["defaultRequest"] == {"cpu": "2", "memory": "1Mi"}


def test_a_range_with_an_unparsable_quantity_is_left_out(caplog: Any) -> None:
    """Stored before validation refused it (or through the storage layer): it must not break every pod create."""
    good = {"metadata": {"name": "ok"}, "spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}}]}}
    bad = {"metadata": {"namespace": "ns", "name": "old"}, "spec": {"limits": [{"type": "Pod", "min": {"cpu": None}}]}}
    bad_ratio = {"spec": {"limits": [{"type": "Container", "maxLimitRequestRatio": {"cpu": "two"}}]}}
    assert is_readable(good)
    assert not is_readable(bad) and not is_readable(bad_ratio)
    assert "LimitRange ns/old is left out: its min None is not a quantity" in caplog.text


def test_defaults_fill_only_what_is_missing_and_say_so() -> None:
    p = pod(
        {"name": "a", "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}},
        {"name": "b"},
    )
    set_pod_defaults(p, items({"type": "Container", "default": {"cpu": "500m", "memory": "1Gi"}}))
    a, b = p["spec"]["containers"]
    assert a["resources"] == {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}
    assert b["resources"] == {"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}}
    assert p["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: memory request for container a; memory limit for container a; "
        "cpu, memory request for container b; cpu, memory limit for container b"
    )


def test_container_bounds() -> None:
    bounds = items(
        {"type": "Container", "min": {"cpu": "100m"}, "max": {"memory": "1Gi"}, "maxLimitRequestRatio": {"cpu": "2"}}
    )
    p = pod({"name": "a", "resources": {"requests": {"cpu": "50m"}, "limits": {"cpu": "500m", "memory": "2Gi"}}})
    assert pod_violations(p, bounds) == [
        "minimum cpu usage per Container is 100m, but request is 50m",
        "maximum memory usage per Container is 1Gi, but limit is 2Gi",
        "cpu max limit to request ratio per Container is 2, but provided ratio is 10.000000",
    ]
    assert pod_violations(pod({"name": "a"}), bounds) == [
        "minimum cpu usage per Container is 100m.  No request is specified",
        "maximum memory usage per Container is 1Gi.  No limit is specified",
        "cpu max limit to request ratio per Container is 2, but no request is specified or request is 0",
    ]


def test_pod_bounds_sum_containers_and_take_the_largest_init_container() -> None:
    bounds = items({"type": "Pod", "max": {"cpu": "1"}})
    c = {"resources": {"limits": {"cpu": "600m"}, "requests": {"cpu": "600m"}}}
    assert pod_violations(pod({"name": "a", **c}, {"name": "b", **c}), bounds) == [
        "maximum cpu usage per Pod is 1, but limit is 1200m"
    ]
    init = [{"name": "i", "resources": {"limits": {"cpu": "800m"}}}]
    assert pod_violations(pod({"name": "a", "resources": {"limits": {"cpu": "300m"}}}, init=init), bounds) == []


def test_claim_bounds() -> None:
    bounds = items({"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "10Gi"}})
    claim = {"spec": {"resources": {"requests": {"storage": "20Gi"}}}}
    assert claim_violations(claim, bounds) == [
        "maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi"
    ]
    assert claim_violations({"spec": {}}, bounds) == [
        "minimum storage usage per PersistentVolumeClaim is 1Gi.  No request is specified",
        "maximum storage usage per PersistentVolumeClaim is 10Gi.  No request is specified",
    ]
