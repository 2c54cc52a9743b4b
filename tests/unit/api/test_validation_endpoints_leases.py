"""Endpoints, EndpointSlices, Leases and RuntimeClasses are checked as kube-apiserver 1.32 checks them.

One deliberate difference: loopback addresses are allowed in Endpoints and
EndpointSlices (Pinnace's process runtime gives pods 127.0.0.x addresses).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pinnace.api import validation
from pinnace.apiserver.kubernetes_service import kubernetes_objects
from pinnace.controllers.endpoints import desired_subsets
from pinnace.controllers.endpointslice import desired_slices
from pinnace.runtime.leaderelection import LeaderElectionConfig, LeaderElector, micro_time

Obj = dict[str, Any]
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
INVALID_IP = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def _messages(group: str, kind: str, obj: Obj, old: Obj | None = None) -> list[str]:
    return [f"{c.field}: {c.message}" for c in validation.validate(group, kind, obj, old)]


def _endpoints(*addresses: Obj, ports: list[Obj] | None = None) -> Obj:
    subset: Obj = {"addresses": list(addresses)}
    if ports is not None:
        subset["ports"] = ports
    return {"subsets": [subset]}


def _slice(*addresses: str, address_type: str = "IPv4", **endpoint: Any) -> Obj:
    return {"addressType": address_type, "endpoints": [{"addresses": list(addresses), **endpoint}]}


# ---- what Pinnace writes itself --------------------------------------------------------------------


def _pod(name: str, ip: str, *, ready: bool = True) -> Obj:
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": {"app": "web"}},
        "spec": {
            "nodeName": "node-1",
            "hostname": name,
            "subdomain": "web",
            "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}],
        },
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


SERVICE: Obj = {
    "metadata": {"name": "web", "namespace": "default", "uid": "svc-uid"},
    "spec": {
        "selector": {"app": "web"},
        "clusterIP": "None",
        "ports": [
            {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
            {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP", "appProtocol": "http"},
        ],
    },
}


def test_the_api_servers_own_objects_pass_loopback_included() -> None:
    for address in ("127.0.0.1", "::1", "10.0.0.5"):
        _, endpoints, slice_ = kubernetes_objects("10.96.0.1", address, 6443)
        assert _messages("", "Endpoints", endpoints) == []
        assert _messages("discovery.k8s.io", "EndpointSlice", slice_) == []


def test_what_the_endpoint_controllers_write_passes() -> None:
    pods = [_pod("a", "127.0.0.2"), _pod("b", "127.0.0.3", ready=False), _pod("c", "10.244.1.7")]
    subsets, _ = desired_subsets(SERVICE, pods)
    assert subsets and _messages("", "Endpoints", {"subsets": subsets}) == []
    for content in desired_slices(SERVICE, pods):
        assert _messages("discovery.k8s.io", "EndpointSlice", {"addressType": "IPv4", **content}) == []
    empty = desired_slices(SERVICE, [])
    assert _messages("discovery.k8s.io", "EndpointSlice", {"addressType": "IPv4", **empty[0]}) == []


def test_what_leader_election_writes_passes() -> None:
    elector = LeaderElector(object(), LeaderElectionConfig("lock", "kube-system", "me"))  # type: ignore[arg-type]
    spec = elector._taken(micro_time(elector.clock), 3)  # (the exact spec a leader writes)
    lease = {"spec": spec}
    assert _messages("coordination.k8s.io", "Lease", lease) == []
    assert _messages("coordination.k8s.io", "Lease", lease, {"spec": {**spec, "leaseTransitions": 2}}) == []


# ---- Endpoints --------------------------------------------------------------------------------------


def test_a_bad_endpoints_ip_gets_upstreams_two_causes() -> None:
    assert _messages("", "Endpoints", _endpoints({"ip": "not-an-ip"})) == [
        f'subsets[0].addresses[0].ip: Invalid value: "not-an-ip": {INVALID_IP}',
        'subsets[0].addresses[0].ip: Invalid value: "not-an-ip": must be a valid IP address',
    ]


@pytest.mark.parametrize(
    ("ip", "detail"),
    [
        ("0.0.0.0", "may not be unspecified (0.0.0.0)"),
        ("::", "may not be unspecified (::)"),
        ("169.254.169.254", "may not be in the link-local range (169.254.0.0/16, fe80::/10)"),
        ("fe80::1", "may not be in the link-local range (169.254.0.0/16, fe80::/10)"),
        ("::ffff:169.254.0.1", "may not be in the link-local range (169.254.0.0/16, fe80::/10)"),
        ("224.0.0.251", "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"),
        ("ff02::fb", "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"),
    ],
)
def test_special_addresses_are_refused(ip: str, detail: str) -> None:
    assert _messages("", "Endpoints", _endpoints({"ip": ip})) == [
        f"subsets[0].addresses[0].ip: Invalid value: {validation.field.go_value(ip)}: {detail}"
    ]


@pytest.mark.parametrize("ip", ["127.0.0.1", "127.0.0.42", "::1", "10.1.2.3", "010.001.002.003", "2001:db8::7"])
def test_loopback_and_ordinary_addresses_pass(ip: str) -> None:
    assert _messages("", "Endpoints", _endpoints({"ip": ip})) == []


def test_endpoints_subsets_addresses_and_ports() -> None:
    endpoints = {
        "subsets": [
            {"ports": [{"port": 80}]},
            {
                "notReadyAddresses": [{"ip": "10.0.0.1", "hostname": "Web_1", "nodeName": "Node_1"}],
                "ports": [
                    {"port": 80},
                    {"name": "Metrics", "port": 0, "protocol": "ICMP", "appProtocol": "bad proto"},
                ],
            },
        ]
    }
    assert _messages("", "Endpoints", endpoints) == [
        "subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`",
        f'subsets[1].notReadyAddresses[0].hostname: Invalid value: "Web_1": {LABEL_MSG}',
        f'subsets[1].notReadyAddresses[0].nodeName: Invalid value: "Node_1": {SUBDOMAIN_MSG}',
        "subsets[1].ports[0].name: Required value",
        f'subsets[1].ports[1].name: Invalid value: "Metrics": {LABEL_MSG}',
        "subsets[1].ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        'subsets[1].ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
        'subsets[1].ports[1].appProtocol: Invalid value: "bad proto": name part must consist of alphanumeric '
        "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or "
        "'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    ]


def test_a_single_unnamed_port_without_protocol_passes() -> None:
    assert _messages("", "Endpoints", _endpoints({"ip": "10.0.0.1"}, ports=[{"port": 80}])) == []
    assert _messages("", "Endpoints", {"subsets": []}) == []


# ---- EndpointSlice ----------------------------------------------------------------------------------


def test_a_bad_slice_address_gets_upstreams_two_causes() -> None:
    assert _messages("discovery.k8s.io", "EndpointSlice", _slice("not-an-ip")) == [
        'endpoints[0].addresses[0]: Invalid value: "not-an-ip": must be a valid IPv4 address',
        'endpoints[0].addresses[0]: Invalid value: "not-an-ip": must be a valid IP address',
    ]


@pytest.mark.parametrize(
    ("address_type", "address", "expected"),
    [
        (
            "IPv4",
            "2001:db8::1",
            ['endpoints[0].addresses[0]: Invalid value: "2001:db8::1": must be a valid IPv4 address'],
        ),
        ("IPv6", "10.0.0.1", ['endpoints[0].addresses[0]: Invalid value: "10.0.0.1": must be a valid IPv6 address']),
        (
            "IPv6",
            "fe80::2",
            [
                'endpoints[0].addresses[0]: Invalid value: "fe80::2": may not be in the link-local range '
                "(169.254.0.0/16, fe80::/10)"
            ],
        ),
        ("IPv4", "127.0.0.9", []),
        ("IPv6", "::1", []),
        ("FQDN", "db.example.com.", []),
        (
            "FQDN",
            "localhost",
            [
                'endpoints[0].addresses[0]: Invalid value: "localhost": should be a domain with at least two '
                "segments separated by dots"
            ],
        ),
        ("FQDN", "Db.example.com", [f'endpoints[0].addresses[0]: Invalid value: "Db.example.com": {SUBDOMAIN_MSG}']),
        ("FQDN", "", ["endpoints[0].addresses[0]: Required value"]),
    ],
)
def test_slice_addresses_fit_the_address_type(address_type: str, address: str, expected: list[str]) -> None:
    assert _messages("discovery.k8s.io", "EndpointSlice", _slice(address, address_type=address_type)) == expected


def test_slice_address_type() -> None:
    assert _messages("discovery.k8s.io", "EndpointSlice", {"endpoints": []}) == ["addressType: Required value"]
    assert _messages("discovery.k8s.io", "EndpointSlice", _slice("anything", address_type="IP")) == [
        'addressType: Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"'
    ]
    old = _slice("10.0.0.1")
    assert _messages("discovery.k8s.io", "EndpointSlice", _slice("::2", address_type="IPv6"), old) == [
        'addressType: Invalid value: "IPv6": field is immutable'
    ]


def test_slice_endpoints() -> None:
    endpoint = {
        "addresses": ["10.0.0.1"],
        "hostname": "Web_1",
        "nodeName": "Node_1",
        "deprecatedTopology": {"topology.kubernetes.io/zone": "a", "bad key!": "v"},
        "hints": {"forZones": [{"name": "a"}, {"name": "a"}, {"name": "b c"}]},
        "conditions": {"ready": True},
        "zone": "any zone at all",  # upstream does not check the zone
    }
    assert _messages("discovery.k8s.io", "EndpointSlice", {"addressType": "IPv4", "endpoints": [endpoint, {}]}) == [
        f'endpoints[0].nodeName: Invalid value: "Node_1": {SUBDOMAIN_MSG}',
        'endpoints[0].deprecatedTopology: Invalid value: "bad key!": name part must consist of alphanumeric '
        "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or "
        "'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        "endpoints[0].deprecatedTopology[topology.kubernetes.io/zone]: Internal error: reserved key was not removed "
        "in conversion",
        f'endpoints[0].hostname: Invalid value: "Web_1": {LABEL_MSG}',
        'endpoints[0].hints.forZones[1].name: Duplicate value: "a"',
        'endpoints[0].hints.forZones[2].name: Invalid value: "b c": a valid label must be an empty string or '
        "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character "
        "(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
        "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        "endpoints[1].addresses: Required value: must contain at least 1 address",
    ]
    assert _messages("discovery.k8s.io", "EndpointSlice", _slice("10.0.0.1", hostname="")) == [
        f'endpoints[0].hostname: Invalid value: "": {LABEL_MSG}'
    ]


def test_slice_limits() -> None:
    many_addresses = _slice(*(f"10.0.{i // 250}.{i % 250 + 1}" for i in range(101)))
    assert _messages("discovery.k8s.io", "EndpointSlice", many_addresses) == [
        "endpoints[0].addresses: Too many: 101: must have at most 100 items"
    ]
    many_endpoints = {"addressType": "IPv4", "endpoints": [{"addresses": ["bad"]}] * 1001}
    assert _messages("discovery.k8s.io", "EndpointSlice", many_endpoints) == [
        "endpoints: Too many: 1001: must have at most 1000 items"
    ]
    many_ports = {"addressType": "IPv4", "ports": [{"name": "Bad"}] * 20001}
    assert _messages("discovery.k8s.io", "EndpointSlice", many_ports) == [
        "ports: Too many: 20001: must have at most 20000 items"
    ]
    zones = _slice("10.0.0.1", hints={"forZones": [{"name": f"z{i}"} for i in range(9)]})
    assert _messages("discovery.k8s.io", "EndpointSlice", zones) == [
        "endpoints[0].hints.forZones: Too many: 9: must have at most 8 items"
    ]


def test_slice_ports() -> None:
    ports = [
        {"port": 80},
        {"port": 81},
        {"name": "http", "protocol": "ICMP", "appProtocol": ""},
        {"name": "Http"},
        {"name": "http", "protocol": "UDP", "appProtocol": "kubernetes.io/h2c"},
    ]
    assert _messages("discovery.k8s.io", "EndpointSlice", {"addressType": "IPv4", "ports": ports}) == [
        'ports[1].name: Duplicate value: ""',
        'ports[2].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
        'ports[2].appProtocol: Invalid value: "": name part must be non-empty',
        "ports[2].appProtocol: Invalid value: \"\": name part must consist of alphanumeric characters, '-', '_' or "
        "'.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
        "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        f'ports[3].name: Invalid value: "Http": {LABEL_MSG}',
        'ports[4].name: Duplicate value: "http"',
    ]


# ---- Lease ------------------------------------------------------------------------------------------


def test_lease_durations_and_transitions() -> None:
    lease = {"spec": {"holderIdentity": "me", "leaseDurationSeconds": 0, "leaseTransitions": -1}}
    assert _messages("coordination.k8s.io", "Lease", lease) == [
        "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
        "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
    ]
    assert _messages("coordination.k8s.io", "Lease", {"spec": {"leaseDurationSeconds": 40}}) == []
    assert _messages("coordination.k8s.io", "Lease", {}) == []


def test_leader_election_fields_are_checked_only_where_upstream_keeps_them() -> None:
    bad = {"spec": {"strategy": "Youngest", "preferredHolder": "x"}}
    assert _messages("coordination.k8s.io", "Lease", bad) == []  # dropped by upstream on create (feature off)
    assert _messages("coordination.k8s.io", "Lease", bad, {"spec": {}}) == []
    old = {"spec": {"strategy": "OldestEmulationVersion", "preferredHolder": "a"}}
    assert _messages("coordination.k8s.io", "Lease", bad, old) == [
        'spec.strategy.strategy: Unsupported value: "Youngest": supported values: "OldestEmulationVersion"'
    ]
    assert _messages("coordination.k8s.io", "Lease", {"spec": {"strategy": "example.com/x"}}, old) == []
    assert _messages("coordination.k8s.io", "Lease", {"spec": {"strategy": "a/b/c"}}, old) == [
        'spec.strategy.strategy: Invalid value: "a/b/c": a qualified name must consist of alphanumeric characters, '
        "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
        "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS "
        "subdomain prefix and '/' (e.g. 'example.com/MyName')"
    ]
    assert _messages("coordination.k8s.io", "Lease", {"spec": {"preferredHolder": "b"}}, old) == [
        "spec.preferredHolder: Forbidden: may only be specified if `strategy` is defined"
    ]


# ---- RuntimeClass -----------------------------------------------------------------------------------


def test_runtime_class_handler() -> None:
    assert _messages("node.k8s.io", "RuntimeClass", {"handler": "runc"}) == []
    assert _messages("node.k8s.io", "RuntimeClass", {"handler": "Run C"}) == [
        f'handler: Invalid value: "Run C": {LABEL_MSG}'
    ]
    assert _messages("node.k8s.io", "RuntimeClass", {}) == [f'handler: Invalid value: "": {LABEL_MSG}']
    assert _messages("node.k8s.io", "RuntimeClass", {"handler": "crun"}, {"handler": "runc"}) == [
        'handler: Invalid value: "crun": field is immutable'
    ]


def test_runtime_class_overhead_and_scheduling() -> None:
    runtime_class = {
        "handler": "kata",
        "overhead": {"podFixed": {"cpu": "-250m", "memory": "120Mi", "bogus": "1"}},
        "scheduling": {
            "nodeSelector": {"runtime": "kata vm"},
            "tolerations": [
                {"key": "kata", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "kata", "operator": "Exists", "effect": "NoSchedule"},
                {"operator": "Equal", "value": "x"},
                {"key": "a", "operator": "Exists", "value": "v"},
                {"key": "a", "operator": "Near", "effect": "Sometimes", "tolerationSeconds": 5},
            ],
        },
    }
    assert _messages("node.k8s.io", "RuntimeClass", runtime_class) == [
        'overhead.limits[bogus]: Invalid value: "bogus": must be a standard resource for containers',
        'overhead.limits[cpu]: Invalid value: "-250m": must be greater than or equal to 0',
        'scheduling.nodeSelector: Invalid value: "kata vm": a valid label must be an empty string or consist of '
        "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
        "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
        "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        'scheduling.tolerations[1]: Duplicate value: core.Toleration{Key:"kata", Operator:"Exists", Value:"", '
        'Effect:"NoSchedule", TolerationSeconds:(*int64)(nil)}',
        'scheduling.tolerations[2].operator: Invalid value: "Equal": operator must be Exists when `key` is empty, '
        'which means "match all values and all keys"',
        'scheduling.tolerations[3].operator: Invalid value: core.Toleration{Key:"a", Operator:"Exists", Value:"v", '
        "Effect:\"\", TolerationSeconds:(*int64)(nil)}: value must be empty when `operator` is 'Exists'",
        "scheduling.tolerations[4].effect: Invalid value: \"Sometimes\": effect must be 'NoExecute' when "
        "`tolerationSeconds` is set",
        'scheduling.tolerations[4].operator: Unsupported value: "Near": supported values: "Equal", "Exists"',
        'scheduling.tolerations[4].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", '
        '"PreferNoSchedule", "NoExecute"',
    ]


@pytest.mark.parametrize(
    ("group", "kind"),
    [
        ("", "Endpoints"),
        ("discovery.k8s.io", "EndpointSlice"),
        ("coordination.k8s.io", "Lease"),
        ("node.k8s.io", "RuntimeClass"),
    ],
)
@pytest.mark.parametrize(
    "obj",
    [
        {},
        {"subsets": "x", "endpoints": {"a": 1}, "ports": "p", "spec": [], "handler": 5},
        {"subsets": [None, {"addresses": [None, {"ip": 5, "nodeName": 3}], "ports": [{"port": "x"}, 7]}]},
        {"addressType": ["IPv4"], "endpoints": [None, {"addresses": "x", "hints": [], "deprecatedTopology": "t"}]},
        {"addressType": "IPv6", "endpoints": [{"addresses": [None, 5, "::1%eth0"]}], "ports": [{"name": 5}]},
        {"spec": {"leaseDurationSeconds": "x", "leaseTransitions": True, "strategy": 5, "preferredHolder": 1}},
        {"overhead": {"podFixed": "x"}, "scheduling": {"nodeSelector": [], "tolerations": [None, 5, {"key": 3}]}},
    ],
)
def test_nothing_raises_on_odd_input(group: str, kind: str, obj: Obj) -> None:
    validation.validate(group, kind, copy.deepcopy(obj))
    validation.validate(group, kind, copy.deepcopy(obj), {"spec": {"strategy": "x"}, "addressType": 3})
