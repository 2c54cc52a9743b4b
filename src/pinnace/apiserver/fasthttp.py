"""The API server's HTTP/1.1 front: plain requests served without aiohttp's per-request machinery.

Most API traffic is small exchanges on keep-alive connections: a GET, a create, a
status patch, each answered with one JSON body. Around the handler, aiohttp's
per-request machinery (request and payload objects, URL parsing, the response
writer) costs ~10 µs of CPU more per GET and ~20 µs more per create than this
front does (``benchmarks/http_front.py`` measures it). This protocol parses the request
head itself, hands the API's dispatcher a :class:`FastRequest` with the parts of
aiohttp's request the handlers read, and writes the ``web.Response`` it gets back
in one write.

It serves only what it fully understands, and only the requests the dispatcher
answers with a plain response (``eligible``). Anything else — a head it does not
parse exactly (other HTTP versions, chunked or oversized bodies, ``Expect``,
``Upgrade``, percent-encoded or unnormalized paths), a watch, a stream relayed
from a kubelet — hands the connection over to aiohttp's protocol, with every byte
not yet consumed, at a request boundary; aiohttp then serves that connection as
it always did. So every answer either path gives is aiohttp's, or the same
dispatcher's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from pinnace.apiserver.httputil import internal_error_response

log = logging.getLogger(__name__)

#: Methods the fast path serves (HEAD, OPTIONS, CONNECT, TRACE … go to aiohttp), besides odd ones (odd_method).
FAST_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
#: The methods aiohttp's parser (llhttp) knows: it answers any other method with a plain-text 400 of its own.
PARSER_METHODS = frozenset({
    "DELETE", "GET", "HEAD", "POST", "PUT", "CONNECT", "OPTIONS", "TRACE", "COPY", "LOCK", "MKCOL", "MOVE",
    "PROPFIND", "PROPPATCH", "SEARCH", "UNLOCK", "BIND", "REBIND", "UNBIND", "ACL", "REPORT", "MKACTIVITY",
    "CHECKOUT", "MERGE", "M-SEARCH", "NOTIFY", "SUBSCRIBE", "UNSUBSCRIBE", "PATCH", "PURGE", "MKCALENDAR", "LINK",
    "UNLINK", "SOURCE", "QUERY",
})  # fmt: skip
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: A head this long without its end is left to aiohttp (which answers 431/400 as it does).
MAX_HEAD_BYTES = 65536
#: Bodies larger than this go to aiohttp too (the handlers answer 413 there, as before).
MAX_FAST_BODY = 3 * 1024 * 1024
#: While a request is being served, at most this much of the next one is buffered before reading pauses.
MAX_PENDING_BYTES = 4 * 1024 * 1024
#: Idle keep-alive connections are closed after this long (aiohttp's default keep-alive timeout).
KEEPALIVE_TIMEOUT = 75.0
#: Parsed heads are remembered by their bytes: a client repeats its heads (the same path and headers, only
#: Content-Length varies), so most requests skip the parse. At most this many heads of at most this size.
HEAD_CACHE_ENTRIES = 512
HEAD_CACHE_MAX_BYTES = 2048
_NO_BODY_STATUS = frozenset({204, 304})
_SKIPPED_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "date"})

#: request → the dispatcher's routing of a request the fast path may serve, or None to hand it to aiohttp.
Eligible = Callable[["FastRequest"], object | None]
#: (request, routing) → the response, as the dispatcher answers it.
Dispatch = Callable[["FastRequest", Any], Awaitable[web.StreamResponse]]


class _Body:
    """The request's ``content`` stream, for a body that has arrived whole."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def readexactly(self, n: int) -> bytes:
        data, self._data = self._data[:n], self._data[n:]
        if len(data) < n:
            raise asyncio.IncompleteReadError(data, n)
        return data

    async def read(self, n: int = -1) -> bytes:
        if n < 0:
            data, self._data = self._data, b""
        else:
            data, self._data = self._data[:n], self._data[n:]
        return data

    async def iter_chunked(self, n: int) -> Any:
        while self._data:
            yield await self.read(n)


class FastRequest:
    """What the API's handlers read of aiohttp's ``BaseRequest``, for a request the fast front parsed.

    The handlers are typed for aiohttp's request; the dispatcher passes this one only for requests
    :data:`Eligible` admits, whose handlers use no more than these attributes."""

    __slots__ = ("_query", "body", "content", "headers", "method", "path", "query_string", "transport")

    protocol = None  # no aiohttp protocol: nothing on the fast path upgrades the connection

    def __init__(
        self,
        method: str,
        path: str,
        query_string: str,
        headers: CIMultiDictProxy[str],
        body: bytes,
        transport: asyncio.Transport,
    ) -> None:
        self.method = method
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.body = body
        self.content = _Body(body)
        self.transport: asyncio.Transport | None = transport
        self._query: MultiDictProxy[str] | None = None

    @property
    def query(self) -> MultiDictProxy[str]:
        """The decoded query parameters (``+`` is a space, as aiohttp's yarl reads them)."""
        if self._query is None:
            pairs = parse_qsl(self.query_string, keep_blank_values=True) if self.query_string else []
            self._query = MultiDictProxy(MultiDict(pairs))
        return self._query

    @property
    def path_qs(self) -> str:
        return f"{self.path}?{self.query_string}" if self.query_string else self.path

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        return int(value) if value is not None else None

    @property
    def can_read_body(self) -> bool:
        return bool(self.body)

    async def read(self) -> bytes:
        return self.body


