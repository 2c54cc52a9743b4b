"""From a DNS packet and the cluster's index to what the server does: answer, forward, or drop.

:func:`decide` reads a packet: garbage too short to hold a header, and
responses, are dropped; a packet that does not parse gets FORMERR, an opcode
other than QUERY NOTIMP, a query with other than one question FORMERR. A name
in the zone is answered from the :class:`~pinnace.dns.records.ClusterIndex`,
authoritatively, as CoreDNS answers: the records of the asked type; NODATA
(NOERROR, no answer) for an existing name without them; NXDOMAIN for a name
that does not exist — both with the zone's SOA in the authority section. A PTR
query for an address the index knows is answered too; every other name
(reverse names of other addresses included: CoreDNS's ``fallthrough
in-addr.arpa ip6.arpa``) is for the upstream resolvers.

:func:`encode` packs a reply to fit a size (512 bytes or the query's EDNS size
over UDP), dropping records and setting TC when they do not fit.

Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from dnslib import AAAA, CNAME, EDNS0, NS, PTR, QTYPE, RCODE, RR, SOA, SRV, TXT, A, DNSError, DNSHeader, DNSRecord

from pinnace.dns.records import ClusterIndex, Node, reverse_address

__all__ = ["Decision", "decide", "encode", "error_reply", "labels_of", "udp_limit"]

#: Plain UDP DNS message size (RFC 1035), and the largest EDNS size we honour.
UDP_SIZE = 512
MAX_UDP_SIZE = 4096
#: The largest DNS message over TCP (2-byte length prefix).
TCP_SIZE = 65535
#: The TTL of the ``dns-version`` TXT record (CoreDNS's).
VERSION_TTL = 28800
#: How many in-zone CNAMEs an answer follows (CoreDNS stops after 8).
MAX_CHAIN = 8
OPCODE_QUERY = 0
CLASS_IN = 1


@dataclass(slots=True)
class Decision:
    """What to do with one packet: send ``reply``, or forward ``query`` upstream, or (neither) drop it.

    With a reply, ``chase`` names a target outside the zone (an ExternalName's) whose ``chase_type`` records the
    server may ask upstream for and append to the answer, as CoreDNS completes such CNAMEs."""

    reply: DNSRecord | None = None
    query: DNSRecord | None = None
    #: The largest message the client takes over UDP.
    limit: int = UDP_SIZE
    chase: str | None = None
    chase_type: int = 0


def labels_of(name: object) -> tuple[str, ...]:
    """A dnslib name as lower-case labels (DNS names compare case-insensitively)."""
    raw: tuple[bytes, ...] = getattr(name, "label", ())
    return tuple(label.decode("latin-1").lower() for label in raw)


def udp_limit(query: DNSRecord) -> int:
    """The largest UDP reply the querier takes: its EDNS size (at most 4096), else 512."""
    for rr in query.ar:
        if rr.rtype == QTYPE.OPT:
            return max(UDP_SIZE, min(int(rr.rclass), MAX_UDP_SIZE))
    return UDP_SIZE


def error_reply(query: DNSRecord, rcode: int) -> DNSRecord:
    """A reply with ``rcode`` and nothing else but the question (and OPT if the query had one)."""
    reply = _skeleton(query, authoritative=False)
    reply.header.rcode = rcode
    return reply


def _skeleton(query: DNSRecord, *, authoritative: bool) -> DNSRecord:
    reply = DNSRecord(
        DNSHeader(
            id=query.header.id, qr=1, opcode=query.header.opcode, aa=int(authoritative), rd=query.header.rd, ra=1
        ),
        q=query.q if query.questions else None,
    )
    if any(rr.rtype == QTYPE.OPT for rr in query.ar):
        reply.add_ar(EDNS0(udp_len=udp_limit(query)))
    return reply


def decide(packet: bytes, index: ClusterIndex, zone: str, ttl: int) -> Decision:
    """What to do with ``packet`` (see the module docstring); ``zone`` is lower-case, without the trailing dot."""
    if len(packet) < 12:
        return Decision()
    header_bits = int.from_bytes(packet[2:4], "big")
    if header_bits & 0x8000:  # QR: a response, not a query
        return Decision()
    try:
        query = DNSRecord.parse(packet)
    except (DNSError, ValueError, IndexError, UnicodeError):
        reply = DNSRecord(DNSHeader(id=int.from_bytes(packet[:2], "big"), qr=1, opcode=(header_bits >> 11) & 0xF,
                                    rd=(header_bits >> 8) & 1, ra=1, rcode=RCODE.FORMERR))  # fmt: skip
        return Decision(reply=reply)
    limit = udp_limit(query)
    if query.header.opcode != OPCODE_QUERY:
        return Decision(reply=error_reply(query, RCODE.NOTIMP), limit=limit)
    if len(query.questions) != 1:
        return Decision(reply=error_reply(query, RCODE.FORMERR), limit=limit)
    labels, zone_labels = labels_of(query.q.qname), tuple(zone.split("."))
    qtype, qclass = int(query.q.qtype), int(query.q.qclass)
    if labels[len(labels) - len(zone_labels) :] == zone_labels:
        if qclass != CLASS_IN:
            return Decision(reply=error_reply(query, RCODE.REFUSED), limit=limit)
        return _in_zone(query, labels[: len(labels) - len(zone_labels)], index, zone, ttl, limit)
    if qtype == QTYPE.PTR and qclass == CLASS_IN:
        reply = _reverse(query, labels, index, zone, ttl)
        if reply is not None:
            return Decision(reply=reply, limit=limit)
    return Decision(query=query, limit=limit)


def _absolute(labels: Sequence[str], zone: str) -> str:
    return ".".join((*labels, zone)) + "."


def _reverse(query: DNSRecord, labels: tuple[str, ...], index: ClusterIndex, zone: str, ttl: int) -> DNSRecord | None:
    ip = reverse_address(labels)
    targets = index.pointers(ip) if ip is not None else []
    if not targets:
        return None
    reply = _skeleton(query, authoritative=True)
    for target in targets:
        reply.add_answer(RR(query.q.qname, QTYPE.PTR, ttl=ttl, rdata=PTR(_absolute(target, zone))))
    return reply


def _soa(index: ClusterIndex, zone: str, ttl: int) -> RR:
    soa = SOA(f"ns.dns.{zone}.", f"hostmaster.{zone}.", (index.serial, 7200, 1800, 86400, ttl))
    return RR(f"{zone}.", QTYPE.SOA, ttl=min(ttl, 300), rdata=soa)


def _address_rr(name: object, ip: str, ttl: int) -> RR:
    if ipaddress.ip_address(ip).version == 4:
        return RR(name, QTYPE.A, ttl=ttl, rdata=A(ip))
    return RR(name, QTYPE.AAAA, ttl=ttl, rdata=AAAA(ip))


def _family(qtype: int) -> int:
    return 4 if qtype == QTYPE.A else 6


def _in_zone(query: DNSRecord, rest: tuple[str, ...], index: ClusterIndex, zone: str, ttl: int, limit: int) -> Decision:
    qname, qtype = query.q.qname, int(query.q.qtype)
    reply = _skeleton(query, authoritative=True)
    decision = Decision(reply=reply, limit=limit)
    if qtype in (QTYPE.AXFR, QTYPE.IXFR):
        reply.header.aa = 0
        reply.header.rcode = RCODE.REFUSED
        return decision
    if not rest and qtype == QTYPE.SOA:
        reply.add_answer(_soa(index, zone, ttl))
        return decision
    if not rest and qtype == QTYPE.NS:
        reply.add_answer(RR(qname, QTYPE.NS, ttl=ttl, rdata=NS(f"ns.dns.{zone}.")))
        return decision
    node = index.resolve(rest)
    if node is None:
        reply.header.rcode = RCODE.NXDOMAIN
        reply.add_auth(_soa(index, zone, ttl))
        return decision
    owner: object = qname
    for _ in range(MAX_CHAIN):
        if node.cname is None or qtype == QTYPE.CNAME:
            break
        # An ExternalName: the CNAME, then the target's records — ours if it is in the zone, else upstream's.
        reply.add_answer(RR(owner, QTYPE.CNAME, ttl=ttl, rdata=CNAME(node.cname + ".")))
        target = tuple(node.cname.split("."))
        zone_labels = tuple(zone.split("."))
        if target[len(target) - len(zone_labels) :] != zone_labels:
            decision.chase, decision.chase_type = node.cname + ".", qtype
            return decision
        owner, next_node = node.cname + ".", index.resolve(target[: len(target) - len(zone_labels)])
        if next_node is None:
            return decision
        node = next_node
    _add_records(reply, owner, qtype, node, zone, ttl)
    if not reply.rr:
        reply.add_auth(_soa(index, zone, ttl))
    return decision


def _add_records(reply: DNSRecord, owner: object, qtype: int, node: Node, zone: str, ttl: int) -> None:
    if qtype in (QTYPE.A, QTYPE.AAAA):
        for ip in node.addresses:
            if ipaddress.ip_address(ip).version == _family(qtype):
                reply.add_answer(_address_rr(owner, ip, ttl))
    elif qtype == QTYPE.CNAME and node.cname is not None:
        reply.add_answer(RR(owner, QTYPE.CNAME, ttl=ttl, rdata=CNAME(node.cname + ".")))
    elif qtype == QTYPE.SRV:
        for srv in node.srv:
            rdata = SRV(priority=srv.priority, weight=srv.weight, port=srv.port, target=_absolute(srv.target, zone))
            reply.add_answer(RR(owner, QTYPE.SRV, ttl=ttl, rdata=rdata))
        for target, ip in node.srv_extra:
            reply.add_ar(_address_rr(_absolute(target, zone), ip, ttl))
    elif qtype == QTYPE.TXT:
        for text in node.txt:
            reply.add_answer(RR(owner, QTYPE.TXT, ttl=VERSION_TTL, rdata=TXT(text)))


def encode(reply: DNSRecord, limit: int) -> bytes:
    """``reply`` packed in at most ``limit`` bytes: additional records go first (keeping OPT), then authority,
    then as many answers as fit, with TC set once an answer is dropped."""
    packed = bytes(reply.pack())
    if len(packed) <= limit:
        return packed
    reply.ar = [rr for rr in reply.ar if rr.rtype == QTYPE.OPT]
    reply.auth = []
    packed = bytes(reply.pack())
    if len(packed) <= limit:
        return packed
    answers = list(reply.rr)
    reply.header.tc = 1
    low, high = 0, len(answers)  # the most answers that fit is in [low, high)
    while low < high:
        mid = (low + high + 1) // 2
        reply.rr = answers[:mid]
        if len(reply.pack()) <= limit:
            low = mid
        else:
            high = mid - 1
    reply.rr = answers[:low]
    packed = bytes(reply.pack())
    if len(packed) > limit:  # even the question does not fit (a huge name over a tiny limit): header only
        reply.questions, reply.ar = [], []
        packed = bytes(reply.pack())
    return packed
