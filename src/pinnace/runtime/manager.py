"""The manager: runs a process's controllers on one shared cache, with leader election and probes.

A :class:`Manager` owns what its controllers share — the REST client, the REST
mapper, the informer :class:`~pinnace.runtime.cache.cache.Cache`, the runtime
:class:`~pinnace.runtime.client.Client` (cached reads, direct writes) and the
event recorders — and runs *runnables*: controllers, or any object with
``async def run()`` that serves until cancelled.

:meth:`Manager.start` starts the health/metrics server (if addresses are
given), the cache, and the runnables. With leader election on, runnables that
need it (controllers do, unless they say ``needs_leader_election = False``)
start only once this process leads; losing the lease stops them and makes
:meth:`Manager.run` raise :class:`LeaderElectionLost` — the process should
exit, as controller-runtime's does, so it never acts without the lease.

Probes: ``/healthz`` and ``/readyz`` (with named checks, ``?verbose``), and
``/metrics`` with the runtime's Prometheus registry, served by :mod:`pinnace.runtime.probeserver`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import generate_latest

from pinnace.client.rest import RestClient
from pinnace.client.restmapper import RESTMapper
from pinnace.runtime import metrics
from pinnace.runtime.cache.cache import Cache
from pinnace.runtime.client import Client
from pinnace.runtime.clock import Clock, RealClock
from pinnace.runtime.events import EventRecorder
from pinnace.runtime.leaderelection import LeaderElectionConfig, LeaderElector
from pinnace.runtime.probeserver import ProbeServer, Reply, Route

__all__ = ["LeaderElectionLost", "Manager", "ManagerOptions", "Runnable"]

log = logging.getLogger(__name__)

#: A health check: returns None when healthy, else what is wrong.
Check = Callable[[], Awaitable[str | None]]


class Runnable(Protocol):
    """Something the manager runs: ``run()`` serves until cancelled."""

    async def run(self) -> None:
        """Serve until cancelled."""
        ...


class LeaderElectionLost(RuntimeError):
    """This process lost its lease; it must stop acting (and normally exit)."""


@dataclass(frozen=True)
class ManagerOptions:
    """How a manager runs (controller-runtime's options, by the same names)."""

    namespace: str | None = None
    sync_period: float = 0.0
    leader_election: bool = False
    leader_election_id: str = ""
    leader_election_namespace: str = "kube-system"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str = ""
    health_probe_bind_address: str | None = None
    metrics_bind_address: str | None = None
    graceful_shutdown_timeout: float = 30.0
    #: The cache's transform for every kind (controller-runtime's DefaultTransform), e.g. strip_managed_fields.
    cache_transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "0.0.0.0", int(port)


class Manager:
    """Runs controllers and other runnables on one shared cache and client."""

    def __init__(
        self,
        rest: RestClient,
        options: ManagerOptions | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.options = options or ManagerOptions()
        self.clock: Clock = clock or RealClock()
        self.rest = rest
        self.mapper = RESTMapper(rest)
        opts = self.options
        self.cache = Cache(
            rest,
            self.mapper,
            namespace=opts.namespace,
            resync_period=opts.sync_period,
            clock=self.clock,
            transform=opts.cache_transform,
        )
        self.client = Client(rest, self.mapper, self.cache)
        self.api_reader = self.client.api_reader
        self.identity = self.options.identity or default_identity()
        self._runnables: list[tuple[Runnable, bool]] = []
        self._healthz: dict[str, Check] = {"ping": _ok}
        self._readyz: dict[str, Check] = {"cache-sync": self._cache_synced}
        self._tasks: list[asyncio.Task[None]] = []
        self._leader_tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self._lost = False
        self._http: list[ProbeServer] = []
        self.elector: LeaderElector | None = None
        self.bound: dict[str, tuple[str, int]] = {}

    # ---- wiring -----------------------------------------------------------------
    def add(self, runnable: Runnable, *, needs_leader_election: bool | None = None) -> None:
        """Run ``runnable`` with the manager (leader-elected unless it or the caller says otherwise)."""
        needs = needs_leader_election
        if needs is None:
            needs = bool(getattr(runnable, "needs_leader_election", True))
        self._runnables.append((runnable, needs))
        if self._tasks or self._leader_tasks:
            leading = self.elector is None or self.elector.is_leader
            if not needs or leading:
                self._spawn(runnable, self._leader_tasks if needs else self._tasks)

    def add_healthz_check(self, name: str, check: Check) -> None:
        """A liveness check served under /healthz/<name>."""
        self._healthz[name] = check

    def add_readyz_check(self, name: str, check: Check) -> None:
        """A readiness check served under /readyz/<name>."""
        self._readyz[name] = check

    def get_event_recorder(self, name: str) -> EventRecorder:
        """An event recorder reporting as controller ``name``.

        It writes core/v1 Events, as controller-runtime's ``GetEventRecorderFor``
        (client-go's tools/record) does: those are what ``kubectl describe`` lists.
        """
        return EventRecorder(self.rest, name, self.identity, clock=self.clock, core=True)

    # ---- running ----------------------------------------------------------------
    async def start(self) -> None:
        """Serve probes, start the cache and the runnables (leader-elected ones once leading)."""
        await self._serve_http()
        await self.cache.start()
        for runnable, needs in self._runnables:
            if not needs or not self.options.leader_election:
                self._spawn(runnable, self._leader_tasks if needs else self._tasks)
        if self.options.leader_election:
            if not self.options.leader_election_id:
                raise ValueError("leader election needs leader_election_id (the Lease's name)")
            config = LeaderElectionConfig(
                self.options.leader_election_id,
                self.options.leader_election_namespace,
                self.identity,
                lease_duration=self.options.lease_duration,
                renew_deadline=self.options.renew_deadline,
                retry_period=self.options.retry_period,
            )
            self.elector = LeaderElector(
                self.rest,
                config,
                on_started_leading=self._start_leading,
                on_stopped_leading=self._stop_leading,
                clock=self.clock,
            )
            self._tasks.append(asyncio.create_task(self._campaign(self.elector), name="leader election"))

    async def run(self) -> None:
        """Start, then serve until :meth:`stop`; raises LeaderElectionLost if the lease was lost."""
        await self.start()
        try:
            await self._stop.wait()
        finally:
            await self.shutdown()
        if self._lost:
            raise LeaderElectionLost(f"{self.identity} lost the lease {self.options.leader_election_id}")

    def stop(self) -> None:
        """Ask :meth:`run` to shut down."""
        self._stop.set()

    async def run_until_signal(self) -> int:
        """Run until SIGINT/SIGTERM; returns a process exit code (1 if leadership was lost)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self.stop)
        try:
            await self.run()
        except LeaderElectionLost as exc:
            log.error("%s", exc)
            return 1
        return 0

    async def shutdown(self) -> None:
        """Stop runnables (controllers drain their work in flight), the election, the cache and probes."""
        await self._cancel(self._leader_tasks)
        await self._cancel(self._tasks)
        await self.cache.stop()
        for server in self._http:
            await server.close()
        self._http.clear()

    async def _cancel(self, tasks: list[asyncio.Task[None]]) -> None:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self.options.graceful_shutdown_timeout)
        tasks.clear()

    def _spawn(self, runnable: Runnable, into: list[asyncio.Task[None]]) -> None:
        task = asyncio.create_task(self._guard(runnable), name=f"runnable {getattr(runnable, 'name', runnable)!s}")
        into.append(task)

    async def _guard(self, runnable: Runnable) -> None:
        try:
            await runnable.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("runnable %s failed; stopping the manager", getattr(runnable, "name", runnable))
            self.stop()

    async def _campaign(self, elector: LeaderElector) -> None:
        await elector.run()  # returns only when leadership is lost

    async def _start_leading(self) -> None:
        for runnable, needs in self._runnables:
            if needs:
                self._spawn(runnable, self._leader_tasks)

    async def _stop_leading(self) -> None:
        if not self._stop.is_set():
            self._lost = True
            self.stop()
        await self._cancel(self._leader_tasks)

    # ---- probes and metrics -----------------------------------------------------
    async def _cache_synced(self) -> str | None:
        problems = self.cache.problems()
        return "; ".join(problems) if problems else None

    async def _serve_http(self) -> None:
        wanted: dict[str, list[str]] = {}
        if self.options.health_probe_bind_address:
            wanted.setdefault(self.options.health_probe_bind_address, []).append("probes")
        if self.options.metrics_bind_address:
            wanted.setdefault(self.options.metrics_bind_address, []).append("metrics")
        for address, roles in wanted.items():
            routes: dict[str, Route] = {}
            if "probes" in roles:
                routes["/healthz"] = functools.partial(self._probe, checks=self._healthz, what="healthz")
                routes["/readyz"] = functools.partial(self._probe, checks=self._readyz, what="readyz")
            if "metrics" in roles:
                routes["/metrics"] = _serve_metrics
            server = ProbeServer(routes)
            bound = await server.start(*_split_address(address))
            for role in roles:
                self.bound[role] = bound
            self._http.append(server)

    async def _probe(self, only: str, query: Mapping[str, list[str]], *, checks: dict[str, Check], what: str) -> Reply:
        if only and only not in checks:
            return Reply(404, f"no such check: {only}\n".encode())
        lines, ok = [], True
        for name, check in checks.items():
            if only and name != only:
                continue
            try:
                problem = await check()
            except Exception as exc:
                problem = repr(exc)
            if problem is None:
                lines.append(f"[+]{name} ok")
            else:
                ok = False
                lines.append(f"[-]{name} failed: {problem}")
        if ok and "verbose" not in query:
            return Reply(200, b"ok")
        verdict = f"{what} check passed" if ok else f"{what} check failed"
        return Reply(200 if ok else 500, ("\n".join([*lines, verdict]) + "\n").encode())


async def _ok() -> str | None:
    return None


async def _serve_metrics(_rest: str, _query: Mapping[str, list[str]]) -> Reply:
    return Reply(200, generate_latest(metrics.REGISTRY), "text/plain; version=0.0.4")


def default_identity() -> str:
    """A leader-election identity unique to this process: host name and a random suffix."""
    return f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
