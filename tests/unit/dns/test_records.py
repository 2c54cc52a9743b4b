"""The DNS index: which names exist and what they hold, built from Services, EndpointSlices and Namespaces."""

from __future__ import annotations

import pytest
from tests.unit.dns.objects import endpoint, endpoint_slice, service, world

from pinnace.dns.records import SCHEMA_VERSION, ClusterIndex, Srv, reverse_address


def labels(name: str) -> tuple[str, ...]:
    return tuple(name.split("."))


@pytest.fixture(scope="module")
def index() -> ClusterIndex:
    return world()


def test_cluster_ip_service_holds_its_ip_and_srv_per_port(index: ClusterIndex) -> None:
    node = index.resolve(labels("web.default.svc"))
    assert node is not None and node.addresses == ["10.96.0.10"] and node.cname is None
    target = ("web", "default", "svc")
    # SRV at the service name: every port (CoreDNS), the unnamed one too; weights share 100.
    assert node.srv == [Srv(0, 33, 80, target), Srv(0, 33, 53, target), Srv(0, 33, 9000, target)]
    assert node.srv_extra == [(target, "10.96.0.10")]


def test_srv_of_a_named_port_and_protocol(index: ClusterIndex) -> None:
    http = index.resolve(labels("_http._tcp.web.default.svc"))
    assert http is not None and http.srv == [Srv(0, 100, 80, ("web", "default", "svc"))]
    dns = index.resolve(labels("_dns._udp.web.default.svc"))
    assert dns is not None and [s.port for s in dns.srv] == [53]
    assert index.resolve(labels("_http._udp.web.default.svc")) is None  # wrong protocol: no such name
    assert index.resolve(labels("_nope._tcp.web.default.svc")) is None


def test_dual_stack_cluster_ips(index: ClusterIndex) -> None:
    node = index.resolve(labels("dual.default.svc"))
    assert node is not None and node.addresses == ["10.96.0.20", "fd00::20"]
    # One SRV record per port; the additional section has both addresses (CoreDNS's weight: 100 over 2 entries).
    assert node.srv == [Srv(0, 50, 80, ("dual", "default", "svc"))]
    assert [ip for _, ip in node.srv_extra] == ["10.96.0.20", "fd00::20"]


def test_service_without_ports_still_resolves_but_has_no_srv(index: ClusterIndex) -> None:
    node = index.resolve(labels("noports.default.svc"))
    assert node is not None and node.addresses == ["10.96.0.30"] and node.srv == []


def test_headless_service_holds_its_ready_endpoints_of_both_families(index: ClusterIndex) -> None:
    node = index.resolve(labels("db.apps.svc"))
    assert node is not None
    # Ready = the condition true or absent; the not-ready one and the FQDN slice are left out.
    assert node.addresses == ["10.244.1.1", "10.244.1.2", "10.244.1.4", "fd00::1:1"]
    # db-0 twice (v4, v6) makes one SRV record; the weights share 100 over the four entries.
    assert [s.target[0] for s in node.srv] == ["db-0", "db-1", "10-244-1-4"]
    assert all(s.port == 5432 and s.weight == 25 for s in node.srv)
    assert (("db-0", "db", "apps", "svc"), "fd00::1:1") in node.srv_extra
    assert len(node.srv_extra) == 4


def test_headless_endpoint_names_hostname_and_dashed_ip(index: ClusterIndex) -> None:
    pet = index.resolve(labels("db-0.db.apps.svc"))
    assert pet is not None and pet.addresses == ["10.244.1.1", "fd00::1:1"]
    dashed = index.resolve(labels("10-244-1-4.db.apps.svc"))
    assert dashed is not None and dashed.addresses == ["10.244.1.4"]
    assert index.resolve(labels("db-2.db.apps.svc")) is None  # not ready
    assert index.resolve(labels("db-9.db.apps.svc")) is None
    # An endpoint name under a ClusterIP Service resolves too (CoreDNS).
    ep = index.resolve(labels("10-244-0-5.web.default.svc"))
    assert ep is not None and ep.addresses == ["10.244.0.5"]
    assert ep.srv == [Srv(0, 100, 8080, ("10-244-0-5", "web", "default", "svc"))]