class _Head:
    """A parsed request head the fast path can serve (shared by the requests that repeat it: never changed)."""

    __slots__ = ("close", "headers", "length", "method", "path", "query_string")

    def __init__(
        self, method: str, path: str, query_string: str, headers: CIMultiDictProxy[str], length: int, close: bool
    ) -> None:
        self.method = method
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.length = length
        self.close = close


def odd_method(method: str) -> bool:
    """Whether ``method`` is a method Go's server takes (any token, case kept: ``get``, ``BREW``) and aiohttp's
    parser refuses: the fast path serves those, so the API answers them as kube-apiserver does (404 or 405)."""
    return method not in PARSER_METHODS and _TOKEN.fullmatch(method) is not None


def parse_head(head: bytes) -> _Head | None:
    """The request head (without its blank line), or None if the fast path should not serve it.

    Strict on purpose: whatever is unusual (and may be wrong) is aiohttp's to parse and answer."""
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] != "HTTP/1.1":
        return None
    if parts[0] not in FAST_METHODS and not odd_method(parts[0]):
        return None
    target = parts[1]
    if not target.startswith("/") or "#" in target:
        return None
    path, _, query_string = target.partition("?")
    if "%" in path or "//" in path or "/." in path:
        return None  # aiohttp decodes and normalizes these; the fast path does not guess
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or not name.isprintable() or " " in name or "\t" in name or "\x7f" in line:
            return None  # includes obsolete line folding (a line starting with whitespace)
        headers.add(name, value.strip(" \t"))
    if "Transfer-Encoding" in headers or "Upgrade" in headers or "Expect" in headers or "Host" not in headers:
        return None
    lengths = headers.getall("Content-Length", ())
    length = 0
    if lengths:
        if len(lengths) > 1 or not lengths[0].isdigit() or len(lengths[0]) > 9:
            return None  # more than 9 digits is over the body limit anyway
        length = int(lengths[0])
        if length > MAX_FAST_BODY:
            return None
    close = False
    connection = headers.get("Connection")
    if connection is not None:
        tokens = {t.strip().lower() for t in connection.split(",")}
        if not tokens <= {"close", "keep-alive"}:
            return None
        close = "close" in tokens
    return _Head(parts[0], path, query_string, CIMultiDictProxy(headers), length, close)


_date_cache: list[Any] = [0, ""]


