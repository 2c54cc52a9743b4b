"""Pinnace on etcd against raw etcd: creates/s and GET/s on a 3-member cluster, in one run.

A 3-member etcd cluster (Debian ``etcd``) is started here on free loopback
ports, data dirs in a temporary directory. On that one cluster, in alternated
rounds (the order flips every round, so drift in the machine's load falls on
each side alike), each side measured with the same 32 concurrent clients, the
same 1 s warm-up and the same duration, and alone (the others stopped):

1. Pinnace: ``pinnace up --store etcd://m0,m1,m2 --controllers ""`` in its own
   process, started for the round (its event window watches every key, so it
   must not run while another side writes), with ``benchmarks/api.py``'s load
   generator in another process (its HTTPS keep-alive client): POST configmaps.
2. raw etcd, through the transport the store uses (``EtcdStore`` on
   ``grpc.aio`` and uvloop, in a fresh process, given the same endpoints as
   Pinnace, so it talks to the same member): ``EtcdStore.create`` -- a Txn
   ``create_revision == 0 -> put``, the operation a Pinnace create costs etcd --
   with values the size of a configmap Pinnace stored. No event window
   (``watch_window=0``): a plain etcd client keeps no watch open.
3. with ``--floor``, the thinnest API server there could be on this store: an
   aiohttp HTTPS server (Pinnace's HTTP stack and certificate) whose POST does
   nothing but ``EtcdStore.create`` of the body, its event window open and
   drained as Pinnace's watch cache drains it, under the same load generator.
   It does no Kubernetes work at all, so its rate bounds what a Python API
   server on this transport can reach on this machine.

Then GET by name once on each side: Pinnace (``wrk -t1 -c32`` when installed,
otherwise api.py's Python client) and a linearizable Range from 32 clients.

The creates ratio is the median of the rounds' ratios (each Pinnace round
against the raw round beside it). Printed too: the CPU each process spent per
create over all rounds. When etcd, the server and the load share a few cores,
the rates are bound by the total CPU per create, and those lines say where it
goes (the etcd members' share includes the watch Pinnace keeps).
Target: Pinnace creates >= 0.7x raw etcd creates (GET is reported, not judged).

Run: ``python benchmarks/etcd.py [--quick] [--rounds N] [--floor] [--no-wrk]``.
Exit status 0 only on PASS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

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


async def _rate(clients: int, seconds: float, op: Callable[[int], Awaitable[object]]) -> tuple[int, float]:
    """(operations done, seconds taken) of ``op(i)`` (i = 0, 1, ...) from ``clients`` concurrent callers."""
    counter = itertools.count()
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            await op(next(counter))

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return next(counter), time.perf_counter() - start


def cpu_of(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far."""
    return sum(api.cpu_seconds(pid) for pid in pids)


def children_cpu() -> float:
    """CPU seconds of this process's reaped children (the load generators, once joined)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def member_cpu(etcd_pids: list[int]) -> dict[str, float]:
    """CPU seconds so far of each etcd member, by name (m0, m1, ...)."""
    return {f"etcd m{i}": api.cpu_seconds(pid) for i, pid in enumerate(etcd_pids)}


def cpu_delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    """CPU seconds spent between two readings, by process."""
    return {name: after[name] - before[name] for name in after}


@dataclass
class Side:
    """One side of the comparison over every round: its rates, and its creates and CPU seconds by process."""

    name: str
    rates: list[float] = field(default_factory=list)
    creates: int = 0
    errors: int = 0
    cpu: dict[str, float] = field(default_factory=dict)

    def add(self, creates: int, seconds: float, cpu: dict[str, float], errors: int = 0) -> None:
        """Add one round's figures."""
        self.rates.append(creates / seconds)
        self.creates += creates
        self.errors += errors
        for name, spent in cpu.items():
            self.cpu[name] = self.cpu.get(name, 0.0) + spent

    @property
    def cpu_per_create(self) -> float:
        """CPU microseconds per create, every process summed."""
        return sum(self.cpu.values()) * 1e6 / max(self.creates, 1)

    def cpu_line(self) -> str:
        """CPU microseconds per create by process, the etcd members summed (and each in parentheses)."""
        per = {name: spent * 1e6 / max(self.creates, 1) for name, spent in self.cpu.items()}
        members = {name: us for name, us in per.items() if name.startswith("etcd ")}
        others = [f"{name} {us:.0f}" for name, us in per.items() if name not in members]
        each = "+".join(f"{us:.0f}" for us in members.values())
        parts = [*others, f"etcd members {sum(members.values()):.0f} ({each})"]
        return f"{' + '.join(parts)} = {sum(per.values()):.0f}"


