"""Finalizers, owner references and conditions, on plain dicts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pinnace.runtime.conditions import (
    find_status_condition,
    is_status_condition_false,
    is_status_condition_true,
    remove_status_condition,
    set_status_condition,
)
from pinnace.runtime.controllerutil import (
    AlreadyOwnedError,
    add_finalizer,
    has_finalizer,
    remove_finalizer,
    set_controller_reference,
    set_owner_reference,
)


def obj(name: str = "child", namespace: str | None = "ns", **meta: object) -> dict[str, object]:
    m: dict[str, object] = {"name": name, **meta}
    if namespace:
        m["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": m}


def owner(name: str = "web", namespace: str | None = "ns", kind: str = "Deployment") -> dict[str, object]:
    m: dict[str, object] = {"name": name, "uid": f"uid-{name}"}
    if namespace:
        m["namespace"] = namespace
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": m}


def test_finalizers_are_added_once_and_removed() -> None:
    o = obj()
    assert add_finalizer(o, "example.com/f") is True
    assert add_finalizer(o, "example.com/f") is False
    assert has_finalizer(o, "example.com/f")
    assert remove_finalizer(o, "example.com/f") is True
    assert remove_finalizer(o, "example.com/f") is False
    assert o["metadata"]["finalizers"] == []  # type: ignore[index]


def test_controller_reference_is_set_once_and_a_second_controller_is_refused() -> None:
    o = obj()
    assert set_controller_reference(owner(), o) is True
    assert set_controller_reference(owner(), o) is False
    (ref,) = o["metadata"]["ownerReferences"]  # type: ignore[index]
    assert ref == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
        "uid": "uid-web",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    with pytest.raises(AlreadyOwnedError, match="already owned by another Deployment controller web"):
        set_controller_reference(owner("other"), o)
    assert set_owner_reference(owner("other"), o) is True  # a plain owner is fine
    assert len(o["metadata"]["ownerReferences"]) == 2  # type: ignore[index]


def test_owner_scope_rules() -> None:
    with pytest.raises(ValueError, match="cross-namespace"):
        set_controller_reference(owner(namespace="a"), obj(namespace="b"))
    with pytest.raises(ValueError, match="cluster-scoped resource must not have a namespace-scoped owner"):
        set_controller_reference(owner(namespace="a"), obj(namespace=None))
    cluster_owner = owner("node-1", namespace=None, kind="Node")
    assert set_controller_reference(cluster_owner, obj(namespace="anywhere"))
    with pytest.raises(ValueError, match=r"metadata\.uid"):
        set_controller_reference({"apiVersion": "v1", "kind": "X", "metadata": {"name": "n"}}, obj())


def test_conditions_keep_transition_time_unless_status_changes() -> None:
    t1, t2, t3 = (datetime(2026, 1, 1, h, tzinfo=UTC) for h in (1, 2, 3))
    conds: list[dict[str, object]] = []
    assert set_status_condition(conds, "Ready", "False", "Starting", "waiting", now=t1)
    assert not set_status_condition(conds, "Ready", "False", "Starting", "waiting", now=t2)
    assert set_status_condition(conds, "Ready", "False", "StillStarting", "still", now=t2)
    assert find_status_condition(conds, "Ready")["lastTransitionTime"] == "2026-01-01T01:00:00Z"  # type: ignore[index]
    assert set_status_condition(conds, "Ready", "True", "Up", observed_generation=3, now=t3)
    ready = find_status_condition(conds, "Ready")
    assert ready == {
        "type": "Ready",
        "status": "True",
        "reason": "Up",
        "message": "",
        "observedGeneration": 3,
        "lastTransitionTime": "2026-01-01T03:00:00Z",
    }
    assert is_status_condition_true(conds, "Ready") and not is_status_condition_false(conds, "Ready")
    assert remove_status_condition(conds, "Ready") and conds == []
    with pytest.raises(ValueError):
        set_status_condition(conds, "Ready", "yes", "R")