def http_date() -> str:
    """The Date header's value (computed once a second)."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0], _date_cache[1] = now, formatdate(now, usegmt=True)
    return str(_date_cache[1])


def serialize(response: web.StreamResponse, close: bool) -> bytes:
    """The whole HTTP/1.1 message of a plain response (raises ValueError for one it cannot write)."""
    if not isinstance(response, web.Response) or response.prepared or response.chunked:
        raise ValueError(f"the fast path cannot write a {type(response).__name__} that streams")
    if response.compression:
        raise ValueError("the fast path does not compress: the request should have gone to aiohttp")
    body = response.body
    if body is None:
        data = b""
    elif isinstance(body, (bytes, bytearray)):
        data = bytes(body)
    else:
        raise ValueError(f"the fast path cannot write a body of type {type(body).__name__}")
    status = response.status
    lines = [f"HTTP/1.1 {status} {response.reason}"]
    headers = response.headers
    for name, value in headers.items():
        if name.lower() in _SKIPPED_HEADERS:
            continue
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"newline in the response header {name!r}")
        lines.append(f"{name}: {value}")
    no_body = status in _NO_BODY_STATUS or status < 200
    if no_body:
        data = b""
    else:
        if data and "Content-Type" not in headers:
            lines.append("Content-Type: application/octet-stream")
        lines.append(f"Content-Length: {len(data)}")
    lines.append(f"Date: {http_date()}")
    if close:
        lines.append("Connection: close")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1") + data


class FastFront:
    """The listening side: makes a :class:`FastConnection` per accepted connection, and ends them at shutdown."""

    def __init__(self, aiohttp_server: web.Server, eligible: Eligible, dispatch: Dispatch) -> None:
        self.aiohttp_server = aiohttp_server
        self.eligible = eligible
        self.dispatch = dispatch
        self.connections: set[FastConnection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self._heads: dict[bytes, _Head] = {}
        self.closing = False
        self._sweeper: asyncio.TimerHandle | None = None

    def __call__(self) -> FastConnection:
        if self._sweeper is None:
            self._schedule_sweep()
        return FastConnection(self)

    def head(self, raw: bytes) -> _Head | None:
        """:func:`parse_head` of ``raw``, remembered (a :class:`_Head` is never changed once made)."""
        known = self._heads.get(raw)
        if known is not None:
            return known
        parsed = parse_head(raw)
        if parsed is not None and len(raw) <= HEAD_CACHE_MAX_BYTES:
            if len(self._heads) >= HEAD_CACHE_ENTRIES:
                self._heads.clear()
            self._heads[raw] = parsed
        return parsed

    def _schedule_sweep(self) -> None:
        self._sweeper = asyncio.get_running_loop().call_later(KEEPALIVE_TIMEOUT / 5, self._sweep)

    def _sweep(self) -> None:
        """Close connections idle past the keep-alive timeout (also heads that never finish arriving)."""
        deadline = time.monotonic() - KEEPALIVE_TIMEOUT
        for conn in list(self.connections):
            if not conn.busy and conn.last_active < deadline:
                conn.close()
        if not self.closing:
            self._schedule_sweep()

    async def shutdown(self, timeout: float) -> None:
        """Close idle connections now and the busy ones once their response is written (at most ``timeout``)."""
        self.closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        for conn in list(self.connections):
            if not conn.busy:
                conn.close()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout)
        for conn in list(self.connections):
            conn.close()


class FastConnection(asyncio.Protocol):
    """One client connection, served a request at a time (pipelined requests wait in the buffer)."""

    def __init__(self, front: FastFront) -> None:
        self.front = front
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        #: The head of a request whose body is still arriving, and where that body ends in the buffer.
        self._waiting: tuple[_Head, int, int] | None = None
        self.busy = False
        self.paused = False
        self.last_active = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.front.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.front.connections.discard(self)
        self.transport = None

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.last_active = time.monotonic()
        if not self.busy:
            waiting = self._waiting
            if waiting is None or len(self.buffer) >= waiting[2]:
                self._serve_next()
        elif len(self.buffer) > MAX_PENDING_BYTES and not self.paused and self.transport is not None:
            self.transport.pause_reading()
            self.paused = True

    def _serve_next(self) -> None:
        buffer = self.buffer
        if not buffer or self.transport is None:
            return
        if self._waiting is not None:
            head, start, stop = self._waiting
        else:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD_BYTES:
                    self._hand_over()
                return
            try:
                parsed = self.front.head(bytes(buffer[:end]))
            except Exception:  # it does not raise (a fuzz test holds it to that); if it ever did, aiohttp answers
                log.exception("fast front: unexpected error parsing a request head; handing the connection over")
                parsed = None
            if parsed is None:
                self._hand_over()
                return
            head, start = parsed, end + 4
            stop = start + head.length
        if len(buffer) < stop:
            self._waiting = (head, start, stop)  # the body is still arriving
            return
        self._waiting = None
        request = FastRequest(
            head.method, head.path, head.query_string, head.headers, bytes(buffer[start:stop]), self.transport
        )
        try:
            routing = self.front.eligible(request)
        except Exception:
            routing = None  # the dispatcher answers what it cannot route; through aiohttp, as always
        if routing is None:
            self._hand_over()
            return
        del buffer[:stop]
        self.busy = True
        task = asyncio.get_running_loop().create_task(self._respond(request, routing, head.close))
        self.front.tasks.add(task)
        task.add_done_callback(self.front.tasks.discard)

    async def _respond(self, request: FastRequest, routing: object, close: bool) -> None:
        try:
            response = await self.front.dispatch(request, routing)
            close = close or response.keep_alive is False or self.front.closing
            try:
                message = serialize(response, close)
            except ValueError:
                log.exception("internal error writing the response to %s %s", request.method, request.path_qs)
                message = serialize(internal_error_response(), close)
        except web.HTTPException as exc:  # as aiohttp answers one a handler raises
            message = serialize(exc, close)
        except ConnectionResetError:  # the client went away mid-request (a kubelet relay, say)
            self.close()
            return
        finally:
            self.busy = False
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(message)
        self.last_active = time.monotonic()
        if close:
            transport.close()
            return
        if self.paused:
            self.paused = False
            transport.resume_reading()
        if self.buffer:
            self._serve_next()

    def _hand_over(self) -> None:
        """Give the connection, and the bytes not yet served, to aiohttp's protocol for the rest of its life."""
        transport = self.transport
        self.front.connections.discard(self)
        self.transport = None
        if transport is None or transport.is_closing():
            return
        handler = self.front.aiohttp_server()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        buffer, self.buffer = bytes(self.buffer), bytearray()
        if buffer:
            handler.data_received(buffer)
        if self.paused:
            with contextlib.suppress(Exception):
                transport.resume_reading()
