"""Which UDP conntrack entries a change of Services and endpoints leaves stale (pure).

NAT happens once per flow: the kernel picks an endpoint for the first packet
and its conntrack entry sends every later packet of that flow the same way,
whatever the rules say since. TCP flows end; a UDP "flow" (a DNS client's, a
statsd sender's: same addresses and ports) lasts as long as packets keep
coming, so a client can go on sending to an endpoint that is gone, or, having
sent to a service IP before it had endpoints (no DNAT then), never reach one.
Upstream's kube-proxy deletes such entries after each sync; this module says
which, from the UDP service ports before and after the sync
(:func:`udp_ports` of each, :func:`stale_flushes` of the two), as upstream's
event-based cleanup (v1.31) did:

- an endpoint that stopped serving a port (removed, or no longer ``serving``):
  the port's entries DNAT'ed to it, per service IP:port and NodePort (also when
  none is left: upstream's v1.32 reconciler misses that case, later fixed);
- a frontend (cluster, external or load-balancer IP:port, or NodePort) that
  routes to endpoints now and did not before (the port went from no serving
  endpoints to some, or the frontend is new; upstream's "newly active"
  services): all its entries, as they were never DNAT'ed;
- a frontend that went away (the Service or its port deleted, an IP dropped):
  all its entries (upstream's deleted UDP service ports).

At the first sync there is no "before": :func:`unserved_flushes` looks at the
table instead, as upstream's v1.32 reconciler does each time, and deletes the
entries to a UDP frontend whose replies do not come from one of its serving
endpoints (flows to endpoints that went while no proxy ran, flows never
DNAT'ed); flows to live endpoints keep them, so a restarted proxy does not
move them (v1.31 deleted them all then, kubernetes#122740).

Endpoints are the *serving* ones, whatever the traffic policies, as upstream:
changing a policy does not cut existing flows. Only UDP, as upstream (its SCTP
cleanup turned out never to run and was dropped, kubernetes#115299). A
:class:`Flush` is one ``conntrack -D`` filter; :mod:`.conntrack` runs them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pinnace.proxy.endpoints import service_ports, slice_endpoints, slices_by_service

__all__ = ["Entry", "Flush", "UdpPort", "stale_flushes", "udp_ports", "unserved_flushes"]

Obj = dict[str, Any]


@dataclass(frozen=True, order=True, slots=True)
class Flush:
    """Delete the UDP entries to ``ip:port`` (``ip`` empty: any address, a NodePort) — only those whose replies
    come from ``reply_src`` if it is set (an endpoint they were DNAT'ed to, or ``ip`` itself: not DNAT'ed)."""

    ip: str
    port: int
    reply_src: str = ""

    def args(self) -> list[str]:
        """The ``conntrack -D`` filter arguments."""
        out = ["-p", "udp"]
        if self.ip:
            out += ["--orig-dst", self.ip]
        out += ["--orig-port-dst", str(self.port)]
        if self.reply_src:
            out += ["--reply-src", self.reply_src]
        return out


@dataclass(frozen=True, slots=True)
class Entry:
    """A UDP conntrack entry, as far as staleness goes: where its flow was sent, where its replies come from."""

    dst: str
    port: int
    reply_src: str


@dataclass(frozen=True, slots=True)
class UdpPort:
    """One UDP service port as far as conntrack is concerned: where traffic enters, where it may go."""

    #: (IP, port) of each cluster, external and load-balancer IP; ("", nodePort) for the NodePort.
    frontends: frozenset[tuple[str, int]]
    #: (IP, port) of each serving endpoint.
    endpoints: frozenset[tuple[str, int]]


NONE = UdpPort(frozenset(), frozenset())


def udp_ports(services: Iterable[Obj], slices: Iterable[Obj]) -> dict[str, UdpPort]:
    """The UDP ports of ``services`` by port name (``ns/name:port``), with their EndpointSlices' serving endpoints."""
    by_service = slices_by_service(slices)
    out: dict[str, UdpPort] = {}
    for svc in services:
        for sp in service_ports(svc):
            if sp.proto != "udp":
                continue
            ips = (*sp.cluster_ips, *sp.external_ips, *sp.load_balancer_ips)
            frontends = {(ip, sp.port) for ip in ips}
            if sp.node_port:
                frontends.add(("", sp.node_port))
            serving = {
                (e.ip, e.port) for e in slice_endpoints(sp, by_service.get((sp.namespace, sp.name), [])) if e.serving
            }
            out[sp.key] = UdpPort(frozenset(frontends), frozenset(serving))
    return out


def stale_flushes(old: Mapping[str, UdpPort], new: Mapping[str, UdpPort]) -> set[Flush]:
    """The deletions that going from ``old`` to ``new`` (both :func:`udp_ports`) calls for (module docstring)."""
    out: set[Flush] = set()
    for key in old.keys() | new.keys():
        was, now = old.get(key, NONE), new.get(key, NONE)
        routed_before = was.frontends if was.endpoints else frozenset()
        routed_now = now.frontends if now.endpoints else frozenset()
        out.update(Flush(ip, port) for ip, port in (was.frontends - now.frontends) | (routed_now - routed_before))
        gone = {ip for ip, _ in was.endpoints - now.endpoints}
        kept = was.frontends & now.frontends
        out.update(Flush(ip, port, endpoint) for endpoint in gone for ip, port in kept)
    return out


def unserved_flushes(ports: Mapping[str, UdpPort], entries: Iterable[Entry]) -> set[Flush]:
    """The deletions of ``entries`` to a frontend of ``ports`` whose replies come from none of its serving endpoints
    (none served: all of them)."""
    served: dict[tuple[str, int], set[str]] = {}
    for port in ports.values():
        ips = {ip for ip, _ in port.endpoints}
        for frontend in port.frontends:
            served.setdefault(frontend, set()).update(ips)
    out: set[Flush] = set()
    for entry in entries:
        for frontend in ((entry.dst, entry.port), ("", entry.port)):
            if frontend in served and entry.reply_src not in served[frontend]:
                out.add(Flush(*frontend, entry.reply_src))
    return out
