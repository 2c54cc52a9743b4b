"""What the node is, measured from the host: capacity, pressure, system info — and the Node it registers.

:func:`measure` reads the CPU count, ``/proc/meminfo``, the data directory's
filesystem and the PID limits; :func:`node_conditions` turns a measurement
into the kubelet's MemoryPressure, DiskPressure, PIDPressure and Ready
conditions (upstream's default hard eviction thresholds: memory.available <
100Mi, nodefs.available < 10 %, and PIDs above 90 % of the limit);
:func:`node_object` is the Node a kubelet registers (labels, taints,
capacity/allocatable, addresses, nodeInfo, daemonEndpoints).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pinnace.node import simstatus
from pinnace.node.simstatus import KUBELET_VERSION

__all__ = ["HostFacts", "measure", "node_conditions", "node_object", "node_status"]

Obj = dict[str, Any]

#: Upstream's default hard eviction threshold for memory (memory.available<100Mi).
EVICTION_MEMORY = 100 * 1024 * 1024
#: nodefs.available<10%
EVICTION_DISK_FRACTION = 0.10
#: Pods per node (kubelet --max-pods).
MAX_PODS = 110
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


@dataclass(frozen=True, slots=True)
class HostFacts:
    """One measurement of the host."""

    cpus: int
    memory_total: int
    memory_available: int
    disk_total: int
    disk_available: int
    pids: int
    pid_max: int


def _meminfo() -> dict[str, int]:
    out: dict[str, int] = {}
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts:
                out[key] = int(parts[0]) * (1024 if len(parts) > 1 and parts[1] == "kB" else 1)
    return out


def _read(path: str, default: str = "") -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return default


def measure(data_dir: Path) -> HostFacts:
    """Measure CPU, memory, the data directory's disk and PIDs now."""
    mem = _meminfo()
    fs = os.statvfs(data_dir)
    try:
        pids = sum(1 for name in os.listdir("/proc") if name.isdigit())
    except OSError:
        pids = 0
    return HostFacts(
        cpus=os.cpu_count() or 1,
        memory_total=mem.get("MemTotal", 0),
        memory_available=mem.get("MemAvailable", mem.get("MemFree", 0)),
        disk_total=fs.f_blocks * fs.f_frsize,
        disk_available=fs.f_bavail * fs.f_frsize,
        pids=pids,
        pid_max=int(_read("/proc/sys/kernel/pid_max", "32768") or 32768),
    )


def _resources(facts: HostFacts) -> tuple[dict[str, str], dict[str, str]]:
    capacity = {
        "cpu": str(facts.cpus),
        "memory": f"{facts.memory_total // 1024}Ki",
        "ephemeral-storage": f"{facts.disk_total // 1024}Ki",
        "pods": str(MAX_PODS),
    }
    allocatable = {
        "cpu": str(facts.cpus),
        "memory": f"{max(0, facts.memory_total - EVICTION_MEMORY) // 1024}Ki",
        "ephemeral-storage": str(int(facts.disk_total * (1 - EVICTION_DISK_FRACTION))),
        "pods": str(MAX_PODS),
    }
    return capacity, allocatable


def node_conditions(facts: HostFacts, now: datetime, previous: Iterable[Obj] = ()) -> list[Obj]:
    """The kubelet's node conditions for ``facts`` (transition times kept from ``previous`` if unchanged)."""
    return simstatus.node_conditions(
        now,
        previous,
        memory=facts.memory_available < EVICTION_MEMORY,
        disk=facts.disk_total > 0 and facts.disk_available < EVICTION_DISK_FRACTION * facts.disk_total,
        pid=facts.pid_max > 0 and facts.pids > 0.9 * facts.pid_max,
        routes=False,
    )


def _node_info(runtime_version: str) -> Obj:
    machine = _read("/etc/machine-id") or hashlib.sha256(platform.node().encode()).hexdigest()[:32]
    uuid = _read("/sys/class/dmi/id/product_uuid") or (
        f"{machine[:8]}-{machine[8:12]}-{machine[12:16]}-{machine[16:20]}-{machine[20:32]}"
    )
    os_image = "Linux"
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            os_image = line.split("=", 1)[1].strip().strip('"')
    arch = _ARCH.get(platform.machine(), platform.machine())
    return {
        "machineID": machine,
        "systemUUID": uuid,
        "bootID": _read("/proc/sys/kernel/random/boot_id"),
        "kernelVersion": platform.release(),
        "osImage": os_image,
        "containerRuntimeVersion": runtime_version,
        "kubeletVersion": KUBELET_VERSION,
        "kubeProxyVersion": KUBELET_VERSION,
        "operatingSystem": "linux",
        "architecture": arch,
    }


def node_status(
    facts: HostFacts,
    *,
    internal_ip: str,
    hostname: str,
    kubelet_port: int,
    runtime_version: str,
    now: datetime,
    previous: Iterable[Obj] = (),
) -> Obj:
    """The Node's status: capacity, allocatable, conditions, addresses, daemon endpoint and nodeInfo."""
    capacity, allocatable = _resources(facts)
    return {
        "capacity": capacity,
        "allocatable": allocatable,
        "conditions": node_conditions(facts, now, previous),
        "addresses": [{"type": "InternalIP", "address": internal_ip}, {"type": "Hostname", "address": hostname}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
        "nodeInfo": _node_info(runtime_version),
    }


def node_object(
    name: str,
    status: Obj,
    *,
    labels: Mapping[str, str],
    taints: Sequence[Obj],
    annotations: Mapping[str, str] | None = None,
) -> Obj:
    """The Node a kubelet registers: well-known labels plus ``labels``, ``taints`` (--register-with-taints),
    the kubelet's annotations plus ``annotations`` (what the agent publishes, e.g. its local-path root)."""
    arch = status["nodeInfo"]["architecture"]
    all_labels = {
        "beta.kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": arch,
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        **labels,
    }
    spec: Obj = {}
    if taints:
        spec["taints"] = list(taints)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": all_labels,
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                **(annotations or {}),
            },
        },
        "spec": spec,
        "status": status,
    }
