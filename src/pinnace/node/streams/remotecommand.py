"""Serving one exec or attach session over a WebSocket channel protocol (the kubelet's side).

The session's stdout and stderr are copied to their channels as they come; the
client's stdin channel is written to the process and its resize channel sets
the terminal size. When the process's output ends, the exit status goes on the
error channel (see :func:`.channels.exit_status`) and the WebSocket closes
normally — which is what ends ``kubectl exec`` with the command's exit code. A
client that goes away ends the session (an exec'd process is stopped; an
attached container runs on).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from pinnace.node.cri import StreamSession
from pinnace.node.streams.channels import (
    CLOSE_CHANNEL,
    Channel,
    ChannelProtocol,
    decode,
    encode,
    error_message,
    error_status,
    exit_status,
    parse_resize,
)

__all__ = ["StreamOptions", "send", "serve_session"]

log = logging.getLogger(__name__)

_CHUNK = 32 * 1024


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """Which streams the client asked for (the ``stdin``, ``stdout``, ``stderr`` and ``tty`` parameters)."""

    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    tty: bool = False


async def send(ws: web.WebSocketResponse, protocol: ChannelProtocol, channel: int, data: bytes) -> None:
    """Send ``data`` on ``channel`` in the protocol's framing."""
    message = encode(protocol, channel, data)
    if isinstance(message, str):
        await ws.send_str(message)
    else:
        await ws.send_bytes(message)


async def _copy_out(
    ws: web.WebSocketResponse, protocol: ChannelProtocol, reader: asyncio.StreamReader, channel: int | None
) -> None:
    """Copy a process's output to a channel (``channel`` None: the client did not ask; drain it)."""
    try:
        while chunk := await reader.read(_CHUNK):
            if channel is not None and not ws.closed:
                await send(ws, protocol, channel, chunk)
    except OSError:
        pass  # the end of a terminal reads as EIO


async def _close_stdin(session: StreamSession) -> None:
    # Closing the pipe is enough for the process to read EOF (a pipe writer has no close waiter to await).
    if session.stdin is not None and not session.stdin.is_closing():
        with contextlib.suppress(ConnectionError, OSError):
            session.stdin.close()


async def _copy_in(ws: web.WebSocketResponse, protocol: ChannelProtocol, session: StreamSession) -> None:
    """Apply the client's messages (stdin, resize, v5's close) until it closes the WebSocket."""
    async for message in ws:
        if message.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
            continue
        try:
            channel, data = decode(protocol, message.data)
        except ValueError as exc:
            log.warning("ignoring a malformed stream message: %s", exc)
            continue
        if channel == Channel.STDIN and session.stdin is not None and not session.stdin.is_closing():
            try:
                session.stdin.write(data)
                await session.stdin.drain()
            except (ConnectionError, OSError):
                pass  # the process is gone; its exit ends the session
        elif channel == Channel.RESIZE:
            try:
                session.resize(*parse_resize(data))
            except ValueError as exc:
                log.warning("ignoring a resize: %s", exc)
        elif channel == CLOSE_CHANNEL and protocol.close_signal and data[:1] == bytes((Channel.STDIN,)):
            await _close_stdin(session)


async def serve_session(
    ws: web.WebSocketResponse,
    protocol: ChannelProtocol,
    session: StreamSession,
    options: StreamOptions,
    command: Sequence[str] = (),
) -> int | None:
    """Pump ``session`` over ``ws`` (prepared with ``protocol``) until it ends; the exit code, or None.

    None means the client went away first: the session is closed and nothing more is sent.
    """
    # Upstream's first message: an empty one on the lowest writable channel, to say the streams are up.
    if options.stdout:
        first = Channel.STDOUT
    elif options.stderr and not options.tty:
        first = Channel.STDERR
    else:
        first = Channel.ERROR
    await send(ws, protocol, first, b"")
    outputs = [asyncio.create_task(_copy_out(ws, protocol, session.stdout, Channel.STDOUT if options.stdout else None))]
    if session.stderr is not None:
        channel = Channel.STDERR if options.stderr and not options.tty else None
        outputs.append(asyncio.create_task(_copy_out(ws, protocol, session.stderr, channel)))
    output: asyncio.Future[Any] = asyncio.ensure_future(asyncio.gather(*outputs))
    client: asyncio.Future[Any] = asyncio.create_task(_copy_in(ws, protocol, session))
    if not options.stdin:
        await _close_stdin(session)
    try:
        await asyncio.wait({output, client}, return_when=asyncio.FIRST_COMPLETED)
        if not output.done():
            # The client went away before the process's output ended.
            await session.close()
            return None
        try:
            output.result()
            code = await session.wait()
            status = exit_status(code, command)
        except Exception as exc:
            log.exception("a stream session failed")
            code, status = -1, error_status(f"error streaming: {exc}")
        if not ws.closed:
            if code != 0 or protocol.status_errors:  # before v4, success is silence
                await send(ws, protocol, Channel.ERROR, error_message(protocol, status))
            await ws.close()
        return code
    finally:
        for task in (*outputs, output, client):
            task.cancel()
        for task in (*outputs, client):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await output
        await session.close()
