"""Which UDP conntrack entries a change leaves stale: upstream kube-proxy's rules, computed from before and after."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.proxy.stale import Entry, Flush, UdpPort, stale_flushes, udp_ports, unserved_flushes

CIP, EXT, LB = "172.30.0.10", "192.0.2.7", "198.51.100.9"
A, B = "10.1.0.5", "10.1.0.6"


def dns(proto: str = "UDP", **spec: Any) -> dict[str, Any]:
    ports = [{"name": "dns", "port": 53, "protocol": proto, **spec.pop("port_extra", {})}]
    return {"metadata": {"namespace": "kube-system", "name": "dns"}, "spec": {"clusterIP": CIP, "ports": ports, **spec}}


def slice_of(*endpoints: str | tuple[str, dict[str, bool]], proto: str = "UDP", port: int = 5353) -> dict[str, Any]:
    listed = [(e, {"ready": True}) if isinstance(e, str) else e for e in endpoints]
    return {
        "metadata": {"namespace": "kube-system", "name": "dns-x", "labels": {"kubernetes.io/service-name": "dns"}},
        "addressType": "IPv4",
        "ports": [{"name": "dns", "port": port, "protocol": proto}],
        "endpoints": [{"addresses": [ip], "conditions": cond} for ip, cond in listed],
    }


def ports(service: dict[str, Any] | None, *endpoints: str | tuple[str, dict[str, bool]]) -> dict[str, UdpPort]:
    proto = service["spec"]["ports"][0]["protocol"] if service else "UDP"
    return udp_ports([service] if service else [], [slice_of(*endpoints, proto=proto)])


def change(before: dict[str, UdpPort], after: dict[str, UdpPort]) -> set[Flush]:
    return stale_flushes(before, after)


def test_a_replaced_endpoint_has_its_flows_to_the_service_ip_and_node_port_deleted() -> None:
    svc = dns(type="NodePort", port_extra={"nodePort": 30053})
    assert change(ports(svc, A), ports(svc, B)) == {Flush(CIP, 53, A), Flush("", 30053, A)}


def test_every_frontend_of_a_removed_endpoint_is_cleaned_external_and_load_balancer_ips_too() -> None:
    svc = dns(type="LoadBalancer", externalIPs=[EXT], port_extra={"nodePort": 30053})
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": LB}]}}
    assert change(ports(svc, A, B), ports(svc, B)) == {
        Flush(CIP, 53, A), Flush(EXT, 53, A), Flush(LB, 53, A), Flush("", 30053, A),
    }  # fmt: skip


def test_nothing_changed_nothing_to_delete() -> None:
    svc = dns(type="NodePort", port_extra={"nodePort": 30053})
    assert change(ports(svc, A, B), ports(svc, A, B)) == set()
    assert change(ports(svc), ports(svc)) == set()  # no endpoints before or after


def test_the_last_endpoint_going_still_has_its_flows_deleted() -> None:
    # Upstream's v1.32 reconciler skipped Services left without endpoints (fixed later): flows kept going to it.
    assert change(ports(dns(), A), ports(dns())) == {Flush(CIP, 53, A)}


def test_a_port_going_from_no_endpoints_to_some_has_all_its_flows_deleted() -> None:
    # Traffic sent while nothing served it was never DNAT'ed; its entries would keep it that way.
    svc = dns(type="NodePort", externalIPs=[EXT], port_extra={"nodePort": 30053})
    newly_active = {Flush(CIP, 53), Flush(EXT, 53), Flush("", 30053)}
    assert change(ports(svc), ports(svc, A)) == newly_active
    # The proxy's first sync starts from nothing: every served UDP port is newly active then.
    assert change({}, ports(svc, A)) == newly_active
    assert change({}, ports(svc)) == set()


def test_a_deleted_service_has_all_flows_to_its_frontends_deleted() -> None:
    svc = dns(type="NodePort", port_extra={"nodePort": 30053})
    assert change(ports(svc, A), ports(None)) == {Flush(CIP, 53), Flush("", 30053)}


def test_a_frontend_added_or_removed_has_its_flows_deleted_the_others_keep_theirs() -> None:
    before, after = dns(externalIPs=[EXT]), dns(externalIPs=[LB])
    assert change(ports(before, A), ports(after, A)) == {Flush(EXT, 53), Flush(LB, 53)}


def test_only_serving_endpoints_count_whatever_their_readiness() -> None:
    terminating = {"ready": False, "serving": True, "terminating": True}
    gone = {"ready": False, "serving": False, "terminating": True}
    # Ready -> serving but terminating: existing flows may go on (as TCP connections do).
    assert change(ports(dns(), A, B), ports(dns(), A, (B, terminating))) == set()
    # Not serving any more: its flows are cut.
    assert change(ports(dns(), A, (B, terminating)), ports(dns(), A, (B, gone))) == {Flush(CIP, 53, B)}
    # Endpoints that never served had no flows.
    assert change(ports(dns(), A, (B, gone)), ports(dns(), A)) == set()


def test_an_endpoint_moving_to_another_port_counts_as_removed() -> None:
    svc = dns()
    before = udp_ports([svc], [slice_of(A, port=5353)])
    after = udp_ports([svc], [slice_of(A, port=5354)])
    assert change(before, after) == {Flush(CIP, 53, A)}


@pytest.mark.parametrize("proto", ["TCP", "SCTP"])
def test_only_udp_ports_are_considered(proto: str) -> None:
    assert ports(dns(proto), A) == {}
    assert change(ports(dns(proto), A), ports(dns(proto), B)) == set()


def test_a_flush_is_one_conntrack_delete_filter() -> None:
    assert Flush(CIP, 53, A).args() == ["-p", "udp", "--orig-dst", CIP, "--orig-port-dst", "53", "--reply-src", A]
    assert Flush("", 30053).args() == ["-p", "udp", "--orig-port-dst", "30053"]


def test_first_sync_deletes_the_entries_to_a_frontend_its_serving_endpoints_do_not_answer() -> None:
    svc = dns(type="NodePort", port_extra={"nodePort": 30053})
    now = ports(svc, B)
    entries = [
        Entry(CIP, 53, B),  # to a serving endpoint: kept
        Entry(CIP, 53, A),  # to an endpoint that went while no proxy ran
        Entry(CIP, 53, CIP),  # never DNAT'ed
        Entry("10.0.0.1", 30053, A),  # through the NodePort, on any address
        Entry("10.0.0.1", 30053, B),
        Entry(CIP, 54, CIP),  # some other port of that IP: not ours
        Entry("192.0.2.50", 53, "192.0.2.50"),  # not a Service
    ]
    assert unserved_flushes(now, entries) == {Flush(CIP, 53, A), Flush(CIP, 53, CIP), Flush("", 30053, A)}


def test_first_sync_deletes_every_entry_to_a_frontend_without_endpoints() -> None:
    entries = [Entry(CIP, 53, A), Entry(CIP, 53, CIP)]
    assert unserved_flushes(ports(dns()), entries) == {Flush(CIP, 53, A), Flush(CIP, 53, CIP)}
    assert unserved_flushes(ports(dns("TCP")), entries) == set()  # not a UDP port
