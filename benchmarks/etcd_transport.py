"""etcd transport benchmark: gRPC (``EtcdStore``) against etcd's JSON gateway, same etcd, same run.

Measures, against one local etcd member (Debian ``etcd``, started here on free
loopback ports in a temporary directory):

(a) creates/s through ``EtcdStore.create`` (a Txn over gRPC, ``grpc.aio``) with
    N concurrent clients;
(b) the same Txn (compare ``create_revision == 0`` → put) posted as JSON to the
    gateway's ``/v3/kv/txn`` with aiohttp, N concurrent clients;
(c) watch latency: time from sending a create to receiving its event on an open
    watch, median of 200, for gRPC (through the store's event window) and for a
    gateway ``/v3/watch`` stream (the create itself goes through gRPC in both).

This is the evidence behind the transport choice in ``pinnace.storage.etcd``.
Run: ``python benchmarks/etcd_transport.py [--total N] [--clients N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.unit.storage.etcd_server import EtcdServer

from pinnace.storage.etcd import EtcdStore

VALUE = os.urandom(1024)


async def grpc_creates_per_second(endpoint: str, clients: int, total: int) -> float:
    """Creates/s through ``EtcdStore`` with ``clients`` concurrent writers."""
    store = await EtcdStore.open([endpoint], prefix="/bench-grpc")
    try:
        counter = iter(range(total))

        async def client() -> None:
            for i in counter:
                await store.create(f"/k{i}", VALUE)

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return total / (time.perf_counter() - start)
    finally:
        await store.close()


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
            grpc_rate = await grpc_creates_per_second(server.endpoint, clients, total)
            gateway_rate = await gateway_creates_per_second(server.endpoint, clients, total)
            latency = await grpc_watch_latency(server.endpoint, 200)
            gateway_latency = await gateway_watch_latency(server.endpoint, 200)
        finally:
            await server.stop()
    print(f"creates/s with {clients} clients: gRPC {grpc_rate:,.0f}  JSON gateway {gateway_rate:,.0f}"
          f"  (gRPC / gateway = {grpc_rate / gateway_rate:.2f}x)")
    print(f"create → watch event, median of 200: gRPC {latency * 1000:.2f} ms"
          f"  JSON gateway {gateway_latency * 1000:.2f} ms")


def main() -> None:
    """Parse the flags and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(run(args.total, args.clients))


if __name__ == "__main__":
    main()
