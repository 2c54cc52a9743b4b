"""The routing table: hosts, paths, precedence, merging across Ingresses, default backends, TLS hosts."""

from __future__ import annotations

import pytest
from tests.unit.ingress.objects import (
    Obj,
    backend,
    endpoint_slice,
    ingress,
    ingress_class,
    path,
    rule,
    service,
)

from pinnace.ingress.routes import RoutingTable, build_table, normalize_path, request_host

SERVICES = ("a", "b", "c", "d", "e", "f")


def table(*ingresses: Obj) -> RoutingTable:
    """The table of ``ingresses`` with services a…f each on one endpoint (10.0.0.1…6)."""
    services = [service(name) for name in SERVICES]
    slices = [endpoint_slice(name, [f"10.0.0.{i + 1}"]) for i, name in enumerate(SERVICES)]
    return build_table(
        ingresses,
        [ingress_class("pinnace")],
        services,
        slices,
        class_name="pinnace",
        controller_name="pinnace.dev/ingress",
    )


def goes_to(t: RoutingTable, host: str, request_path: str) -> str | None:
    """The service name a request reaches (None: 404)."""
    route = t.route(request_host(host), request_path)
    if route.upstream is None:
        return None
    return route.upstream.name.split("/", 1)[1].split(":", 1)[0]


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("Foo.Example.COM", "foo.example.com"),
        ("foo.example.com:8080", "foo.example.com"),
        ("foo.example.com.", "foo.example.com"),
        ("[::1]:80", "::1"),
        ("", ""),
        (None, ""),
        ("[broken", ""),
    ],
)
def test_request_host(header: str | None, host: str) -> None:
    assert request_host(header) == host


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("/", "/"), ("/foo", "/foo"), ("/foo/", "/foo/"), ("//foo///bar", "/foo/bar"), ("/a/./b/../c", "/a/c"),
     ("/a/..", "/"), ("/../..", "/"), ("", "/")],
)  # fmt: skip
def test_normalize_path(raw: str, normal: str) -> None:
    assert normalize_path(raw) == normal


# The examples of the upstream Ingress documentation ("Examples" table of path matching).
@pytest.mark.parametrize(
    ("path_type", "rule_path", "request_path", "matches"),
    [
        ("Prefix", "/", "/aaa/bbb", True),
        ("Prefix", "/", "/", True),
        ("Exact", "/foo", "/foo", True),
        ("Exact", "/foo", "/bar", False),
        ("Exact", "/foo", "/foo/", False),
        ("Exact", "/foo/", "/foo", False),
        ("Prefix", "/foo", "/foo", True),
        ("Prefix", "/foo", "/foo/", True),
        ("Prefix", "/foo/", "/foo", True),
        ("Prefix", "/foo/", "/foo/", True),
        ("Prefix", "/aaa/bb", "/aaa/bbb", False),
        ("Prefix", "/aaa/bbb", "/aaa/bbb", True),
        ("Prefix", "/aaa/bbb/", "/aaa/bbb", True),
        ("Prefix", "/aaa/bbb", "/aaa/bbb/", True),
        ("Prefix", "/aaa/bbb", "/aaa/bbb/ccc", True),
        ("Prefix", "/aaa/bbb", "/aaa/bbbxyz", False),
        ("ImplementationSpecific", "/aaa", "/aaa/ccc", True),
        ("ImplementationSpecific", "/aaa", "/aaaccc", False),
    ],
)
def test_path_matching(path_type: str, rule_path: str, request_path: str, matches: bool) -> None:
    t = table(ingress("one", rule(None, path(rule_path, "a", path_type))))
    assert (goes_to(t, "x", request_path) == "a") is matches


def test_longest_path_wins_and_exact_beats_prefix_of_equal_length() -> None:
    t = table(
        ingress(
            "one",
            rule(
                None,
                path("/", "a"),
                path("/aaa", "b"),
                path("/aaa/bbb", "c"),
                path("/aaa", "d", "Exact"),
                path("/aaa/", "e"),  # same as Prefix /aaa: the first one stays
            ),
        )
    )
    assert goes_to(t, "", "/aaa/ccc") == "b"
    assert goes_to(t, "", "/aaa/bbb/x") == "c"
    assert goes_to(t, "", "/aaa") == "d"
    assert goes_to(t, "", "/aaa/") == "b"
    assert goes_to(t, "", "/ccc") == "a"
    assert goes_to(t, "", "/a//aaa/../aaa/bbb") is not None
    assert goes_to(t, "", "//aaa//bbb") == "c"


def test_hosts_exact_then_wildcard_then_any() -> None:
    t = table(
        ingress(
            "one",
            rule("foo.bar.com", path("/", "a")),
            rule("*.bar.com", path("/", "b")),
            rule(None, path("/", "c")),
        )
    )
    assert goes_to(t, "foo.bar.com", "/") == "a"
    assert goes_to(t, "FOO.bar.com:8080", "/x") == "a"
    assert goes_to(t, "baz.bar.com", "/") == "b"
    assert goes_to(t, "bar.com", "/") == "c"  # a wildcard covers exactly one label
    assert goes_to(t, "baz.foo.bar.com", "/") == "c"
    assert goes_to(t, "other.org", "/") == "c"
    assert goes_to(t, "", "/") == "c"


def test_a_host_picked_does_not_fall_through_to_less_specific_rules() -> None:
    t = table(ingress("one", rule("foo.com", path("/api", "a")), rule(None, path("/", "b"))))
    assert goes_to(t, "foo.com", "/api/x") == "a"
    assert goes_to(t, "foo.com", "/other") is None
    assert goes_to(t, "bar.com", "/other") == "b"


