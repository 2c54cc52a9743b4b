"""The TCP load balancer: round-robin over backends that answer, bytes relayed unchanged."""

from __future__ import annotations

import asyncio

import pytest

from pinnace.cluster.loadbalancer import Backend, LoadBalancer, parse_address


async def _named_echo(name: bytes) -> tuple[asyncio.Server, int]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(1024)
        writer.write(name + b":" + data)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _ask(port: int, text: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(text)
    await writer.drain()
    answer = await reader.read(1024)
    writer.close()
    return answer


async def test_connections_alternate_and_skip_a_dead_backend() -> None:
    (a, pa), (b, pb) = await _named_echo(b"a"), await _named_echo(b"b")
    lb = LoadBalancer([Backend("127.0.0.1", pa), Backend("127.0.0.1", pb)])
    port = await lb.listen("127.0.0.1", 0)
    try:
        answers = {await _ask(port, b"hi") for _ in range(4)}
        assert answers == {b"a:hi", b"b:hi"}
        a.close()
        await a.wait_closed()
        assert [await _ask(port, b"x") for _ in range(3)] == [b"b:x"] * 3
        b.close()
        await b.wait_closed()
        assert await _ask(port, b"y") == b""  # nobody answers: the client's connection just ends
    finally:
        await lb.close()


def test_addresses_are_host_and_port() -> None:
    assert parse_address("127.0.0.1:6443") == Backend("127.0.0.1", 6443)
    for bad in ("6443", "host:", "host:99999", ":1"):
        with pytest.raises(ValueError, match="expected host:port"):
            parse_address(bad)
