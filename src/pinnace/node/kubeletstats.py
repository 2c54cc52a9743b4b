"""The kubelet's ``/stats/summary``: node and pod CPU and memory usage, and the node's filesystem.

Upstream's stats/v1alpha1 ``Summary``, as ``kubectl get --raw
/api/v1/nodes/NODE/proxy/stats/summary`` and metrics servers read it::

    {"node": {"nodeName", "startTime",
              "cpu": {"time", "usageNanoCores", "usageCoreNanoSeconds"},
              "memory": {"time", "availableBytes", "usageBytes", "workingSetBytes", "rssBytes"},
              "fs": {"time", "availableBytes", "capacityBytes", "usedBytes"}},
     "pods": [{"podRef": {"name", "namespace", "uid"}, "startTime",
               "containers": [{"name", "startTime", "cpu": {…}, "memory": {"time", "usageBytes",
                               "workingSetBytes", "rssBytes"}}],
               "cpu": {…}, "memory": {…}}]}

The node's figures come from /proc (``stat``: CPU time of every CPU but idle and
iowait; ``meminfo``: working set = total - available, RSS = anonymous pages);
each running container's from its runtime (:meth:`RuntimeService.container_stats`:
its cgroup, or its processes); a pod's are the sums over its running containers
(only those the runtime could measure are listed). Times are when each figure
was measured (RFC 3339, seconds, as metav1.Time).

``usageNanoCores`` is a rate the kubelet works out itself, as its CRI stats
provider does: from the previous sample of the same container (or of the node)
that this :class:`SummaryProvider` kept — over at least :data:`MIN_RATE_WINDOW`
when it has such a sample, so that two callers a moment apart do not get the
noise of a few milliseconds — and left out when there is none yet (or the counter
went back). ``?only_cpu_and_memory=true`` leaves out the filesystem, as upstream.
:meth:`SummaryProvider.cpu_and_memory` gives the same figures as data, for
``/metrics/resource`` (:mod:`pinnace.node.resourcemetrics`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pinnace.node.cri import ContainerState, ContainerStats, RuntimeService, SandboxState

__all__ = [
    "MIN_RATE_WINDOW",
    "CPUUsage",
    "ContainerUsage",
    "MemoryUsage",
    "NodeUsage",
    "PodUsage",
    "SummaryProvider",
    "Usage",
]

Obj = dict[str, Any]
#: Seconds: a rate is taken over at least this long where an older sample allows.
MIN_RATE_WINDOW = 1.0
#: How many containers are measured at once.
MEASURING = 4


@dataclass(frozen=True, slots=True)
class CPUUsage:
    """CPU use at one moment (stats/v1alpha1 CPUStats)."""

    time: float
    usage_core_nanoseconds: int
    #: The rate since an earlier sample, in billionths of a core; None until there is one.
    usage_nano_cores: int | None = None


@dataclass(frozen=True, slots=True)
class MemoryUsage:
    """Memory use at one moment (stats/v1alpha1 MemoryStats)."""

    time: float
    usage_bytes: int
    working_set_bytes: int
    rss_bytes: int
    #: The node's available memory (None for pods and containers).
    available_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class ContainerUsage:
    """One running container's usage."""

    name: str
    start_time: float
    cpu: CPUUsage
    memory: MemoryUsage


@dataclass(frozen=True, slots=True)
class PodUsage:
    """A pod with a ready sandbox: its running containers' usage, and their sums (None with no container)."""

    name: str
    namespace: str
    uid: str
    start_time: float
    containers: tuple[ContainerUsage, ...]
    cpu: CPUUsage | None
    memory: MemoryUsage | None


@dataclass(frozen=True, slots=True)
class NodeUsage:
    """The node's own usage."""

    name: str
    start_time: float
    cpu: CPUUsage
    memory: MemoryUsage


@dataclass(frozen=True, slots=True)
class Usage:
    """The CPU and memory of the node and of its pods (upstream's GetCPUAndMemoryStats)."""

    node: NodeUsage
    pods: tuple[PodUsage, ...]


