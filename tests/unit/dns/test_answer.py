"""Replies as CoreDNS gives them: records, NXDOMAIN vs NODATA with the SOA, forwarding, errors and truncation."""

from __future__ import annotations

import struct

import pytest
from dnslib import EDNS0, QTYPE, RCODE, RR, TXT, A, DNSHeader, DNSQuestion, DNSRecord
from tests.unit.dns.objects import endpoint, endpoint_slice, service, world

from pinnace.dns.answer import Decision, decide, encode
from pinnace.dns.records import ClusterIndex

ZONE = "cluster.local"


@pytest.fixture(scope="module")
def index() -> ClusterIndex:
    return world(serial=1234)


def ask(index: ClusterIndex, name: str, qtype: str = "A", *, edns: int | None = None) -> Decision:
    query = DNSRecord.question(name, qtype)
    if edns is not None:
        query.add_ar(EDNS0(udp_len=edns))
    return decide(query.pack(), index, ZONE, 5)


def reply_of(index: ClusterIndex, name: str, qtype: str = "A") -> DNSRecord:
    decision = ask(index, name, qtype)
    assert decision.reply is not None and decision.query is None
    # Through the wire and back: what a client sees.
    return DNSRecord.parse(encode(decision.reply, 512))


def answers(reply: DNSRecord) -> list[str]:
    return [str(rr.rdata) for rr in reply.rr]


def assert_soa(reply: DNSRecord, serial: int = 1234) -> None:
    assert len(reply.auth) == 1
    soa = reply.auth[0]
    assert soa.rtype == QTYPE.SOA and str(soa.rname) == "cluster.local." and soa.ttl == 5
    assert str(soa.rdata.mname) == "ns.dns.cluster.local." and str(soa.rdata.rname) == "hostmaster.cluster.local."
    assert tuple(soa.rdata.times) == (serial, 7200, 1800, 86400, 5)


def test_cluster_ip_a_record_is_authoritative_with_ttl_5(index: ClusterIndex) -> None:
    reply = reply_of(index, "web.default.svc.cluster.local")
    assert reply.header.rcode == RCODE.NOERROR and reply.header.aa == 1 and reply.header.qr == 1
    assert answers(reply) == ["10.96.0.10"]
    assert reply.rr[0].ttl == 5 and str(reply.rr[0].rname) == "web.default.svc.cluster.local."
    assert reply.auth == []


def test_names_are_case_insensitive_and_the_owner_keeps_the_question_case(index: ClusterIndex) -> None:
    reply = reply_of(index, "WEB.Default.SVC.Cluster.LOCAL")
    assert answers(reply) == ["10.96.0.10"] and str(reply.rr[0].rname) == "WEB.Default.SVC.Cluster.LOCAL."


def test_aaaa_of_an_ipv4_service_is_nodata_with_soa(index: ClusterIndex) -> None:
    reply = reply_of(index, "web.default.svc.cluster.local", "AAAA")
    assert reply.header.rcode == RCODE.NOERROR and reply.header.aa == 1 and reply.rr == []
    assert_soa(reply)


def test_dual_stack_service_answers_each_family(index: ClusterIndex) -> None:
    assert answers(reply_of(index, "dual.default.svc.cluster.local", "A")) == ["10.96.0.20"]
    assert answers(reply_of(index, "dual.default.svc.cluster.local", "AAAA")) == ["fd00::20"]


def test_nxdomain_vs_nodata(index: ClusterIndex) -> None:
    for name in ("nope.default.svc.cluster.local", "web.nowhere.svc.cluster.local", "nowhere.svc.cluster.local",
                 "foo.cluster.local", "empty.apps.svc.cluster.local", "db-2.db.apps.svc.cluster.local"):  # fmt: skip
        reply = reply_of(index, name)
        assert reply.header.rcode == RCODE.NXDOMAIN and reply.header.aa == 1 and reply.rr == [], name
        assert_soa(reply)
    for name, qtype in [("default.svc.cluster.local", "A"), ("svc.cluster.local", "A"), ("cluster.local", "A"),
                        ("web.default.svc.cluster.local", "MX"), ("web.default.svc.cluster.local", "TXT"),
                        ("dns-version.cluster.local", "A"), ("web.default.svc.cluster.local", "PTR")]:  # fmt: skip
        reply = reply_of(index, name, qtype)
        assert reply.header.rcode == RCODE.NOERROR and reply.rr == [], (name, qtype)
        assert_soa(reply)


def test_srv_of_a_cluster_ip_service_with_the_address_in_additional(index: ClusterIndex) -> None:
    reply = reply_of(index, "_http._tcp.web.default.svc.cluster.local", "SRV")
    assert answers(reply) == ["0 100 80 web.default.svc.cluster.local."]
    assert [(str(rr.rname), str(rr.rdata)) for rr in reply.ar] == [("web.default.svc.cluster.local.", "10.96.0.10")]
    missing = reply_of(index, "_http._udp.web.default.svc.cluster.local", "SRV")
    assert missing.header.rcode == RCODE.NXDOMAIN


