"""A lean keep-alive HTTP/1.1 transport: the REST client's requests and watch streams.

Why not aiohttp: an operator's every reconcile makes one or two small
requests (a create, a status patch) and reads a few watch events, and
aiohttp's general machinery (URL objects, multidicts, tracing hooks, a payload
writer, a stream reader) cost about three times the CPU of the exchange
itself. This module does only what the API server needs — ``METHOD target
HTTP/1.1`` with a few headers and a bytes body — on pooled ``asyncio``
connections (TLS through the loop, as aiohttp does it); the wire work is in
:mod:`pinnace.client.http1`.

The contract:

- :meth:`HTTPTransport.request` sends one request and returns ``(status,
  body)``; a connection is reused when the answer left it clean (complete
  body, no ``Connection: close``), and closed on any error, timeout or
  cancellation, so a pooled connection is always at a request boundary. At
  most :data:`MAX_CONNECTIONS` requests are in flight (aiohttp's default).
- A request on a reused connection that the server had already closed (no
  byte of an answer came back) is retried once on a fresh one if its method
  is idempotent, as Go's ``net/http`` does.
- :meth:`HTTPTransport.stream` opens a connection of its own for a long
  answer read line by line (a watch); it times out when nothing arrives for
  ``idle_timeout``.
- Timeouts cost one timer for the whole transport (at the earliest deadline),
  not one per request.
- Failures keep aiohttp's exception types, which callers of the REST client
  already catch: ``ClientConnectorCertificateError`` / ``ClientConnectorSSLError``
  / ``ClientConnectorError`` when connecting, ``ServerDisconnectedError`` when
  the server hangs up before the answer is complete, ``ClientPayloadError`` for
  a malformed answer, ``TimeoutError`` when the time is up. aiohttp itself is
  imported only when such an error is raised.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from pinnace.client.http1 import Connection, Disconnected, Malformed, StreamConnection

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["HTTPTransport", "LineStream", "render_headers"]

#: Methods that may be resent when a pooled connection turned out to be closed (RFC 9110 idempotent methods).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Idle pooled connections older than this are closed rather than reused (aiohttp's keepalive_timeout).
KEEPALIVE_SECONDS = 15.0
#: At most this many requests at once (aiohttp's default connector limit); streams are not counted.
MAX_CONNECTIONS = 100
#: Loops may run a timer a little before its time (asyncio allows its clock resolution): a deadline this close counts.
_TIMER_SLACK = 0.005

C = TypeVar("C", bound=Connection)


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


def render_headers(headers: Mapping[str, str]) -> str:
    """``Name: value\\r\\n`` lines; a CR or LF in a name or value is refused (it would split the request)."""
    text = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    if text.count("\n") != len(headers) or text.count("\r") != len(headers):
        raise ValueError("a header name or value holds a line break")
    return text


class HTTPTransport:
    """Pooled keep-alive HTTP/1.1 connections to one server (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        *,
        server_hostname: str | None = None,
        on_warnings: Callable[[tuple[str, ...]], None] | None = None,
    ) -> None:
        self._endpoint = _endpoint(base_url)
        self._server_hostname = server_hostname
        #: Called with an answer's ``Warning`` texts, if it has any (the server's deprecation and pod warnings).
        self._on_warnings = on_warnings
        # Idle connections by the TLS context they were made with (an exec plugin may rotate client certificates).
        self._idle: dict[ssl.SSLContext | None, list[Connection]] = {}
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self._default_tls: ssl.SSLContext | None = None
        self._inflight: set[Connection] = set()
        self._watchdog: asyncio.TimerHandle | None = None
        self._watchdog_at = math.inf

    def head(self, method: str, target: str) -> str:
        """The request line and Host header of a request for ``target`` (a path with its query)."""
        return f"{method} {self._endpoint.prefix}{target} HTTP/1.1\r\nHost: {self._endpoint.host_header}\r\n"

    def _encode(self, method: str, target: str, headers: str, body: bytes | None) -> bytes:
        data = self.head(method, target) + headers
        if body is None:
            return (data + "\r\n").encode("latin-1")
        return (data + f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body

    def _tls(self, tls: ssl.SSLContext | None) -> ssl.SSLContext | None:
        if self._endpoint.scheme == "http":
            return None
        if tls is None:
            tls = self._default_tls = self._default_tls or ssl.create_default_context()
        return tls

    # ---- requests -----------------------------------------------------------------------------------
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
        raw = self._encode(method, target, headers, body)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        if self._slots.locked():  # every connection busy: waiting for one counts against the timeout
            async with asyncio.timeout_at(deadline):
                await self._slots.acquire()
        else:
            await self._slots.acquire()
        try:
            return await self._exchange(method, raw, self._tls(tls), deadline)
        finally:
            self._slots.release()

    async def _exchange(
        self, method: str, raw: bytes, tls: ssl.SSLContext | None, deadline: float | None
    ) -> tuple[int, bytes]:
        while True:
            conn, reused = self._pooled(tls), True
            if conn is None:
                conn, reused = await self._connect(Connection, tls, deadline), False
            conn.deadline = deadline
            self._track(conn)
            try:
                answer = await conn.send(raw)
            except Disconnected as exc:
                conn.close()
                if reused and not exc.started and method in IDEMPOTENT:
                    continue  # the server had closed it while it sat idle
                raise _disconnected(exc) from exc.cause
            except Malformed as exc:
                conn.close()
                raise _malformed(exc) from None
            except BaseException:  # a timeout or a cancellation: the connection is mid-answer
                conn.close()
                raise
            finally:
                self._inflight.discard(conn)
            if conn.warnings and self._on_warnings is not None:
                self._on_warnings(conn.warnings)
            if conn.reusable:
                conn.idle_since = time.monotonic()
                self._idle.setdefault(tls, []).append(conn)
            else:
                conn.close()
            return answer

    def _pooled(self, tls: ssl.SSLContext | None) -> Connection | None:
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

    # ---- streams ------------------------------------------------------------------------------------
    @asynccontextmanager
    async def stream(
        self, method: str, target: str, headers: str, *, tls: ssl.SSLContext | None, idle_timeout: float | None
    ) -> AsyncIterator[tuple[int, LineStream]]:
        """Send a request on a connection of its own; (status, the connection to read the body from by lines).

        The connection is closed when the block ends. ``idle_timeout`` bounds connecting, the wait for the
        head and every gap between data.
        """
        raw = self._encode(method, target, headers, None)
        loop = asyncio.get_running_loop()
        deadline = None if idle_timeout is None else loop.time() + idle_timeout
        conn = await self._connect(StreamConnection, self._tls(tls), deadline)
        conn.idle_timeout, conn.last_data = idle_timeout, loop.time()
        self._track(conn)
        try:
            try:
                status, _ = await conn.send(raw)
            except Disconnected as exc:
                raise _disconnected(exc) from exc.cause
            except Malformed as exc:
                raise _malformed(exc) from None
            yield status, LineStream(conn)
        finally:
            self._inflight.discard(conn)
            conn.close()

    # ---- connections and timeouts -------------------------------------------------------------------
    async def _connect(self, factory: Callable[[], C], tls: ssl.SSLContext | None, deadline: float | None) -> C:
        ep = self._endpoint
        server_hostname = (self._server_hostname or ep.host) if tls is not None else None
        loop = asyncio.get_running_loop()
        try:
            # asyncio.timeout_at, not wait_for: Python 3.11's wait_for swallows a cancellation that comes as the
            # connection is made, and a cancelled informer would then wait on its new watch forever.
            async with asyncio.timeout_at(deadline):
                _, conn = await loop.create_connection(
                    factory, ep.host, ep.port, ssl=tls, server_hostname=server_hostname
                )
        except TimeoutError:
            raise
        except (ssl.SSLError, OSError) as exc:
            raise self._connect_error(tls, exc) from exc
        return conn

    def _connect_error(self, tls: ssl.SSLContext | None, exc: OSError) -> Exception:
        import aiohttp
        from aiohttp.client_reqrep import ConnectionKey

        ep = self._endpoint
        key = ConnectionKey(ep.host, ep.port, tls is not None, tls or True, None, None, None, self._server_hostname)
        if isinstance(exc, ssl.SSLCertVerificationError):
            return aiohttp.ClientConnectorCertificateError(key, exc)
        if isinstance(exc, ssl.SSLError):
            return aiohttp.ClientConnectorSSLError(key, exc)
        return aiohttp.ClientConnectorError(key, exc)

    def _track(self, conn: Connection) -> None:
        """Count ``conn`` in flight, and make sure the watchdog wakes by its deadline."""
        self._inflight.add(conn)
        at = conn.expires_at()
        if at is not None and at < self._watchdog_at:
            self._arm(at)

    def _arm(self, when: float) -> None:
        """(Re)schedule the watchdog at ``when`` (cheaper than a timer per request: most never time out)."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._watchdog = asyncio.get_running_loop().call_at(when, self._expire)
        self._watchdog_at = when

    def _expire(self) -> None:
        """Fail the requests and streams whose time is up; re-arm for the next deadline."""
        self._watchdog, self._watchdog_at = None, math.inf
        now = asyncio.get_running_loop().time() + _TIMER_SLACK
        earliest = math.inf
        for conn in list(self._inflight):
            at = conn.expires_at()
            if at is None:
                continue
            if at <= now:
                self._inflight.discard(conn)
                conn.expire()
            else:
                earliest = min(earliest, at)
        if earliest < math.inf:
            self._arm(earliest)

    def close(self) -> None:
        """Close every idle connection (those in use close when their request ends)."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog, self._watchdog_at = None, math.inf
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


class LineStream:
    """A streamed body, read by lines; errors surface as the transport's exception types."""

    def __init__(self, conn: StreamConnection) -> None:
        self._conn = conn

    async def lines(self) -> list[bytes] | None:
        """The next complete lines, or None at the end of the body."""
        try:
            return await self._conn.lines()
        except Disconnected as exc:
            raise _payload_cut(exc) from exc.cause
        except Malformed as exc:
            raise _malformed(exc) from None

    async def read(self) -> bytes:
        """The rest of the body, whole."""
        parts: list[bytes] = []
        while (lines := await self.lines()) is not None:
            parts.extend(lines)
        return b"\n".join(parts)


def _disconnected(exc: Disconnected) -> Exception:
    import aiohttp

    return aiohttp.ServerDisconnectedError(str(exc.cause)) if exc.cause else aiohttp.ServerDisconnectedError()


def _payload_cut(exc: Disconnected) -> Exception:
    import aiohttp

    return aiohttp.ClientPayloadError(f"the stream was cut before its end ({exc.cause or 'closed by the server'})")


def _malformed(exc: Malformed) -> Exception:
    import aiohttp

    return aiohttp.ClientPayloadError(str(exc))
