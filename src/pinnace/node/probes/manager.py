"""The probe manager: one worker per probe of each running container instance, with upstream's timing.

A worker probes once when its container starts and then every
``periodSeconds``; an attempt made before ``initialDelaySeconds`` have passed
since the start is skipped, and each attempt gets ``timeoutSeconds``. A result
takes effect only after ``successThreshold`` consecutive successes or
``failureThreshold`` consecutive failures (upstream's ``resultRun``). Until a
startup probe has succeeded, liveness and readiness probes do not run; a
container with a startup probe is not started, and one with a readiness probe
not ready, until their probes say so (readiness starts as failure, liveness as
success). Every failed attempt records an ``Unhealthy`` event
(``Liveness probe failed: …``); a liveness or startup result of failure asks the
agent to restart the container (``on_liveness_failure``) and stops that
worker — the next instance of the container gets new workers. Readiness and
startup changes ask the agent to write the pod's status (``on_result_changed``).

The manager implements the agent's seam (:mod:`pinnace.node.agent.probes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from pinnace.node.cri import RuntimeService
from pinnace.node.probes import handlers
from pinnace.node.probes.handlers import Outcome, Result
from pinnace.runtime.clock import Clock, RealClock
from pinnace.runtime.events import EventRecorder

if TYPE_CHECKING:
    from pinnace.node.agent.probes import ProbeCallbacks

__all__ = ["NodeProbes", "ProbeKind", "ProbeSpec", "ThresholdCounter"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]


class ProbeKind(enum.Enum):
    """Which probe: its field in the container spec and the word in its events."""

    LIVENESS = "livenessProbe"
    READINESS = "readinessProbe"
    STARTUP = "startupProbe"

    @property
    def title(self) -> str:
        """``Liveness``, ``Readiness`` or ``Startup`` (as events say it)."""
        return self.value[: -len("Probe")].capitalize()


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    """A probe's handler and timing, with upstream's defaults."""

    handler: Obj
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def from_api(cls, probe: Obj) -> ProbeSpec:
        """From a v1.Probe (missing or zero fields get their defaults, as API defaulting gives them)."""
        return cls(
            handler=probe,
            initial_delay=float(probe.get("initialDelaySeconds") or 0),
            period=float(probe.get("periodSeconds") or 10),
            timeout=float(probe.get("timeoutSeconds") or 1),
            success_threshold=int(probe.get("successThreshold") or 1),
            failure_threshold=int(probe.get("failureThreshold") or 3),
        )


class ThresholdCounter:
    """Consecutive results, and the result that holds once a threshold is reached (upstream's resultRun)."""

    def __init__(self, spec: ProbeSpec, initial: bool | None) -> None:
        self.spec = spec
        #: The result in effect (None: unknown yet).
        self.current = initial
        self._last: bool | None = None
        self._run = 0

    def observe(self, ok: bool) -> bool:
        """Count one attempt; True when the result in effect changed."""
        if ok == self._last:
            self._run += 1
        else:
            self._last, self._run = ok, 1
        needed = self.spec.success_threshold if ok else self.spec.failure_threshold
        if self._run < needed or self.current == ok:
            return False
        self.current = ok
        return True


@dataclass
class _Container:
    """What the manager knows of one container instance."""

    pod: Obj
    spec: Obj
    container_id: str
    started_at: float
    workers: dict[ProbeKind, asyncio.Task[None]] = field(default_factory=dict)
    counters: dict[ProbeKind, ThresholdCounter] = field(default_factory=dict)
    pod_ip: str = ""


class NodeProbes:
    """Runs the probes of every container the agent adds (see the module docstring)."""

    def __init__(self, runtime: RuntimeService, recorder: EventRecorder, *, clock: Clock | None = None) -> None:
        self.runtime = runtime
        self.recorder = recorder
        self.clock: Clock = clock or RealClock()
        self.callbacks: ProbeCallbacks | None = None
        self._containers: dict[str, _Container] = {}
        self._session: aiohttp.ClientSession | None = None

    # ---- the agent's seam ---------------------------------------------------------------------
    def bind(self, callbacks: ProbeCallbacks) -> None:
        """Report results to ``callbacks`` (the agent)."""
        self.callbacks = callbacks

    def add_container(self, pod: Obj, container: Obj, container_id: str) -> None:
        """Start a worker for each probe the container has."""
        if container_id in self._containers:
            return
        entry = _Container(pod, container, container_id, self.clock.now())
        self._containers[container_id] = entry
        for kind in ProbeKind:
            probe = container.get(kind.value)
            if not probe:
                continue
            spec = ProbeSpec.from_api(probe)
            initial = {ProbeKind.LIVENESS: True, ProbeKind.READINESS: False, ProbeKind.STARTUP: None}[kind]
            entry.counters[kind] = ThresholdCounter(spec, initial)
            name = f"{kind.title.lower()} probe {container.get('name')} {container_id[:12]}"
            entry.workers[kind] = asyncio.create_task(self._work(entry, kind, spec), name=name)

    def remove_container(self, container_id: str) -> None:
        """Stop the container's workers and forget its results."""
        entry = self._containers.pop(container_id, None)
        if entry is not None:
            for task in entry.workers.values():
                task.cancel()

    def is_started(self, container_id: str) -> bool:
        """True without a startup probe, else once it succeeded."""
        entry = self._containers.get(container_id)
        if entry is None:
            return True
        counter = entry.counters.get(ProbeKind.STARTUP)
        return counter is None or counter.current is True

    def is_ready(self, container_id: str) -> bool:
        """Started, and its readiness probe's result (if any) is success."""
        if not self.is_started(container_id):
            return False
        entry = self._containers.get(container_id)
        counter = entry.counters.get(ProbeKind.READINESS) if entry is not None else None
        return counter is None or counter.current is True

    async def close(self) -> None:
        """Stop every worker."""
        tasks = [t for entry in self._containers.values() for t in entry.workers.values()]
        self._containers.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ---- workers ------------------------------------------------------------------------------
    async def _work(self, entry: _Container, kind: ProbeKind, spec: ProbeSpec) -> None:
        try:
            while True:
                if self._due(entry, kind, spec) and not await self._attempt(entry, kind, spec):
                    return
                await self.clock.sleep(spec.period)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the %s probe worker of container %s failed", kind.title.lower(), entry.container_id[:12])

    def _due(self, entry: _Container, kind: ProbeKind, spec: ProbeSpec) -> bool:
        if kind is not ProbeKind.STARTUP and not self.is_started(entry.container_id):
            return False
        return self.clock.now() - entry.started_at >= spec.initial_delay

    async def _attempt(self, entry: _Container, kind: ProbeKind, spec: ProbeSpec) -> bool:
        """Probe once and apply the result; False when this worker is done."""
        try:
            outcome = await self._probe(entry, spec)
        except Exception as exc:
            outcome = Outcome(Result.FAILURE, f"probe errored: {exc}")
            log.warning("%s probe of %s errored: %s", kind.title, entry.spec.get("name"), exc)
        name = entry.spec.get("name")
        if outcome.result is Result.FAILURE:
            self.recorder.event(entry.pod, "Warning", "Unhealthy", f"{kind.title} probe failed: {outcome.output}")
        elif outcome.result is Result.WARNING:
            self.recorder.event(entry.pod, "Warning", "ProbeWarning", f"{kind.title} probe warning: {outcome.output}")
        if entry.container_id not in self._containers:
            return False
        counter = entry.counters[kind]
        if not counter.observe(outcome.ok):
            return True
        uid = str(entry.pod["metadata"].get("uid", ""))
        if kind is ProbeKind.READINESS or kind is ProbeKind.STARTUP:
            if self.callbacks is not None:
                self.callbacks.on_result_changed(uid)
            if kind is ProbeKind.STARTUP and counter.current:
                return False  # started: the startup probe is done
        if not counter.current and kind is not ProbeKind.READINESS:
            if self.callbacks is not None:
                message = f"Container {name} failed {kind.title.lower()} probe, will be restarted"
                self.callbacks.on_liveness_failure(uid, str(name), entry.container_id, message)
            return False
        return True

    async def _probe(self, entry: _Container, spec: ProbeSpec) -> Outcome:
        probe = spec.handler
        if "exec" in probe:
            command = (probe["exec"] or {}).get("command") or []
            return await handlers.exec_probe(self.runtime, entry.container_id, command, spec.timeout)
        if "httpGet" in probe:
            get = probe["httpGet"]
            host = get.get("host") or await self._pod_ip(entry)
            port = handlers.resolve_port(get.get("port"), entry.spec)
            scheme = str(get.get("scheme") or "HTTP").lower()
            path = get.get("path") or "/"
            if not path.startswith("/"):
                path = "/" + path
            netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            return await handlers.http_probe(
                self._http(), f"{scheme}://{netloc}{path}", get.get("httpHeaders") or [], spec.timeout
            )
        if "tcpSocket" in probe:
            tcp = probe["tcpSocket"]
            host = tcp.get("host") or await self._pod_ip(entry)
            return await handlers.tcp_probe(host, handlers.resolve_port(tcp.get("port"), entry.spec), spec.timeout)
        if "grpc" in probe:
            rpc = probe["grpc"]
            port = handlers.resolve_port(rpc.get("port"), entry.spec)
            return await handlers.grpc_probe(await self._pod_ip(entry), port, rpc.get("service") or "", spec.timeout)
        return Outcome(Result.WARNING, "the probe has no handler (exec, httpGet, tcpSocket or grpc)")

    async def _pod_ip(self, entry: _Container) -> str:
        """The pod's IP: from its status, else from the runtime's sandbox (the pod object may be older)."""
        if not entry.pod_ip:
            entry.pod_ip = str((entry.pod.get("status") or {}).get("podIP") or "")
        if not entry.pod_ip:
            with contextlib.suppress(Exception):
                status = await self.runtime.container_status(entry.container_id)
                sandbox = await self.runtime.pod_sandbox_status(status.sandbox_id)
                entry.pod_ip = sandbox.ips[0] if sandbox.ips else ""
        return entry.pod_ip or "127.0.0.1"

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No keep-alive between probes (as upstream: DisableKeepAlives), no cookies.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True), cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session
