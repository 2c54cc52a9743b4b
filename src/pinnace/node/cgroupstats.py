"""A container cgroup's CPU and memory usage, read from cgroup v2 or v1 files: both runtimes' ContainerStats.

What cAdvisor and the CRI runtimes read for the kubelet, per cgroup:

====================  ===========================================  ==============================================
figure                v2 (unified)                                 v1 (``cpuacct`` and ``memory`` hierarchies)
====================  ===========================================  ==============================================
CPU time (ns)         ``cpu.stat`` ``usage_usec`` x 1000           ``cpuacct.usage``
memory usage          ``memory.current``                           ``memory.usage_in_bytes``
working set           usage - ``memory.stat`` ``inactive_file``    usage - ``memory.stat`` ``total_inactive_file``
RSS                   ``memory.stat`` ``anon``                     ``memory.stat`` ``total_rss``
====================  ===========================================  ==============================================

(the working set is never below 0). :func:`locate` finds a cgroup's directories from the path an OCI runtime
was given (``linux.cgroupsPath``, relative to the hierarchies' root) by the host's cgroup mounts: the v1
``memory`` and ``cpuacct`` hierarchies where the host mounts them (a hybrid host too, as runc and crun use
them there), else the v2 hierarchy.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

from pinnace.node.cri import ContainerStats

__all__ = ["CgroupPaths", "container_stats", "locate"]

MOUNTINFO = "/proc/self/mountinfo"


@dataclass(frozen=True, slots=True)
class CgroupPaths:
    """Where one cgroup's CPU accounting and memory files are (the same directory on v2)."""

    #: The ``cpuacct`` directory (v1) or the cgroup's directory (v2).
    cpu: str
    #: The ``memory`` directory (v1) or the cgroup's directory (v2).
    memory: str
    unified: bool


def _unescape(field: str) -> str:
    """A mountinfo path field with its octal escapes (``\\040`` for a space) decoded."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _join(mountpoint: str, root: str, path: str) -> str:
    """The directory of cgroup ``path`` in a hierarchy mounted at ``mountpoint`` (showing its ``root``)."""
    path = "/" + path.strip("/")
    if root != "/" and (path == root or path.startswith(root.rstrip("/") + "/")):
        path = path[len(root.rstrip("/")) :] or "/"
    return os.path.normpath(os.path.join(mountpoint, path.lstrip("/")))


def locate(cgroup_path: str, mountinfo: str = MOUNTINFO) -> CgroupPaths | None:
    """The directories of the cgroup at ``cgroup_path`` (``/pinnace/pod<uid>/<id>``) on this host's cgroup
    mounts, as described in ``mountinfo``; None when the host mounts neither v1 memory and cpuacct nor v2."""
    v1: dict[str, tuple[str, str]] = {}
    v2: tuple[str, str] | None = None
    try:
        with open(mountinfo) as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in lines:
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        root, mountpoint = _unescape(fields[3]), _unescape(fields[4])
        if tail[0] == "cgroup2" and v2 is None:
            v2 = (mountpoint, root)
        elif tail[0] == "cgroup":
            for option in tail[2].split(","):
                v1.setdefault(option, (mountpoint, root))
    if "memory" in v1 and "cpuacct" in v1:
        return CgroupPaths(_join(*v1["cpuacct"], cgroup_path), _join(*v1["memory"], cgroup_path), unified=False)
    if v2 is not None:
        directory = _join(*v2, cgroup_path)
        return CgroupPaths(directory, directory, unified=True)
    return None


def _read_int(path: str) -> int:
    with open(path) as handle:
        return int(handle.read().split()[0])


def _read_keyed(path: str) -> dict[str, int]:
    """A flat keyed file (``memory.stat``, ``cpu.stat``): each line a name and a number."""
    out = {}
    with open(path) as handle:
        for line in handle:
            name, _, value = line.partition(" ")
            if value:
                out[name] = int(value)
    return out


def container_stats(container_id: str, paths: CgroupPaths) -> ContainerStats | None:
    """The usage of the container whose cgroup is at ``paths``, measured now; None once the cgroup is gone.

    Blocking file reads (a few per container): call it in a worker thread for many containers.
    """
    timestamp = time.time()
    try:
        if paths.unified:
            cpu_ns = _read_keyed(os.path.join(paths.cpu, "cpu.stat"))["usage_usec"] * 1000
            usage = _read_int(os.path.join(paths.memory, "memory.current"))
            stat = _read_keyed(os.path.join(paths.memory, "memory.stat"))
            inactive, rss = stat.get("inactive_file", 0), stat.get("anon", 0)
        else:
            cpu_ns = _read_int(os.path.join(paths.cpu, "cpuacct.usage"))
            usage = _read_int(os.path.join(paths.memory, "memory.usage_in_bytes"))
            stat = _read_keyed(os.path.join(paths.memory, "memory.stat"))
            inactive, rss = stat.get("total_inactive_file", 0), stat.get("total_rss", 0)
    except (OSError, ValueError, KeyError, IndexError):
        return None
    return ContainerStats(
        container_id=container_id,
        timestamp=timestamp,
        cpu_usage_core_nanoseconds=cpu_ns,
        memory_working_set_bytes=max(0, usage - inactive),
        memory_usage_bytes=usage,
        memory_rss_bytes=rss,
    )
