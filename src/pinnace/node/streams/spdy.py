"""SPDY/3.1, the server side of the subset Kubernetes streams use (``moby/spdystream``'s dialect).

kubectl ``port-forward`` (and exec, when WebSocket is refused) multiplexes
streams over one SPDY/3.1 connection: the client opens each stream with a
SYN_STREAM whose name/value header block says what it is for, the server
answers SYN_REPLY, then both sides send DATA frames; a FIN flag half-closes a
stream, RST_STREAM aborts it, PING is echoed, GOAWAY ends the connection.
Header blocks are zlib-compressed with the SPDY/3 dictionary, one compression
context per direction for the connection's whole life (each block ends with a
sync flush). spdystream does no flow control, so WINDOW_UPDATE and SETTINGS
are accepted and ignored, and none are sent.

The connection runs over any byte transport (:class:`Transport`): a TCP
connection after an HTTP ``Upgrade: SPDY/3.1``, or the binary messages of a
WebSocket (``SPDY/3.1+portforward.k8s.io``, how kubectl 1.30+ tunnels it).

Frames (all integers big-endian)::

    control: 1 | version(15) | type(16) | flags(8) | length(24) | payload
    data:    0 | stream-id(31)           | flags(8) | length(24) | data
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "DICTIONARY",
    "VERSION",
    "Frame",
    "FrameParser",
    "HeaderCompressor",
    "HeaderDecompressor",
    "SpdyConnection",
    "SpdyStream",
    "Transport",
    "encode_frame",
]

log = logging.getLogger(__name__)

VERSION = 3

SYN_STREAM = 1
SYN_REPLY = 2
RST_STREAM = 3
SETTINGS = 4
PING = 6
GOAWAY = 7
HEADERS = 8
WINDOW_UPDATE = 9
#: Not a SPDY frame type: how :class:`Frame` marks a DATA frame.
DATA = 0

FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02

#: RST_STREAM status codes used here.
RST_PROTOCOL_ERROR = 1
RST_REFUSED_STREAM = 3
RST_CANCEL = 5
RST_INTERNAL_ERROR = 6

_MAX_DATA = 0xFFFFFF
_CHUNK = 32 * 1024


_DICTIONARY_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language accept-ranges "
    "age allow authorization cache-control connection content-base content-encoding content-language "
    "content-length content-location content-md5 content-range content-type date etag expect expires from "
    "host if-match if-modified-since if-none-match if-range if-unmodified-since last-modified location "
    "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after server te trailer "
    "transfer-encoding upgrade user-agent vary via warning www-authenticate method get status"
)


def _dictionary() -> bytes:
    """The SPDY/3 header compression dictionary (draft-mbelshe-httpbis-spdy-00 §2.6.10.1, 1423 bytes):
    length-prefixed header names and common values, then a run of common strings."""
    words = [*_DICTIONARY_WORDS.split(), "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie"]
    words += ["keep-alive", "origin"]
    tail = (
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
        "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
        "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
        "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
        "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
    )
    return b"".join(struct.pack(">I", len(w)) + w.encode() for w in words) + tail.encode()


DICTIONARY = _dictionary()

Headers = Mapping[str, str]


class HeaderCompressor:
    """Encodes name/value header blocks for one direction of a connection."""

    def __init__(self) -> None:
        self._zlib = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, 9, zdict=DICTIONARY)

    def encode(self, headers: Headers) -> bytes:
        """The compressed block: a pair count, then length-prefixed lower-case names and values."""
        raw = [struct.pack(">I", len(headers))]
        for name, value in headers.items():
            n, v = name.lower().encode(), value.encode()
            raw += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
        return self._zlib.compress(b"".join(raw)) + self._zlib.flush(zlib.Z_SYNC_FLUSH)


class HeaderDecompressor:
    """Decodes the header blocks one peer sends (they share one zlib stream)."""

    def __init__(self) -> None:
        self._zlib = zlib.decompressobj(zdict=DICTIONARY)

    def decode(self, block: bytes) -> dict[str, str]:
        """The block's headers (a repeated name's values joined by NUL, as on the wire); ValueError if bad."""
        try:
            raw = self._zlib.decompress(block)
        except zlib.error as exc:
            raise ValueError(f"bad header block: {exc}") from None
        try:
            (count,) = struct.unpack_from(">I", raw, 0)
            pos, out = 4, {}
            for _ in range(count):
                (n,) = struct.unpack_from(">I", raw, pos)
                name = raw[pos + 4 : pos + 4 + n].decode()
                pos += 4 + n
                (v,) = struct.unpack_from(">I", raw, pos)
                value = raw[pos + 4 : pos + 4 + v].decode()
                pos += 4 + v
                if pos > len(raw):
                    raise ValueError("header block truncated")
                out[name.lower()] = value
        except (struct.error, UnicodeDecodeError) as exc:
            raise ValueError(f"bad header block: {exc}") from None
        return out


@dataclass(slots=True)
class Frame:
    """One frame. ``type`` is :data:`DATA` for data frames; ``headers`` is set for frames that carry a block."""

    type: int
    flags: int = 0
    stream_id: int = 0
    data: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: RST_STREAM and GOAWAY status, PING id, WINDOW_UPDATE delta.
    value: int = 0
    associated_id: int = 0
    priority: int = 0


def _control(type_: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, type_, (flags << 24) | len(payload)) + payload


def encode_frame(frame: Frame, compressor: HeaderCompressor | None = None) -> bytes:
    """The frame's bytes (a compressor is needed for frames with a header block)."""
    if frame.type == DATA:
        if len(frame.data) > _MAX_DATA:
            raise ValueError("data frame too large")
        return struct.pack(">II", frame.stream_id & 0x7FFFFFFF, (frame.flags << 24) | len(frame.data)) + frame.data
    sid = struct.pack(">I", frame.stream_id & 0x7FFFFFFF)
    if frame.type in (SYN_STREAM, SYN_REPLY, HEADERS):
        assert compressor is not None, "a header block needs the connection's compressor"
        block = compressor.encode(frame.headers)
        if frame.type == SYN_STREAM:
            extra = struct.pack(">IBB", frame.associated_id & 0x7FFFFFFF, (frame.priority & 7) << 5, 0)
            return _control(SYN_STREAM, frame.flags, sid + extra + block)
        return _control(frame.type, frame.flags, sid + block)
    if frame.type in (RST_STREAM, WINDOW_UPDATE):
        return _control(frame.type, frame.flags, sid + struct.pack(">I", frame.value))
    if frame.type == PING:
        return _control(PING, frame.flags, struct.pack(">I", frame.value))
    if frame.type == GOAWAY:
        return _control(GOAWAY, frame.flags, sid + struct.pack(">I", frame.value))
    if frame.type == SETTINGS:
        return _control(SETTINGS, frame.flags, struct.pack(">I", 0))
    raise ValueError(f"cannot encode frame type {frame.type}")