async def raw_creates(
    endpoints: list[str], etcd_pids: list[int], seconds: float, value_size: int
) -> tuple[int, float, dict[str, float]]:
    """(creates, seconds, CPU seconds by process) of raw etcd creates through ``EtcdStore``, after 1 s of warm-up.

    A create is a Txn create-if-absent. No event window (``watch_window=0``): a plain etcd client keeps no
    watch open.
    """
    value = os.urandom(value_size)
    store = await EtcdStore.open(endpoints, prefix=f"/bench-raw/{os.getpid()}", watch_window=0)
    try:
        await _rate(CLIENTS, 1.0, lambda i: store.create(f"/warm/{i}", value))
        cpu, etcd = time.process_time(), member_cpu(etcd_pids)
        creates, took = await _rate(CLIENTS, seconds, lambda i: store.create(f"/create/{i}", value))
        spent = {"raw client": time.process_time() - cpu, **cpu_delta(member_cpu(etcd_pids), etcd)}
        return creates, took, spent
    finally:
        await store.close()


async def raw_gets(endpoints: list[str], seconds: float, value_size: int) -> float:
    """Linearizable gets/s of one key through ``EtcdStore``, 32 concurrent clients."""
    store = await EtcdStore.open(endpoints, prefix=f"/bench-raw-get/{os.getpid()}", watch_window=0)
    try:
        await store.create("/get", os.urandom(value_size))
        await _rate(CLIENTS, 1.0, lambda i: store.get("/get"))
        gets, took = await _rate(CLIENTS, seconds, lambda i: store.get("/get"))
        return gets / took
    finally:
        await store.close()


def _raw_process(work: Callable[..., Awaitable[object]], args: tuple[object, ...], out: Connection) -> None:
    """``work(*args)`` in a process of its own (a fresh gRPC runtime, on uvloop as ``pinnace up`` runs)."""
    out.send(api._run(work(*args)))  # type: ignore[arg-type]
    out.close()


def run_raw(work: Callable[..., Awaitable[object]], *args: object) -> Any:
    """What ``work(*args)`` returns, run in a fresh process."""
    return api.run_in_process(_raw_process, (work, args), 120, "raw etcd client")


def _floor_server(endpoints: list[str], port: int) -> None:
    """The thinnest API server on this store: POST = one ``EtcdStore.create`` of the body (see the docstring)."""
    from aiohttp import web

    async def serve() -> None:
        store = await EtcdStore.open(endpoints, prefix=f"/bench-floor/{os.getpid()}")
        source = store.watch("/", await store.current_revision() + 1)

        async def drain() -> None:  # what Pinnace's watch cache does with every event
            async for _ in source:
                pass

        drainer = asyncio.ensure_future(drain())
        keys = itertools.count()

        async def create(request: web.Request) -> web.Response:
            body = await request.read()
            await store.create(f"/{next(keys)}", body)
            return web.Response(status=201, body=body, content_type="application/json")

        async def ready(request: web.Request) -> web.Response:
            return web.Response(body=b"ok")

        app = web.Application()
        app.router.add_post("/{tail:.*}", create)
        app.router.add_get("/{tail:.*}", ready)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, api.HOST, port, ssl_context=api.server_ssl()).start()
        try:
            await asyncio.Event().wait()
        finally:
            drainer.cancel()

    with contextlib.suppress(KeyboardInterrupt):
        api._run(serve())


def http_creates(
    port: int, server_pid: int, server_name: str, etcd_pids: list[int], seconds: float, prefix: str
) -> tuple[int, float, dict[str, float], int]:
    """(creates, seconds, CPU seconds by process, errors) of POST configmaps through an HTTP server, after 1 s of
    warm-up."""
    warm = api.LoadSpec(port, CLIENTS, 1.0, create_namespace="bench-create", create_prefix=f"{prefix}w")
    api.run_load(warm, 60)
    server, load, etcd = api.cpu_seconds(server_pid), children_cpu(), member_cpu(etcd_pids)
    spec = api.LoadSpec(port, CLIENTS, seconds, create_namespace="bench-create", create_prefix=prefix)
    result = api.run_load(spec, seconds + 60)
    if result.errors:
        print(f"warning: {result.errors} failed creates {result.statuses}")
    spent = {
        server_name: api.cpu_seconds(server_pid) - server,
        "load generator": children_cpu() - load,
        **cpu_delta(member_cpu(etcd_pids), etcd),
    }
    return result.ok, result.seconds, spent, result.errors


