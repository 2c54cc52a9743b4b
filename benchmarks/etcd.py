"""Pinnace on etcd against raw etcd: creates/s and GET/s on a 3-member cluster, in one run.

A 3-member etcd cluster (Debian ``etcd``) is started here on free loopback
ports, data dirs in a temporary directory. Then, on that one cluster:

1. Pinnace: ``pinnace up --store etcd://m0,m1,m2 --controllers ""`` in its own
   process, with ``benchmarks/api.py``'s load generators in another:
   - creates/s: POST configmaps from 32 concurrent clients;
   - GET/s: GET one configmap by name, ``wrk -t1 -c32`` when installed,
     otherwise api.py's Python keep-alive client.
   Then Pinnace is stopped, so raw etcd runs on the same machine as it had.
2. raw etcd, through the transport the store uses (``EtcdStore`` on
   ``grpc.aio`` and uvloop, in a process of its own, talking to the first
   member, as Pinnace does):
   - creates/s: ``EtcdStore.create`` -- a Txn ``create_revision == 0 -> put``,
     the operation a Pinnace create costs etcd -- from 32 concurrent clients,
     values the size of the configmap Pinnace served;
   - gets/s: ``EtcdStore.get`` (a linearizable Range) of one key, 32 clients.

Each Pinnace figure is printed beside its raw counterpart with the ratio, and
the CPU each process spent per create: when etcd, the server and the load share
a few cores, the rates are bound by the total CPU per create, and that line
says where it goes (the etcd members' share includes the watch Pinnace keeps).
Target: Pinnace creates >= 0.7x raw etcd creates (GET is reported, not judged).

Run: ``python benchmarks/etcd.py [--quick] [--no-wrk]``. Exit status 0 only on PASS.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
CLIENTS = 32
TARGET = 0.7

sys.path[:0] = [str(HERE), str(HERE.parent)]  # api.py (the API benchmark) and tests.unit.storage
from tests.unit.storage.etcd_server import free_port  # noqa: E402

import api  # noqa: E402
from pinnace.cluster.etcd_member import EtcdMemberSpec, member_env, wait_serving  # noqa: E402
from pinnace.storage.etcd import EtcdStore  # noqa: E402


class EtcdCluster:
    """A 3-member etcd cluster on loopback: one process per member, each with its own data dir."""

    def __init__(self, base: Path, members: int = 3) -> None:
        self.base = base
        self.names = [f"m{i}" for i in range(members)]
        self.client_ports = [free_port() for _ in self.names]
        self.peer_ports = [free_port() for _ in self.names]
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def endpoints(self) -> list[str]:
        """The members' client URLs, in member order."""
        return [f"http://127.0.0.1:{p}" for p in self.client_ports]

    async def start(self, timeout: float = 30.0) -> None:
        """Start every member (they need each other for a quorum), then wait until each serves reads."""
        peers = [f"http://127.0.0.1:{p}" for p in self.peer_ports]
        initial = ",".join(f"{n}={u}" for n, u in zip(self.names, peers, strict=True))
        for name, client, peer in zip(self.names, self.endpoints, peers, strict=True):
            spec = EtcdMemberSpec(
                name=name,
                data_dir=self.base / name,
                client_url=client,
                peer_url=peer,
                initial_cluster=initial,
                cluster_token=f"bench-{os.getpid()}",
            )
            with (self.base / f"{name}.log").open("ab") as log:
                self.processes.append(
                    subprocess.Popen(spec.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=member_env())
                )
        for endpoint, process, name in zip(self.endpoints, self.processes, self.names, strict=True):
            await wait_serving(endpoint, timeout=timeout, exit_code=process.poll, log_path=self.base / f"{name}.log")

    def stop(self) -> None:
        """Kill every member (SIGKILL, by its PID) and reap it."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        self.processes = []


async def _rate(clients: int, seconds: float, op: Callable[[int], Awaitable[object]]) -> float:
    """Operations/s of ``op(i)`` (i = 0, 1, ...) from ``clients`` concurrent callers for ``seconds``."""
    counter = itertools.count()
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            await op(next(counter))

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return next(counter) / (time.perf_counter() - start)


def cpu_of(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far."""
    return sum(api.cpu_seconds(pid) for pid in pids)