class FrameParser:
    """Turns a byte stream into frames, however it is split (feed bytes, take whole frames)."""

    def __init__(self, decompressor: HeaderDecompressor | None = None) -> None:
        self._buffer = bytearray()
        self.decompressor = decompressor or HeaderDecompressor()

    def feed(self, data: bytes) -> list[Frame]:
        """Add bytes; the frames now complete. ValueError on a malformed frame (the connection is then dead)."""
        self._buffer += data
        frames = []
        while len(self._buffer) >= 8:
            word, flags_length = struct.unpack_from(">II", self._buffer, 0)
            length = flags_length & 0xFFFFFF
            if len(self._buffer) < 8 + length:
                break
            flags = flags_length >> 24
            payload = bytes(self._buffer[8 : 8 + length])
            del self._buffer[: 8 + length]
            if word & 0x80000000:
                version, type_ = (word >> 16) & 0x7FFF, word & 0xFFFF
                if version != VERSION:
                    raise ValueError(f"unsupported SPDY version {version}")
                frames.append(self._control(type_, flags, payload))
            else:
                frames.append(Frame(DATA, flags, word & 0x7FFFFFFF, payload))
        return frames

    def _control(self, type_: int, flags: int, payload: bytes) -> Frame:
        try:
            if type_ == SYN_STREAM:
                sid, assoc, pri = struct.unpack_from(">IIB", payload, 0)
                headers = self.decompressor.decode(payload[10:])
                return Frame(type_, flags, sid & 0x7FFFFFFF, headers=headers, associated_id=assoc, priority=pri >> 5)
            if type_ in (SYN_REPLY, HEADERS):
                (sid,) = struct.unpack_from(">I", payload, 0)
                return Frame(type_, flags, sid & 0x7FFFFFFF, headers=self.decompressor.decode(payload[4:]))
            if type_ in (RST_STREAM, WINDOW_UPDATE, GOAWAY):
                sid, value = struct.unpack_from(">II", payload, 0)
                return Frame(type_, flags, sid & 0x7FFFFFFF, value=value & 0x7FFFFFFF)
            if type_ == PING:
                return Frame(type_, flags, value=struct.unpack_from(">I", payload, 0)[0])
        except struct.error as exc:
            raise ValueError(f"truncated control frame of type {type_}: {exc}") from None
        return Frame(type_, flags, data=payload)  # SETTINGS, NOOP, CREDENTIAL, unknown: carried raw


class Transport(Protocol):
    """The bytes under a connection: a TCP stream, or a WebSocket's binary messages."""

    async def recv(self) -> bytes:
        """The next bytes; b"" at the end."""

    async def send(self, data: bytes) -> None:
        """Write bytes."""

    async def close(self) -> None:
        """Close the transport."""


