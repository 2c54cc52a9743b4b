"""Forwarding names outside the cluster's zone to upstream resolvers (CoreDNS's ``forward . /etc/resolv.conf``).

:func:`host_upstreams` reads the host's resolvers from ``/etc/resolv.conf``,
leaving out loopback ones (a local stub resolver, or this very server: a
forwarding loop). :class:`Forwarder` sends a query to each upstream in turn
over UDP (with a fresh ID, checked on the reply, so stray or spoofed datagrams
are ignored) and waits ``timeout`` seconds for its reply; a truncated reply is
asked again over TCP. The caller gets the upstream's reply with its own ID back,
or None when no upstream answered (the server answers SERVFAIL then).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import struct
from collections.abc import Sequence
from pathlib import Path

from pinnace.node.agent.dnsconfig import parse_resolv_conf

__all__ = ["Forwarder", "host_upstreams"]

log = logging.getLogger(__name__)

Upstream = tuple[str, int]

RESOLV_CONF = Path("/etc/resolv.conf")
DNS_PORT = 53
#: Flag bits of a DNS header: QR (a response) and TC (truncated).
QR, TC = 0x8000, 0x0200


def host_upstreams(path: Path = RESOLV_CONF) -> tuple[Upstream, ...]:
    """The ``nameserver`` addresses of ``path`` (port 53), loopback ones left out; none if it cannot be read."""
    try:
        text = path.read_text()
    except OSError as exc:
        log.warning("cluster DNS: cannot read %s (%s); names outside the zone will fail", path, exc)
        return ()
    found: list[Upstream] = []
    for server in parse_resolv_conf(text).nameservers:  # the node agent's parser: the file read the same way
        try:
            ip = ipaddress.ip_address(server.split("%", 1)[0])
        except ValueError:
            continue
        if not ip.is_loopback and (server, DNS_PORT) not in found:
            found.append((server, DNS_PORT))
    return tuple(found)


class _Reply(asyncio.DatagramProtocol):
    """Waits on a connected UDP socket for the reply whose ID is ``ident``."""

    def __init__(self, ident: int) -> None:
        self.ident = ident
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        ours = len(data) >= 12 and int.from_bytes(data[:2], "big") == self.ident and data[2] & 0x80
        if ours and not self.answer.done():
            self.answer.set_result(data)

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable
        if not self.answer.done():
            self.answer.set_exception(exc)


class Forwarder:
    """Sends queries to upstream resolvers (see the module docstring)."""

    def __init__(self, upstreams: Sequence[Upstream], timeout: float = 2.0) -> None:
        self.upstreams = tuple(upstreams)
        self.timeout = timeout

    async def forward(self, query: bytes) -> bytes | None:
        """The first upstream reply to ``query`` (a whole DNS message), with ``query``'s ID; None if none came."""
        if len(query) < 12:
            return None
        client_id = query[:2]
        for upstream in self.upstreams:
            ident = secrets.randbelow(0x10000)
            message = struct.pack("!H", ident) + query[2:]
            try:
                reply = await self._udp(upstream, message, ident)
            except (OSError, TimeoutError) as exc:
                log.debug("cluster DNS: upstream %s:%d failed: %r", upstream[0], upstream[1], exc)
                continue
            if int.from_bytes(reply[2:4], "big") & TC:
                try:
                    reply = await self._tcp(upstream, message, ident)
                except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:  # the truncated one will do
                    log.debug("cluster DNS: upstream %s:%d over TCP failed: %r", upstream[0], upstream[1], exc)
            return client_id + reply[2:]
        return None

    async def _udp(self, upstream: Upstream, message: bytes, ident: int) -> bytes:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(lambda: _Reply(ident), remote_addr=upstream)
        try:
            transport.sendto(message)
            async with asyncio.timeout(self.timeout):
                return await protocol.answer
        finally:
            transport.close()

    async def _tcp(self, upstream: Upstream, message: bytes, ident: int) -> bytes:
        async with asyncio.timeout(self.timeout):
            reader, writer = await asyncio.open_connection(*upstream)
            try:
                writer.write(struct.pack("!H", len(message)) + message)
                await writer.drain()
                while True:
                    (size,) = struct.unpack("!H", await reader.readexactly(2))
                    reply = await reader.readexactly(size)
                    if size >= 12 and int.from_bytes(reply[:2], "big") == ident and reply[2] & 0x80:
                        return reply
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
