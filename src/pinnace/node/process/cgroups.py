"""Cgroups for ``process`` containers (root only), as runc would make them: resource limits, and accounting.

A node running as root gives each process container a cgroup of its own,
``pinnace-process/<id>``, in the cgroup v2 hierarchy, or in the v1 ``memory``
and ``cpuacct`` hierarchies (and ``cpu``, for a container with resources), so
that its CPU and memory use can be read as any container runtime's is
(:mod:`pinnace.node.cgroupstats`). A container with ``resources`` (limits or a
CPU request) gets them written there:

- memory limit → ``memory.max`` (v2) / ``memory.limit_in_bytes`` (v1), with
  no swap beyond it (``memory.swap.max`` 0 / ``memory.memsw.limit_in_bytes``
  equal to the limit, as Kubernetes runs containers without swap);
- CPU limit → a CFS quota per 100 ms period (``cpu.max`` / ``cpu.cfs_quota_us``);
- CPU request → ``cpu.weight`` / ``cpu.shares`` (upstream's shares, and its
  shares-to-weight conversion on v2).

A container without resources has no limit written anywhere (and, on v1, joins
no ``cpu`` cgroup: it is scheduled as before).

The shim puts the container's processes (the main one and every exec) in it
before they exec (it is given the ``cgroup.procs`` files; it imports nothing
of Pinnace). When the main process was killed, the runtime reads how many
processes the kernel OOM-killed in the cgroup (:func:`oom_kills`) and reports
the exit as ``OOMKilled``, as the ``oci`` runtime does.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field

from pinnace.node.cri import Resources
from pinnace.node.oci.cgroups import oom_kills

__all__ = ["ContainerCgroup", "create", "oom_kills", "remove", "shares", "shim_settings", "unified", "weight"]

log = logging.getLogger(__name__)
CGROUP_ROOT = "/sys/fs/cgroup"
PARENT = "pinnace-process"
CFS_PERIOD_US = 100_000


@dataclass(frozen=True)
class ContainerCgroup:
    """One container's cgroup directories (one on v2; one per hierarchy on v1), its memory and CPU accounting ones."""

    dirs: list[str] = field(default_factory=list)
    memory_dir: str = ""
    #: Where its CPU time is counted: the ``cpuacct`` directory on v1 ("" without that hierarchy), the one on v2.
    cpuacct_dir: str = ""

    @property
    def procs_files(self) -> list[str]:
        """The ``cgroup.procs`` files a process writes its pid to, to join."""
        return [os.path.join(d, "cgroup.procs") for d in self.dirs]


def unified() -> bool:
    """Whether the host runs the cgroup v2 hierarchy only."""
    return os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers"))


def shares(cpu_millis: int) -> int:
    """cpu.shares for a CPU request (upstream's MilliCPUToShares: at least 2)."""
    return max(2, cpu_millis * 1024 // 1000)


def weight(cpu_shares: int) -> int:
    """cpu.weight (v2) for cpu.shares, by upstream's conversion (1..10000)."""
    return 1 + ((cpu_shares - 2) * 9999) // 262142


def _write(directory: str, name: str, value: str, *, optional: bool = False) -> None:
    path = os.path.join(directory, name)
    if optional and not os.path.exists(path):
        return
    with open(path, "w") as handle:
        handle.write(value)


def create(container_id: str, *, memory: int | None, cpu_limit: int | None, cpu_request: int | None) -> ContainerCgroup:
    """Make the container's cgroup with these limits (bytes, millicores; None: none); OSError if the host does not
    let us."""
    quota = None if cpu_limit is None else max(1000, cpu_limit * CFS_PERIOD_US // 1000)
    if unified():
        parent = os.path.join(CGROUP_ROOT, PARENT)
        os.makedirs(parent, exist_ok=True)
        for directory in (CGROUP_ROOT, parent):  # the controllers must be enabled down to the container's cgroup
            _write(directory, "cgroup.subtree_control", "+memory +cpu")
        own = os.path.join(parent, container_id)
        os.makedirs(own, exist_ok=True)
        if memory is not None:
            _write(own, "memory.max", str(memory))
            _write(own, "memory.swap.max", "0", optional=True)
        if quota is not None:
            _write(own, "cpu.max", f"{quota} {CFS_PERIOD_US}")
        if cpu_request is not None:
            _write(own, "cpu.weight", str(weight(shares(cpu_request))))
        return ContainerCgroup([own], own, own)
    mem = os.path.join(CGROUP_ROOT, "memory", PARENT, container_id)
    cpu = os.path.join(CGROUP_ROOT, "cpu", PARENT, container_id)
    limited = (memory, cpu_limit, cpu_request) != (None, None, None)
    dirs = [mem, cpu] if limited else [mem]  # no cpu cgroup for accounting alone: scheduled as before
    acct = ""
    if os.path.isdir(os.path.join(CGROUP_ROOT, "cpuacct")):
        acct = os.path.join(CGROUP_ROOT, "cpuacct", PARENT, container_id)
        comounted = os.path.realpath(os.path.join(CGROUP_ROOT, "cpuacct")) == os.path.realpath(
            os.path.join(CGROUP_ROOT, "cpu")
        )  # "cpu,cpuacct": joined with cpu already when limited
        if not (comounted and limited):
            dirs.append(acct)
    for directory in dirs:
        os.makedirs(directory, exist_ok=True)
    if memory is not None:
        _write(mem, "memory.limit_in_bytes", str(memory))
        _write(mem, "memory.memsw.limit_in_bytes", str(memory), optional=True)
    if quota is not None:
        _write(cpu, "cpu.cfs_period_us", str(CFS_PERIOD_US))
        _write(cpu, "cpu.cfs_quota_us", str(quota))
    if cpu_request is not None:
        _write(cpu, "cpu.shares", str(shares(cpu_request)))
    return ContainerCgroup(dirs, mem, acct)


def remove(dirs: list[str]) -> None:
    """Remove the container's cgroups (once its processes are gone; a busy one stays). Idempotent."""
    for directory in dirs:
        with contextlib.suppress(OSError):
            os.rmdir(directory)


def shim_settings(container_id: str, resources: Resources, name: str) -> dict[str, object]:
    """The container's cgroup, made when we are root (with its limits, if it has any): the shim config's
    ``cgroups``, ``cgroup_procs``, ``cgroup_memory``, and ``cgroup_cpuacct`` and ``cgroup_unified`` (for reading
    its usage). {} when not root; a host that refuses is logged, not fatal."""
    if os.geteuid() != 0:
        return {}
    try:
        cgroup = create(container_id, memory=resources.memory_limit_bytes, cpu_limit=resources.cpu_millis_limit,
                        cpu_request=resources.cpu_millis_request)  # fmt: skip
    except OSError as exc:
        limited = (resources.memory_limit_bytes, resources.cpu_millis_limit, resources.cpu_millis_request) != (
            None, None, None)  # fmt: skip
        log.warning("container %s (%s) runs without %s: cannot make its cgroup: %s", name, container_id[:12],
                    "resource limits" if limited else "a cgroup (its usage is read from /proc)", exc)  # fmt: skip
        return {}
    return {
        "cgroups": cgroup.dirs,
        "cgroup_procs": cgroup.procs_files,
        "cgroup_memory": cgroup.memory_dir,
        "cgroup_cpuacct": cgroup.cpuacct_dir,
        "cgroup_unified": unified(),
    }