class SpdyStream:
    """One stream opened by the peer: its headers, and its data both ways."""

    def __init__(self, connection: SpdyConnection, stream_id: int, headers: dict[str, str]) -> None:
        self.connection = connection
        self.id = stream_id
        self.headers = headers
        self._incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self.remote_closed = False
        self.local_closed = False
        self.reset_by_peer = False

    def _receive(self, data: bytes, fin: bool) -> None:
        if data:
            self._incoming.put_nowait(data)
        if fin and not self.remote_closed:
            self.remote_closed = True
            self._incoming.put_nowait(b"")

    def _reset(self) -> None:
        self.reset_by_peer = True
        self.local_closed = True
        self._receive(b"", True)

    async def read(self) -> bytes:
        """The next data from the peer; b"" once it half-closed (FIN) or reset the stream."""
        if self.remote_closed and self._incoming.empty():
            return b""
        return await self._incoming.get()

    async def write(self, data: bytes) -> None:
        """Send data (in frames of at most 32 KiB)."""
        if self.local_closed:
            raise ConnectionResetError(f"SPDY stream {self.id} is closed")
        for start in range(0, len(data), _CHUNK):
            await self.connection.send_frame(Frame(DATA, 0, self.id, data[start : start + _CHUNK]))

    async def close(self) -> None:
        """Half-close our side (an empty DATA frame with FIN). Idempotent."""
        if not self.local_closed:
            self.local_closed = True
            await self.connection.send_frame(Frame(DATA, FLAG_FIN, self.id))

    async def reset(self, status: int = RST_CANCEL) -> None:
        """Abort the stream (RST_STREAM)."""
        if not self.local_closed or not self.remote_closed:
            self.local_closed = True
            await self.connection.send_frame(Frame(RST_STREAM, 0, self.id, value=status))
        self._receive(b"", True)


#: Called with each new stream before it is answered; raising refuses it (RST_STREAM).
StreamHandler = Callable[["SpdyStream"], Awaitable[None]]


class SpdyConnection:
    """The server end of a SPDY/3.1 connection: accepts the peer's streams and hands them to ``on_stream``."""

    def __init__(self, transport: Transport, on_stream: StreamHandler) -> None:
        self.transport = transport
        self.on_stream = on_stream
        self.streams: dict[int, SpdyStream] = {}
        self._compressor = HeaderCompressor()
        self._parser = FrameParser()
        self._write_lock = asyncio.Lock()
        self.closed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    async def send_frame(self, frame: Frame) -> None:
        """Encode and write one frame (frames are written whole, in order)."""
        async with self._write_lock:
            if self.closed.is_set():
                raise ConnectionResetError("the SPDY connection is closed")
            await self.transport.send(encode_frame(frame, self._compressor))

    async def serve(self) -> None:
        """Read frames until the peer goes away or sends GOAWAY; then end every stream."""
        try:
            while data := await self.transport.recv():
                for frame in self._parser.feed(data):
                    if not await self._handle(frame):
                        return
        except ValueError as exc:
            log.warning("closing a SPDY connection: %s", exc)
            with contextlib.suppress(Exception):
                await self.send_frame(Frame(GOAWAY, value=RST_PROTOCOL_ERROR))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            await self.close()

    async def close(self) -> None:
        """End the connection: every stream sees its end, the transport closes, stream handlers stop."""
        if self.closed.is_set():
            return
        self.closed.set()
        for stream in self.streams.values():
            stream._reset()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await self.transport.close()

    async def _handle(self, frame: Frame) -> bool:
        if frame.type == DATA:
            stream = self.streams.get(frame.stream_id)
            if stream is None:
                await self.send_frame(Frame(RST_STREAM, stream_id=frame.stream_id, value=RST_PROTOCOL_ERROR))
            else:
                stream._receive(frame.data, bool(frame.flags & FLAG_FIN))
        elif frame.type == SYN_STREAM:
            stream = SpdyStream(self, frame.stream_id, frame.headers)
            stream.remote_closed = bool(frame.flags & FLAG_FIN)
            self.streams[frame.stream_id] = stream
            task = asyncio.create_task(self._accept(stream), name=f"spdy-stream-{frame.stream_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif frame.type == RST_STREAM:
            stream = self.streams.pop(frame.stream_id, None)
            if stream is not None:
                stream._reset()
        elif frame.type == PING:
            await self.send_frame(Frame(PING, value=frame.value))
        elif frame.type == GOAWAY:
            return False
        # SETTINGS, WINDOW_UPDATE, HEADERS, SYN_REPLY: nothing to do (no flow control, no server pushes).
        return True

    async def _accept(self, stream: SpdyStream) -> None:
        """Reply to a new stream, then let the handler have it (a handler error resets the stream)."""
        try:
            await self.send_frame(Frame(SYN_REPLY, 0, stream.id))
            await self.on_stream(stream)
        except asyncio.CancelledError:
            raise
        except ConnectionError:
            pass
        except Exception:
            log.exception("a SPDY stream handler failed (stream %d, %s)", stream.id, dict(stream.headers))
            with contextlib.suppress(Exception):
                await stream.reset(RST_INTERNAL_ERROR)
