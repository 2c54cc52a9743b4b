"""DNS over UDP and TCP: receive messages, hand each to a handler, send back what it returns.

:class:`UdpTransport` answers each datagram from a task of its own (a
forwarded query may take seconds; others are not held up). :class:`TcpTransport`
reads RFC 1035/7766 framed messages (a 2-byte length, then the message), several
per connection, answering each as it completes; a connection idle for
``idle_timeout`` seconds, or that sends a frame shorter than a header, is closed.
At most ``MAX_IN_FLIGHT`` UDP queries are worked on at once; more are
dropped (the clients ask again). A handler that fails is logged and its message goes unanswered: the server
itself never stops on a bad packet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Awaitable, Callable
from typing import Any, cast

__all__ = ["Handler", "TcpTransport", "UdpTransport"]

log = logging.getLogger(__name__)

#: How many UDP queries may be in the works at once (CoreDNS forward's max_concurrent); more are dropped.
MAX_IN_FLIGHT = 1000
#: A message in, and whether it came over UDP; the reply out (None: no reply).
Handler = Callable[[bytes, bool], Awaitable[bytes | None]]


class _Tasks:
    """The handler tasks in flight, so that stopping can cancel them."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def cancel(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def _call(handler: Handler, message: bytes, udp: bool) -> bytes | None:
    try:
        return await handler(message, udp)
    except Exception:
        log.exception("cluster DNS: handling a %d-byte message failed", len(message))
        return None


class UdpTransport(asyncio.DatagramProtocol):
    """The UDP side of the server."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.transport: asyncio.DatagramTransport | None = None
        self._tasks = _Tasks()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if len(self._tasks.tasks) >= MAX_IN_FLIGHT:  # a flood (or a dead upstream under load): shed, as CoreDNS does
            return
        self._tasks.spawn(self._answer(data, addr))

    def error_received(self, exc: Exception) -> None:
        log.debug("cluster DNS: UDP error: %s", exc)

    async def _answer(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        reply = await _call(self.handler, data, True)
        if reply is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)

    async def close(self) -> None:
        """Stop receiving, and drop the answers still being worked out."""
        if self.transport is not None:
            self.transport.close()
        await self._tasks.cancel()


class TcpTransport:
    """The TCP side of the server: one :meth:`serve` per connection."""

    def __init__(self, handler: Handler, idle_timeout: float = 10.0) -> None:
        self.handler = handler
        self.idle_timeout = idle_timeout
        self._connections = _Tasks()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer the messages of one connection until it closes, idles, or breaks framing."""
        current = asyncio.current_task()
        if current is not None:
            self._connections.tasks.add(current)
            current.add_done_callback(self._connections.tasks.discard)
        lock = asyncio.Lock()
        answers = _Tasks()
        try:
            while True:
                try:
                    async with asyncio.timeout(self.idle_timeout):
                        (size,) = struct.unpack("!H", await reader.readexactly(2))
                        message = await reader.readexactly(size)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    break
                if size < 12:
                    break
                answers.spawn(self._answer(message, writer, lock))
            # The peer is done sending: let the answers in flight go out before closing.
            await asyncio.gather(*answers.tasks, return_exceptions=True)
        finally:
            await answers.cancel()
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _answer(self, message: bytes, writer: asyncio.StreamWriter, lock: asyncio.Lock) -> None:
        reply = await _call(self.handler, message, False)
        if reply is None or writer.is_closing():
            return
        async with lock:
            writer.write(struct.pack("!H", len(reply)) + reply)
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    async def close(self) -> None:
        """End the open connections."""
        await self._connections.cancel()
