"""The cluster DNS server: informers on Services, EndpointSlices and Namespaces, and the UDP/TCP listeners.

:class:`ClusterDNS` is what CoreDNS with the ``kubernetes`` plugin is to a
kubeadm cluster. Its informers (through the SDK, so it runs against any
conformant cluster) keep the objects; any change marks the
:class:`~pinnace.dns.records.ClusterIndex` stale, and the next query rebuilds it
(one rebuild per burst of changes, none while nothing is asked). Namespaces are
watched as CoreDNS watches them: ``<ns>.svc.<zone>`` and pod names exist only in
namespaces that do. Each message goes through :func:`~pinnace.dns.answer.decide`;
names outside the zone go to the upstream resolvers
(:class:`~pinnace.dns.forward.Forwarder`); SERVFAIL when none answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from dnslib import QTYPE, RCODE, DNSError, DNSRecord

from pinnace.client.rest import ResourceRef, RestClient
from pinnace.dns.answer import TCP_SIZE, decide, encode, error_reply
from pinnace.dns.forward import Forwarder, host_upstreams
from pinnace.dns.records import ClusterIndex
from pinnace.dns.transport import TcpTransport, UdpTransport
from pinnace.runtime.cache.informer import EventHandler, Informer
from pinnace.runtime.cache.reflector import RestListerWatcher

__all__ = ["ClusterDNS", "DNSConfig"]

log = logging.getLogger(__name__)

SERVICES = ResourceRef("", "v1", "services")
ENDPOINT_SLICES = ResourceRef("discovery.k8s.io", "v1", "endpointslices")
NAMESPACES = ResourceRef("", "v1", "namespaces", namespaced=False)
#: How long :meth:`ClusterDNS.start` waits for the informers' first lists.
SYNC_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class DNSConfig:
    """How the cluster DNS serves: its zone, where other names go, and the TTL of its records."""

    zone: str = "cluster.local"
    #: Resolvers for names outside the zone, as (ip, port);
    #: None: the host's /etc/resolv.conf nameservers (not loopback ones).
    upstreams: tuple[tuple[str, int], ...] | None = None
    ttl: int = 5


class ClusterDNS:
    """The cluster's DNS: answers from Services and EndpointSlices watched through the SDK."""

    def __init__(self, rest: RestClient, config: DNSConfig = DNSConfig()) -> None:
        self.config = config
        self.zone = config.zone.lower().strip(".")
        upstreams = config.upstreams if config.upstreams is not None else host_upstreams()
        self.forwarder = Forwarder(upstreams)
        self.services = Informer(RestListerWatcher(rest, SERVICES))
        self.slices = Informer(RestListerWatcher(rest, ENDPOINT_SLICES))
        self.namespaces = Informer(RestListerWatcher(rest, NAMESPACES))
        self._informers = (self.services, self.slices, self.namespaces)
        self._tasks: list[asyncio.Task[None]] = []
        self._index: ClusterIndex | None = None
        self._serial = int(time.time())
        self._udp: UdpTransport | None = None
        self._tcp: TcpTransport | None = None
        self._tcp_server: asyncio.Server | None = None
        changed = EventHandler(
            on_add=lambda _obj, _initial: self._changed(),
            on_update=lambda _old, _new: self._changed(),
            on_delete=lambda _obj: self._changed(),
        )
        for informer in self._informers:
            informer.add_event_handler(changed)

    @property
    def synced(self) -> bool:
        """Whether every informer has its first full list."""
        return all(informer.has_synced for informer in self._informers)

    def _changed(self) -> None:
        self._index = None
        self._serial = int(time.time())

    def index(self) -> ClusterIndex:
        """The names as the informers see them now (rebuilt after a change)."""
        if self._index is None:
            self._index = ClusterIndex.build(
                self.services.indexer.objects(),
                self.slices.indexer.objects(),
                self.namespaces.indexer.objects(),
                self._serial,
            )
        return self._index

    # ---- life cycle -------------------------------------------------------------------
    async def start(self, host: str, port: int) -> int:
        """Start the informers, wait until they have synced (raise TimeoutError after 60 s), bind UDP and TCP on
        host:port (port 0: one free port for both), return the port."""
        for informer in self._informers:
            self._tasks.append(asyncio.create_task(informer.run(), name=f"dns {informer.description}"))
        try:
            deadline = asyncio.get_running_loop().time() + SYNC_TIMEOUT
            for informer in self._informers:
                if not await informer.wait_for_sync(max(0.0, deadline - asyncio.get_running_loop().time())):
                    raise TimeoutError(f"cluster DNS: {informer.description} did not sync in {SYNC_TIMEOUT:.0f}s")
            bound = await self._bind(host, port)
        except BaseException:
            await self.stop()
            raise
        log.info("cluster DNS: serving %s on %s:%d (udp, tcp)", self.zone, host, bound)
        return bound

    async def _bind(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        for attempt in range(20):
            transport, udp = await loop.create_datagram_endpoint(
                functools.partial(UdpTransport, self.handle), local_addr=(host, port)
            )
            bound = int(transport.get_extra_info("sockname")[1])
            tcp = TcpTransport(self.handle)
            try:
                server = await asyncio.start_server(tcp.serve, host, bound, reuse_address=True)
            except OSError as exc:
                await udp.close()
                # A free UDP port whose TCP twin is taken: try another (only when we chose the port).
                if port == 0 and exc.errno == errno.EADDRINUSE and attempt < 19:
                    continue
                raise
            self._udp, self._tcp, self._tcp_server = udp, tcp, server
            return bound
        raise AssertionError("unreachable")

    async def stop(self) -> None:
        """Close the listeners and their connections, and stop the informers."""
        if self._tcp_server is not None:
            self._tcp_server.close()
        if self._tcp is not None:
            await self._tcp.close()
        if self._tcp_server is not None:
            with contextlib.suppress(Exception):
                await self._tcp_server.wait_closed()
        if self._udp is not None:
            await self._udp.close()
        self._udp = self._tcp = self._tcp_server = None
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def run(self, host: str, port: int, on_serving: Callable[[int], Awaitable[None]] | None = None) -> None:
        """start(), then await on_serving(port) if given, serve until cancelled, then stop()."""
        bound = await self.start(host, port)
        try:
            if on_serving is not None:
                await on_serving(bound)
            await asyncio.Event().wait()
        finally:
            await asyncio.shield(self.stop())

    # ---- one message --------------------------------------------------------------------
    async def handle(self, message: bytes, udp: bool) -> bytes | None:
        """The reply to one DNS message (None: none is due), ``udp`` telling how large it may be."""
        decision = decide(message, self.index(), self.zone, self.config.ttl)
        limit = decision.limit if udp else TCP_SIZE
        if decision.query is not None:
            answer = await self.forwarder.forward(message)
            if answer is None:
                return encode(error_reply(decision.query, RCODE.SERVFAIL), limit)
            if len(answer) <= limit:
                return answer
            try:  # an upstream reply over TCP, too large for this UDP client
                return encode(DNSRecord.parse(answer), limit)
            except DNSError:
                return encode(error_reply(decision.query, RCODE.SERVFAIL), limit)
        if decision.reply is None:
            return None
        if decision.chase is not None:
            await self._chase(decision.reply, decision.chase, decision.chase_type)
        return encode(decision.reply, limit)

    async def _chase(self, reply: Any, target: str, qtype: int) -> None:
        """Append the upstream's ``qtype`` records of ``target`` (an ExternalName's) to ``reply``'s answer."""
        question = DNSRecord.question(target, QTYPE.get(qtype, "A"))
        answer = await self.forwarder.forward(bytes(question.pack()))
        if answer is None:
            return
        with contextlib.suppress(DNSError):
            for rr in DNSRecord.parse(answer).rr:
                reply.add_answer(rr)
