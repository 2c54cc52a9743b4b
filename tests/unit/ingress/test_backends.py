"""Ingress backends → Service ports → ready endpoints of EndpointSlices."""

from __future__ import annotations

from tests.unit.ingress.objects import backend, endpoint_slice, service

from pinnace.ingress.backends import BackendResolver, Target


def test_port_by_number_and_by_name_and_ready_endpoints_only() -> None:
    services = [
        service(
            "web",
            {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
            {"name": "admin", "port": 81, "targetPort": 9090, "protocol": "TCP"},
        )
    ]
    slices = [
        endpoint_slice(
            "web", ["10.0.0.2", "10.0.0.1", "10.0.0.3"], port=8080, port_name="http", not_ready=("10.0.0.3",)
        ),
        endpoint_slice("web", ["10.0.0.4"], port=9090, port_name="admin"),
        endpoint_slice("other", ["10.9.9.9"], port=8080, port_name="http"),
    ]
    resolver = BackendResolver(services, slices)
    by_number = resolver.resolve("default", backend("web", 80))
    assert by_number.name == "default/web:80"
    assert by_number.targets == (Target("10.0.0.1", 8080), Target("10.0.0.2", 8080))
    assert resolver.resolve("default", backend("web", "admin")).targets == (Target("10.0.0.4", 9090),)
    assert resolver.resolve("default", backend("web", 80)) is by_number  # each backend resolved once


def test_unnamed_slice_port_matched_by_target_port() -> None:
    services = [service("web", {"name": "http", "port": 80, "targetPort": 8080})]
    slices = [endpoint_slice("web", ["10.0.0.1"], port=8080)]  # a hand-made slice without port names
    assert BackendResolver(services, slices).resolve("default", backend("web", 80)).targets == (
        Target("10.0.0.1", 8080),
    )


def test_ipv6_endpoints() -> None:
    services = [service("web")]
    slices = [endpoint_slice("web", ["fd00::2"], address_type="IPv6")]
    upstream = BackendResolver(services, slices).resolve("default", backend("web"))
    assert upstream.targets == (Target("fd00::2", 8080),)
    assert upstream.targets[0].authority == "[fd00::2]:8080"


def test_problems() -> None:
    services = [service("web"), service("empty"), service("other", namespace="elsewhere")]
    slices = [endpoint_slice("empty", ["10.0.0.1"], not_ready=("10.0.0.1",))]
    resolver = BackendResolver(services, slices)
    assert resolver.resolve("default", backend("missing")).problem == 'service "default/missing" not found'
    assert resolver.resolve("default", backend("other")).problem == 'service "default/other" not found'
    assert resolver.resolve("default", backend("web", 81)).problem == 'service "default/web" has no port 81'
    assert resolver.resolve("default", backend("web", "nope")).problem == 'service "default/web" has no port nope'
    assert "no ready endpoints" in resolver.resolve("default", backend("empty")).problem
    resource = resolver.resolve("default", {"resource": {"apiGroup": "k8s.example.com", "kind": "Bucket", "name": "b"}})
    assert not resource.targets and "not supported" in resource.problem


def test_external_name_service() -> None:
    services = [service("ext", {"port": 443, "name": "https"}, type="ExternalName", externalName="example.org.")]
    resolver = BackendResolver(services, [])
    assert resolver.resolve("default", backend("ext", 8443)).targets == (Target("example.org", 8443),)
    assert resolver.resolve("default", backend("ext", "https")).targets == (Target("example.org", 443),)
