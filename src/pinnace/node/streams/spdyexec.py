"""Exec and attach over SPDY/3.1 (``X-Stream-Protocol-Version: v4.channel.k8s.io`` … ``channel.k8s.io``).

What kubectl before 1.30 (and 1.30+ when its WebSocket upgrade is refused)
and other client-go users speak: after the upgrade the client opens one SPDY
stream per standard stream, named by its ``streamType`` header — ``error``,
``stdin``, ``stdout``, ``stderr`` and, with a TTY (v3+), ``resize`` (a sequence
of ``{"Width","Height"}`` JSON objects). The end of stdin is the stdin
stream's FIN. When the command ends, the exit status goes on the error
stream — a metav1.Status in v4 (Success too), the error text before — and the
server closes the streams and the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pinnace.node.cri import StreamSession
from pinnace.node.streams.channels import error_status, exit_status
from pinnace.node.streams.remotecommand import StreamOptions
from pinnace.node.streams.spdy import RST_PROTOCOL_ERROR, SpdyConnection, SpdyStream, Transport

__all__ = ["SPDY_REMOTE_COMMAND_PROTOCOLS", "negotiate_spdy", "serve_spdy_session"]

log = logging.getLogger(__name__)

#: The remote-command protocols over SPDY, newest first.
SPDY_REMOTE_COMMAND_PROTOCOLS = ("v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io")
#: How long the server waits for the client to open all its streams (upstream: the stream creation timeout).
STREAM_TIMEOUT = 30.0
_CHUNK = 32 * 1024


def negotiate_spdy(offered: Sequence[str]) -> str | None:
    """The first of the client's protocol versions the server speaks ("" when the client named none)."""
    names = [p.strip() for value in offered for p in value.split(",") if p.strip()]
    if not names:
        return ""
    return next((p for p in names if p in SPDY_REMOTE_COMMAND_PROTOCOLS), None)


class _Streams:
    """Collects the client's streams by type until all the expected ones are open."""

    def __init__(self, expected: set[str]) -> None:
        self.expected = expected
        self.streams: dict[str, SpdyStream] = {}
        self.complete = asyncio.Event()

    async def on_stream(self, stream: SpdyStream) -> None:
        kind = stream.headers.get("streamtype", "")
        if kind not in self.expected or kind in self.streams:
            await stream.reset(RST_PROTOCOL_ERROR)
            return
        self.streams[kind] = stream
        if set(self.streams) == self.expected:
            self.complete.set()


def _expected(options: StreamOptions, protocol: str) -> set[str]:
    kinds = {"error"}
    if options.stdin:
        kinds.add("stdin")
    if options.stdout:
        kinds.add("stdout")
    if options.stderr and not options.tty:
        kinds.add("stderr")
    if options.tty and protocol in ("v4.channel.k8s.io", "v3.channel.k8s.io"):
        kinds.add("resize")
    return kinds


async def serve_spdy_session(
    transport: Transport,
    protocol: str,
    options: StreamOptions,
    start: Callable[[], Awaitable[StreamSession]],
    command: Sequence[str] = (),
) -> None:
    """Run one exec/attach over an upgraded SPDY connection: wait for the streams, ``start`` the session, pump."""
    streams = _Streams(_expected(options, protocol))
    connection = SpdyConnection(transport, streams.on_stream)
    served = asyncio.create_task(connection.serve(), name="spdy remote command")
    try:
        try:
            await asyncio.wait_for(streams.complete.wait(), STREAM_TIMEOUT)
        except TimeoutError:
            log.warning("a SPDY exec client did not open its streams within %ss", STREAM_TIMEOUT)
            return
        error = streams.streams["error"]
        try:
            session = await start()
        except Exception as exc:
            await _write_status(error, protocol, error_status(str(exc)))
            return
        try:
            code = await _pump(session, streams.streams, served)
            if code is not None:
                await _write_status(error, protocol, exit_status(code, command))
        finally:
            await session.close()
    finally:
        for stream in streams.streams.values():
            with contextlib.suppress(ConnectionError):
                await stream.close()
        await connection.close()
        served.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await served


async def _write_status(error: SpdyStream, protocol: str, status: dict[str, object]) -> None:
    with contextlib.suppress(ConnectionError):
        if protocol == "v4.channel.k8s.io":
            await error.write(json.dumps(status).encode())
        elif status.get("status") != "Success":
            await error.write(str(status.get("message", "")).encode())


async def _pump(session: StreamSession, streams: dict[str, SpdyStream], served: asyncio.Task[None]) -> int | None:
    """Copy until the process's output ends; its exit code (None if the client went away first)."""

    async def copy_out(reader: asyncio.StreamReader, stream: SpdyStream | None) -> None:
        try:
            while chunk := await reader.read(_CHUNK):
                if stream is not None:
                    await stream.write(chunk)
        except OSError:
            pass  # a terminal's end reads as EIO
        if stream is not None:
            await stream.close()

    async def copy_in(stream: SpdyStream) -> None:
        writer = session.stdin
        while data := await stream.read():
            if writer is not None and not writer.is_closing():
                with contextlib.suppress(ConnectionError, OSError):
                    writer.write(data)
                    await writer.drain()
        if writer is not None and not writer.is_closing():
            with contextlib.suppress(ConnectionError, OSError):
                writer.close()

    async def resize(stream: SpdyStream) -> None:
        buffer, decoder = "", json.JSONDecoder()
        while data := await stream.read():
            buffer += data.decode(errors="replace")
            while buffer.strip():
                try:
                    size, end = decoder.raw_decode(buffer.lstrip())
                except ValueError:
                    break
                buffer = buffer.lstrip()[end:]
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    session.resize(int(size["Width"]), int(size["Height"]))

    outputs = [asyncio.create_task(copy_out(session.stdout, streams.get("stdout")))]
    if session.stderr is not None:
        outputs.append(asyncio.create_task(copy_out(session.stderr, streams.get("stderr"))))
    helpers = []
    if "stdin" in streams:
        helpers.append(asyncio.create_task(copy_in(streams["stdin"])))
    elif session.stdin is not None:
        session.stdin.close()
    if "resize" in streams:
        helpers.append(asyncio.create_task(resize(streams["resize"])))
    output: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(*outputs))
    pending: set[asyncio.Future[Any]] = {output, served}
    try:
        await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        if not output.done():
            return None
        return await session.wait()
    finally:
        for task in (*outputs, *helpers):
            task.cancel()
        await asyncio.gather(*outputs, *helpers, output, return_exceptions=True)