class _CPURate:
    """usageNanoCores for one CPU counter, from the samples of it kept so far (see the module docstring)."""

    def __init__(self) -> None:
        #: Up to two (time, usage) samples, oldest first, at least MIN_RATE_WINDOW apart.
        self._samples: list[tuple[float, int]] = []
        self._last: int | None = None

    def update(self, timestamp: float, usage: int) -> int | None:
        """The rate up to this sample (None without an earlier one), keeping the sample for the next rate."""
        if not self._samples or usage < self._samples[-1][1]:
            self._samples, self._last = [(timestamp, usage)], None
            return None
        newest = self._samples[-1]
        if timestamp <= newest[0]:
            return self._last
        base = newest if timestamp - newest[0] >= MIN_RATE_WINDOW else self._samples[0]
        self._last = round((usage - base[1]) / (timestamp - base[0]))
        if timestamp - newest[0] >= MIN_RATE_WINDOW:
            self._samples = [newest, (timestamp, usage)]
        return self._last


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meminfo(proc: str) -> dict[str, int]:
    out = {}
    try:
        with open(f"{proc}/meminfo") as handle:
            for line in handle:
                name, _, rest = line.partition(":")
                fields = rest.split()
                if fields:
                    out[name] = int(fields[0]) * (1024 if len(fields) > 1 else 1)
    except OSError:
        pass
    return out


def _cpu_nanoseconds(proc: str) -> int:
    """CPU time used by the host since boot (user+nice+system+irq+softirq+steal), in nanoseconds."""
    try:
        with open(f"{proc}/stat") as handle:
            fields = handle.readline().split()[1:]
    except OSError:
        return 0
    busy = [int(v) for i, v in enumerate(fields[:8]) if i not in (3, 4)]  # not idle, not iowait
    return sum(busy) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def _sum_cpu(parts: list[CPUUsage]) -> CPUUsage:
    rates = [p.usage_nano_cores for p in parts]
    return CPUUsage(
        time=max(p.time for p in parts),
        usage_core_nanoseconds=sum(p.usage_core_nanoseconds for p in parts),
        usage_nano_cores=None if None in rates else sum(r for r in rates if r is not None),
    )


def _sum_memory(parts: list[MemoryUsage]) -> MemoryUsage:
    return MemoryUsage(
        time=max(p.time for p in parts),
        usage_bytes=sum(p.usage_bytes for p in parts),
        working_set_bytes=sum(p.working_set_bytes for p in parts),
        rss_bytes=sum(p.rss_bytes for p in parts),
    )


def _cpu_json(cpu: CPUUsage) -> Obj:
    out: Obj = {"time": _rfc3339(cpu.time)}
    if cpu.usage_nano_cores is not None:
        out["usageNanoCores"] = cpu.usage_nano_cores
    out["usageCoreNanoSeconds"] = cpu.usage_core_nanoseconds
    return out


def _memory_json(memory: MemoryUsage) -> Obj:
    out: Obj = {"time": _rfc3339(memory.time)}
    if memory.available_bytes is not None:
        out["availableBytes"] = memory.available_bytes
    out.update(usageBytes=memory.usage_bytes, workingSetBytes=memory.working_set_bytes, rssBytes=memory.rss_bytes)
    return out