def test_headless_srv_of_a_named_port(index: ClusterIndex) -> None:
    node = index.resolve(labels("_pg._tcp.db.apps.svc"))
    assert node is not None and {s.target[0] for s in node.srv} == {"db-0", "db-1", "10-244-1-4"}
    assert index.resolve(labels("_pg._udp.db.apps.svc")) is None


def test_publish_not_ready_addresses_and_empty_headless(index: ClusterIndex) -> None:
    pub = index.resolve(labels("pub.apps.svc"))
    assert pub is not None and pub.addresses == ["10.244.2.1"] and pub.srv == []
    assert index.resolve(labels("empty.apps.svc")) is None  # no ready endpoints: NXDOMAIN (the spec)


def test_external_name(index: ClusterIndex) -> None:
    node = index.resolve(labels("ext.default.svc"))
    assert node is not None and node.cname == "example.com" and node.addresses == []
    assert index.resolve(labels("x.ext.default.svc")) is None
    assert index.resolve(labels("ipext.default.svc")) is None  # an IP is no CNAME target (CoreDNS)


def test_pod_names(index: ClusterIndex) -> None:
    node = index.resolve(labels("10-244-0-7.default.pod"))
    assert node is not None and node.addresses == ["10.244.0.7"]
    v6 = index.resolve(labels("fd00--7.default.pod"))
    assert v6 is not None and v6.addresses == ["fd00::7"]
    assert index.resolve(labels("not-an-ip.default.pod")) is None
    assert index.resolve(labels("10-244-0-7.nowhere.pod")) is None  # no such namespace
    assert index.resolve(labels("a.10-244-0-7.default.pod")) is None


def test_intermediate_names_exist_only_for_existing_namespaces(index: ClusterIndex) -> None:
    for name in ("", "svc", "pod", "default.svc", "apps.svc", "empty-ns.svc", "apps.pod"):
        node = index.resolve(labels(name) if name else ())
        assert node is not None and node.addresses == [] and node.srv == [], name
    missing = ("nowhere.svc", "web.nowhere.svc", "nope.default.svc", "web", "foo.bar", "a.b._http._tcp.web.default.svc")
    for name in missing:
        assert index.resolve(labels(name)) is None, name


def test_dns_version(index: ClusterIndex) -> None:
    node = index.resolve(("dns-version",))
    assert node is not None and node.txt == [SCHEMA_VERSION] == ["1.1.0"]


def test_pointers_for_cluster_ips_and_endpoints(index: ClusterIndex) -> None:
    assert index.pointers("10.96.0.10") == [("web", "default", "svc")]
    assert index.pointers("fd00::20") == [("dual", "default", "svc")]
    assert index.pointers("10.244.1.1") == [("db-0", "db", "apps", "svc")]
    assert index.pointers("10.244.1.4") == [("10-244-1-4", "db", "apps", "svc")]
    assert index.pointers("10.244.1.3") == []  # not ready
    assert index.pointers("10.9.9.9") == []


def test_reverse_address() -> None:
    assert reverse_address(labels("10.0.96.10.in-addr.arpa")) == "10.96.0.10"
    nibbles = ".".join(reversed("fd00" + "0" * 26 + "20")) + ".ip6.arpa"
    assert reverse_address(labels(nibbles)) == "fd00::20"
    assert reverse_address(labels("0.96.10.in-addr.arpa")) is None
    assert reverse_address(labels("x.0.96.10.in-addr.arpa")) is None


def test_index_is_rebuilt_from_changed_objects() -> None:
    before = ClusterIndex.build([service("a", clusterIP="10.96.0.5")], [], ["default"])
    assert before.resolve(labels("a.default.svc")) is not None
    after = ClusterIndex.build([], [], ["default"])
    assert after.resolve(labels("a.default.svc")) is None
    # An endpoint turning ready appears.
    hl = service("h", clusterIP="None")
    not_ready = ClusterIndex.build([hl], [endpoint_slice("h1", "h", [endpoint("10.0.0.1", ready=False)])], ["default"])
    ready = ClusterIndex.build([hl], [endpoint_slice("h1", "h", [endpoint("10.0.0.1")])], ["default"])
    assert not_ready.resolve(labels("h.default.svc")) is None
    node = ready.resolve(labels("h.default.svc"))
    assert node is not None and node.addresses == ["10.0.0.1"]
