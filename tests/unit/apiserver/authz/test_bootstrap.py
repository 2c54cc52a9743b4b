"""Reconciling the default policy: add what is missing, take nothing away, respect autoupdate=false."""

from __future__ import annotations

import copy

from pinnace.apiserver.authz import policy
from pinnace.apiserver.authz.bootstrap import reconcile
from pinnace.controllers.clusterrole_aggregation import aggregate_rules


def _named(objects: list[dict], name: str) -> dict:
    return copy.deepcopy(next(o for o in objects if o["metadata"]["name"] == name))


def test_a_current_object_needs_nothing() -> None:
    for obj in policy.CLUSTER_ROLES + policy.CLUSTER_ROLE_BINDINGS + policy.ROLES + policy.ROLE_BINDINGS:
        assert reconcile(copy.deepcopy(obj), obj) is None, obj["metadata"]["name"]


def test_missing_rules_labels_and_subjects_are_added_extra_ones_kept() -> None:
    expected = _named(policy.CLUSTER_ROLES, "system:basic-user")
    existing = copy.deepcopy(expected)
    existing["rules"] = [expected["rules"][0], {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]
    existing["metadata"]["labels"] = {"team": "a"}
    out = reconcile(existing, expected)
    assert out is not None
    assert out["rules"] == [*existing["rules"], expected["rules"][1]]
    assert out["metadata"]["labels"] == {"kubernetes.io/bootstrapping": "rbac-defaults", "team": "a"}

    binding = _named(policy.CLUSTER_ROLE_BINDINGS, "system:public-info-viewer")
    shrunk = copy.deepcopy(binding)
    shrunk["subjects"] = [*shrunk["subjects"][:1], {"kind": "User", "name": "extra"}]
    out = reconcile(shrunk, binding)
    assert out is not None and len(out["subjects"]) == 3 and {"kind": "User", "name": "extra"} in out["subjects"]


def test_autoupdate_false_and_kubeadm_objects_are_left_alone() -> None:
    expected = _named(policy.CLUSTER_ROLES, "view")
    existing = copy.deepcopy(expected)
    existing["metadata"]["annotations"] = {policy.AUTOUPDATE: "false"}
    existing["aggregationRule"] = {"clusterRoleSelectors": []}
    assert reconcile(existing, expected) is None
    kubeadm = _named(policy.CLUSTER_ROLE_BINDINGS, "kubeadm:cluster-admins")
    changed = copy.deepcopy(kubeadm)
    changed["subjects"] = []
    assert reconcile(changed, kubeadm) is None


def test_aggregation_collects_selected_roles_in_name_order_once() -> None:
    roles = [
        {"metadata": {"name": "b", "labels": {"agg": "true"}}, "rules": [{"verbs": ["get"], "resources": ["b"]}]},
        {"metadata": {"name": "a", "labels": {"agg": "true"}}, "rules": [{"verbs": ["get"], "resources": ["a"]}]},
        {"metadata": {"name": "c", "labels": {"agg": "true"}}, "rules": [{"verbs": ["get"], "resources": ["a"]}]},
        {"metadata": {"name": "d"}, "rules": [{"verbs": ["*"], "resources": ["*"]}]},
    ]
    target = {
        "metadata": {"name": "target", "labels": {"agg": "true"}},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"agg": "true"}}]},
    }
    assert aggregate_rules(target, [*roles, target]) == [
        {"verbs": ["get"], "resources": ["a"]},
        {"verbs": ["get"], "resources": ["b"]},
    ]
