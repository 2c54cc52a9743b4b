"""The REST client's keep-alive HTTP/1.1 transport, against a scripted server on loopback.

Each test's server answers every request with the next scripted answer (raw bytes, so framing
edge cases — chunks split anywhere, read-to-close, interim answers — are exact) and records what
it received and on which connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import pytest

from pinnace.client.http1 import server_warnings
from pinnace.client.transport import HTTPTransport, render_headers

Answer = bytes | Callable[[asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Script:
    """The answers to give, in order, and what came in: (connection number, request head, body)."""

    answers: list[Answer]
    received: list[tuple[int, bytes, bytes]] = field(default_factory=list)
    connections: int = 0


async def _serve_one(script: Script, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    script.connections += 1
    number = script.connections
    try:
        while script.answers:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            script.received.append((number, head, body))
            answer = script.answers.pop(0)
            if callable(answer):  # it answers (or not) and the connection ends
                await answer(writer)
                return
            writer.write(answer)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@asynccontextmanager
async def scripted(*answers: Answer) -> AsyncIterator[tuple[HTTPTransport, Script]]:
    """A server on 127.0.0.1 that plays ``answers``, and a transport to it."""
    script = Script(list(answers))
    server = await asyncio.start_server(lambda r, w: _serve_one(script, r, w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = HTTPTransport(f"http://127.0.0.1:{port}")
    try:
        yield transport, script
    finally:
        transport.close()
        server.close()
        await server.wait_closed()


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def hang_up(writer: asyncio.StreamWriter) -> None:
    """Close without answering (as a server does with a connection it found idle too long)."""
    writer.close()


async def get(transport: HTTPTransport, method: str = "GET", body: bytes | None = None) -> tuple[int, bytes]:
    return await transport.request(method, "/api/v1/pods", "Accept: application/json\r\n", body, tls=None, timeout=5)


async def test_content_length_answers_reuse_one_connection() -> None:
    async with scripted(ok(b'{"a":1}'), ok(b'{"b":2}')) as (transport, script):
        assert await get(transport) == (200, b'{"a":1}')
        assert await get(transport, "POST", b'{"x":1}') == (200, b'{"b":2}')
    assert script.connections == 1
    first, second = script.received
    assert first[1].startswith(b"GET /api/v1/pods HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"Accept: application/json\r\n" in first[1]
    assert b"Content-Length: 7\r\n" in second[1] and second[2] == b'{"x":1}'


async def test_chunked_answer_with_extensions_and_trailers() -> None:
    chunked = (
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'4;ext=1\r\n{"a"\r\n3\r\n:1}\r\n0\r\nX-Trailer: y\r\n\r\n'
    )
    async with scripted(chunked, ok(b"{}")) as (transport, script):
        assert await get(transport) == (201, b'{"a":1}')
        assert await get(transport) == (200, b"{}")
    assert script.connections == 1


async def test_an_answer_split_into_single_bytes_is_put_together() -> None:
    body = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n"

    async def trickle(writer: asyncio.StreamWriter) -> None:
        for i in range(len(body)):
            writer.write(body[i : i + 1])
            await writer.drain()
            await asyncio.sleep(0.001)

    async with scripted(trickle) as (transport, _):
        assert await get(transport) == (200, b"abc")


async def test_read_to_close_and_connection_close_open_a_new_connection() -> None:
    async with scripted(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-close",
    ) as (transport, script):
        assert await get(transport) == (200, b"until-close")
        script.answers.append(ok(b"again", b"Connection: close\r\n"))
        assert await get(transport) == (200, b"again")
    assert script.connections == 2


async def test_interim_answer_is_skipped_and_204_has_no_body() -> None:
    async with scripted(b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"x"), b"HTTP/1.1 204 No Content\r\n\r\n") as (t, s):
        assert await get(t) == (200, b"x")
        assert await get(t) == (204, b"")
    assert s.connections == 1


async def test_an_idempotent_request_is_resent_when_the_pooled_connection_was_closed() -> None:
    async with scripted(ok(b"1"), hang_up, ok(b"2")) as (transport, script):
        assert await get(transport) == (200, b"1")
        assert await get(transport) == (200, b"2")  # the second connection answers
    assert script.connections == 2 and len(script.received) == 3


async def test_a_post_is_not_resent_when_the_server_hangs_up() -> None:
    async with scripted(ok(b"1"), hang_up, ok(b"2")) as (transport, script):
        await get(transport)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await get(transport, "POST", b"{}")
    assert len(script.received) == 2


async def test_a_timeout_closes_the_connection_mid_answer() -> None:
    async with scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\npart", ok(b"fresh")) as (transport, script):
        with pytest.raises(TimeoutError):
            await transport.request("GET", "/x", "", None, tls=None, timeout=0.2)
        assert await get(transport) == (200, b"fresh")  # not the rest of the first answer
    assert script.connections == 2


async def test_the_earliest_deadline_fires_first_and_the_later_request_still_completes() -> None:
    async def slow(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.4)
        writer.write(ok(b"slow"))
        await writer.drain()

    async with scripted(slow, slow) as (transport, _):
        patient = asyncio.create_task(transport.request("GET", "/a", "", None, tls=None, timeout=5))
        await asyncio.sleep(0.05)  # the patient request's deadline armed the watchdog first
        with pytest.raises(TimeoutError):
            await transport.request("GET", "/b", "", None, tls=None, timeout=0.1)
        assert await patient == (200, b"slow")


async def test_malformed_answers_raise_payload_errors() -> None:
    async with scripted(b"SMTP ready\r\n\r\n") as (transport, _):
        with pytest.raises(aiohttp.ClientPayloadError, match="not an HTTP"):
            await get(transport)
    async with scripted(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") as (transport, _):
        with pytest.raises(aiohttp.ClientPayloadError, match="chunk size"):
            await get(transport)


async def test_connection_refused_is_a_connector_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(aiohttp.ClientConnectorError):
        await get(HTTPTransport(f"http://127.0.0.1:{port}"))


def test_base_url_path_prefix_and_host_header() -> None:
    transport = HTTPTransport("https://[::1]:6443/k8s/")
    assert transport.head("GET", "/api") == "GET /k8s/api HTTP/1.1\r\nHost: [::1]:6443\r\n"
    assert HTTPTransport("https://example.com").head("GET", "/api").endswith("Host: example.com\r\n")


def test_header_values_with_line_breaks_are_refused() -> None:
    assert render_headers({"Accept": "a", "X": "b"}) == "Accept: a\r\nX: b\r\n"
    with pytest.raises(ValueError, match="line break"):
        render_headers({"Authorization": "Bearer x\r\nX-Evil: 1"})


# ---- streams (watches) --------------------------------------------------------------------------
async def collect(transport: HTTPTransport, idle_timeout: float | None = 5) -> tuple[int, list[bytes]]:
    async with transport.stream("GET", "/w", "", tls=None, idle_timeout=idle_timeout) as (status, body):
        got: list[bytes] = []
        while (lines := await body.lines()) is not None:
            got.extend(lines)
        return status, got


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def test_a_stream_yields_lines_across_chunk_boundaries() -> None:
    async def events(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in (b'{"a":1}\n{"b"', b":2}\n", b"\n", b'{"c":3}'):  # the last line has no newline
            writer.write(chunk(piece))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async with scripted(events) as (transport, _):
        assert await collect(transport) == (200, [b'{"a":1}', b'{"b":2}', b"", b'{"c":3}'])


async def test_a_stream_without_framing_ends_when_the_server_closes() -> None:
    async def until_close(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\n\r\none\ntwo\n")
        await writer.drain()

    async with scripted(until_close) as (transport, _):
        assert await collect(transport) == (200, [b"one", b"two"])


async def test_a_stream_cut_mid_body_is_a_payload_error() -> None:
    async def cut(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"one\n"))
        await writer.drain()

    async with scripted(cut) as (transport, _):
        with pytest.raises(aiohttp.ClientPayloadError, match="cut before its end"):
            await collect(transport)


async def test_a_silent_stream_times_out_after_its_idle_timeout() -> None:
    async def silent(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"first\n"))
        await writer.drain()
        await asyncio.sleep(2)

    async with scripted(silent) as (transport, _):
        with pytest.raises(TimeoutError):
            await collect(transport, idle_timeout=0.2)


async def test_an_error_answer_to_a_stream_is_read_whole() -> None:
    status = b'{"kind":"Status","code":410}'
    answer = b"HTTP/1.1 410 Gone\r\nContent-Length: %d\r\n\r\n%s" % (len(status), status)
    async with scripted(answer) as (t, _), t.stream("GET", "/w", "", tls=None, idle_timeout=5) as (code, body):
        assert (code, await body.read()) == (410, status)


async def test_cancelling_a_stream_consumer_closes_its_connection() -> None:
    async def endless(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    async with scripted(endless) as (transport, script):
        task = asyncio.create_task(collect(transport, idle_timeout=None))
        while not script.received:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not transport._inflight


def test_server_warnings_are_read_from_the_head_unescaped() -> None:
    head = (
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
        b'Warning: 299 - "a \\"quoted\\" text"\r\nwarning: 299 - "second"\r\nWarning: 199 - "not the API\'s"\r\n'
        b"Content-Length: 2"
    )
    assert server_warnings(head, head.lower()) == ('a "quoted" text', "second")