def test_rules_merge_across_ingresses_and_the_oldest_wins_a_conflict() -> None:
    newer = ingress("newer", rule("foo.com", path("/", "a"), path("/web", "b")), created="2024-02-01T00:00:00Z")
    older = ingress("older", rule("foo.com", path("/", "c"), path("/api", "d")), created="2024-01-01T00:00:00Z")
    for t in (table(newer, older), table(older, newer)):
        assert goes_to(t, "foo.com", "/") == "c"
        assert goes_to(t, "foo.com", "/web/x") == "b"
        assert goes_to(t, "foo.com", "/api") == "d"
        assert t.route("foo.com", "/web").ingress == "default/newer"
        assert t.route("foo.com", "/").ingress == "default/older"


def test_same_age_orders_by_namespace_and_name() -> None:
    t = table(ingress("b", rule(None, path("/", "b"))), ingress("a", rule(None, path("/", "a"))))
    assert goes_to(t, "", "/") == "a"


def test_default_backends() -> None:
    catch_all = ingress("catch-all", default_backend=backend("a"), created="2024-03-01T00:00:00Z")
    with_rules = ingress(
        "with-rules", rule("foo.com", path("/api", "b")), default_backend=backend("c"), created="2024-01-01T00:00:00Z"
    )
    plain = ingress("plain", rule("bar.com", path("/api", "d")), created="2024-01-01T00:00:00Z")
    t = table(catch_all, with_rules, plain)
    assert goes_to(t, "foo.com", "/api") == "b"
    assert goes_to(t, "foo.com", "/other") == "c"  # the host's own Ingress's default backend
    assert goes_to(t, "bar.com", "/other") == "a"  # the cluster-wide default: an Ingress with no rules
    assert goes_to(t, "unknown.com", "/") == "a"
    # Without a rule-less Ingress, the oldest default backend serves what no rule matches.
    t = table(with_rules, plain)
    assert goes_to(t, "unknown.com", "/") == "c"
    # Without any default backend: nothing (404).
    assert goes_to(table(plain), "unknown.com", "/") is None
    assert table().route("x", "/").upstream is None


def test_catch_all_server_prefers_the_rule_less_default_backend() -> None:
    hostless = ingress("hostless", rule(None, path("/api", "a")), default_backend=backend("b"))
    rule_less = ingress("rule-less", default_backend=backend("c"), created="2024-05-01T00:00:00Z")
    assert goes_to(table(hostless), "x", "/other") == "b"
    assert goes_to(table(hostless, rule_less), "x", "/other") == "c"
    assert goes_to(table(hostless, rule_less), "x", "/api") == "a"


def test_host_without_paths_uses_the_default_backend() -> None:
    t = table(ingress("one", {"host": "foo.com"}, default_backend=backend("a")))
    assert goes_to(t, "foo.com", "/anything") == "a"


def test_class_selection() -> None:
    classes = [ingress_class("pinnace"), ingress_class("nginx", "k8s.io/ingress-nginx")]
    ingresses = [
        ingress("by-class", rule("a.com", path("/", "a")), class_name="pinnace"),
        ingress("other-class", rule("b.com", path("/", "b")), class_name="nginx"),
        ingress("unknown-class", rule("c.com", path("/", "c")), class_name="missing"),
        ingress("no-class", rule("d.com", path("/", "d")), class_name=None),
        ingress(
            "annotated",
            rule("e.com", path("/", "e")),
            class_name=None,
            annotations={"kubernetes.io/ingress.class": "pinnace"},
        ),
        ingress(
            "annotated-other",
            rule("f.com", path("/", "f")),
            class_name=None,
            annotations={"kubernetes.io/ingress.class": "nginx"},
        ),
    ]

    def served(*cls: Obj) -> set[str]:
        t = build_table(ingresses, cls, [], [], class_name="pinnace", controller_name="pinnace.dev/ingress")
        return {key.split("/")[1] for key in t.served}

    assert served(*classes) == {"by-class", "annotated"}
    with_default = [ingress_class("pinnace", default=True), classes[1]]
    assert served(*with_default) == {"by-class", "annotated", "no-class"}
    # Another controller's default class does not make class-less Ingresses ours.
    assert served(ingress_class("pinnace"), ingress_class("nginx", "k8s.io/ingress-nginx", default=True)) == {
        "by-class",
        "annotated",
    }
    assert served() == {"annotated"}


def test_tls_hosts() -> None:
    t = table(
        ingress(
            "one",
            rule("foo.com", path("/", "a")),
            rule("x.wild.com", path("/", "a")),
            tls=[{"hosts": ["foo.com"], "secretName": "foo-tls"}, {"hosts": ["*.wild.com"]}],
            created="2024-01-01T00:00:00Z",
        ),
        ingress(
            "two",
            rule("foo.com", path("/x", "b")),
            rule("bar.com", path("/", "b")),
            tls=[{"hosts": ["foo.com"], "secretName": "other"}, {"secretName": "bar-tls"}],
            created="2024-02-01T00:00:00Z",
        ),
    )
    foo = t.tls_for("foo.com")
    assert foo is not None and (foo.namespace, foo.secret, foo.ingress) == ("default", "foo-tls", "default/one")
    wild = t.tls_for("x.wild.com")
    assert wild is not None and wild.secret == ""  # the default certificate
    assert t.tls_for("a.b.wild.com") is None
    bar = t.tls_for("bar.com")  # an entry without hosts covers its Ingress's rule hosts
    assert bar is not None and bar.secret == "bar-tls"
    assert t.route("foo.com", "/").tls and not t.route("plain.com", "/").tls
