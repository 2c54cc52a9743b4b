"""Simulated nodes at scale: registration, idle cost, and pods turned Running.

With N simulated nodes (default 1,000, as the scheduler benchmark uses) in
one manager, against a Pinnace API server in its own process:

1. seconds to register the N Nodes and their Leases;
2. idle CPU, as a share of one core, of the simulated nodes' process and of
   the API server, over ``--idle`` seconds (leases renewed every 10 s, as
   kubelets do: N/10 writes per second);
3. seconds from the first of P pods (default 1,000) bound to the nodes being
   created to all of them Running (created by this process, 32 at a time,
   while the simulated nodes run their status workers).

Run: ``python benchmarks/simnodes.py [--nodes 1000] [--pods 1000] [--idle 30]``.
Prints the figures; there is no pass/fail (the issue's targets are on the
scheduler and rollout benchmarks, which stand on these nodes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import socket
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _run(coro: object) -> None:
    try:
        import uvloop

        uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        asyncio.run(coro)  # type: ignore[arg-type]


def _server(directory: str, port: int, ready: Connection) -> None:
    async def serve() -> None:
        from pinnace.apiserver.server import APIServer
        from pinnace.storage.sqlite import SQLiteStore

        store = await SQLiteStore.open(Path(directory) / "store.db")
        server = APIServer(store)
        await server.listen(HOST, port)
        ready.send(True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        _run(serve())


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bench(port: int, server_pid: int, nodes: int, pods: int, idle: float) -> None:
    from pinnace.client.rest import ResourceRef, RestClient
    from pinnace.node.simulated import add_simulated_nodes
    from pinnace.runtime.manager import Manager

    rest = RestClient(f"http://{HOST}:{port}")
    manager = Manager(rest)
    started = time.perf_counter()
    sim = await add_simulated_nodes(manager, nodes)
    await manager.start()
    await sim.wait_registered(timeout=600)
    print(f"registered {nodes} nodes (Node + Lease each) in {time.perf_counter() - started:.1f} s")

    await asyncio.sleep(2)
    own0, srv0, t0 = time.process_time(), _cpu_seconds(server_pid), time.perf_counter()
    await asyncio.sleep(idle)
    own1, srv1, t1 = time.process_time(), _cpu_seconds(server_pid), time.perf_counter()
    wall = t1 - t0
    print(
        f"idle, {nodes} nodes, {wall:.0f} s: simulated nodes {100 * (own1 - own0) / wall:.1f}% of a core, "
        f"API server {100 * (srv1 - srv0) / wall:.1f}% of a core ({nodes / 10:.0f} lease renewals/s)"
    )

    pods_ref = ResourceRef("", "v1", "pods")
    informer = await manager.cache.informer_for("v1/Pod")
    limit = asyncio.Semaphore(32)

    async def create(i: int) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"bench-{i}", "namespace": "default"},
            "spec": {"nodeName": f"sim-node-{i % nodes}", "containers": [{"name": "app", "image": "nginx"}]},
        }
        async with limit:
            await rest.create(pods_ref, body, "default")

    def running() -> int:
        return sum(1 for p in informer.indexer.objects() if (p.get("status") or {}).get("phase") == "Running")

    own0, srv0 = time.process_time(), _cpu_seconds(server_pid)
    t0 = time.perf_counter()
    await asyncio.gather(*(create(i) for i in range(pods)))
    created = time.perf_counter() - t0
    while running() < pods:
        await asyncio.sleep(0.05)
    total = time.perf_counter() - t0
    own1, srv1 = time.process_time(), _cpu_seconds(server_pid)
    print(
        f"{pods} pods on {nodes} nodes: all created in {created:.1f} s, all Running {total:.1f} s after the first "
        f"create ({pods / total:.0f} pods/s); CPU: this process {own1 - own0:.1f} s, API server {srv1 - srv0:.1f} s"
    )
    manager.stop()
    await manager.shutdown()
    await rest.close()


def main() -> None:
    """Parse flags, start the server, run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pinnace-simnodes-") as directory:
        port = _free_port()
        ctx = mp.get_context("spawn")
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_server, args=(directory, port, send), daemon=True)
        proc.start()
        try:
            if not recv.poll(60):
                raise SystemExit("the API server did not start")
            recv.recv()
            assert proc.pid is not None
            _run(bench(port, proc.pid, args.nodes, args.pods, args.idle))
        finally:
            proc.kill()
            proc.join()


if __name__ == "__main__":
    main()