def children_cpu() -> float:
    """CPU seconds of this process's reaped children (the load generators, once joined)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def raw_figures(
    endpoint: str, etcd_pids: list[int], seconds: float, value_size: int
) -> tuple[float, float, dict[str, float]]:
    """(creates/s, gets/s, CPU microseconds per create by process) of raw etcd through ``EtcdStore``.

    Creates are Txn create-if-absent, gets a linearizable Range. No event window
    (``watch_window=0``): a plain etcd client keeps no watch open.
    """
    value = os.urandom(value_size)
    store = await EtcdStore.open([endpoint], prefix="/bench-raw", watch_window=0)
    try:
        await _rate(CLIENTS, 1.0, lambda i: store.create(f"/warm/{i}", value))
        cpu, etcd = time.process_time(), cpu_of(etcd_pids)
        creates = await _rate(CLIENTS, seconds, lambda i: store.create(f"/create/{i}", value))
        per = 1e6 / (creates * seconds)
        cpu_us = {"raw client": (time.process_time() - cpu) * per, "etcd members": (cpu_of(etcd_pids) - etcd) * per}
        await store.create("/get", value)
        gets = await _rate(CLIENTS, seconds, lambda i: store.get("/get"))
        return creates, gets, cpu_us
    finally:
        await store.close()


def _raw_process(endpoint: str, etcd_pids: list[int], seconds: float, value_size: int, out: Connection) -> None:
    """``raw_figures`` in a process of its own (a fresh gRPC runtime, on uvloop as ``pinnace up`` runs)."""
    out.send(api._run(raw_figures(endpoint, etcd_pids, seconds, value_size)))
    out.close()


def pinnace_figures(
    server: api.Pinnace, etcd_pids: list[int], seconds: float, use_wrk: bool
) -> tuple[api.LoadResult, dict[str, float], api.LoadResult, int]:
    """(creates, CPU microseconds per create by process, GETs, the GET object's size) through the HTTP API."""
    port = server.port
    body = orjson.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench-create"}})
    status, _ = api._run(api.call(port, "POST", "/api/v1/namespaces", body))
    assert status == 201, status
    warm = api.LoadSpec(port, CLIENTS, 1.0, create_namespace="bench-create", create_prefix="w")
    api.run_load(warm, 60)
    before = api.cpu_seconds(server.pid), children_cpu(), cpu_of(etcd_pids)
    creates = api.run_load(api.LoadSpec(port, CLIENTS, seconds, create_namespace="bench-create"), seconds + 60)
    after = api.cpu_seconds(server.pid), children_cpu(), cpu_of(etcd_pids)
    names = ("pinnace server", "load generator", "etcd members")
    cpu_us = {n: (a - b) * 1e6 / max(creates.ok, 1) for n, a, b in zip(names, after, before, strict=True)}
    status, _ = api._run(api.call(port, "POST", "/api/v1/namespaces/default/configmaps", api.configmap("bench-get")))
    assert status == 201, status
    path = "/api/v1/namespaces/default/configmaps/bench-get"
    status, obj = api._run(api.call(port, "GET", path))
    assert status == 200, status
    if use_wrk:
        gets = api.run_wrk(port, path, seconds)
    else:
        gets = api.run_load(api.LoadSpec(port, api.CONNECTIONS, seconds, get_path=path), seconds + 60)
    return creates, cpu_us, gets, len(obj)


def report(name: str, pinnace: float, raw: float, raw_name: str) -> float:
    """Print one Pinnace figure beside its raw counterpart; return the ratio."""
    ratio = pinnace / raw
    print(f"{name}:")
    print(f"    pinnace HTTP API {pinnace:9.0f}/s")
    print(f"    raw etcd         {raw:9.0f}/s  ({raw_name})")
    print(f"    ratio {ratio:.2f}x")
    return ratio


def main() -> int:
    """Start the cluster, measure raw etcd then Pinnace on it, print and judge."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="shorter measurements")
    parser.add_argument("--no-wrk", action="store_true", help="use the Python load generator even if wrk exists")
    args = parser.parse_args()
    seconds = 2.0 if args.quick else 5.0
    use_wrk = shutil.which("wrk") is not None and not args.no_wrk
    print(f"Pinnace on etcd benchmark ({'quick' if args.quick else 'full'}) on {os.cpu_count()} cores,")
    print(f"3-member etcd cluster on loopback; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{CLIENTS} concurrent clients; GET load generator: {'wrk -t1 -c32' if use_wrk else 'python, own process'}")
    print()
    with tempfile.TemporaryDirectory(dir=".", prefix="pinnace-etcd-bench-") as tmp:
        cluster = EtcdCluster(Path(tmp))
        server = api.Pinnace(
            Path(tmp) / "pinnace", controllers="", args=["--store", "etcd://" + ",".join(
                e.removeprefix("http://") for e in cluster.endpoints
            )]
        )  # fmt: skip
        try:
            api._run(cluster.start())
            server.start()
            etcd_pids = [p.pid for p in cluster.processes]
            creates, cpu_us, gets, size = pinnace_figures(server, etcd_pids, seconds, use_wrk)
            server.stop()  # so that raw etcd has the machine as Pinnace had it (and no watcher of its writes)
            raw_create, raw_get, raw_cpu = api.run_in_process(
                _raw_process, (cluster.endpoints[0], etcd_pids, seconds, size), 3 * seconds + 60, "raw etcd client"
            )
        finally:
            server.stop()
            cluster.stop()
    for result, what in ((creates, "creates"), (gets, "GETs")):
        if result.errors:
            print(f"warning: {result.errors} failed {what} {result.statuses}")
    ratio = report(f"creates, {CLIENTS} concurrent clients", creates.rate, raw_create, "Txn create-if-absent")
    for who, cpu in (("pinnace", cpu_us), ("raw", raw_cpu)):
        parts = " + ".join(f"{name} {us:.0f}" for name, us in cpu.items())
        print(f"    CPU us per create, {who}: {parts} = {sum(cpu.values()):.0f}")
    report(f"GET by name, {CLIENTS} concurrent clients", gets.rate, raw_get, "linearizable Range")
    print()
    ok = ratio >= TARGET and not creates.errors
    print(f"{'PASS' if ok else 'FAIL'}  creates on etcd: {ratio:.2f}x of raw etcd creates (>= {TARGET}x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
