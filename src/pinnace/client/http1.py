"""One HTTP/1.1 client connection: an ``asyncio.Protocol`` that sends a request and parses the answer.

:class:`Connection` collects a whole answer (``send`` → future of ``(status,
body)``); :class:`StreamConnection` hands the head over as soon as it is in and
then the body line by line as it arrives (a watch: one JSON event per line).
Both understand the three framings a server may use — ``Content-Length``,
``Transfer-Encoding: chunked`` (extensions and trailers ignored) and
read-until-close — skip interim ``1xx`` answers, and say whether the
connection can carry another request (:attr:`Connection.reusable`).

Errors are this module's own (:class:`Malformed`, :class:`Disconnected`,
``TimeoutError``); :mod:`pinnace.client.transport` turns them into the
exception types callers catch. Pooling and deadlines live there too: here a
connection only records its ``deadline`` and, for a stream, when data last
came, so one timer can serve them all.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque

__all__ = ["Connection", "Disconnected", "Malformed", "StreamConnection"]

_MAX_HEAD = 1 << 16
#: A stream stops reading from the socket while this many lines wait for the consumer.
_MAX_BACKLOG = 4096


def _header(lower_head: bytes, prefix: bytes) -> bytes | None:
    """The stripped value of the header line starting with ``prefix`` (``\\r\\nname:``), or None."""
    at = lower_head.find(prefix)
    if at < 0:
        return None
    end = lower_head.find(b"\r\n", at + 2)
    return lower_head[at + len(prefix) : end if end >= 0 else len(lower_head)].strip()


def server_warnings(head: bytes, lower_head: bytes) -> tuple[str, ...]:
    """The texts of the head's RFC 7234 ``Warning: 299 - "text"`` headers, as kube-apiserver sends them (client-go
    heeds only code 299); unescaped."""
    out: list[str] = []
    at = lower_head.find(b"\r\nwarning:")
    while at >= 0:
        end = lower_head.find(b"\r\n", at + 2)
        value = head[at + 10 : end if end >= 0 else len(head)].strip().decode("utf-8", "replace")
        if (match := _WARNING.match(value)) is not None:
            out.append(_UNESCAPE.sub(r"\1", match.group(1)))
        at = lower_head.find(b"\r\nwarning:", at + 2)
    return tuple(out)


_WARNING = re.compile(r'299 \S+ "((?:[^"\\]|\\.)*)"')
_UNESCAPE = re.compile(r"\\(.)")


class Malformed(Exception):
    """The answer is not valid HTTP/1.x (or its framing is broken)."""


class Disconnected(Exception):
    """The connection closed before a complete answer; ``started``: whether any byte of one had come."""

    def __init__(self, started: bool, cause: Exception | None) -> None:
        super().__init__("the server closed the connection")
        self.started = started
        self.cause = cause


class Connection(asyncio.Protocol):
    """One connection, and the parser of the whole answer to its current request."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        #: When the request in flight times out, on the loop's clock (None: never).
        self.deadline: float | None = None
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
        #: The last answer's ``Warning`` texts (see :func:`server_warnings`).
        self.warnings: tuple[str, ...] = ()

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
        waiter.set_exception(Disconnected(bool(self._buf), exc))

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._waiter is not None and not self._waiter.done():
            try:
                self._parse()
            except Malformed as exc:
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

    def expires_at(self) -> float | None:
        """When the request in flight times out (None: never)."""
        return self.deadline

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

    # ---- parsing ----------------------------------------------------------------------------------
    def _parse(self) -> None:
        if not self._parse_head():
            return
        if self._chunked:
            self._parse_chunks()
        elif self._length >= 0:
            end = self._body_at + self._length
            if len(self._buf) >= end:
                self._finish(bytes(self._buf[self._body_at : end]), end)

    def _parse_head(self) -> bool:
        """Parse the head if it is complete (interim answers skipped); whether the body's framing is known."""
        buf = self._buf
        while self._body_at < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_HEAD:
                    raise Malformed("the answer's head is too large")
                return False
            self._head(bytes(buf[:end]), end + 4)
        return True

    def _head(self, head: bytes, body_at: int) -> None:
        eol = head.find(b"\r\n")
        status_line = (head if eol < 0 else head[:eol]).split(b" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/1.") or not status_line[1].isdigit():
            raise Malformed(f"not an HTTP/1.x answer: {status_line[0][:80]!r}")
        status = int(status_line[1])
        if 100 <= status < 200:  # an interim answer (100 Continue): skip it
            del self._buf[:body_at]
            return
        # Only three headers matter here: found in the lower-cased head rather than parsing every line.
        lower = head.lower()
        length = -1
        if (value := _header(lower, b"\r\ncontent-length:")) is not None:
            try:
                length = int(value)
            except ValueError:
                raise Malformed(f"bad Content-Length {value!r}") from None
        chunked = (_header(lower, b"\r\ntransfer-encoding:") or b"").endswith(b"chunked")
        self.warnings = server_warnings(head, lower) if b"\r\nwarning:" in lower else ()
        keep = status_line[0] != b"HTTP/1.0"
        if (token := _header(lower, b"\r\nconnection:")) is not None:
            keep = token != b"close" and (keep or token == b"keep-alive")
        if status in (204, 304):
            length, chunked = 0, False
        self._status, self._body_at, self._chunked, self._keep = status, body_at, chunked, keep
        self._length = -1 if chunked else length
        self._pos = body_at
        if not chunked and length < 0:
            self._keep = False  # read to close

    def _next_chunk(self, pos: int) -> tuple[int, int] | None:
        """The chunk at ``pos``: (where its data starts, its size; 0 for the last), or None if not all in."""
        buf = self._buf
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size_text = bytes(buf[pos:eol]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise Malformed(f"bad chunk size {size_text[:20]!r}") from None
        if size == 0:
            return (eol, 0) if buf.find(b"\r\n\r\n", eol) >= 0 else None  # the (usually empty) trailers are in
        return (eol + 2, size) if len(buf) >= eol + 2 + size + 2 else None

    def _parse_chunks(self) -> None:
        pos = self._pos
        while (chunk := self._next_chunk(pos)) is not None:
            start, size = chunk
            if size == 0:
                self._finish(b"".join(self._chunks), self._buf.find(b"\r\n\r\n", start) + 4)
                return
            self._chunks.append(bytes(self._buf[start : start + size]))
            pos = start + size + 2
        self._pos = pos

    def _finish(self, body: bytes, consumed: int) -> None:
        del self._buf[:consumed]
        self._body_at = -1
        self._chunks = []
        assert self._waiter is not None
        self._waiter.set_result((self._status, body))


class StreamConnection(Connection):
    """A connection whose answer is read as it arrives: the head at once, then the body in lines.

    ``idle_timeout``: the stream times out when nothing arrives for that long
    (aiohttp's ``sock_read``), which is how a dead peer is noticed.
    """

    def __init__(self) -> None:
        super().__init__()
        self.idle_timeout: float | None = None
        self.last_data = 0.0
        self._lines: deque[bytes] = deque()
        self._partial = b""
        self._eof = False
        self._remaining = -1  # Content-Length framing: body bytes still to come
        self._error: BaseException | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._paused = False

    def expires_at(self) -> float | None:
        """When the stream times out: ``idle_timeout`` after data last came."""
        return None if self.idle_timeout is None else self.last_data + self.idle_timeout

    def data_received(self, data: bytes) -> None:
        self.last_data = asyncio.get_running_loop().time()
        self._buf += data
        try:
            self._parse()
        except Malformed as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(Disconnected(bool(self._buf), exc))
        elif not self._eof and self._body_at >= 0:
            if not self._chunked and self._remaining < 0:
                self._end()  # read-to-close framing: this is the end
            else:
                self._fail(Disconnected(True, exc))

    def expire(self) -> None:
        """Nothing came for ``idle_timeout``: the stream fails with TimeoutError."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(TimeoutError())
        else:
            self._fail(TimeoutError())
        self.close()

    async def lines(self) -> list[bytes] | None:
        """The body's next complete lines (without their ``\\n``), or None at its end."""
        while not self._lines:
            if self._error is not None:
                raise self._error
            if self._eof:
                return None
            self._wakeup = asyncio.get_running_loop().create_future()
            await self._wakeup
        out = list(self._lines)
        self._lines.clear()
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()
        return out

    # ---- parsing ----------------------------------------------------------------------------------
    def _parse(self) -> None:
        if self._body_at < 0:
            if not self._parse_head():
                return
            del self._buf[: self._body_at]  # from now on the buffer holds body bytes only
            self._body_at = self._pos = 0
            self._remaining = self._length
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result((self._status, b""))
            if self._remaining == 0:
                self._end()
        if self._eof:
            return
        buf = self._buf
        if self._chunked:
            pos = 0
            while (chunk := self._next_chunk(pos)) is not None:
                start, size = chunk
                if size == 0:
                    pos = buf.find(b"\r\n\r\n", start) + 4
                    self._end()
                    break
                self._emit(bytes(buf[start : start + size]))
                pos = start + size + 2
            del buf[:pos]
        elif buf:
            take = len(buf) if self._remaining < 0 else min(len(buf), self._remaining)
            self._emit(bytes(buf[:take]))
            del buf[:take]
            if self._remaining > 0:
                self._remaining -= take
                if self._remaining == 0:
                    self._end()

    def _emit(self, data: bytes) -> None:
        if b"\n" not in data:
            self._partial += data
            return
        parts = (self._partial + data).split(b"\n")
        self._partial = parts.pop()
        self._lines.extend(parts)
        self._wake()
        if len(self._lines) > _MAX_BACKLOG and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def _end(self) -> None:
        if self._partial:
            self._lines.append(self._partial)
            self._partial = b""
        self._eof = True
        self._wake()

    def _fail(self, exc: BaseException) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
            return
        if self._error is None:
            self._error = exc
        self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)