def report(name: str, pinnace: float, raw: float, raw_name: str) -> float:
    """Print one Pinnace figure beside its raw counterpart; return the ratio."""
    ratio = pinnace / raw
    print(f"{name}:")
    print(f"    pinnace HTTP API {pinnace:9.0f}/s")
    print(f"    raw etcd         {raw:9.0f}/s  ({raw_name})")
    print(f"    ratio {ratio:.2f}x")
    return ratio


class Bench:
    """One benchmark run: the cluster, the Pinnace server, the sides and their rounds."""

    def __init__(self, base: Path, seconds: float, floor: bool) -> None:
        self.cluster = EtcdCluster(base)
        self.seconds = seconds
        self.server = api.Pinnace(base / "pinnace", controllers="", args=["--store", "etcd://" + ",".join(
            e.removeprefix("http://") for e in self.cluster.endpoints
        )])  # fmt: skip
        self.pinnace = Side("pinnace")
        self.raw = Side("raw")
        self.floor = Side("floor") if floor else None
        self.value_size = 0

    @property
    def etcd_pids(self) -> list[int]:
        """The members' process ids."""
        return [p.pid for p in self.cluster.processes]

    def setup(self) -> None:
        """Start the cluster and Pinnace once: the benchmark namespace, and the size of a created configmap."""
        api._run(self.cluster.start())
        self.server.start()
        port = self.server.port
        body = orjson.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench-create"}})
        status, _ = api._run(api.call(port, "POST", "/api/v1/namespaces", body))
        assert status == 201, status
        path = "/api/v1/namespaces/default/configmaps"
        status, obj = api._run(api.call(port, "POST", path, api.configmap("bench-get")))
        assert status == 201, status
        self.value_size = len(obj)
        self.server.stop()

    def pinnace_round(self, n: int) -> None:
        """Pinnace creates: a fresh ``pinnace up`` (stopped after, so no other side's write reaches its watch)."""
        self.server.start()
        try:
            self.pinnace.add(*http_creates(self.server.port, self.server.pid, "pinnace server", self.etcd_pids,
                                           self.seconds, f"r{n}-"))  # fmt: skip
        finally:
            self.server.stop()

    def raw_round(self, n: int) -> None:
        """Raw creates in a fresh process."""
        self.raw.add(*run_raw(raw_creates, self.cluster.endpoints, self.etcd_pids, self.seconds, self.value_size))

    def floor_round(self, n: int) -> None:
        """Creates through the floor server, started for the round."""
        assert self.floor is not None
        with api.server_process(_floor_server, (self.cluster.endpoints,), "floor server") as (port, pid):
            self.floor.add(*http_creates(port, pid, "floor server", self.etcd_pids, self.seconds, f"f{n}-"))

    def rounds(self, count: int) -> None:
        """``count`` rounds, the order of the sides reversed every other round."""
        sides = [self.pinnace_round, self.raw_round] + ([self.floor_round] if self.floor else [])
        for n in range(count):
            for run in sides if n % 2 == 0 else sides[::-1]:
                run(n)
            line = f"round {n + 1}: pinnace {self.pinnace.rates[-1]:.0f}/s, raw {self.raw.rates[-1]:.0f}/s"
            if self.floor:
                line += f", floor {self.floor.rates[-1]:.0f}/s"
            print(f"{line}  (load average {os.getloadavg()[0]:.2f})", flush=True)

    def gets(self, use_wrk: bool) -> tuple[api.LoadResult, float]:
        """(Pinnace GETs, raw gets/s) of one object by name."""
        self.server.start()
        try:
            path = "/api/v1/namespaces/default/configmaps/bench-get"
            if use_wrk:
                pinnace = api.run_wrk(self.server.port, path, self.seconds)
            else:
                spec = api.LoadSpec(self.server.port, api.CONNECTIONS, self.seconds, get_path=path)
                pinnace = api.run_load(spec, self.seconds + 60)
        finally:
            self.server.stop()
        return pinnace, run_raw(raw_gets, self.cluster.endpoints, self.seconds, self.value_size)

    def stop(self) -> None:
        """Stop Pinnace and the cluster."""
        self.server.stop()
        self.cluster.stop()


