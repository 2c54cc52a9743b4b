"""The API server's fast HTTP front against aiohttp's protocol: CPU per request, same server, same process.

Two API servers share one SQLite store in this process: one listens through the
fast front (``apiserver/fasthttp.py``, the default), the other through aiohttp's
protocol only (``listen(fast_front=False)``). A client in the same process sends
GETs (one object, from the watch cache) and creates (ConfigMaps, 16 connections
so that group commit batches them) over plain HTTP keep-alive connections, in
alternated rounds. Printed: process CPU per request (client, server and the
SQLite writer together: the client's share is the same on both sides, so the
difference is the server's), best of the rounds, and the ratio.

There is no target: this supports the design (the front exists because aiohttp's
per-request machinery was a large share of a request's CPU) and shows what it
saves on this machine.

Run: ``python benchmarks/http_front.py [--requests N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import uvloop

from pinnace.apiserver.server import APIServer
from pinnace.storage.sqlite import SQLiteStore

CONNECTIONS = 16
PAYLOAD = b"x" * 200


def create_request(name: str) -> bytes:
    meta = b'"metadata":{"name":"%s","labels":{"app":"bench"}}' % name.encode()
    body = b'{"apiVersion":"v1","kind":"ConfigMap",%s,"data":{"payload":"%s"}}' % (meta, PAYLOAD)
    head = b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\n"
    return head + b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body


GET_REQUEST = b"GET /api/v1/namespaces/default/configmaps/target HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\n\r\n"


async def client(port: int, requests: list[bytes]) -> None:
    """Send the requests one after another on one keep-alive connection, reading each response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for request in requests:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 20"):
            raise RuntimeError(f"unexpected response: {head[:80]!r}")
        start = head.lower().find(b"content-length: ") + 16
        await reader.readexactly(int(head[start : head.find(b"\r", start)]))
    writer.close()


async def cpu_per_request(port: int, batches: list[list[bytes]]) -> float:
    """Microseconds of process CPU per request, the batches sent concurrently."""
    start = time.process_time()
    await asyncio.gather(*(client(port, batch) for batch in batches))
    return (time.process_time() - start) / sum(len(b) for b in batches) * 1e6


async def main(requests: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="pinnace-http-front-") as tmp:
        store = await SQLiteStore.open(Path(tmp) / "store.db")
        fast, plain = APIServer(store), APIServer(store)
        await fast.listen("127.0.0.1", 0)
        await plain.listen("127.0.0.1", 0, fast_front=False)
        await client(fast.port, [create_request("target")])
        results: dict[tuple[str, str], list[float]] = {}
        for round_ in range(rounds):
            for name, server in (("fast front", fast), ("aiohttp", plain)):
                get = await cpu_per_request(server.port, [[GET_REQUEST] * (requests // CONNECTIONS)] * CONNECTIONS)
                batches = [
                    [create_request(f"{name[0]}{round_}-{c}-{i}") for i in range(requests // CONNECTIONS)]
                    for c in range(CONNECTIONS)
                ]
                create = await cpu_per_request(server.port, batches)
                results.setdefault((name, "GET"), []).append(get)
                results.setdefault((name, "create"), []).append(create)
        await fast.stop()
        await plain.stop()
        await store.close()
    print(f"process CPU per request (client + server, plain HTTP, {CONNECTIONS} connections), best of {rounds} rounds:")
    for verb in ("GET", "create"):
        f, a = min(results[("fast front", verb)]), min(results[("aiohttp", verb)])
        print(f"    {verb:6s}  fast front {f:6.1f} us   aiohttp {a:6.1f} us   saved {a - f:5.1f} us ({f / a:.2f}x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--requests", type=int, default=4800, help="requests per verb per round (default 4800)")
    parser.add_argument("--rounds", type=int, default=4, help="alternated rounds (default 4)")
    args = parser.parse_args()
    uvloop.install()
    asyncio.run(main(args.requests, args.rounds))
