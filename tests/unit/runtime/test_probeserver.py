"""The manager's probe and metrics server: GET and HEAD over HTTP/1.x with keep-alive; anything else refused."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from pinnace.runtime.probeserver import ProbeServer, Reply


async def _health(rest: str, query: Mapping[str, list[str]]) -> Reply:
    if rest == "boom":
        raise RuntimeError("broken check")
    return Reply(200, f"rest={rest} verbose={'verbose' in query}".encode())


async def _exchange(port: int, *requests: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for request in requests:
        writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)  # until the server closes
    writer.close()
    return data


async def test_get_head_keep_alive_and_refusals() -> None:
    server = ProbeServer({"/healthz": _health})
    host, port = await server.start("127.0.0.1", 0)
    try:
        assert host == "127.0.0.1" and port > 0
        both = await _exchange(
            port,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",  # kept alive: the next one on the same connection
            b"GET /healthz/ping?verbose HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        first, second = both.split(b"HTTP/1.1 ")[1:]
        assert first.startswith(b"200 OK\r\n") and first.endswith(b"\r\n\r\nrest= verbose=False")
        assert b"Connection: close" not in first
        assert second.startswith(b"200 OK\r\n") and b"Connection: close\r\n" in second
        assert second.endswith(b"rest=ping verbose=True")

        head = await _exchange(port, b"HEAD /healthz HTTP/1.0\r\n\r\n")  # 1.0: closed after one
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"Content-Length: 19\r\n" in head
        assert head.endswith(b"\r\n\r\n")  # no body for HEAD
        assert (await _exchange(port, b"GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n")).startswith(b"HTTP/1.1 404")
        post = await _exchange(port, b"POST /healthz HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}")
        assert post.startswith(b"HTTP/1.1 405")
        assert (await _exchange(port, b"garbage\r\n\r\n")).startswith(b"HTTP/1.1 400")
        failed = await _exchange(port, b"GET /healthz/boom HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert failed.startswith(b"HTTP/1.1 500") and b"broken check" in failed
        huge = await _exchange(port, b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n")
        assert huge.startswith(b"HTTP/1.1 400")
    finally:
        await server.close()
