"""etcd transport benchmark: gRPC (``EtcdStore``) against etcd's JSON gateway, same etcd, same run.

Measures, against one local etcd member (Debian ``etcd``, started here on free
loopback ports in a temporary directory):

(a) creates/s through ``EtcdStore.create`` (a Txn over gRPC, ``grpc.aio``) with
    N concurrent clients;
(b) the same Txn (compare ``create_revision == 0`` → put) posted as JSON to the
    gateway's ``/v3/kv/txn`` with aiohttp, N concurrent clients;
(c) watch latency: time from sending a create to receiving its event on an open
    watch, median of 200, for gRPC (through the store's event window) and for a
    gateway ``/v3/watch`` stream (the create itself goes through gRPC in both);
(d) the transport's own floor: the same Txn through :class:`MinimalH2`, an
    asyncio HTTP/2 connection that does nothing but frame unary gRPC calls
    (one write per call, no thread) -- with the client CPU per create of (a)
    and (d), which says what ``grpc.aio`` itself costs per call.

This is the evidence behind the transport choice in ``pinnace.storage.etcd``.
Run: ``python benchmarks/etcd_transport.py [--total N] [--clients N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.unit.storage.etcd_server import EtcdServer

from pinnace.storage.etcd import EtcdStore
from pinnace.storage.etcdpb import rpc_pb2

VALUE = os.urandom(1024)


async def grpc_creates_per_second(endpoint: str, clients: int, total: int) -> tuple[float, float]:
    """(creates/s, client CPU microseconds per create) through ``EtcdStore`` with ``clients`` concurrent writers."""
    store = await EtcdStore.open([endpoint], prefix="/bench-grpc", watch_window=0)
    try:
        counter = iter(range(total))

        async def client() -> None:
            for i in counter:
                await store.create(f"/k{i}", VALUE)

        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(client() for _ in range(clients)))
        return total / (time.perf_counter() - start), (time.process_time() - cpu) * 1e6 / total
    finally:
        await store.close()


class MinimalH2(asyncio.Protocol):
    """A measuring device, not a client: unary gRPC calls framed on one plaintext HTTP/2 connection.

    It sends the connection preface with the largest flow-control windows,
    answers SETTINGS and PING, and per call writes one HEADERS frame (a header
    block precomputed per path: static-table indices and literals, no Huffman)
    and one DATA frame. A call's result is the message in its DATA frames; the
    response headers and trailers are not decoded, so it cannot tell a failed
    call from a good one (the caller checks the message), and it has no TLS,
    timeouts, failover or send-side flow control. What it costs per call is
    what framing a call costs in Python, without gRPC's core and its threads.
    """

    _DATA, _HEADERS, _SETTINGS, _PING, _WINDOW_UPDATE = 0, 1, 4, 6, 8

    def __init__(self, authority: bytes) -> None:
        self._authority = authority
        self._buffer = bytearray()
        self._calls: dict[int, tuple[asyncio.Future[bytes], bytearray]] = {}
        self._blocks: dict[bytes, bytes] = {}
        self._next_stream = 1
        self._unacknowledged = 0  # bytes received since the connection window was last topped up
        self._transport: asyncio.Transport | None = None

    @staticmethod
    def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
        return struct.pack(">BHBBI", len(payload) >> 16, len(payload) & 0xFFFF, kind, flags, stream) + payload

    @staticmethod
    def _literal(name: int | bytes, value: bytes) -> bytes:
        """A header field without indexing: by static-table name index, or with a literal name."""
        if isinstance(name, int):
            prefix = bytes([name]) if name < 15 else bytes([15, name - 15])
        else:
            prefix = b"\x00" + bytes([len(name)]) + name
        return prefix + bytes([len(value)]) + value

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        settings = struct.pack(">HI", 4, 2**31 - 1) + struct.pack(">HI", 2, 0)  # initial window, no push
        transport.write(
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
            + self._frame(self._SETTINGS, 0, 0, settings)
            + self._frame(self._WINDOW_UPDATE, 0, 0, struct.pack(">I", 2**31 - 1 - 65535))
        )

    def call(self, path: bytes, message: bytes) -> asyncio.Future[bytes]:
        """Send one unary call; the future gets the response message."""
        assert self._transport is not None
        block = self._blocks.get(path)
        if block is None:  # :method POST (2), :scheme http (6), :path, :authority, content-type (31), te
            block = b"\x83\x86" + self._literal(4, path) + self._literal(1, self._authority)
            block += self._literal(31, b"application/grpc") + self._literal(b"te", b"trailers")
            self._blocks[path] = block
        stream, self._next_stream = self._next_stream, self._next_stream + 2
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._calls[stream] = (future, bytearray())
        body = b"\x00" + struct.pack(">I", len(message)) + message
        self._transport.write(self._frame(self._HEADERS, 4, stream, block) + self._frame(self._DATA, 1, stream, body))
        return future

    def data_received(self, data: bytes) -> None:
        buf = self._buffer
        buf += data
        pos, replies = 0, []
        while len(buf) - pos >= 9:
            length = int.from_bytes(buf[pos : pos + 3])
            if len(buf) - pos < 9 + length:
                break
            kind, flags = buf[pos + 3], buf[pos + 4]
            stream = int.from_bytes(buf[pos + 5 : pos + 9]) & 0x7FFFFFFF
            payload = bytes(buf[pos + 9 : pos + 9 + length])
            pos += 9 + length
            if kind == self._DATA:
                self._unacknowledged += length
                if stream in self._calls:
                    self._calls[stream][1].extend(payload)
            elif kind == self._SETTINGS and not flags & 1:
                replies.append(self._frame(self._SETTINGS, 1, 0, b""))
            elif kind == self._PING and not flags & 1:
                replies.append(self._frame(self._PING, 1, 0, payload))
            if kind in (self._DATA, self._HEADERS) and flags & 1 and stream in self._calls:  # END_STREAM
                future, message = self._calls.pop(stream)
                future.set_result(bytes(message[5:]))
        del buf[:pos]
        if self._unacknowledged > 1 << 30:
            replies.append(self._frame(self._WINDOW_UPDATE, 0, 0, struct.pack(">I", self._unacknowledged)))
            self._unacknowledged = 0
        if replies and self._transport is not None:
            self._transport.write(b"".join(replies))


async def h2_creates_per_second(endpoint: str, clients: int, total: int) -> tuple[float, float]:
    """(creates/s, client CPU microseconds per create) of the same Txn through :class:`MinimalH2`."""
    address = endpoint.removeprefix("http://")
    host, port = address.rsplit(":", 1)
    loop = asyncio.get_running_loop()
    transport, h2 = await loop.create_connection(lambda: MinimalH2(address.encode()), host, int(port))
    try:
        counter = iter(range(total))

        async def client() -> None:
            for i in counter:
                key = f"/bench-h2/k{i}".encode()
                request = rpc_pb2.TxnRequest(
                    compare=[rpc_pb2.Compare(key=key, target=rpc_pb2.Compare.CREATE, create_revision=0)],
                    success=[rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=VALUE))],
                )
                reply = await h2.call(b"/etcdserverpb.KV/Txn", request.SerializeToString())
                assert rpc_pb2.TxnResponse.FromString(reply).succeeded

        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(client() for _ in range(clients)))
        return total / (time.perf_counter() - start), (time.process_time() - cpu) * 1e6 / total
    finally:
        transport.close()


async def gateway_creates_per_second(endpoint: str, clients: int, total: int) -> float:
    """The same create Txn through the JSON gateway (``/v3/kv/txn``)."""
    value = base64.b64encode(VALUE).decode()
    counter = iter(range(total))
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            for i in counter:
                key = base64.b64encode(f"/bench-gw/k{i}".encode()).decode()
                body = {
                    "compare": [{"key": key, "target": "CREATE", "result": "EQUAL", "create_revision": "0"}],
                    "success": [{"request_put": {"key": key, "value": value}}],
                }
                async with session.post(f"{endpoint}/v3/kv/txn", json=body) as resp:
                    resp.raise_for_status()
                    assert (await resp.json()).get("succeeded") is True

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return total / (time.perf_counter() - start)


async def grpc_watch_latency(endpoint: str, samples: int) -> float:
    """Median seconds from a create's acknowledgement to its watch event (gRPC)."""
    store = await EtcdStore.open([endpoint], prefix="/bench-watch")
    try:
        it = aiter(store.watch("/", await store.current_revision() + 1))
        latencies = []
        for i in range(samples):
            pending = asyncio.ensure_future(anext(it))
            await asyncio.sleep(0)
            sent = time.perf_counter()
            await store.create(f"/w{i}", b"x")
            await pending
            latencies.append(time.perf_counter() - sent)
        return statistics.median(latencies)
    finally:
        await store.close()


