"""Roles, ClusterRoles and their bindings are checked as upstream's ``pkg/apis/rbac/validation`` checks them."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api import validation
from pinnace.apiserver.authz import policy

Obj = dict[str, Any]
GROUP = "rbac.authorization.k8s.io"
PODS = {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}
REF = {"apiGroup": GROUP, "kind": "ClusterRole", "name": "view"}
USER = {"apiGroup": GROUP, "kind": "User", "name": "jane"}


def _messages(kind: str, obj: Obj, old: Obj | None = None) -> list[str]:
    return [f"{c.field}: {c.message}" for c in validation.validate(GROUP, kind, obj, old)]


def _binding(kind: str = "RoleBinding", **fields: Any) -> Obj:
    return {"metadata": {"name": "b"}, "roleRef": REF, "subjects": [USER], **fields}


def test_what_kubectl_creates_passes() -> None:
    # kubectl create role / clusterrole / rolebinding / clusterrolebinding
    assert _messages("Role", {"rules": [PODS, {**PODS, "resourceNames": ["a"]}]}) == []
    assert _messages("ClusterRole", {"rules": [PODS, {"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]}) == []
    aggregated = {"aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.example.com/agg": "true"}}]}}
    assert _messages("ClusterRole", aggregated) == []
    subjects = [USER, {**USER, "kind": "Group"}, {"kind": "ServiceAccount", "name": "default", "namespace": "ns"}]
    assert _messages("RoleBinding", _binding(subjects=subjects)) == []
    assert _messages("RoleBinding", _binding(roleRef={**REF, "kind": "Role"})) == []
    assert _messages("ClusterRoleBinding", _binding(subjects=subjects)) == []
    assert _messages("RoleBinding", _binding(subjects=None)) == []


def test_omitted_api_groups_are_taken_as_their_defaults() -> None:
    """v1 defaulting fills roleRef.apiGroup and a User's or Group's apiGroup with the RBAC group."""
    ref = {"kind": "ClusterRole", "name": "view"}
    subjects = [{"kind": "User", "name": "jane"}, {"kind": "Group", "name": "devs", "apiGroup": ""}]
    assert _messages("ClusterRoleBinding", _binding(roleRef=ref, subjects=subjects)) == []


def test_the_bootstrap_policy_passes() -> None:
    tables = (policy.CLUSTER_ROLES, policy.CLUSTER_ROLE_BINDINGS, policy.ROLES, policy.ROLE_BINDINGS)
    objects = [obj for table in tables for obj in table]
    assert len(objects) > 50
    assert [
        (o["kind"], o["metadata"]["name"], _messages(o["kind"], o)) for o in objects if _messages(o["kind"], o)
    ] == []


@pytest.mark.parametrize(
    ("rule", "messages"),
    [
        ({**PODS, "verbs": []}, ["rules[0].verbs: Required value: verbs must contain at least one value"]),
        (
            {"verbs": ["get"], "resources": ["pods"]},
            ["rules[0].apiGroups: Required value: resource rules must supply at least one api group"],
        ),
        (
            {"verbs": ["get"], "apiGroups": [""]},
            ["rules[0].resources: Required value: resource rules must supply at least one resource"],
        ),
        (
            {"verbs": ["get"], "nonResourceURLs": ["/healthz"]},
            [
                'rules[0].nonResourceURLs: Invalid value: []string{"/healthz"}: '
                "namespaced rules cannot apply to non-resource URLs"
            ],
        ),
        (
            {**PODS, "nonResourceURLs": ["/metrics"]},
            [
                'rules[0].nonResourceURLs: Invalid value: []string{"/metrics"}: '
                "namespaced rules cannot apply to non-resource URLs",
                'rules[0].nonResourceURLs: Invalid value: []string{"/metrics"}: '
                "rules cannot apply to both regular resources and non-resource URLs",
            ],
        ),
        (
            {},
            [
                "rules[0].verbs: Required value: verbs must contain at least one value",
                "rules[0].apiGroups: Required value: resource rules must supply at least one api group",
                "rules[0].resources: Required value: resource rules must supply at least one resource",
            ],
        ),
    ],
)
def test_bad_role_rules(rule: Obj, messages: list[str]) -> None:
    assert _messages("Role", {"rules": [rule]}) == messages


def test_cluster_role_rules_may_name_urls_but_not_with_resources() -> None:
    assert _messages("ClusterRole", {"rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]}) == []
    mixed = {"verbs": ["get"], "nonResourceURLs": ["/healthz"], "resourceNames": ["x"]}
    assert _messages("ClusterRole", {"rules": [PODS, mixed]}) == [
        'rules[1].nonResourceURLs: Invalid value: []string{"/healthz"}: '
        "rules cannot apply to both regular resources and non-resource URLs"
    ]


@pytest.mark.parametrize(
    ("aggregation", "messages"),
    [
        (
            {},
            [
                "aggregationRule.clusterRoleSelectors: Required value: "
                "at least one clusterRoleSelector required if aggregationRule is non-nil"
            ],
        ),
        (
            {"clusterRoleSelectors": [{"matchExpressions": [{"key": "a", "operator": "Near"}]}]},
            [
                'aggregationRule.clusterRoleSelectors[0].matchExpressions[0].operator: Invalid value: "Near": '
                "not a valid selector operator"
            ],
        ),
        (
            {"clusterRoleSelectors": [{"matchExpressions": [{"key": "a", "operator": "In"}]}]},
            [
                "aggregationRule.clusterRoleSelectors[0].matchExpressions[0].values: Required value: "
                "must be specified when `operator` is 'In' or 'NotIn'"
            ],
        ),
        (
            {"clusterRoleSelectors": [{"matchLabels": {"a": "b c"}}]},
            [
                'aggregationRule.clusterRoleSelectors[0].matchLabels: Invalid value: "b c": a valid label must be an '
                "empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
                "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
            ],
        ),
    ],
)
def test_bad_aggregation_rules(aggregation: Obj, messages: list[str]) -> None:
    assert _messages("ClusterRole", {"aggregationRule": aggregation}) == messages


def test_a_selector_value_that_is_not_a_label_value() -> None:
    selector = {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["ok", "not ok"]}]}
    messages = _messages("ClusterRole", {"aggregationRule": {"clusterRoleSelectors": [selector]}})
    assert len(messages) == 1
    assert messages[0].startswith(
        'aggregationRule.clusterRoleSelectors[0].matchExpressions[0].values[1]: Invalid value: "not ok": '
        "a valid label must be an empty string"
    )


@pytest.mark.parametrize(
    ("kind", "ref", "messages"),
    [
        (
            "RoleBinding",
            {**REF, "kind": "Pod"},
            ['roleRef.kind: Unsupported value: "Pod": supported values: "Role", "ClusterRole"'],
        ),
        (
            "ClusterRoleBinding",
            {**REF, "kind": "Role"},
            ['roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"'],
        ),
        (
            "RoleBinding",
            {**REF, "apiGroup": "rbac"},
            ['roleRef.apiGroup: Unsupported value: "rbac": supported values: "rbac.authorization.k8s.io"'],
        ),
        ("RoleBinding", {**REF, "name": ""}, ["roleRef.name: Required value"]),
        ("RoleBinding", {**REF, "name": "a/b"}, ["roleRef.name: Invalid value: \"a/b\": may not contain '/'"]),
        ("ClusterRoleBinding", {**REF, "name": ".."}, ["roleRef.name: Invalid value: \"..\": may not be '..'"]),
        (
            "ClusterRoleBinding",
            None,
            ['roleRef.kind: Unsupported value: "": supported values: "ClusterRole"', "roleRef.name: Required value"],
        ),
    ],
)
def test_bad_role_refs(kind: str, ref: Obj | None, messages: list[str]) -> None:
    assert _messages(kind, _binding(kind, roleRef=ref)) == messages


@pytest.mark.parametrize(
    ("kind", "subject", "messages"),
    [
        (
            "RoleBinding",
            {"kind": "Foo", "name": "x"},
            ['subjects[0].kind: Unsupported value: "Foo": supported values: "ServiceAccount", "User", "Group"'],
        ),
        ("RoleBinding", {**USER, "name": ""}, ["subjects[0].name: Required value"]),
        (
            "RoleBinding",
            {**USER, "apiGroup": "v1"},
            ['subjects[0].apiGroup: Unsupported value: "v1": supported values: "rbac.authorization.k8s.io"'],
        ),
        (
            "RoleBinding",
            {"kind": "ServiceAccount", "name": "builder", "apiGroup": GROUP},
            ['subjects[0].apiGroup: Unsupported value: "rbac.authorization.k8s.io": supported values: ""'],
        ),
        (
            "ClusterRoleBinding",
            {"kind": "ServiceAccount", "name": "builder"},
            ["subjects[0].namespace: Required value"],
        ),
        (
            "RoleBinding",
            {"kind": "ServiceAccount", "name": "Builder"},
            [
                'subjects[0].name: Invalid value: "Builder": a lowercase RFC 1123 subdomain must consist of lower '
                "case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character "
                "(e.g. 'example.com', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ],
        ),
        (
            "ClusterRoleBinding",
            {"kind": "", "name": ""},
            [
                "subjects[0].name: Required value",
                'subjects[0].kind: Unsupported value: "": supported values: "ServiceAccount", "User", "Group"',
            ],
        ),
    ],
)
def test_bad_subjects(kind: str, subject: Obj, messages: list[str]) -> None:
    assert _messages(kind, _binding(kind, subjects=[USER, subject])) == [m.replace("[0]", "[1]") for m in messages]


@pytest.mark.parametrize("kind", ["RoleBinding", "ClusterRoleBinding"])
def test_the_role_ref_never_changes(kind: str) -> None:
    old = _binding(kind)
    changed = _binding(kind, roleRef={**REF, "name": "edit"})
    assert _messages(kind, changed, old) == [
        'roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", '
        'Name:"edit"}: cannot change roleRef'
    ]
    # the subjects may change; an omitted apiGroup is the default, not a change
    same_ref = _binding(kind, roleRef={"kind": "ClusterRole", "name": "view"}, subjects=[{**USER, "name": "joe"}])
    assert _messages(kind, same_ref, old) == []


@pytest.mark.parametrize(
    "junk",
    [
        {"rules": "all"},
        {"rules": [None, 1, "x", {"verbs": "get", "apiGroups": 3, "nonResourceURLs": {"a": 1}}]},
        {"aggregationRule": {"clusterRoleSelectors": [None, 1, {"matchExpressions": [None, {"key": 1}]}]}},
        {"aggregationRule": {"clusterRoleSelectors": {"matchLabels": {}}}},
        {"roleRef": [], "subjects": {"kind": "User"}},
        {"roleRef": {"kind": 1, "name": ["x"], "apiGroup": None}, "subjects": [None, 1, {"kind": None, "name": 2}]},
    ],
)
@pytest.mark.parametrize("kind", ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"])
def test_malformed_objects_never_raise(kind: str, junk: Obj) -> None:
    old = {"roleRef": "x", "rules": 5}
    assert isinstance(_messages(kind, junk), list)
    assert isinstance(_messages(kind, junk, old), list)
