"""Services, EndpointSlices and Namespaces as the API serves them, for the DNS tests."""

from __future__ import annotations

from typing import Any

from pinnace.dns.records import ClusterIndex

Obj = dict[str, Any]


def namespace(name: str) -> Obj:
    """A Namespace."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def service(name: str, ns: str = "default", **spec: Any) -> Obj:
    """A Service (``spec`` as given: clusterIP, clusterIPs, ports, type, externalName, …)."""
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def endpoint(ip: str, *, ready: bool | None = True, hostname: str | None = None) -> Obj:
    """One endpoint of a slice (``ready=None``: no ready condition at all)."""
    ep: Obj = {"addresses": [ip], "conditions": {} if ready is None else {"ready": ready}}
    if hostname is not None:
        ep["hostname"] = hostname
    return ep


def endpoint_slice(
    name: str, service_name: str, endpoints: list[Obj], ports: list[Obj] | None = None, *,
    ns: str = "default", address_type: str = "IPv4",
) -> Obj:  # fmt: skip
    """An EndpointSlice of ``service_name``."""
    es: Obj = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": ns, "labels": {"kubernetes.io/service-name": service_name}},
        "addressType": address_type,
        "endpoints": endpoints,
    }
    if ports is not None:
        es["ports"] = ports
    return es


TCP_HTTP = {"name": "http", "port": 80, "protocol": "TCP"}


def world(serial: int = 42) -> ClusterIndex:
    """A small cluster: ClusterIP, dual-stack, headless (StatefulSet-like), ExternalName Services."""
    services = [
        service(
            "web",
            clusterIP="10.96.0.10",
            clusterIPs=["10.96.0.10"],
            ports=[TCP_HTTP, {"name": "dns", "port": 53, "protocol": "UDP"}, {"port": 9000}],
        ),
        service("dual", clusterIP="10.96.0.20", clusterIPs=["10.96.0.20", "fd00::20"], ports=[TCP_HTTP]),
        service("db", "apps", clusterIP="None", clusterIPs=["None"], ports=[{"name": "pg", "port": 5432}]),
        service("pub", "apps", clusterIP="None", publishNotReadyAddresses=True),
        service("empty", "apps", clusterIP="None"),
        service("noports", clusterIP="10.96.0.30"),
        service("ext", type="ExternalName", externalName="Example.COM."),
        service("ipext", type="ExternalName", externalName="192.0.2.1"),
    ]
    pg = [{"name": "pg", "port": 5432, "protocol": "TCP"}]
    slices = [
        endpoint_slice("web-abc", "web", [endpoint("10.244.0.5")], [{"name": "http", "port": 8080}]),
        endpoint_slice("db-v4", "db", [
            endpoint("10.244.1.1", hostname="db-0"),
            endpoint("10.244.1.2", ready=None, hostname="db-1"),
            endpoint("10.244.1.3", ready=False, hostname="db-2"),
            endpoint("10.244.1.4"),
        ], pg, ns="apps"),
        endpoint_slice("db-v6", "db", [endpoint("fd00::1:1", hostname="db-0")], pg, ns="apps", address_type="IPv6"),
        endpoint_slice("db-fqdn", "db", [endpoint("db.example.com")], pg, ns="apps", address_type="FQDN"),
        endpoint_slice("pub-1", "pub", [endpoint("10.244.2.1", ready=False)], ns="apps"),
        endpoint_slice("orphan", "", [endpoint("10.244.9.9")]),
    ]  # fmt: skip
    return ClusterIndex.build(services, slices, [namespace("default"), namespace("apps"), "Empty-NS"], serial=serial)
