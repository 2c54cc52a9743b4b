"""Port-forward, the kubelet's side: SPDY stream pairs, or WebSocket channels, to a port in the pod.

Over SPDY (plain upgrade or tunnelled in a WebSocket) the client opens two
streams per connection it forwards, both carrying the headers ``port`` and
``requestid``: ``streamtype: error`` and ``streamtype: data``. Once both are
there the kubelet connects to the port inside the pod and copies bytes between
that connection and the data stream; a failure is written as text on the error
stream (``error forwarding port P to pod NAME, uid UID: …``), which kubectl
prints. Over WebSocket channels (the ports in the URL's ``ports`` parameter)
port i uses channels 2i (data) and 2i+1 (error); the first message on each is
the port number as two little-endian bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from pinnace.node.streams.channels import ChannelProtocol, decode
from pinnace.node.streams.remotecommand import send
from pinnace.node.streams.spdy import RST_PROTOCOL_ERROR, SpdyStream

__all__ = ["Dialer", "PortForwardSession", "serve_channels"]

log = logging.getLogger(__name__)

#: Opens a TCP connection to a port inside the pod.
Dialer = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]

#: How long the first stream of a pair waits for the other (upstream: the stream creation timeout).
PAIR_TIMEOUT = 30.0
_CHUNK = 32 * 1024


@dataclass(slots=True)
class _Pair:
    data: SpdyStream | None = None
    error: SpdyStream | None = None
    complete: asyncio.Event = field(default_factory=asyncio.Event)


class PortForwardSession:
    """The stream handler of one SPDY port-forward connection (one pod)."""

    def __init__(self, dial: Dialer, pod: str, uid: str) -> None:
        self.dial = dial
        self.pod = pod
        self.uid = uid
        self._pairs: dict[str, _Pair] = {}

    async def on_stream(self, stream: SpdyStream) -> None:
        """Take one new stream; the second of a pair runs the forwarding."""
        request_id = stream.headers.get("requestid")
        kind = stream.headers.get("streamtype")
        if request_id is None or kind not in ("data", "error") or not stream.headers.get("port"):
            log.warning("refusing a port-forward stream with headers %s", dict(stream.headers))
            await stream.reset(RST_PROTOCOL_ERROR)
            return
        pair = self._pairs.setdefault(request_id, _Pair())
        if getattr(pair, kind) is not None:
            await stream.reset(RST_PROTOCOL_ERROR)
            return
        setattr(pair, kind, stream)
        if pair.data is None or pair.error is None:
            try:
                await asyncio.wait_for(pair.complete.wait(), PAIR_TIMEOUT)
            except TimeoutError:
                self._pairs.pop(request_id, None)
                if kind == "error":
                    await stream.write(f"timed out waiting for the data stream of request {request_id}".encode())
                await stream.close()
            return
        pair.complete.set()
        del self._pairs[request_id]
        await self._forward(pair.data, pair.error)

    async def _forward(self, data: SpdyStream, error: SpdyStream) -> None:
        port_text = data.headers.get("port", "")
        try:
            port = int(port_text)
            if not 0 < port < 65536:
                raise ValueError(f"port {port} out of range")
            reader, writer = await self.dial(port)
        except Exception as exc:
            message = f"error forwarding port {port_text} to pod {self.pod}, uid {self.uid}: {exc}"
            with contextlib.suppress(ConnectionError):
                await error.write(message.encode())
                await error.close()
                await data.close()
            return
        await _pump(data.read, data.write, reader, writer)
        with contextlib.suppress(ConnectionError):
            await data.close()
            await error.close()


async def _pump(
    recv: Callable[[], Awaitable[bytes]],
    send_: Callable[[bytes], Awaitable[None]],
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    """Copy client→pod and pod→client until the pod's side ends (or the client's and then the pod's)."""

    async def upstream() -> None:
        while chunk := await recv():
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

    up = asyncio.create_task(upstream())
    try:
        while chunk := await reader.read(_CHUNK):
            await send_(chunk)
    except (ConnectionError, OSError):
        pass
    finally:
        up.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
            await up
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def serve_channels(
    ws: web.WebSocketResponse, protocol: ChannelProtocol, ports: Sequence[int], dial: Dialer, pod: str, uid: str
) -> None:
    """Port-forward over WebSocket channels: one connection per port in ``ports`` for this WebSocket's life."""
    inboxes: list[asyncio.Queue[bytes]] = [asyncio.Queue() for _ in ports]
    for i, port in enumerate(ports):
        prefix = struct.pack("<H", port)
        await send(ws, protocol, 2 * i, prefix)
        await send(ws, protocol, 2 * i + 1, prefix)

    async def one(i: int, port: int) -> None:
        try:
            reader, writer = await dial(port)
        except Exception as exc:
            message = f"error forwarding port {port} to pod {pod}, uid {uid}: {exc}"
            await send(ws, protocol, 2 * i + 1, message.encode())
            return

        async def to_client(data: bytes) -> None:
            await send(ws, protocol, 2 * i, data)

        await _pump(inboxes[i].get, to_client, reader, writer)

    async def read_client() -> None:
        async for message in ws:
            if message.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                continue
            try:
                channel, data = decode(protocol, message.data)
            except ValueError:
                continue
            if channel % 2 == 0 and channel // 2 < len(ports) and data:
                inboxes[channel // 2].put_nowait(data)

    tasks = [asyncio.create_task(one(i, port)) for i, port in enumerate(ports)]
    forwarding: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(*tasks, return_exceptions=True))
    reader = asyncio.create_task(read_client())
    try:
        # As upstream: the WebSocket ends when every port's connection has ended (or the client left).
        await asyncio.wait({forwarding, reader}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for inbox in inboxes:
            inbox.put_nowait(b"")
        for task in (*tasks, reader):
            task.cancel()
        for task in (*tasks, reader):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await forwarding
        await ws.close()
