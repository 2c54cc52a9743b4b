"""A small HTTP server for a manager's health probes and metrics: GET requests on asyncio streams, nothing more.

The kubelet's probes, Prometheus and ``kubectl get componentstatuses`` only GET
``/healthz``, ``/readyz`` and ``/metrics``. aiohttp's server side would cost a
manager ~11 MB of resident memory and ~0.2 s of start-up to import (the
controller manager serves its probes always); this answers HTTP/1.0 and 1.1
GET and HEAD, with keep-alive, and refuses other methods (405) and malformed
requests (400).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

__all__ = ["ProbeServer", "Reply", "Route"]

#: The longest request head accepted (request line and headers).
MAX_HEAD = 16 * 1024
#: How long an idle kept-alive connection stays open.
IDLE_TIMEOUT = 30.0
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error"}


@dataclass(frozen=True, slots=True)
class Reply:
    """A response: status, body and its content type."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


#: A route's handler: (the path's remainder after the route, the query) → the reply. The remainder is ""
#: for the route itself and "check" for ``<route>/check``.
Route = Callable[[str, Mapping[str, list[str]]], Awaitable[Reply]]


class ProbeServer:
    """Serves ``routes`` (path → handler) on one address until :meth:`close`."""

    def __init__(self, routes: Mapping[str, Route]) -> None:
        self.routes = dict(routes)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen; the address bound (``port`` 0: a free one)."""
        self._server = await asyncio.start_server(self._serve, host, port, reuse_address=True, limit=MAX_HEAD)
        bound = self._server.sockets[0].getsockname()
        return str(bound[0]), int(bound[1])

    async def close(self) -> None:
        """Stop listening and end the open connections."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            while await self._one(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; whether the connection stays open for another."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)
        except asyncio.LimitOverrunError:
            writer.write(_response(Reply(400, b"request head too large\n"), keep=False, head_only=False))
            return False
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            writer.write(_response(Reply(400, b"malformed request line\n"), keep=False, head_only=False))
            return False
        method, target, version = parts
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        connection = headers.get("connection", "").lower()
        keep = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        if method not in ("GET", "HEAD") or headers.get("content-length", "0") != "0":
            writer.write(_response(Reply(405, b"only GET and HEAD are served here\n"), keep=False, head_only=False))
            return False
        path, _, query = target.partition("?")
        reply = await self._route(path, parse_qs(query, keep_blank_values=True))
        writer.write(_response(reply, keep=keep, head_only=method == "HEAD"))
        await writer.drain()
        return keep

    async def _route(self, path: str, query: Mapping[str, list[str]]) -> Reply:
        handler = self.routes.get(path)
        rest = ""
        if handler is None:
            base, _, rest = path.rpartition("/")
            handler = self.routes.get(base) if rest else None
        if handler is None:
            return Reply(404, b"404 page not found\n")
        try:
            return await handler(rest, query)
        except Exception as exc:  # a failing handler answers 500; the server goes on
            return Reply(500, f"internal error: {exc!r}\n".encode())


def _response(reply: Reply, *, keep: bool, head_only: bool) -> bytes:
    head = (
        f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Unknown')}\r\n"
        f"Content-Type: {reply.content_type}\r\n"
        f"Content-Length: {len(reply.body)}\r\n"
        f"X-Content-Type-Options: nosniff\r\n"
        f"{'' if keep else 'Connection: close' + chr(13) + chr(10)}\r\n"
    )
    return head.encode() + (b"" if head_only else reply.body)
