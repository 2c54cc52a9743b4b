"""How much CPU and memory a ``process`` container uses: from its cgroup when it has one, else from /proc.

A container the node made a cgroup for (as root: :mod:`.cgroups`) is read as
any runtime's is (:mod:`pinnace.node.cgroupstats`). One without (an
unprivileged node, or a host that refused the cgroup) is measured over its
process tree: the main process (the pid its shim records) and every live
descendant, found through ``/proc/<pid>/task/<tid>/children`` where the kernel
has it, else by a scan of every process's parent. Over that tree:

- CPU: the sum of ``utime + stime + cutime + cstime`` (``/proc/<pid>/stat``,
  clock ticks), i.e. what each live process used and what its children that
  it has reaped used; what the main process's reaped children used is in its
  ``cutime``/``cstime``, and a live process's time is never in anyone's.
  Processes that left the tree (daemons re-parented to init) are not counted:
  the counter can then go down, and the kubelet's rate skips that sample.
- memory: usage and working set are the resident pages (``statm``, times the
  page size) of each process; RSS leaves out the shared, file-backed ones
  (``resident - shared``: anonymous memory, as a cgroup's ``anon``/``rss``).
  Pages shared between the tree's processes count once per process.

The reads block (a few small files per process): :class:`ContainerUsage`
does them in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from pinnace.node import cgroupstats
from pinnace.node.cgroupstats import CgroupPaths
from pinnace.node.cri import ContainerStats

__all__ = ["ContainerUsage", "cgroup_of", "measure", "process_tree", "tree_stats"]

PROC = "/proc"
_NS_PER_TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def cgroup_of(shim_config: Mapping[str, Any]) -> CgroupPaths | None:
    """The container's cgroup as its shim config records it (:func:`.cgroups.shim_settings`); None without."""
    cpu, memory = shim_config.get("cgroup_cpuacct"), shim_config.get("cgroup_memory")
    if not cpu or not memory:
        return None
    return CgroupPaths(str(cpu), str(memory), bool(shim_config.get("cgroup_unified")))


def _children(proc: str, pid: int) -> list[int] | None:
    """The children of every thread of ``pid`` (None where the kernel has no ``children`` files)."""
    out: list[int] = []
    try:
        tids = os.listdir(f"{proc}/{pid}/task")
    except OSError:
        return []
    for tid in tids:
        try:
            with open(f"{proc}/{pid}/task/{tid}/children", "rb") as handle:
                out.extend(int(child) for child in handle.read().split())
        except FileNotFoundError:
            if not os.path.exists(f"{proc}/{pid}/task/{tid}"):
                continue  # the thread ended
            return None
        except OSError:
            continue
    return out


def _parents(proc: str) -> dict[int, list[int]]:
    """Every process's children, by a scan of every ``/proc/<pid>/stat`` (kernels without ``children``)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        try:
            with open(f"{proc}/{name}/stat", "rb") as handle:
                ppid = int(handle.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    return children


def process_tree(pid: int, proc: str = PROC) -> list[int]:
    """``pid`` and its live descendants (those still in /proc), parents before children; [] if ``pid`` is gone."""
    if not os.path.exists(f"{proc}/{pid}"):
        return []
    tree, seen, index = [pid], {pid}, 0
    scanned: dict[int, list[int]] | None = None
    while index < len(tree):
        current = tree[index]
        index += 1
        found = _children(proc, current) if scanned is None else scanned.get(current, [])
        if found is None:
            scanned = _parents(proc)
            found = scanned.get(current, [])
        for child in found:
            if child not in seen:
                seen.add(child)
                tree.append(child)
    return tree


def _process_usage(proc: str, pid: int) -> tuple[int, int, int] | None:
    """One process's CPU ticks (its own and its reaped children's), resident and shared pages."""
    try:
        with open(f"{proc}/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        with open(f"{proc}/{pid}/statm", "rb") as handle:
            pages = handle.read().split()
        ticks = int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
        return ticks, int(pages[1]), int(pages[2])
    except (OSError, IndexError, ValueError):
        return None


def tree_stats(container_id: str, pid: int, proc: str = PROC) -> ContainerStats | None:
    """The usage of the container whose main process is ``pid``, over its process tree (see the module doc);
    None when that process is gone."""
    timestamp = time.time()
    ticks = resident = anon = 0
    measured = False
    for member in process_tree(pid, proc):
        usage = _process_usage(proc, member)
        if usage is None:
            continue  # it ended while we looked
        measured = True
        ticks += usage[0]
        resident += usage[1]
        anon += max(0, usage[1] - usage[2])
    if not measured:
        return None
    return ContainerStats(
        container_id=container_id,
        timestamp=timestamp,
        cpu_usage_core_nanoseconds=ticks * _NS_PER_TICK,
        memory_working_set_bytes=resident * _PAGE_SIZE,
        memory_usage_bytes=resident * _PAGE_SIZE,
        memory_rss_bytes=anon * _PAGE_SIZE,
    )


def measure(container_id: str, pid: int, cgroup: CgroupPaths | None) -> ContainerStats | None:
    """The container's usage now: from its cgroup if it has one (and it can be read), else its process tree."""
    if cgroup is not None:
        stats = cgroupstats.container_stats(container_id, cgroup)
        if stats is not None:
            return stats
    return tree_stats(container_id, pid)


class ContainerUsage:
    """Measures the process runtime's running containers, remembering where each one's cgroup is."""

    def __init__(self) -> None:
        self._cgroups: dict[str, CgroupPaths | None] = {}

    async def stats(self, container_id: str, container_dir: Path, pid: int) -> ContainerStats | None:
        """The usage of the container (its files in ``container_dir``, its main process ``pid``), measured in a
        worker thread."""
        if container_id not in self._cgroups:
            config: Mapping[str, Any] = {}
            with contextlib.suppress(OSError, ValueError):
                config = orjson.loads((container_dir / "config.json").read_bytes())
            self._cgroups[container_id] = cgroup_of(config)
        return await asyncio.to_thread(measure, container_id, pid, self._cgroups[container_id])

    def forget(self, container_id: str) -> None:
        """Drop what is remembered of a removed container."""
        self._cgroups.pop(container_id, None)
