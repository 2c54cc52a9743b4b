"""The kubelet's ``/stats/summary``: node CPU, memory and filesystem, and the pods with their containers.

A basic form of upstream's stats/v1alpha1 Summary, measured from /proc and
statvfs: what ``kubectl get --raw /api/v1/nodes/NODE/proxy/stats/summary``
and simple tools read. Per-container usage figures are left out (the process
runtime has no cgroups of its own to read them from).
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pinnace.node.cri import ContainerState, RuntimeService, SandboxState

__all__ = ["stats_summary"]

Obj = dict[str, Any]


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meminfo() -> dict[str, int]:
    out = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            fields = rest.split()
            if fields:
                out[name] = int(fields[0]) * (1024 if len(fields) > 1 else 1)
    except OSError:
        pass
    return out


def _cpu_nanoseconds() -> int:
    """CPU time used by the host since boot (user+nice+system+irq+softirq+steal), in nanoseconds."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return 0
    ticks = os.sysconf("SC_CLK_TCK")
    busy = [int(v) for i, v in enumerate(fields[:8]) if i not in (3, 4)]  # not idle, not iowait
    return sum(busy) * 1_000_000_000 // ticks


async def stats_summary(node_name: str, started_at: float, runtime: RuntimeService, fs_path: Path | None) -> Obj:
    """The Summary object for this node now."""
    now = _rfc3339(datetime.now(UTC).timestamp())
    mem = _meminfo()
    total, available = mem.get("MemTotal", 0), mem.get("MemAvailable", 0)
    disk = shutil.disk_usage(fs_path if fs_path is not None and fs_path.exists() else "/")
    node = {
        "nodeName": node_name,
        "startTime": _rfc3339(started_at),
        "cpu": {"time": now, "usageCoreNanoSeconds": _cpu_nanoseconds()},
        "memory": {
            "time": now,
            "availableBytes": available,
            "usageBytes": total - mem.get("MemFree", 0),
            "workingSetBytes": total - available,
        },
        "fs": {"time": now, "availableBytes": disk.free, "capacityBytes": disk.total, "usedBytes": disk.used},
    }
    containers = await runtime.list_containers()
    pods = []
    for sandbox in await runtime.list_pod_sandboxes():
        if sandbox.state is not SandboxState.READY:
            continue
        cfg = sandbox.config
        running = [c for c in containers if c.sandbox_id == sandbox.id and c.state is ContainerState.RUNNING]
        pods.append(
            {
                "podRef": {"name": cfg.name, "namespace": cfg.namespace, "uid": cfg.uid},
                "startTime": _rfc3339(sandbox.created_at),
                "containers": [{"name": c.name, "startTime": _rfc3339(c.started_at or c.created_at)} for c in running],
            }
        )
    return {"node": node, "pods": pods}
