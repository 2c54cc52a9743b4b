"""SPDY/3.1 exec and port-forward through the API server to a real agent: plain upgrades and the WebSocket tunnel.

The client here is built from the frame codec (the real kubectl speaks to the
same paths in the e2e tests); what is checked is the relay, the upgrade and
the stream semantics: stream pairs by requestID, stdin's FIN, the v4 Status.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.integration.node.agentenv import run_pod, running_agent

from pinnace.apiserver.server import APIServer
from pinnace.client.rest import RestClient
from pinnace.cluster.ports import free_port
from pinnace.node.agent import NodeAgent
from pinnace.node.streams import spdy
from pinnace.node.streams.spdy import Frame, FrameParser, HeaderCompressor, encode_frame

pytestmark = pytest.mark.timeout(90)

NODE = "spdy-node"


@pytest.fixture
async def agent(client: RestClient, tmp_path: Path) -> AsyncIterator[NodeAgent]:
    async with running_agent(client, tmp_path, NODE) as a:
        yield a


class SpdyClient:
    """The client end of a SPDY connection over a byte stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.compressor, self.parser = HeaderCompressor(), FrameParser()
        self.data: dict[int, bytes] = {}
        self.finished: set[int] = set()

    @classmethod
    async def upgrade(cls, server: APIServer, path: str, protocol: str) -> tuple[SpdyClient, int, dict[str, str]]:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
        head += f"X-Stream-Protocol-Version: {protocol}\r\nContent-Length: 0\r\n\r\n"
        writer.write(head.encode())
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        return cls(reader, writer), int(lines[0].split()[1]), headers

    def open(self, stream_id: int, headers: dict[str, str]) -> None:
        self.writer.write(encode_frame(Frame(spdy.SYN_STREAM, 0, stream_id, headers=headers), self.compressor))

    def send(self, stream_id: int, data: bytes, fin: bool = False) -> None:
        self.writer.write(encode_frame(Frame(spdy.DATA, spdy.FLAG_FIN if fin else 0, stream_id, data)))

    async def until_finished(self, *stream_ids: int) -> None:
        """Read frames until every stream in ``stream_ids`` got its FIN."""
        while not set(stream_ids) <= self.finished:
            chunk = await asyncio.wait_for(self.reader.read(65536), 20)
            if not chunk:
                break
            for frame in self.parser.feed(chunk):
                if frame.type == spdy.DATA:
                    self.data[frame.stream_id] = self.data.get(frame.stream_id, b"") + frame.data
                    if frame.flags & spdy.FLAG_FIN:
                        self.finished.add(frame.stream_id)


async def test_exec_over_spdy_with_stdin_and_the_v4_status(
    api_server: APIServer, client: RestClient, agent: NodeAgent
) -> None:
    await run_pod(client, NODE, "shell", {"name": "main", "image": "busybox", "command": ["sleep", "60"]})
    query = "command=sh&command=-c&command=tr%20a-z%20A-Z%3B%20echo%20oops%20%3E%262%3B%20exit%205"
    path = f"/api/v1/namespaces/default/pods/shell/exec?{query}&stdin=true&stdout=true&stderr=true"
    conn, status, headers = await SpdyClient.upgrade(api_server, path, "v4.channel.k8s.io")
    assert status == 101 and headers["x-stream-protocol-version"] == "v4.channel.k8s.io"
    for stream_id, kind in ((1, "error"), (3, "stdin"), (5, "stdout"), (7, "stderr")):
        conn.open(stream_id, {"streamType": kind})
    conn.send(3, b"quiet please\n", fin=True)
    await conn.until_finished(1, 5, 7)
    assert conn.data[5] == b"QUIET PLEASE\n" and conn.data[7] == b"oops\n"
    result = json.loads(conn.data[1])
    assert result["reason"] == "NonZeroExitCode"
    assert result["details"]["causes"] == [{"reason": "ExitCode", "message": "5"}]
    conn.writer.close()


async def test_an_unknown_protocol_version_is_refused(
    api_server: APIServer, client: RestClient, agent: NodeAgent
) -> None:
    await run_pod(client, NODE, "idle", {"name": "main", "image": "busybox", "command": ["sleep", "60"]})
    path = "/api/v1/namespaces/default/pods/idle/exec?command=true&stdout=true"
    conn, status, _ = await SpdyClient.upgrade(api_server, path, "v9.example")
    assert status == 403
    conn.writer.close()


async def _web_pod(client: RestClient) -> int:
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    await run_pod(client, NODE, "web", {"name": "main", "image": "busybox", "command": command})
    for _ in range(100):
        try:
            _r, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return port
        except OSError:
            await asyncio.sleep(0.1)
    raise AssertionError("the pod's HTTP server did not start")


def _request_pair(conn: SpdyClient, port: int, request_id: int, first_stream: int) -> None:
    headers = {"port": str(port), "requestID": str(request_id)}
    conn.open(first_stream, {"streamType": "error", **headers})
    conn.open(first_stream + 2, {"streamType": "data", **headers})
    conn.send(first_stream + 2, b"GET / HTTP/1.0\r\n\r\n")


async def test_port_forward_over_a_plain_spdy_upgrade(
    api_server: APIServer, client: RestClient, agent: NodeAgent
) -> None:
    port = await _web_pod(client)
    conn, status, headers = await SpdyClient.upgrade(
        api_server, "/api/v1/namespaces/default/pods/web/portforward", "portforward.k8s.io"
    )
    assert status == 101 and headers["x-stream-protocol-version"] == "portforward.k8s.io"
    _request_pair(conn, port, 0, 1)
    _request_pair(conn, port, 1, 5)  # two connections multiplexed on one SPDY connection
    _request_pair(conn, free_port(), 2, 9)  # nothing listens there: the error stream says so
    await conn.until_finished(3, 7, 9)
    for data_stream in (3, 7):
        assert conn.data[data_stream].startswith(b"HTTP/1.0 200")
    assert conn.data[9].startswith(b"error forwarding port")
    conn.writer.close()


async def test_port_forward_tunnelled_in_a_websocket(
    api_server: APIServer, client: RestClient, agent: NodeAgent
) -> None:
    port = await _web_pod(client)
    url = f"{api_server.url}/api/v1/namespaces/default/pods/web/portforward"
    compressor, parser = HeaderCompressor(), FrameParser()
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=["SPDY/3.1+portforward.k8s.io"]) as ws,
    ):
        assert ws.protocol == "SPDY/3.1+portforward.k8s.io"
        headers = {"port": str(port), "requestID": "0"}
        for sid, kind in ((1, "error"), (3, "data")):
            await ws.send_bytes(
                encode_frame(Frame(spdy.SYN_STREAM, 0, sid, headers={"streamType": kind, **headers}), compressor)
            )
        await ws.send_bytes(encode_frame(Frame(spdy.DATA, 0, 3, b"GET / HTTP/1.0\r\n\r\n")))
        received, done = b"", False
        frames: list[Any] = []
        while not done:
            message = await asyncio.wait_for(ws.receive(), 20)
            assert message.type == aiohttp.WSMsgType.BINARY
            for frame in parser.feed(message.data):
                frames.append(frame.type)
                if frame.type == spdy.DATA and frame.stream_id == 3:
                    received += frame.data
                    done = bool(frame.flags & spdy.FLAG_FIN)
        assert frames.count(spdy.SYN_REPLY) == 2
        assert received.startswith(b"HTTP/1.0 200")