def test_srv_of_a_headless_service_names_each_endpoint(index: ClusterIndex) -> None:
    reply = reply_of(index, "_pg._tcp.db.apps.svc.cluster.local", "SRV")
    # Four entries (db-0 has an IPv4 and an IPv6 address) share the weight 100, as CoreDNS shares it.
    assert sorted(answers(reply)) == [
        "0 25 5432 10-244-1-4.db.apps.svc.cluster.local.",
        "0 25 5432 db-0.db.apps.svc.cluster.local.",
        "0 25 5432 db-1.db.apps.svc.cluster.local.",
    ]
    extra = sorted((str(rr.rname), QTYPE[rr.rtype], str(rr.rdata)) for rr in reply.ar)
    assert ("db-0.db.apps.svc.cluster.local.", "AAAA", "fd00::1:1") in extra
    assert ("db-0.db.apps.svc.cluster.local.", "A", "10.244.1.1") in extra and len(extra) == 4


def test_headless_a_records_and_endpoint_hostnames(index: ClusterIndex) -> None:
    assert answers(reply_of(index, "db.apps.svc.cluster.local")) == ["10.244.1.1", "10.244.1.2", "10.244.1.4"]
    assert answers(reply_of(index, "db.apps.svc.cluster.local", "AAAA")) == ["fd00::1:1"]
    assert answers(reply_of(index, "db-0.db.apps.svc.cluster.local")) == ["10.244.1.1"]
    assert answers(reply_of(index, "pub.apps.svc.cluster.local")) == ["10.244.2.1"]  # publishNotReadyAddresses


def test_ptr_records(index: ClusterIndex) -> None:
    reply = reply_of(index, "10.0.96.10.in-addr.arpa", "PTR")
    assert reply.header.aa == 1 and answers(reply) == ["web.default.svc.cluster.local."]
    assert answers(reply_of(index, "1.1.244.10.IN-ADDR.ARPA", "PTR")) == ["db-0.db.apps.svc.cluster.local."]
    v6 = ".".join(reversed("fd00" + "0" * 26 + "20")) + ".ip6.arpa"
    assert answers(reply_of(index, v6, "PTR")) == ["dual.default.svc.cluster.local."]
    # An address the cluster does not know: upstream's business (CoreDNS's fallthrough).
    unknown = ask(index, "8.8.8.8.in-addr.arpa", "PTR")
    assert unknown.reply is None and unknown.query is not None


def test_pod_records(index: ClusterIndex) -> None:
    assert answers(reply_of(index, "10-244-0-7.default.pod.cluster.local")) == ["10.244.0.7"]
    assert reply_of(index, "10-244-0-7.default.pod.cluster.local", "AAAA").rr == []
    assert reply_of(index, "bogus.default.pod.cluster.local").header.rcode == RCODE.NXDOMAIN


def test_dns_version_and_apex_records(index: ClusterIndex) -> None:
    txt = reply_of(index, "dns-version.cluster.local", "TXT")
    assert answers(txt) == ['"1.1.0"'] and txt.rr[0].ttl == 28800
    soa = reply_of(index, "cluster.local", "SOA")
    assert soa.rr[0].rtype == QTYPE.SOA and tuple(soa.rr[0].rdata.times) == (1234, 7200, 1800, 86400, 5)
    assert answers(reply_of(index, "cluster.local", "NS")) == ["ns.dns.cluster.local."]


def test_external_name_is_a_cname_chased_upstream_or_in_the_zone() -> None:
    index = ClusterIndex.build(
        [service("web", clusterIP="10.96.0.10"), service("ext", type="ExternalName", externalName="example.com"),
         service("alias", type="ExternalName", externalName="web.default.svc.cluster.local"),
         service("gone", type="ExternalName", externalName="nope.default.svc.cluster.local")],
        [], ["default"],
    )  # fmt: skip
    decision = ask(index, "ext.default.svc.cluster.local")
    assert decision.reply is not None and answers(decision.reply) == ["example.com."]
    assert decision.reply.rr[0].rtype == QTYPE.CNAME
    assert decision.chase == "example.com." and decision.chase_type == QTYPE.A
    cname_only = ask(index, "ext.default.svc.cluster.local", "CNAME")
    assert cname_only.reply is not None and answers(cname_only.reply) == ["example.com."]
    assert cname_only.chase is None
    inside = ask(index, "alias.default.svc.cluster.local")
    assert inside.reply is not None and inside.chase is None
    assert answers(inside.reply) == ["web.default.svc.cluster.local.", "10.96.0.10"]
    assert str(inside.reply.rr[1].rname) == "web.default.svc.cluster.local."
    dangling = ask(index, "gone.default.svc.cluster.local")
    assert dangling.reply is not None and answers(dangling.reply) == ["nope.default.svc.cluster.local."]