def main() -> int:
    """Start the cluster, measure Pinnace and raw etcd (and the floor) in alternated rounds, print and judge."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="shorter measurements, 2 rounds")
    parser.add_argument("--rounds", type=int, default=0, help="rounds of creates (default 3, quick 2)")
    parser.add_argument("--floor", action="store_true", help="also measure the thinnest HTTP server on the store")
    parser.add_argument("--no-wrk", action="store_true", help="use the Python load generator even if wrk exists")
    args = parser.parse_args()
    seconds = 2.0 if args.quick else 5.0
    rounds = args.rounds or (2 if args.quick else 3)
    use_wrk = shutil.which("wrk") is not None and not args.no_wrk
    print(f"Pinnace on etcd benchmark ({'quick' if args.quick else 'full'}) on {os.cpu_count()} cores,")
    print(f"3-member etcd cluster on loopback; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{CLIENTS} concurrent clients, {rounds} alternated rounds of {seconds:.0f} s after 1 s of warm-up;")
    print(f"GET load generator: {'wrk -t1 -c32' if use_wrk else 'python, own process'}")
    print()
    with tempfile.TemporaryDirectory(dir=".", prefix="pinnace-etcd-bench-") as tmp:
        bench = Bench(Path(tmp), seconds, args.floor)
        try:
            bench.setup()
            bench.rounds(rounds)
            gets, raw_get = bench.gets(use_wrk)
        finally:
            bench.stop()
    print()
    ratios = [p / r for p, r in zip(bench.pinnace.rates, bench.raw.rates, strict=True)]
    ratio = statistics.median(ratios)
    print(f"creates, {CLIENTS} concurrent clients (median of {rounds} rounds):")
    print(f"    pinnace HTTP API {statistics.median(bench.pinnace.rates):9.0f}/s")
    print(f"    raw etcd         {statistics.median(bench.raw.rates):9.0f}/s  (Txn create-if-absent)")
    if bench.floor:
        floor = statistics.median(f / r for f, r in zip(bench.floor.rates, bench.raw.rates, strict=True))
        rate = statistics.median(bench.floor.rates)
        print(f"    floor server     {rate:9.0f}/s  ({floor:.2f}x raw: HTTPS + the store's create, nothing else)")
    print(f"    ratio {ratio:.2f}x  (rounds: {', '.join(f'{r:.2f}' for r in ratios)})")
    for side in (bench.pinnace, bench.raw, bench.floor):
        if side is not None:
            print(f"    CPU us per create, {side.name}: {side.cpu_line()}")
    # On a machine whose cores are all busy with these processes, rates are inversely proportional to the CPU
    # per create: this ratio is what the rates' ratio tends to on a quiet machine, whatever else runs now.
    bound = [f"pinnace {bench.raw.cpu_per_create / bench.pinnace.cpu_per_create:.2f}x"]
    if bench.floor:
        bound.append(f"floor {bench.raw.cpu_per_create / bench.floor.cpu_per_create:.2f}x")
    print(f"    CPU-bound ratio (raw CPU per create / its CPU per create): {', '.join(bound)}")
    raw_cpu = bench.raw.cpu_per_create
    beyond = [f"Pinnace spends {bench.pinnace.cpu_per_create - raw_cpu:.0f}"]
    if bench.floor:
        beyond.append(f"the floor server {bench.floor.cpu_per_create - raw_cpu:.0f}")
    allowed = raw_cpu / TARGET - raw_cpu
    print(f"    {TARGET}x of raw leaves {allowed:.0f} us of CPU per create beyond raw's {raw_cpu:.0f}:")
    print(f"    {', '.join(beyond)}")
    if gets.errors:
        print(f"warning: {gets.errors} failed GETs {gets.statuses}")
    report(f"GET by name, {CLIENTS} concurrent clients", gets.rate, raw_get, "linearizable Range")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    ok = ratio >= TARGET and not bench.pinnace.errors
    print(f"{'PASS' if ok else 'FAIL'}  creates on etcd: {ratio:.2f}x of raw etcd creates (>= {TARGET}x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
