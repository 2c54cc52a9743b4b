"""A lean keep-alive HTTP/1.1 transport for the REST client's request/response calls.

Why not aiohttp for these: an operator's every reconcile makes one or two
small requests (a create, a status patch), and aiohttp's general machinery
(URL objects, multidicts, tracing hooks, a payload writer, a stream reader)
costs about three times the CPU of the exchange itself. This module does only
what the API server needs — ``METHOD target HTTP/1.1`` with a few headers and
a bytes body, and a response with ``Content-Length``, chunked or read-to-close
framing — on pooled ``asyncio`` connections (TLS through the loop, as aiohttp
does it). Watches (long streams) stay on aiohttp.

The contract:

- :meth:`HTTPTransport.request` sends one request and returns ``(status,
  body)``; a connection is reused when the answer left it clean (complete
  body, no ``Connection: close``), and closed on any error, timeout or
  cancellation, so a pooled connection is always at a request boundary.
- A request on a reused connection that the server had already closed (no
  byte of an answer came back) is retried once on a fresh one if its method
  is idempotent, as Go's ``net/http`` does.
- Failures keep aiohttp's exception types, which callers of the REST client
  already catch: ``ClientConnectorCertificateError`` / ``ClientConnectorSSLError``
  / ``ClientConnectorError`` when connecting, ``ServerDisconnectedError`` when
  the server hangs up mid-answer, ``ClientPayloadError`` for a malformed
  answer, ``TimeoutError`` when ``timeout`` passes.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from aiohttp.client_reqrep import ConnectionKey

__all__ = ["HTTPTransport"]

#: Methods that may be resent when a pooled connection turned out to be closed (RFC 9110 idempotent methods).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Idle pooled connections older than this are closed rather than reused (aiohttp's keepalive_timeout).
KEEPALIVE_SECONDS = 15.0
#: At most this many connections at once (aiohttp's default connector limit).
MAX_CONNECTIONS = 100
_MAX_HEAD = 1 << 16
#: Loops may run a timer a little before its time (asyncio allows its clock resolution): a deadline this close counts.
_TIMER_SLACK = 0.005


@dataclass(frozen=True, slots=True)
class _Endpoint:
    """Where connections go: host and port to dial, the Host header, and the path prefix of the base URL."""

    scheme: str
    host: str
    port: int
    host_header: str
    prefix: str


def _endpoint(base_url: str) -> _Endpoint:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {base_url!r}")
    default = 443 if parts.scheme == "https" else 80
    port = parts.port or default
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    return _Endpoint(parts.scheme, host, port, shown if port == default else f"{shown}:{port}", parts.path.rstrip("/"))


class _Disconnected(Exception):
    """The connection closed before a complete answer; ``started``: whether any byte of it had come."""

    def __init__(self, started: bool, cause: Exception | None) -> None:
        super().__init__("the server closed the connection")
        self.started = started
        self.cause = cause


class _Connection(asyncio.Protocol):
    """One connection and the parser of the answer to its current request."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.deadline: float | None = None  # the request in flight's, on the loop's clock
        self._buf = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._keep = True
        # The parsed head of the answer in progress: status, where the body starts, its framing.
        self._status = 0
        self._body_at = -1
        self._length = -1  # Content-Length, or -1
        self._chunked = False
        self._chunks: list[bytes] = []
        self._pos = 0  # chunked: where the next chunk-size line starts

    # ---- asyncio.Protocol -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio's classes

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._body_at >= 0 and self._length < 0 and not self._chunked:  # read-to-close framing: complete now
            self._finish(bytes(self._buf[self._body_at :]), len(self._buf))
            return
        waiter.set_exception(_Disconnected(bool(self._buf), exc))

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._waiter is not None and not self._waiter.done():
            try:
                self._parse()
            except aiohttp.ClientPayloadError as exc:
                self._waiter.set_exception(exc)

    # ---- one exchange ---------------------------------------------------------------------------
    def send(self, data: bytes) -> asyncio.Future[tuple[int, bytes]]:
        """Write a request; the future is its answer (status, body)."""
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._keep = True
        self._body_at, self._length, self._chunked, self._chunks, self._pos = -1, -1, False, [], 0
        self.transport.write(data)
        return self._waiter

    @property
    def reusable(self) -> bool:
        """Whether the last answer left the connection clean for another request."""
        return self._keep and not self.closed and not self._buf

    def expire(self) -> None:
        """The request in flight ran out of time: it fails with TimeoutError and the connection closes."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(TimeoutError())
        self.close()

    def close(self) -> None:
        """Close the connection (a pending answer fails)."""
        self._keep = False
        if self.transport is not None and not self.closed:
            self.transport.close()

    def _parse(self) -> None:
        buf = self._buf
        while self._body_at < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_HEAD:
                    raise aiohttp.ClientPayloadError("the answer's head is too large")
                return
            self._head(bytes(buf[:end]), end + 4)
        if self._chunked:
            self._parse_chunks()
        elif self._length >= 0:
            end = self._body_at + self._length
            if len(buf) >= end:
                self._finish(bytes(buf[self._body_at : end]), end)

    def _head(self, head: bytes, body_at: int) -> None:
        lines = head.split(b"\r\n")
        status_line = lines[0].split(b" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/1.") or not status_line[1].isdigit():
            raise aiohttp.ClientPayloadError(f"not an HTTP/1.x answer: {lines[0][:80]!r}")
        status = int(status_line[1])
        if 100 <= status < 200:  # an interim answer (100 Continue): skip it
            del self._buf[:body_at]
            return
        length, chunked, keep = -1, False, status_line[0] != b"HTTP/1.0"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise aiohttp.ClientPayloadError(f"bad Content-Length {value.strip()!r}") from None
            elif name == b"transfer-encoding":
                chunked = value.strip().lower().endswith(b"chunked")
            elif name == b"connection":
                token = value.strip().lower()
                keep = token != b"close" and (keep or token == b"keep-alive")
        if status in (204, 304):
            length, chunked = 0, False
        self._status, self._body_at, self._chunked, self._keep = status, body_at, chunked, keep
        self._length = -1 if chunked else length
        self._pos = body_at
        if not chunked and length < 0:
            self._keep = False  # read to close

    def _parse_chunks(self) -> None:
        buf, pos = self._buf, self._pos
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                self._pos = pos
                return
            size_text = bytes(buf[pos:eol]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise aiohttp.ClientPayloadError(f"bad chunk size {size_text[:20]!r}") from None
            if size == 0:
                end = buf.find(b"\r\n\r\n", eol)  # the trailer section (usually empty) ends with an empty line
                if end < 0:
                    self._pos = pos
                    return
                self._finish(b"".join(self._chunks), end + 4)
                return
            data_end = eol + 2 + size
            if len(buf) < data_end + 2:
                self._pos = pos
                return
            self._chunks.append(bytes(buf[eol + 2 : data_end]))
            pos = data_end + 2

    def _finish(self, body: bytes, consumed: int) -> None:
        del self._buf[:consumed]
        self._body_at = -1
        self._chunks = []
        assert self._waiter is not None
        self._waiter.set_result((self._status, body))


class HTTPTransport:
    """Pooled keep-alive HTTP/1.1 connections to one server (see the module docstring)."""

    def __init__(self, base_url: str, *, server_hostname: str | None = None) -> None:
        self._endpoint = _endpoint(base_url)
        self._server_hostname = server_hostname
        # Idle connections by the TLS context they were made with (an exec plugin may rotate client certificates).
        self._idle: dict[ssl.SSLContext | None, list[_Connection]] = {}
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self._default_tls: ssl.SSLContext | None = None
        self._inflight: set[_Connection] = set()
        self._watchdog: asyncio.TimerHandle | None = None
        self._watchdog_at = math.inf

    @property
    def prefix(self) -> str:
        """The base URL's path (empty for most servers): request targets start with it."""
        return self._endpoint.prefix

    def head(self, method: str, target: str) -> str:
        """The request line and Host header of a request for ``target`` (a path with its query)."""
        return f"{method} {self._endpoint.prefix}{target} HTTP/1.1\r\nHost: {self._endpoint.host_header}\r\n"

    async def request(
        self,
        method: str,
        target: str,
        headers: str,
        body: bytes | None,
        *,
        tls: ssl.SSLContext | None,
        timeout: float | None,
    ) -> tuple[int, bytes]:
        """Send ``method target`` with ``headers`` (``Name: value\\r\\n`` lines) and ``body``; (status, body)."""
        data = self.head(method, target) + headers
        if body is not None:
            data += f"Content-Length: {len(body)}\r\n\r\n"
            raw = data.encode("latin-1") + body
        else:
            raw = (data + "\r\n").encode("latin-1")
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        if self._slots.locked():  # every connection busy: waiting for one counts against the timeout
            await asyncio.wait_for(self._slots.acquire(), None if deadline is None else deadline - loop.time())
        else:
            await self._slots.acquire()
        try:
            return await self._exchange(method, raw, tls, deadline)
        finally:
            self._slots.release()

    async def _exchange(
        self, method: str, raw: bytes, tls: ssl.SSLContext | None, deadline: float | None
    ) -> tuple[int, bytes]:
        if self._endpoint.scheme == "https" and tls is None:
            tls = self._default_tls = self._default_tls or ssl.create_default_context()
        elif self._endpoint.scheme == "http":
            tls = None
        while True:
            conn, reused = self._pooled(tls), True
            if conn is None:
                conn, reused = await self._connect(tls, deadline), False
            conn.deadline = deadline
            self._inflight.add(conn)
            if deadline is not None and deadline < self._watchdog_at:
                self._arm(deadline)
            try:
                answer = await conn.send(raw)
            except _Disconnected as exc:
                conn.close()
                if reused and not exc.started and method in IDEMPOTENT:
                    continue  # the server had closed it while it sat idle
                if exc.cause is not None:
                    raise aiohttp.ServerDisconnectedError(str(exc.cause)) from exc.cause
                raise aiohttp.ServerDisconnectedError() from None
            except BaseException:  # a malformed answer, a timeout or a cancellation: the connection is mid-answer
                conn.close()
                raise
            finally:
                self._inflight.discard(conn)
            if conn.reusable:
                conn.idle_since = time.monotonic()
                self._idle.setdefault(tls, []).append(conn)
            else:
                conn.close()
            return answer

    # ---- timeouts: one timer for all requests in flight, at the earliest deadline -------------------
    def _arm(self, when: float) -> None:
        """(Re)schedule the watchdog at ``when`` (cheaper than a timer per request: most never time out)."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._watchdog = asyncio.get_running_loop().call_at(when, self._expire)
        self._watchdog_at = when

    def _expire(self) -> None:
        """Fail the requests whose deadline passed; re-arm for the next deadline."""
        self._watchdog, self._watchdog_at = None, math.inf
        now = asyncio.get_running_loop().time() + _TIMER_SLACK
        earliest = math.inf
        for conn in list(self._inflight):
            if conn.deadline is None:
                continue
            if conn.deadline <= now:
                conn.expire()
            else:
                earliest = min(earliest, conn.deadline)
        if earliest < math.inf:
            self._arm(earliest)

    def _pooled(self, tls: ssl.SSLContext | None) -> _Connection | None:
        idle = self._idle.get(tls)
        if not idle:
            return None
        oldest_kept = time.monotonic() - KEEPALIVE_SECONDS
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.idle_since >= oldest_kept:
                return conn
            conn.close()
        return None

    async def _connect(self, tls: ssl.SSLContext | None, deadline: float | None) -> _Connection:
        ep = self._endpoint
        server_hostname = (self._server_hostname or ep.host) if tls is not None else None
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(_Connection, ep.host, ep.port, ssl=tls, server_hostname=server_hostname),
                None if deadline is None else deadline - loop.time(),
            )
        except ssl.SSLCertVerificationError as exc:
            raise aiohttp.ClientConnectorCertificateError(self._key(tls), exc) from exc
        except ssl.SSLError as exc:
            raise aiohttp.ClientConnectorSSLError(self._key(tls), exc) from exc
        except OSError as exc:
            raise aiohttp.ClientConnectorError(self._key(tls), exc) from exc
        return conn

    def _key(self, tls: ssl.SSLContext | None) -> ConnectionKey:
        ep = self._endpoint
        return ConnectionKey(ep.host, ep.port, tls is not None, tls or True, None, None, None, self._server_hostname)

    def close(self) -> None:
        """Close every idle connection (those in use close when their request ends)."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog, self._watchdog_at = None, math.inf
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


def render_headers(headers: Mapping[str, str]) -> str:
    """``Name: value\\r\\n`` lines; a CR or LF in a name or value is refused (it would split the request)."""
    text = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    if text.count("\n") != len(headers) or text.count("\r") != len(headers):
        raise ValueError("a header name or value holds a line break")
    return text