def test_names_outside_the_zone_are_forwarded(index: ClusterIndex) -> None:
    for name in ("example.com", "cluster.local.example.com", "local"):
        decision = ask(index, name)
        assert decision.reply is None and decision.query is not None, name
        assert str(decision.query.q.qname) == name + "."


def test_another_zone_name() -> None:
    index = ClusterIndex.build([service("web", clusterIP="10.96.0.10")], [], ["default"])
    decision = decide(DNSRecord.question("web.default.svc.k8s.example").pack(), index, "k8s.example", 30)
    assert decision.reply is not None and answers(decision.reply) == ["10.96.0.10"]
    assert decision.reply.rr[0].ttl == 30
    assert decide(DNSRecord.question("web.default.svc.cluster.local").pack(), index, "k8s.example", 30).query


def test_garbage_is_dropped_or_answered_formerr(index: ClusterIndex) -> None:
    for packet in (b"", b"\x00", b"0123456789a"):
        assert decide(packet, index, ZONE, 5) == Decision()
    garbage = struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0) + b"\x07example"  # a question cut short
    reply = DNSRecord.parse(encode(_reply(decide(garbage, index, ZONE, 5)), 512))
    assert reply.header.id == 0xBEEF and reply.header.rcode == RCODE.FORMERR and reply.header.qr == 1
    # A response is never answered (no loops between servers).
    response = DNSRecord.question("web.default.svc.cluster.local").reply().pack()
    assert decide(response, index, ZONE, 5) == Decision()
    # Two questions, or none: FORMERR.
    two = DNSRecord(DNSHeader(id=7), questions=[DNSQuestion("a.cluster.local"), DNSQuestion("b.cluster.local")])
    assert _reply(decide(two.pack(), index, ZONE, 5)).header.rcode == RCODE.FORMERR
    none = DNSRecord(DNSHeader(id=8))
    assert _reply(decide(none.pack(), index, ZONE, 5)).header.rcode == RCODE.FORMERR


def test_other_opcodes_are_not_implemented_and_zone_transfers_refused(index: ClusterIndex) -> None:
    notify = DNSRecord(DNSHeader(id=9, opcode=4), q=DNSQuestion("cluster.local", QTYPE.SOA))
    reply = _reply(decide(notify.pack(), index, ZONE, 5))
    assert reply.header.rcode == RCODE.NOTIMP and reply.header.opcode == 4
    assert _reply(ask(index, "cluster.local", "AXFR")).header.rcode == RCODE.REFUSED
    chaos = DNSRecord(q=DNSQuestion("web.default.svc.cluster.local", QTYPE.A, 3))
    assert _reply(decide(chaos.pack(), index, ZONE, 5)).header.rcode == RCODE.REFUSED


def _reply(decision: Decision) -> DNSRecord:
    assert decision.reply is not None
    return decision.reply


def big_headless(count: int) -> ClusterIndex:
    eps = [endpoint(f"10.1.{i // 250}.{i % 250 + 1}") for i in range(count)]
    return ClusterIndex.build([service("big", clusterIP="None")], [endpoint_slice("big-1", "big", eps)], ["default"])


def test_udp_answers_over_512_bytes_are_truncated() -> None:
    index = big_headless(100)  # 100 A records: ~1.6 kB
    decision = ask(index, "big.default.svc.cluster.local")
    assert decision.limit == 512
    packed = encode(_reply(decision), decision.limit)
    reply = DNSRecord.parse(packed)
    assert len(packed) <= 512 and reply.header.tc == 1 and 0 < len(reply.rr) < 100
    # Over TCP (65535), or with a large enough EDNS size, all of them.
    full = DNSRecord.parse(encode(_reply(ask(index, "big.default.svc.cluster.local")), 65535))
    assert full.header.tc == 0 and len(full.rr) == 100
    edns = ask(index, "big.default.svc.cluster.local", edns=4096)
    assert edns.limit == 4096
    reply = DNSRecord.parse(encode(_reply(edns), edns.limit))
    assert reply.header.tc == 0 and len(reply.rr) == 100
    assert [rr.rtype for rr in reply.ar] == [QTYPE.OPT]
    # An EDNS size below 512 counts as 512; one above 4096 as 4096.
    assert ask(index, "big.default.svc.cluster.local", edns=100).limit == 512
    assert ask(index, "big.default.svc.cluster.local", edns=65000).limit == 4096


def test_dropping_additional_records_alone_needs_no_tc() -> None:
    reply = DNSRecord.question("x.cluster.local").reply()
    reply.add_answer(RR("x.cluster.local", QTYPE.A, rdata=A("10.0.0.1")))
    for i in range(4):
        reply.add_ar(RR(f"extra{i}.cluster.local", QTYPE.TXT, rdata=TXT("y" * 200)))
    parsed = DNSRecord.parse(encode(reply, 512))
    assert parsed.header.tc == 0 and len(parsed.rr) == 1 and parsed.ar == []
