"""Byte transports for the streaming protocols: a hijacked HTTP connection, or a WebSocket's binary messages.

:class:`RawUpgrade` answers ``101 Switching Protocols`` to an ``Upgrade``
request aiohttp does not know (``SPDY/3.1``) and then owns the connection's
bytes; :class:`WebSocketTransport` makes a WebSocket look like the same byte
stream (each binary message is a piece of it), which is how kubectl tunnels
SPDY through WebSocket. Both satisfy :class:`.spdy.Transport`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiohttp import WSMsgType, web

__all__ = ["RawUpgrade", "WebSocketTransport"]

#: Writes wait while more than this is queued in the transport (back-pressure towards the sender).
_HIGH_WATER = 1 << 20


class _RawParser:
    """Takes the connection's bytes from aiohttp once the upgrade is accepted (its payload-parser hook)."""

    def __init__(self, queue: asyncio.Queue[bytes]) -> None:
        self._queue = queue

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self._queue.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self._queue.put_nowait(b"")


class RawUpgrade:
    """An HTTP request turned into a raw byte stream after ``101 Switching Protocols``."""

    def __init__(self, request: web.BaseRequest) -> None:
        self.request = request
        self.response = web.StreamResponse(status=101)
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._parser = _RawParser(self._queue)
        self._closed = False

    async def accept(self, headers: Mapping[str, str]) -> None:
        """Send the 101 with ``headers``; from then on :meth:`recv` and :meth:`send` are the connection."""
        protocol = self.request.protocol
        assert protocol is not None
        # Take the bytes before answering: the client speaks the new protocol as soon as it reads the 101.
        protocol.set_parser(self._parser)  # type: ignore[arg-type]
        protocol.keep_alive(False)
        for name, value in headers.items():
            self.response.headers[name] = value
        await self.response.prepare(self.request)

    async def recv(self) -> bytes:
        """The next bytes from the client; b"" when it closed."""
        if self._closed:
            return b""
        return await self._queue.get()

    async def send(self, data: bytes) -> None:
        """Write bytes to the client (waiting while its side is slow to read)."""
        transport = self.request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the upgraded connection is closed")
        transport.write(data)
        while transport.get_write_buffer_size() > _HIGH_WATER and not transport.is_closing():
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        """Close the connection."""
        self._closed = True
        transport = self.request.transport
        if transport is not None:
            transport.close()
        self._queue.put_nowait(b"")


class WebSocketTransport:
    """A WebSocket's binary messages as one byte stream."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def recv(self) -> bytes:
        """The next binary message's bytes; b"" when the WebSocket closed."""
        while True:
            message = await self.ws.receive()
            if message.type == WSMsgType.BINARY:
                if message.data:
                    return bytes(message.data)
            elif message.type == WSMsgType.TEXT:
                if message.data:
                    return str(message.data).encode()
            elif message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return b""

    async def send(self, data: bytes) -> None:
        """Send the bytes as one binary message."""
        await self.ws.send_bytes(data)

    async def close(self) -> None:
        """Close the WebSocket normally."""
        await self.ws.close()