async def gateway_watch_latency(endpoint: str, samples: int) -> float:
    """Median seconds from sending a create to its event on a gateway ``/v3/watch`` stream."""
    store = await EtcdStore.open([endpoint], prefix="/bench-gw-watch")
    key = base64.b64encode(b"/bench-gw-watch/").decode()
    end = base64.b64encode(b"/bench-gw-watch0").decode()
    body = {"create_request": {"key": key, "range_end": end}}
    try:
        async with aiohttp.ClientSession() as session, session.post(f"{endpoint}/v3/watch", json=body) as resp:
            await resp.content.readline()  # the "created" response
            latencies = []
            for i in range(samples):
                sent = time.perf_counter()
                await store.create(f"/w{i}", b"x")
                line = await resp.content.readline()
                assert b"events" in line, line
                latencies.append(time.perf_counter() - sent)
            return statistics.median(latencies)
    finally:
        await store.close()


async def run(total: int, clients: int) -> None:
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        server = EtcdServer(Path(tmp) / "etcd")
        await server.start()
        try:
            grpc_rate, grpc_cpu = await grpc_creates_per_second(server.endpoint, clients, total)
            gateway_rate = await gateway_creates_per_second(server.endpoint, clients, total)
            h2_rate, h2_cpu = await h2_creates_per_second(server.endpoint, clients, total)
            latency = await grpc_watch_latency(server.endpoint, 200)
            gateway_latency = await gateway_watch_latency(server.endpoint, 200)
        finally:
            await server.stop()
    print(
        f"creates/s with {clients} clients: gRPC {grpc_rate:,.0f}  JSON gateway {gateway_rate:,.0f}"
        f"  (gRPC / gateway = {grpc_rate / gateway_rate:.2f}x)"
    )
    print(
        f"client CPU per create: gRPC {grpc_cpu:.0f} us ({grpc_rate:,.0f}/s); minimal HTTP/2 framing"
        f" {h2_cpu:.0f} us ({h2_rate:,.0f}/s)"
    )
    print(
        f"create → watch event, median of 200: gRPC {latency * 1000:.2f} ms"
        f"  JSON gateway {gateway_latency * 1000:.2f} ms"
    )


def main() -> None:
    """Parse the flags and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(run(args.total, args.clients))


if __name__ == "__main__":
    main()
