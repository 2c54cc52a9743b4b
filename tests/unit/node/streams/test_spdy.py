"""SPDY/3.1: the dictionary, header blocks, frames split anywhere, and a server connection driven by a client."""

from __future__ import annotations

import asyncio
import random
import zlib

import pytest

from pinnace.node.streams import spdy
from pinnace.node.streams.spdy import Frame, FrameParser, HeaderCompressor, HeaderDecompressor, encode_frame


def test_the_dictionary_is_the_spdy3_one() -> None:
    # Its Adler-32 is the dictionary id every SPDY/3 header block starts with (78 bb e3 c6 a7 c2).
    assert len(spdy.DICTIONARY) == 1423
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2
    assert HeaderCompressor().encode({"a": "b"})[2:6] == bytes.fromhex("e3c6a7c2")


def test_header_blocks_round_trip_over_one_zlib_stream_per_direction() -> None:
    out, back = HeaderCompressor(), HeaderDecompressor()
    blocks = [
        {"streamtype": "error", "port": "8080", "requestid": "0"},
        {"streamtype": "data", "port": "8080", "requestid": "0"},
        {},
        {"Content-Type": "text/plain", "x": "y\x00z"},
    ]
    for headers in blocks:
        assert back.decode(out.encode(headers)) == {k.lower(): v for k, v in headers.items()}


def test_a_header_block_needs_the_shared_context() -> None:
    out = HeaderCompressor()
    out.encode({"first": "1"})
    with pytest.raises(ValueError):
        HeaderDecompressor().decode(out.encode({"second": "2"}))


def test_frames_round_trip_however_the_bytes_are_split() -> None:
    client = HeaderCompressor()
    frames = [
        Frame(spdy.SYN_STREAM, 0, 1, headers={"streamtype": "error", "port": "80", "requestid": "0"}, priority=3),
        Frame(spdy.SYN_STREAM, spdy.FLAG_FIN, 3, headers={"streamtype": "data", "port": "80", "requestid": "0"}),
        Frame(spdy.DATA, 0, 3, b"GET / HTTP/1.0\r\n\r\n" * 100),
        Frame(spdy.DATA, spdy.FLAG_FIN, 3, b""),
        Frame(spdy.PING, 0, value=7),
        Frame(spdy.RST_STREAM, 0, 1, value=spdy.RST_CANCEL),
        Frame(spdy.WINDOW_UPDATE, 0, 3, value=65536),
        Frame(spdy.GOAWAY, 0, 3, value=0),
    ]
    wire = b"".join(encode_frame(f, client) for f in frames)
    rng = random.Random(7)
    parser = FrameParser()
    got: list[Frame] = []
    pos = 0
    while pos < len(wire):
        step = rng.randint(1, 40)
        got += parser.feed(wire[pos : pos + step])
        pos += step
    assert [(f.type, f.flags, f.stream_id, f.data, f.headers, f.value) for f in got] == [
        (f.type, f.flags, f.stream_id, f.data, f.headers, f.value) for f in frames
    ]
    assert got[0].priority == 3


def test_frame_layout_matches_the_spec() -> None:
    raw = encode_frame(Frame(spdy.PING, 0, value=1))
    assert raw == bytes.fromhex("80030006") + bytes.fromhex("00000004") + bytes.fromhex("00000001")
    raw = encode_frame(Frame(spdy.DATA, spdy.FLAG_FIN, 5, b"ab"))
    assert raw == bytes.fromhex("00000005") + bytes.fromhex("01000002") + b"ab"


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError):
        FrameParser().feed(bytes.fromhex("80020006000000040000000a"))


class _PipeTransport:
    """One end of an in-memory byte pipe (the test plays the client on the other end)."""

    def __init__(self, incoming: asyncio.Queue[bytes], outgoing: asyncio.Queue[bytes]) -> None:
        self.incoming, self.outgoing = incoming, outgoing

    async def recv(self) -> bytes:
        return await self.incoming.get()

    async def send(self, data: bytes) -> None:
        self.outgoing.put_nowait(data)

    async def close(self) -> None:
        self.outgoing.put_nowait(b"")


async def test_a_connection_replies_echoes_and_carries_data_both_ways() -> None:
    to_server: asyncio.Queue[bytes] = asyncio.Queue()
    to_client: asyncio.Queue[bytes] = asyncio.Queue()
    seen: list[spdy.SpdyStream] = []

    async def echo(stream: spdy.SpdyStream) -> None:
        seen.append(stream)
        while data := await stream.read():
            await stream.write(data.upper())
        await stream.close()

    connection = spdy.SpdyConnection(_PipeTransport(to_server, to_client), echo)
    served = asyncio.create_task(connection.serve())
    client, parser = HeaderCompressor(), FrameParser()

    async def frames(count: int) -> list[Frame]:
        got: list[Frame] = []
        while len(got) < count:
            got += parser.feed(await asyncio.wait_for(to_client.get(), 5))
        return got

    to_server.put_nowait(encode_frame(Frame(spdy.SYN_STREAM, 0, 1, headers={"streamtype": "data"}), client))
    (reply,) = await frames(1)
    assert (reply.type, reply.stream_id, reply.headers) == (spdy.SYN_REPLY, 1, {})
    to_server.put_nowait(encode_frame(Frame(spdy.PING, 0, value=41)))
    to_server.put_nowait(encode_frame(Frame(spdy.DATA, 0, 1, b"hello")))
    got = await frames(2)
    assert {(f.type, f.value, f.data) for f in got} == {(spdy.PING, 41, b""), (spdy.DATA, 0, b"HELLO")}
    to_server.put_nowait(encode_frame(Frame(spdy.DATA, spdy.FLAG_FIN, 1)))
    (fin,) = await frames(1)
    assert (fin.type, fin.flags, fin.stream_id) == (spdy.DATA, spdy.FLAG_FIN, 1)
    assert seen[0].headers == {"streamtype": "data"}
    to_server.put_nowait(encode_frame(Frame(spdy.GOAWAY, 0, 1)))
    await asyncio.wait_for(served, 5)
    assert connection.closed.is_set()
