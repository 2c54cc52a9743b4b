"""Ingresses, IngressClasses, NetworkPolicies, Endpoints, EndpointSlices, Leases and RuntimeClasses through the
official ``kubernetes`` client: what kube-apiserver 1.32 refuses is a 422 Invalid with its causes, nothing is
stored, a refused update leaves the stored object as it was, and good objects (what kubectl and Pinnace's own
components write) still go in."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from tests.integration.conftest import assert_absent, refused_as_invalid

NS = "default"
Obj = dict[str, Any]

#: What ``kubectl create ingress simple --class=default --rule="foo.com/bar=svc1:8080,tls=my-cert"
#: --rule="foo.com/*=svc2:http" --default-backend=defsvc:http`` sends (kubectl 1.32).
KUBECTL_INGRESS: Obj = {
    "kind": "Ingress",
    "apiVersion": "networking.k8s.io/v1",
    "metadata": {"name": "simple", "creationTimestamp": None},
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
    "status": {"loadBalancer": {}},
}


@pytest.fixture(scope="module")
def api(module_k8s_client: ApiClient) -> ApiClient:
    return module_k8s_client


def _causes(status: Obj) -> list[tuple[str, str, str]]:
    return [(c["field"], c["reason"], c["message"]) for c in status["details"]["causes"]]


def _ingress(name: str, path: str, path_type: str = "Prefix") -> Obj:
    return {
        "metadata": {"name": name},
        "spec": {
            "rules": [
                {
                    "host": "example.com",
                    "http": {
                        "paths": [
                            {
                                "path": path,
                                "pathType": path_type,
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ]
        },
    }


def test_ingresses(api: ApiClient) -> None:
    networking = client.NetworkingV1Api(api)
    status = refused_as_invalid(lambda: networking.create_namespaced_ingress(NS, _ingress("relative", "foo")))
    assert status["message"] == (
        'Ingress.networking.k8s.io "relative" is invalid: spec.rules[0].http.paths[0].path: Invalid value: "foo": '
        "must be an absolute path"
    )
    assert status["details"]["group"] == "networking.k8s.io" and status["details"]["kind"] == "Ingress"
    assert _causes(status) == [
        (
            "spec.rules[0].http.paths[0].path",
            "FieldValueInvalid",
            'Invalid value: "foo": must be an absolute path',
        )
    ]
    assert_absent(lambda: networking.read_namespaced_ingress("relative", NS))

    created = networking.create_namespaced_ingress(NS, copy.deepcopy(KUBECTL_INGRESS))
    assert created.spec.rules[0].http.paths[1].path_type == "Prefix"
    bad = copy.deepcopy(KUBECTL_INGRESS)
    bad["spec"]["rules"][0]["http"]["paths"][0]["backend"] = {"service": {"name": "svc1"}}
    status = refused_as_invalid(lambda: networking.replace_namespaced_ingress("simple", NS, bad))
    assert _causes(status) == [
        (
            "spec.rules[0].http.paths[0].backend",
            "FieldValueRequired",
            "Required value: port name or number is required",
        )
    ]
    stored = networking.read_namespaced_ingress("simple", NS)
    assert stored.metadata.resource_version == created.metadata.resource_version
    assert stored.spec.rules[0].http.paths[0].backend.service.port.number == 8080


def test_ingress_classes(api: ApiClient) -> None:
    networking = client.NetworkingV1Api(api)
    status = refused_as_invalid(
        lambda: networking.create_ingress_class({"metadata": {"name": "no-controller"}, "spec": {}})
    )
    assert _causes(status) == [("spec.controller", "FieldValueRequired", "Required value")]
    assert_absent(lambda: networking.read_ingress_class("no-controller"))

    good = {
        "metadata": {"name": "nginx"},
        "spec": {"controller": "k8s.io/ingress-nginx", "parameters": {"kind": "IngressParameters", "name": "p"}},
    }
    created = networking.create_ingress_class(good)
    changed = copy.deepcopy(good)
    changed["spec"]["controller"] = "example.com/other"
    status = refused_as_invalid(lambda: networking.replace_ingress_class("nginx", changed))
    assert _causes(status) == [
        ("spec.controller", "FieldValueInvalid", 'Invalid value: "example.com/other": field is immutable')
    ]
    stored = networking.read_ingress_class("nginx")
    assert stored.spec.controller == "k8s.io/ingress-nginx"
    assert stored.metadata.resource_version == created.metadata.resource_version


def test_network_policies(api: ApiClient) -> None:
    networking = client.NetworkingV1Api(api)
    policy = {
        "metadata": {"name": "bad-cidr"},
        "spec": {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "300.0.0.0/8"}}]}]},
    }
    status = refused_as_invalid(lambda: networking.create_namespaced_network_policy(NS, policy))
    assert _causes(status) == [
        (
            "spec.ingress[0].from[0].ipBlock.cidr",
            "FieldValueInvalid",
            'Invalid value: "300.0.0.0/8": not a valid CIDR',
        )
    ]
    assert_absent(lambda: networking.read_namespaced_network_policy("bad-cidr", NS))

    good = copy.deepcopy(policy)
    good["metadata"]["name"] = "allow-web"
    good["spec"]["ingress"] = [
        {
            "from": [{"podSelector": {}}, {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
            "ports": [{"port": 80}, {"port": "metrics", "protocol": "UDP"}],
        }
    ]
    created = networking.create_namespaced_network_policy(NS, good)
    status = refused_as_invalid(
        lambda: networking.patch_namespaced_network_policy("allow-web", NS, {"spec": {"policyTypes": ["Sideways"]}})
    )
    assert _causes(status) == [
        (
            "spec.policyTypes[0]",
            "FieldValueNotSupported",
            'Unsupported value: "Sideways": supported values: "Ingress", "Egress"',
        )
    ]
    stored = networking.read_namespaced_network_policy("allow-web", NS)
    assert stored.metadata.resource_version == created.metadata.resource_version
    assert stored.spec.ingress[0].ports[1].port == "metrics"


def test_endpoints(api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    bad = {"metadata": {"name": "bad-ip"}, "subsets": [{"addresses": [{"ip": "not-an-ip"}]}]}
    status = refused_as_invalid(lambda: core.create_namespaced_endpoints(NS, bad))
    assert _causes(status) == [
        (
            "subsets[0].addresses[0].ip",
            "FieldValueInvalid",
            'Invalid value: "not-an-ip": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
        ),
        ("subsets[0].addresses[0].ip", "FieldValueInvalid", 'Invalid value: "not-an-ip": must be a valid IP address'),
    ]
    assert_absent(lambda: core.read_namespaced_endpoints("bad-ip", NS))

    loopback = {
        "metadata": {"name": "loopback"},
        "subsets": [{"addresses": [{"ip": "127.0.0.5", "nodeName": "node-1"}], "ports": [{"port": 8080}]}],
    }
    created = core.create_namespaced_endpoints(NS, loopback)
    status = refused_as_invalid(
        lambda: core.patch_namespaced_endpoints(
            "loopback", NS, {"subsets": [{"addresses": [{"ip": "169.254.169.254"}], "ports": [{"port": 8080}]}]}
        )
    )
    assert _causes(status) == [
        (
            "subsets[0].addresses[0].ip",
            "FieldValueInvalid",
            'Invalid value: "169.254.169.254": may not be in the link-local range (169.254.0.0/16, fe80::/10)',
        )
    ]
    stored = core.read_namespaced_endpoints("loopback", NS)
    assert stored.metadata.resource_version == created.metadata.resource_version
    assert stored.subsets[0].addresses[0].ip == "127.0.0.5"


def _slice(name: str, address_type: str, *addresses: str) -> Obj:
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": address_type,
        "endpoints": [{"addresses": list(addresses), "conditions": {"ready": True}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }


def test_endpoint_slices(api: ApiClient) -> None:
    discovery = client.DiscoveryV1Api(api)
    status = refused_as_invalid(
        lambda: discovery.create_namespaced_endpoint_slice(NS, _slice("bad-ip", "IPv4", "not-an-ip"))
    )
    assert _causes(status) == [
        ("endpoints[0].addresses[0]", "FieldValueInvalid", 'Invalid value: "not-an-ip": must be a valid IPv4 address'),
        ("endpoints[0].addresses[0]", "FieldValueInvalid", 'Invalid value: "not-an-ip": must be a valid IP address'),
    ]
    assert_absent(lambda: discovery.read_namespaced_endpoint_slice("bad-ip", NS))

    created = discovery.create_namespaced_endpoint_slice(NS, _slice("web-abc", "IPv4", "127.0.0.7", "10.0.0.7"))
    status = refused_as_invalid(
        lambda: discovery.replace_namespaced_endpoint_slice("web-abc", NS, _slice("web-abc", "IPv6", "2001:db8::7"))
    )
    assert _causes(status) == [("addressType", "FieldValueInvalid", 'Invalid value: "IPv6": field is immutable')]
    stored = discovery.read_namespaced_endpoint_slice("web-abc", NS)
    assert stored.metadata.resource_version == created.metadata.resource_version
    assert stored.address_type == "IPv4" and stored.endpoints[0].addresses == ["127.0.0.7", "10.0.0.7"]


def test_leases(api: ApiClient) -> None:
    coordination = client.CoordinationV1Api(api)
    bad = {"metadata": {"name": "zero"}, "spec": {"holderIdentity": "me", "leaseDurationSeconds": 0}}
    status = refused_as_invalid(lambda: coordination.create_namespaced_lease(NS, bad))
    assert _causes(status) == [
        ("spec.leaseDurationSeconds", "FieldValueInvalid", "Invalid value: 0: must be greater than 0")
    ]
    assert_absent(lambda: coordination.read_namespaced_lease("zero", NS))

    # (non-zero fractions: the official client re-writes times with isoformat, which drops a zero fraction, and a
    # MicroTime without its six digits does not parse)
    lease = {
        "metadata": {"name": "node-1"},
        "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40, "renewTime": "2025-01-01T00:00:00.500000Z"},
    }
    coordination.create_namespaced_lease(NS, lease)
    renewed = coordination.patch_namespaced_lease("node-1", NS, {"spec": {"renewTime": "2025-01-01T00:00:10.500000Z"}})
    status = refused_as_invalid(
        lambda: coordination.patch_namespaced_lease("node-1", NS, {"spec": {"leaseTransitions": -1}})
    )
    assert _causes(status) == [
        ("spec.leaseTransitions", "FieldValueInvalid", "Invalid value: -1: must be greater than or equal to 0")
    ]
    stored = coordination.read_namespaced_lease("node-1", NS)
    assert stored.metadata.resource_version == renewed.metadata.resource_version
    assert stored.spec.lease_transitions is None


def test_lease_coordinated_election_fields_dropped(api: ApiClient) -> None:
    """CoordinatedLeaderElection is off in 1.32: a Lease's ``strategy`` and ``preferredHolder`` are dropped on
    create and on an update of a Lease that does not have them, bad values included (so nothing to refuse)."""
    coordination = client.CoordinationV1Api(api)
    lease = {
        "metadata": {"name": "coordinated"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15, "strategy": "Bogus", "preferredHolder": "b"},
    }
    created = coordination.create_namespaced_lease(NS, lease)
    assert created.spec.strategy is None and created.spec.preferred_holder is None
    assert created.spec.holder_identity == "a"
    patched = coordination.patch_namespaced_lease(
        "coordinated", NS, {"spec": {"strategy": "OldestEmulationVersion", "preferredHolder": "b"}}
    )
    assert patched.spec.strategy is None and patched.spec.preferred_holder is None
    assert patched.metadata.resource_version == created.metadata.resource_version  # nothing changed: no write


def test_runtime_classes(api: ApiClient) -> None:
    node = client.NodeV1Api(api)
    status = refused_as_invalid(
        lambda: node.create_runtime_class({"metadata": {"name": "bad-handler"}, "handler": "Run C"})
    )
    assert status["message"].startswith(
        'RuntimeClass.node.k8s.io "bad-handler" is invalid: handler: Invalid value: "Run C": a lowercase RFC 1123 '
        "label must consist of lower case alphanumeric characters"
    )
    assert [c[:2] for c in _causes(status)] == [("handler", "FieldValueInvalid")]
    assert_absent(lambda: node.read_runtime_class("bad-handler"))

    good = {
        "metadata": {"name": "kata"},
        "handler": "kata",
        "overhead": {"podFixed": {"cpu": "250m", "memory": "120Mi"}},
        "scheduling": {"nodeSelector": {"runtime": "kata"}, "tolerations": [{"key": "kata", "operator": "Exists"}]},
    }
    created = node.create_runtime_class(good)
    changed = copy.deepcopy(good)
    changed["handler"] = "kata-qemu"
    status = refused_as_invalid(lambda: node.replace_runtime_class("kata", changed))
    assert _causes(status) == [("handler", "FieldValueInvalid", 'Invalid value: "kata-qemu": field is immutable')]
    stored = node.read_runtime_class("kata")
    assert stored.handler == "kata" and stored.metadata.resource_version == created.metadata.resource_version
