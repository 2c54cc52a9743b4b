"""Ingresses, IngressClasses and NetworkPolicies are checked as kube-apiserver 1.32 checks them, word for word."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

import pytest

from pinnace.api import validation
from pinnace.api.validation.networking import parse_cidr_sloppy, parse_ip_sloppy

Obj = dict[str, Any]
GROUP = "networking.k8s.io"
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end "
    "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
WILDCARD_MSG = (
    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of "
    "lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', "
    "regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, "
    "and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
    "'[a-z]([-a-z0-9]*[a-z0-9])?')"
)

#: What ``kubectl create ingress simple --class=default --rule="foo.com/bar=svc1:8080,tls=my-cert"
#: --rule="foo.com/*=svc2:http" --default-backend=defsvc:http`` sends (kubectl 1.32).
KUBECTL_INGRESS: Obj = {
    "kind": "Ingress",
    "apiVersion": "networking.k8s.io/v1",
    "metadata": {"name": "simple"},
    "spec": {
        "ingressClassName": "default",
        "defaultBackend": {"service": {"name": "defsvc", "port": {"name": "http"}}},
        "tls": [{"hosts": ["foo.com"], "secretName": "my-cert"}],
        "rules": [
            {
                "host": "foo.com",
                "http": {
                    "paths": [
                        {
                            "path": "/bar",
                            "pathType": "Exact",
                            "backend": {"service": {"name": "svc1", "port": {"number": 8080}}},
                        },
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "svc2", "port": {"name": "http"}}},
                        },
                    ]
                },
            }
        ],
    },
}


def _messages(kind: str, obj: Obj, old: Obj | None = None) -> list[str]:
    return [f"{c.field}: {c.message}" for c in validation.validate(GROUP, kind, obj, old)]


def _ingress_path(path: Any = "/", path_type: Any = "Prefix", backend: Obj | None = None) -> Obj:
    entry: Obj = {"backend": backend or {"service": {"name": "web", "port": {"number": 80}}}}
    if path is not None:
        entry["path"] = path
    if path_type is not None:
        entry["pathType"] = path_type
    return {"spec": {"rules": [{"host": "example.com", "http": {"paths": [entry]}}]}}


# ---- IP and CIDR parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.1.2.3", "10.1.2.3"),
        ("010.001.002.003", "10.1.2.3"),  # ParseIPSloppy: leading zeros are decimal
        ("2001:db8::1", "2001:db8::1"),
        ("::ffff:1.2.3.4", "::ffff:102:304"),
        ("0:0:0:0:0:0:0:00001", "::1"),  # hex groups may carry leading zeros too
        ("::", "::"),
    ],
)
def test_addresses_parse_as_upstream_parses_them(text: str, expected: str) -> None:
    assert parse_ip_sloppy(text) == ipaddress.ip_address(expected)


@pytest.mark.parametrize(
    "text", ["", "not-an-ip", "256.1.1.1", "1.2.3", "1.2.3.4.", "fe80::1%eth0", "1::2::3", "12345::", "1.2.3.4/8"]
)
def test_what_is_not_an_address(text: str) -> None:
    assert parse_ip_sloppy(text) is None


def test_cidrs_parse_as_upstream_parses_them() -> None:
    assert parse_cidr_sloppy("10.1.2.3/8") == ipaddress.ip_network("10.0.0.0/8")
    assert parse_cidr_sloppy("010.0.0.0/08") == ipaddress.ip_network("10.0.0.0/8")
    assert parse_cidr_sloppy("2001:db8::/32") == ipaddress.ip_network("2001:db8::/32")
    for bad in ("300.0.0.0/8", "10.0.0.0/33", "10.0.0.0", "10.0.0.0/", "10.0.0.0/+8", "::/129"):
        assert parse_cidr_sloppy(bad) is None, bad


# ---- Ingress ------------------------------------------------------------------------------------------


def test_what_kubectl_create_ingress_sends_passes() -> None:
    assert _messages("Ingress", copy.deepcopy(KUBECTL_INGRESS)) == []
    catch_all = {
        "spec": {
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": "/path",
                                "pathType": "Exact",
                                "backend": {"service": {"name": "svc", "port": {"number": 80}}},
                            }
                        ]
                    }
                }
            ]
        }
    }
    assert _messages("Ingress", catch_all) == []


def test_an_ingress_needs_rules_or_a_default_backend() -> None:
    assert _messages("Ingress", {"spec": {}}) == [
        "spec: Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified"
    ]


@pytest.mark.parametrize(
    ("path", "path_type", "expected"),
    [
        ("foo", "Prefix", ['spec.rules[0].http.paths[0].path: Invalid value: "foo": must be an absolute path']),
        ("", "Exact", ['spec.rules[0].http.paths[0].path: Invalid value: "": must be an absolute path']),
        ("/a//b", "Prefix", ["spec.rules[0].http.paths[0].path: Invalid value: \"/a//b\": must not contain '//'"]),
        (
            "/a/../b/..",
            "Exact",
            [
                "spec.rules[0].http.paths[0].path: Invalid value: \"/a/../b/..\": must not contain '/../'",
                "spec.rules[0].http.paths[0].path: Invalid value: \"/a/../b/..\": cannot end with '/..'",
            ],
        ),
        ("/a%2Fb", "Prefix", ["spec.rules[0].http.paths[0].path: Invalid value: \"/a%2Fb\": must not contain '%2F'"]),
        ("/./", "Prefix", ["spec.rules[0].http.paths[0].path: Invalid value: \"/./\": must not contain '/./'"]),
        (
            "foo",
            "ImplementationSpecific",
            ['spec.rules[0].http.paths[0].path: Invalid value: "foo": must be an absolute path'],
        ),
        (None, "ImplementationSpecific", []),
        ("/a//b", "ImplementationSpecific", []),
        ("/", None, ["spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"]),
        (
            "/",
            "Regex",
            [
                'spec.rules[0].http.paths[0].pathType: Unsupported value: "Regex": supported values: "Exact", '
                '"ImplementationSpecific", "Prefix"'
            ],
        ),
    ],
)
def test_paths_fit_their_type(path: Any, path_type: Any, expected: list[str]) -> None:
    assert _messages("Ingress", _ingress_path(path, path_type)) == expected


def test_a_path_without_a_type_has_its_backend_left_unchecked() -> None:
    assert _messages("Ingress", _ingress_path("/", None, {})) == [
        "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"
    ]


def test_an_http_rule_has_paths() -> None:
    assert _messages("Ingress", {"spec": {"rules": [{"host": "a.example.com", "http": {}}]}}) == [
        "spec.rules[0].http.paths: Required value"
    ]
    assert _messages("Ingress", {"spec": {"rules": [{"host": "a.example.com"}]}}) == []


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("*.example.com", []),
        ("1.2.3.4", ['spec.rules[0].host: Invalid value: "1.2.3.4": must be a DNS name, not an IP address']),
        (
            "::1",
            [
                'spec.rules[0].host: Invalid value: "::1": must be a DNS name, not an IP address',
                f'spec.rules[0].host: Invalid value: "::1": {SUBDOMAIN_MSG}',
            ],
        ),
        ("Example.com", [f'spec.rules[0].host: Invalid value: "Example.com": {SUBDOMAIN_MSG}']),
        ("foo.*.com", [f'spec.rules[0].host: Invalid value: "foo.*.com": {WILDCARD_MSG}']),
        ("*", [f'spec.rules[0].host: Invalid value: "*": {WILDCARD_MSG}']),
        ("*.*.example.com", [f'spec.rules[0].host: Invalid value: "*.*.example.com": {WILDCARD_MSG}']),
    ],
)
def test_rule_hosts(host: str, expected: list[str]) -> None:
    ingress = _ingress_path()
    ingress["spec"]["rules"][0]["host"] = host
    assert _messages("Ingress", ingress) == expected


@pytest.mark.parametrize(
    ("backend", "expected"),
    [
        ({}, ['spec.defaultBackend: Invalid value: "": resource or service backend is required']),
        (
            {"service": {"name": "s", "port": {"number": 80}}, "resource": {"kind": "Bucket", "name": "b"}},
            ['spec.defaultBackend: Invalid value: "": cannot set both resource and service backends'],
        ),
        ({"service": {"name": "s"}}, ["spec.defaultBackend: Required value: port name or number is required"]),
        (
            {"service": {"name": "s", "port": {"name": "http", "number": 80}}},
            ['spec.defaultBackend: Invalid value: "": cannot set both port name & port number'],
        ),
        (
            {"service": {"name": "s", "port": {"number": 70000}}},
            ["spec.defaultBackend.service.port.number: Invalid value: 70000: must be between 1 and 65535, inclusive"],
        ),
        (
            {"service": {"name": "s", "port": {"name": "HTTP"}}},
            [
                'spec.defaultBackend.service.port.name: Invalid value: "HTTP": must contain only alpha-numeric '
                "characters (a-z, 0-9), and hyphens (-)"
            ],
        ),
        (
            {"service": {"port": {"number": 80}}},
            ["spec.defaultBackend.service.name: Required value"],
        ),
        (
            {"service": {"name": "1web", "port": {"number": 80}}},
            [f'spec.defaultBackend.service.name: Invalid value: "1web": {DNS1035_MSG}'],
        ),
        (
            {"resource": {"apiGroup": "Bad_Group", "kind": "a/b"}},
            [
                f'spec.defaultBackend.resource.apiGroup: Invalid value: "Bad_Group": {SUBDOMAIN_MSG}',
                "spec.defaultBackend.resource.kind: Invalid value: \"a/b\": may not contain '/'",
                "spec.defaultBackend.resource.name: Required value: name is required",
            ],
        ),
        ({"resource": {"apiGroup": "storage.example.com", "kind": "Bucket", "name": "b"}}, []),
    ],
)
def test_backends(backend: Obj, expected: list[str]) -> None:
    assert _messages("Ingress", {"spec": {"defaultBackend": backend}}) == expected


def test_tls_hosts_secret_names_and_class_name() -> None:
    ingress = {
        "spec": {
            "defaultBackend": {"service": {"name": "s", "port": {"number": 80}}},
            "tls": [{"hosts": ["*.example.com", "bad_host", "*.*"], "secretName": "Bad"}],
            "ingressClassName": "Nginx",
        }
    }
    assert _messages("Ingress", ingress) == [
        f'spec.tls[0].hosts[1]: Invalid value: "bad_host": {SUBDOMAIN_MSG}',
        f'spec.tls[0].hosts[2]: Invalid value: "*.*": {WILDCARD_MSG}',
        f'spec.tls[0].secretName: Invalid value: "Bad": {SUBDOMAIN_MSG}',
        f'spec.ingressClassName: Invalid value: "Nginx": {SUBDOMAIN_MSG}',
    ]


def test_the_class_annotation_must_match_the_class_name_on_create_only() -> None:
    ingress = copy.deepcopy(KUBECTL_INGRESS)
    ingress["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "nginx"}
    assert _messages("Ingress", ingress) == [
        'annotations.kubernetes.io/ingress.class: Invalid value: "nginx": must match `ingressClassName` when both '
        "are specified"
    ]
    ingress["metadata"]["annotations"]["kubernetes.io/ingress.class"] = "default"
    assert _messages("Ingress", ingress) == []
    ingress["metadata"]["annotations"]["kubernetes.io/ingress.class"] = "nginx"
    changed = copy.deepcopy(ingress)
    changed["spec"]["rules"][0]["host"] = "bar.com"
    assert _messages("Ingress", changed, ingress) == []


def test_invalid_data_already_stored_is_let_through_on_update() -> None:
    stored = copy.deepcopy(KUBECTL_INGRESS)
    stored["spec"]["tls"][0]["secretName"] = "Bad_Secret"
    stored["spec"]["rules"].append({"host": "*.example.com", "http": {"paths": [{"path": "x", "pathType": "Exact"}]}})
    assert len(_messages("Ingress", stored)) == 3  # refused on create
    updated = copy.deepcopy(stored)
    updated["spec"]["rules"][0]["host"] = "bar.com"
    assert _messages("Ingress", updated, stored) == []
    updated["spec"]["rules"][0]["http"]["paths"][0]["path"] = "bar"  # a new problem is still refused
    assert _messages("Ingress", updated, stored) == [
        'spec.rules[0].http.paths[0].path: Invalid value: "bar": must be an absolute path'
    ]


# ---- IngressClass ---------------------------------------------------------------------------------


def test_an_ingress_class_needs_a_domain_prefixed_controller() -> None:
    assert _messages("IngressClass", {"spec": {"controller": "example.com/ingress-controller"}}) == []
    assert _messages("IngressClass", {"spec": {}}) == ["spec.controller: Required value"]
    assert _messages("IngressClass", {"spec": {"controller": "nginx"}}) == [
        'spec.controller: Invalid value: "nginx": must be a domain-prefixed path (such as "acme.io/foo")'
    ]
    assert _messages("IngressClass", {"spec": {"controller": "Example.com/a b"}}) == [
        f'spec.controller: Invalid value: "Example.com": {SUBDOMAIN_MSG}',
        'spec.controller: Invalid value: "a b": Invalid path (regex used for validation is '
        "'[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+')",
    ]
    assert _messages("IngressClass", {"spec": {"controller": "example.com/" + "a" * 239}}) == [
        "spec.controller: Too long: may not be more than 250 bytes"
    ]


def test_an_ingress_class_controller_is_immutable() -> None:
    old = {"spec": {"controller": "example.com/a"}}
    assert _messages("IngressClass", {"spec": {"controller": "example.com/b"}}, old) == [
        'spec.controller: Invalid value: "example.com/b": field is immutable'
    ]
    params = {"kind": "Params", "name": "p"}
    assert _messages("IngressClass", {"spec": {"controller": "example.com/a", "parameters": params}}, old) == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"kind": "Params", "name": "p"}, []),  # no scope: upstream's default, Cluster
        ({"kind": "Params", "name": "p", "scope": "Namespace", "namespace": "ns"}, []),
        (
            {},
            [
                "spec.parameters.kind: Required value: kind is required",
                "spec.parameters.name: Required value: name is required",
            ],
        ),
        (
            {"kind": "Params", "name": "p", "scope": "Global"},
            ['spec.parameters.scope: Unsupported value: "Global": supported values: "Cluster", "Namespace"'],
        ),
        (
            {"kind": "Params", "name": "p", "scope": "Namespace"},
            ["spec.parameters.namespace: Required value: `parameters.scope` is set to 'Namespace'"],
        ),
        (
            {"kind": "Params", "name": "p", "scope": "Namespace", "namespace": "Bad_NS"},
            [f'spec.parameters.namespace: Invalid value: "Bad_NS": {LABEL_MSG}'],
        ),
        (
            {"kind": "Params", "name": "p", "scope": "Cluster", "namespace": "ns"},
            ["spec.parameters.namespace: Forbidden: `parameters.scope` is set to 'Cluster'"],
        ),
        (
            {"kind": "..", "name": "a%b"},
            [
                "spec.parameters.kind: Invalid value: \"..\": may not be '..'",
                "spec.parameters.name: Invalid value: \"a%b\": may not contain '%'",
            ],
        ),
    ],
)
def test_ingress_class_parameters(params: Obj, expected: list[str]) -> None:
    assert _messages("IngressClass", {"spec": {"controller": "example.com/c", "parameters": params}}) == expected


EXCEPT = "spec.ingress[0].from[0].ipBlock.except"
STRICT = "must be a strict subset of `cidr`"


# ---- NetworkPolicy --------------------------------------------------------------------------------


def _policy(**spec: Any) -> Obj:
    return {"spec": {"podSelector": {}, **spec}}


def test_a_typical_policy_passes() -> None:
    policy = _policy(
        podSelector={"matchLabels": {"app": "db"}},
        ingress=[
            {
                "from": [
                    {"podSelector": {}},
                    {"namespaceSelector": {"matchLabels": {"team": "a"}}, "podSelector": {"matchLabels": {"x": "y"}}},
                    {"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}},
                ],
                "ports": [{"protocol": "TCP", "port": 6379}, {"port": "metrics"}, {"port": 32000, "endPort": 32768}],
            }
        ],
        egress=[{"to": [{"ipBlock": {"cidr": "2001:db8::/32", "except": ["2001:db8:1::/48"]}}]}],
        policyTypes=["Ingress", "Egress"],
    )
    assert _messages("NetworkPolicy", policy) == []


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (
            {"cidr": "300.0.0.0/8"},
            ['spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "300.0.0.0/8": not a valid CIDR'],
        ),
        ({}, ["spec.ingress[0].from[0].ipBlock.cidr: Required value"]),
        ({"cidr": "10.1.2.3/8", "except": ["010.1.0.0/16"]}, []),  # host bits and leading zeros, as upstream allows
        (
            {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/16", "10.0.0.0/8", "10.0.0.0/7"]},
            [
                f'{EXCEPT}[0]: Invalid value: "11.0.0.0/16": {STRICT}',
                f'{EXCEPT}[1]: Invalid value: "10.0.0.0/8": {STRICT}',
                f'{EXCEPT}[2]: Invalid value: "10.0.0.0/7": {STRICT}',
            ],
        ),
        (
            {"cidr": "10.0.0.0/8", "except": ["bad", "11.0.0.0/16"]},  # upstream stops at the first bad entry
            ['spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "bad": not a valid CIDR'],
        ),
        (
            {"cidr": "10.0.0.0/8", "except": ["2001:db8::/64"]},
            [f'{EXCEPT}[0]: Invalid value: "2001:db8::/64": {STRICT}'],
        ),
    ],
)
def test_ip_blocks(block: Obj, expected: list[str]) -> None:
    assert _messages("NetworkPolicy", _policy(ingress=[{"from": [{"ipBlock": block}]}])) == expected


def test_peers() -> None:
    peers = [
        {},
        {"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}},
        {"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Near"}]}},
    ]
    assert _messages("NetworkPolicy", _policy(egress=[{"to": peers}])) == [
        "spec.egress[0].to[0]: Required value: must specify a peer",
        "spec.egress[0].to[1]: Forbidden: may not specify both ipBlock and another peer",
        'spec.egress[0].to[2].namespaceSelector.matchExpressions[0].operator: Invalid value: "Near": not a valid '
        "selector operator",
    ]


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        (
            {"protocol": "ICMP"},
            ['spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"'],
        ),
        ({"port": 0}, ["spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"]),
        (
            {"port": "Web_Port"},
            [
                'spec.ingress[0].ports[0].port: Invalid value: "Web_Port": must contain only alpha-numeric characters '
                "(a-z, 0-9), and hyphens (-)",
            ],
        ),
        (
            {"port": 80, "endPort": 79},
            ["spec.ingress[0].ports[0].endPort: Invalid value: 80: must be greater than or equal to `port`"],
        ),
        (
            {"port": 80, "endPort": 70000},
            ["spec.ingress[0].ports[0].endPort: Invalid value: 70000: must be between 1 and 65535, inclusive"],
        ),
        (
            {"port": "http", "endPort": 90},
            ["spec.ingress[0].ports[0].endPort: Invalid value: 90: may not be specified when `port` is non-numeric"],
        ),
        (
            {"endPort": 90},
            ["spec.ingress[0].ports[0].endPort: Invalid value: 90: may not be specified when `port` is not specified"],
        ),
    ],
)
def test_policy_ports(port: Obj, expected: list[str]) -> None:
    assert _messages("NetworkPolicy", _policy(ingress=[{"ports": [port]}])) == expected


def test_pod_selector_and_policy_types() -> None:
    assert _messages("NetworkPolicy", _policy(podSelector={"matchLabels": {"a": "b c"}}, policyTypes=["Both"])) == [
        'spec.podSelector.matchLabels: Invalid value: "b c": a valid label must be an empty string or consist of '
        "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
        "'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?"
        "[A-Za-z0-9])?')",
        'spec.policyTypes[0]: Unsupported value: "Both": supported values: "Ingress", "Egress"',
    ]
    assert _messages("NetworkPolicy", _policy(policyTypes=["Ingress", "Egress", "Ingress"])) == [
        'spec.policyTypes: Invalid value: []networking.PolicyType{"Ingress", "Egress", "Ingress"}: may not specify '
        "more than two policyTypes"
    ]


@pytest.mark.parametrize(
    "obj",
    [
        {},
        {"spec": None},
        {"spec": {"rules": "x", "tls": [1], "defaultBackend": "y", "ingressClassName": 3}},
        {"spec": {"rules": [{"host": 5, "http": {"paths": [None, {"pathType": "Exact", "path": 7, "backend": []}]}}]}},
        {"spec": {"ingress": [{"from": [None, {"ipBlock": "x"}], "ports": [{"port": [1], "endPort": "x"}]}]}},
        {"spec": {"policyTypes": "Ingress", "egress": "x", "podSelector": []}},
        {"spec": {"controller": ["x"], "parameters": "p"}},
        {"metadata": {"annotations": "x"}, "spec": {"ingressClassName": "a"}},
    ],
)
def test_nothing_raises_on_odd_input(obj: Obj) -> None:
    for kind in ("Ingress", "IngressClass", "NetworkPolicy"):
        validation.validate(GROUP, kind, copy.deepcopy(obj))
        validation.validate(GROUP, kind, copy.deepcopy(obj), {"spec": "old"})