class SummaryProvider:
    """The node's stats for ``/stats/summary`` and ``/metrics/resource``; keeps the CPU samples rates come from."""

    def __init__(
        self, node_name: str, runtime: RuntimeService, started_at: float, fs_path: Path | None, proc: str = "/proc"
    ) -> None:
        """``started_at``: the node's start (its startTime); ``fs_path``: the filesystem reported (else /)."""
        self.node_name = node_name
        self.runtime = runtime
        self.started_at = started_at
        self.fs_path = fs_path
        self.proc = proc
        self._node_rate = _CPURate()
        self._rates: dict[str, _CPURate] = {}
        #: A few containers measured at once: each is a worker thread's reads, and a hundred at a time would hold
        #: up the event loop while they are handed out.
        self._measuring = asyncio.Semaphore(MEASURING)

    def _node(self) -> NodeUsage:
        now = time.time()
        cpu_ns = _cpu_nanoseconds(self.proc)
        mem = _meminfo(self.proc)
        total, available = mem.get("MemTotal", 0), mem.get("MemAvailable", 0)
        return NodeUsage(
            name=self.node_name,
            start_time=self.started_at,
            cpu=CPUUsage(now, cpu_ns, self._node_rate.update(now, cpu_ns)),
            memory=MemoryUsage(
                time=now,
                usage_bytes=total - mem.get("MemFree", 0),
                working_set_bytes=total - available,
                rss_bytes=mem.get("AnonPages", 0),
                available_bytes=available,
            ),
        )

    def _container(self, name: str, start_time: float, stats: ContainerStats) -> ContainerUsage:
        rate = self._rates.setdefault(stats.container_id, _CPURate())
        cpu = CPUUsage(
            stats.timestamp,
            stats.cpu_usage_core_nanoseconds,
            rate.update(stats.timestamp, stats.cpu_usage_core_nanoseconds),
        )
        memory = MemoryUsage(
            stats.timestamp, stats.memory_usage_bytes, stats.memory_working_set_bytes, stats.memory_rss_bytes
        )
        return ContainerUsage(name, start_time, cpu, memory)

    async def _stats(self, container_id: str) -> ContainerStats | None:
        async with self._measuring:
            return await self.runtime.container_stats(container_id)

    async def cpu_and_memory(self) -> Usage:
        """The node's and its pods' CPU and memory now."""
        node = self._node()
        sandboxes = [s for s in await self.runtime.list_pod_sandboxes() if s.state is SandboxState.READY]
        ready = {s.id for s in sandboxes}
        running = [
            c
            for c in await self.runtime.list_containers()
            if c.state is ContainerState.RUNNING and c.sandbox_id in ready
        ]
        measured = await asyncio.gather(*(self._stats(c.id) for c in running))
        by_sandbox: dict[str, list[ContainerUsage]] = {}
        for status, stats in zip(running, measured, strict=True):
            if stats is not None:
                usage = self._container(status.name, status.started_at or status.created_at, stats)
                by_sandbox.setdefault(status.sandbox_id, []).append(usage)
        for gone in self._rates.keys() - {c.id for c in running}:
            del self._rates[gone]
        pods = []
        for sandbox in sandboxes:
            containers = by_sandbox.get(sandbox.id, [])
            cfg = sandbox.config
            pods.append(
                PodUsage(
                    name=cfg.name,
                    namespace=cfg.namespace,
                    uid=cfg.uid,
                    start_time=sandbox.created_at,
                    containers=tuple(containers),
                    cpu=_sum_cpu([c.cpu for c in containers]) if containers else None,
                    memory=_sum_memory([c.memory for c in containers]) if containers else None,
                )
            )
        return Usage(node, tuple(pods))

    async def summary(self, *, only_cpu_and_memory: bool = False) -> Obj:
        """The Summary object for this node now (without ``fs`` when only CPU and memory are asked for)."""
        usage = await self.cpu_and_memory()
        node: Obj = {
            "nodeName": usage.node.name,
            "startTime": _rfc3339(usage.node.start_time),
            "cpu": _cpu_json(usage.node.cpu),
            "memory": _memory_json(usage.node.memory),
        }
        if not only_cpu_and_memory:
            path = self.fs_path if self.fs_path is not None and self.fs_path.exists() else Path("/")
            disk = shutil.disk_usage(path)
            node["fs"] = {
                "time": _rfc3339(usage.node.cpu.time),
                "availableBytes": disk.free,
                "capacityBytes": disk.total,
                "usedBytes": disk.used,
            }
        pods = []
        for pod in usage.pods:
            entry: Obj = {
                "podRef": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
                "startTime": _rfc3339(pod.start_time),
                "containers": [
                    {
                        "name": c.name,
                        "startTime": _rfc3339(c.start_time),
                        "cpu": _cpu_json(c.cpu),
                        "memory": _memory_json(c.memory),
                    }
                    for c in pod.containers
                ],
            }
            if pod.cpu is not None and pod.memory is not None:
                entry["cpu"], entry["memory"] = _cpu_json(pod.cpu), _memory_json(pod.memory)
            pods.append(entry)
        return {"node": node, "pods": pods}
