"""Which requests a webhook's or a policy's rules and selectors cover (upstream's predicates)."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api.registry import ResourceInfo, ResourceRegistry, builtin_registry
from pinnace.apiserver.admission import AdmissionRequest, Operation
from pinnace.apiserver.admission.matching import (
    namespace_selector_matches,
    object_selector_matches,
    rules_match,
    selector,
)
from pinnace.apiserver.admission.review import request_json
from pinnace.apiserver.user import UserInfo

REGISTRY = builtin_registry()


def _request(
    plural: str, group: str = "", version: str = "v1", *, op: Operation = Operation.CREATE, sub: str = "", **kw: Any
) -> AdmissionRequest:
    info = REGISTRY.get(group, version, plural)
    assert info is not None
    namespace = kw.pop("namespace", "default" if info.namespaced else "")
    obj = kw.pop("obj", {"metadata": {"name": "x"}})
    return AdmissionRequest(op, info, namespace, "x", obj, kw.pop("old", None), kw.pop("user", None), subresource=sub)


def _rule(**fields: Any) -> dict[str, Any]:
    return {"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"], **fields}


@pytest.mark.parametrize(
    ("resources", "sub", "matches"),
    [
        (["*"], "", True),
        (["*"], "status", False),  # '*' is every resource, no subresource
        (["*/*"], "status", True),
        (["pods"], "status", False),
        (["pods/status"], "status", True),
        (["pods/*"], "exec", True),
        (["*/status"], "status", True),
        (["deployments"], "", False),
    ],
)
def test_resources_and_subresources(resources: list[str], sub: str, matches: bool) -> None:
    assert rules_match([_rule(resources=resources)], _request("pods", sub=sub)) is matches


def test_operations_groups_scope_and_names() -> None:
    pods = _request("pods", op=Operation.DELETE)
    assert not rules_match([_rule(operations=["CREATE", "UPDATE"])], pods)
    assert rules_match([_rule(operations=["DELETE"])], pods)
    assert not rules_match([_rule(apiGroups=["apps"])], pods)
    assert rules_match([_rule(scope="Namespaced")], pods)
    assert not rules_match([_rule(scope="Cluster")], pods)
    assert rules_match([_rule(scope="Cluster")], _request("namespaces"))  # Namespaces are cluster-scoped
    assert rules_match([_rule(resourceNames=["x"])], pods)
    assert not rules_match([_rule(resourceNames=["y"])], pods)


def test_match_policy_equivalent_accepts_another_served_version() -> None:
    versions = {v: ResourceInfo("example.com", v, "Widget", "widgets", "widget", True) for v in ("v1", "v2")}
    widgets = ResourceRegistry(versions.values())

    def served(group: str, version: str, plural: str) -> bool:
        return widgets.get(group, version, plural) is not None

    v2 = AdmissionRequest(Operation.CREATE, versions["v2"], "default", "w", {}, None, None)
    rule = _rule(apiGroups=["example.com"], apiVersions=["v1"], resources=["widgets"])
    assert not rules_match([rule], v2, "Exact", served)
    assert rules_match([rule], v2, "Equivalent", served)  # v1 serves the same resource
    unserved = _rule(apiGroups=["example.com"], apiVersions=["v3"], resources=["widgets"])
    assert not rules_match([unserved], v2, "Equivalent", served)


def test_selectors() -> None:
    labelled = _request(
        "configmaps", obj={"metadata": {"labels": {"a": "1"}}}, old={"metadata": {"labels": {"b": "2"}}}
    )
    assert object_selector_matches(selector({"matchLabels": {"a": "1"}}), labelled)
    assert object_selector_matches(selector({"matchLabels": {"b": "2"}}), labelled)  # the old object counts
    assert not object_selector_matches(selector({"matchLabels": {"c": "3"}}), labelled)
    assert object_selector_matches(selector(None), labelled)

    env = selector({"matchLabels": {"env": "prod"}})
    assert namespace_selector_matches(env, labelled, {"metadata": {"labels": {"env": "prod"}}})
    assert not namespace_selector_matches(env, labelled, {"metadata": {"labels": {}}})
    assert namespace_selector_matches(env, _request("nodes"), None)  # cluster-scoped: always
    namespace = _request("namespaces", obj={"metadata": {"name": "p", "labels": {"env": "prod"}}})
    assert namespace_selector_matches(env, namespace, None)  # a Namespace is matched by its own labels


def test_the_admission_request_as_upstream_sends_it() -> None:
    user = UserInfo("alice", "u1", ("devs",), {"scopes": ("a",)})
    req = _request("pods", op=Operation.UPDATE, sub="status", old={"metadata": {"name": "x"}}, user=user)
    out = request_json(req, "uid-1")
    assert out["uid"] == "uid-1" and out["operation"] == "UPDATE"
    assert out["kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert out["resource"] == {"group": "", "version": "v1", "resource": "pods"}
    assert out["subResource"] == out["requestSubResource"] == "status"
    assert out["userInfo"] == {"username": "alice", "uid": "u1", "groups": ["devs"], "extra": {"scopes": ["a"]}}
    assert out["options"] == {"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1"}
    assert out["namespace"] == "default" and out["oldObject"] == {"metadata": {"name": "x"}}
