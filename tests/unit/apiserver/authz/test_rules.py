"""Policy rule matching and coverage, as upstream's RuleAllows and Covers decide them."""

from __future__ import annotations

import pytest

from pinnace.apiserver.authz.rules import Rule, allows, compact_string, covers
from pinnace.apiserver.user import Attributes, UserInfo

BOB = UserInfo("bob")


def res(verb: str, resource: str, *, group: str = "", sub: str = "", ns: str = "ns", name: str = "") -> Attributes:
    return Attributes(BOB, verb, True, api_group=group, resource=resource, subresource=sub, namespace=ns, name=name)


def url(verb: str, path: str) -> Attributes:
    return Attributes(BOB, verb, False, path=path)


@pytest.mark.parametrize(
    ("rule", "attrs", "expected"),
    [
        (Rule(("get",), ("",), ("pods",)), res("get", "pods"), True),
        (Rule(("get",), ("",), ("pods",)), res("list", "pods"), False),
        (Rule(("*",), ("",), ("pods",)), res("deletecollection", "pods"), True),
        (Rule(("get",), ("",), ("pods",)), res("get", "pods", group="apps"), False),
        (Rule(("get",), ("*",), ("pods",)), res("get", "pods", group="apps"), True),
        (Rule(("get",), ("",), ("*",)), res("get", "secrets"), True),
        # a subresource is its own resource: pods does not hold pods/log, pods/log does
        (Rule(("get",), ("",), ("pods",)), res("get", "pods", sub="log"), False),
        (Rule(("get",), ("",), ("pods/log",)), res("get", "pods", sub="log"), True),
        (Rule(("get",), ("",), ("*",)), res("get", "pods", sub="log"), True),
        (Rule(("update",), ("apps",), ("*/scale",)), res("update", "deployments", group="apps", sub="scale"), True),
        (Rule(("update",), ("apps",), ("*/scale",)), res("update", "deployments", group="apps"), False),
        (Rule(("update",), ("apps",), ("*/scale",)), res("update", "deployments", group="apps", sub="status"), False),
        (Rule(("get",), ("",), ("configmaps",), ("a",)), res("get", "configmaps", name="a"), True),
        (Rule(("get",), ("",), ("configmaps",), ("a",)), res("get", "configmaps", name="b"), False),
        (Rule(("list",), ("",), ("configmaps",), ("a",)), res("list", "configmaps"), False),
        (Rule(("get",), non_resource_urls=("/healthz",)), url("get", "/healthz"), True),
        (Rule(("get",), non_resource_urls=("/healthz",)), url("get", "/healthz/etcd"), False),
        (Rule(("get",), non_resource_urls=("/healthz/*",)), url("get", "/healthz/etcd"), True),
        (Rule(("get",), non_resource_urls=("/apis/*",)), url("get", "/apis"), False),
        (Rule(("*",), non_resource_urls=("*",)), url("post", "/anything"), True),
        (Rule(("get",), non_resource_urls=("/version",)), url("post", "/version"), False),
        # a resource rule never holds a URL, nor a URL rule a resource
        (Rule(("*",), ("*",), ("*",)), url("get", "/version"), False),
        (Rule(("*",), non_resource_urls=("*",)), res("get", "pods"), False),
    ],
)
def test_rule_allows(rule: Rule, attrs: Attributes, expected: bool) -> None:
    assert allows(rule, attrs) is expected


def test_rule_round_trips_json() -> None:
    raw = {"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["a"]}
    assert Rule.from_json(raw).to_json() == raw
    assert Rule.from_json({"verbs": ["get"], "nonResourceURLs": ["/x"]}).to_json() == {
        "verbs": ["get"],
        "nonResourceURLs": ["/x"],
    }


def test_covers() -> None:
    admin = [Rule(("*",), ("*",), ("*",)), Rule(("*",), non_resource_urls=("*",))]
    anything = [
        Rule(("get", "list"), ("apps",), ("deployments", "deployments/scale"), ("a",)),
        Rule(("get",), non_resource_urls=("/metrics",)),
    ]
    assert covers(admin, anything) == (True, [])
    # Held verb by verb across rules is held.
    owner = [Rule(("get",), ("",), ("pods",)), Rule(("list",), ("",), ("pods",))]
    assert covers(owner, [Rule(("get", "list"), ("",), ("pods",))])[0]
    # A subresource wildcard covers that subresource of any resource.
    assert covers([Rule(("get",), ("apps",), ("*/scale",))], [Rule(("get",), ("apps",), ("deployments/scale",))])[0]
    assert not covers([Rule(("get",), ("apps",), ("*/scale",))], [Rule(("get",), ("apps",), ("deployments",))])[0]
    # Names: a name-limited owner covers only those names, never the whole resource.
    named = [Rule(("get",), ("",), ("configmaps",), ("a", "b"))]
    assert covers(named, [Rule(("get",), ("",), ("configmaps",), ("a",))])[0]
    assert not covers(named, [Rule(("get",), ("",), ("configmaps",))])[0]
    assert covers([Rule(("get",), ("",), ("configmaps",))], [Rule(("get",), ("",), ("configmaps",), ("z",))])[0]
    # URL prefixes.
    assert covers(
        [Rule(("get",), non_resource_urls=("/healthz*",))], [Rule(("get",), non_resource_urls=("/healthz/x",))]
    )[0]


def test_missing_rules_are_compacted_and_sorted_as_upstream_prints_them() -> None:
    owner = [Rule(("get",), ("",), ("pods",))]
    wanted = [
        Rule(("get", "list", "watch"), ("",), ("pods", "secrets")),
        Rule(("get",), ("apps",), ("deployments",), ("web",)),
        Rule(("get",), non_resource_urls=("/metrics",)),
    ]
    ok, missing = covers(owner, wanted)
    assert not ok
    assert [compact_string(r) for r in missing] == [
        '{APIGroups:[""], Resources:["pods"], Verbs:["list" "watch"]}',
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list" "watch"]}',
        '{APIGroups:["apps"], Resources:["deployments"], ResourceNames:["web"], Verbs:["get"]}',
        '{NonResourceURLs:["/metrics"], Verbs:["get"]}',
    ]
