"""Host cgroup layout checks for the OCI runtimes, and reading a memory cgroup's OOM kills.

crun refuses a hybrid cgroup layout (v1 controllers plus a cgroup2 mount)
when any controller is still attached to the cgroup2 hierarchy ("cgroups in
hybrid mode not supported, drop all controllers from cgroupv2"). A host that
mounts most controllers as v1 but leaves one (often ``hugetlb``) unmounted has
exactly that layout. :func:`move_v2_controllers_to_v1` mounts each such
controller as a v1 hierarchy of its own, as systemd's hybrid mode would have,
which moves it off cgroup2; nothing else on the host changes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess

log = logging.getLogger(__name__)
CGROUP_ROOT = "/sys/fs/cgroup"
UNIFIED = "/sys/fs/cgroup/unified"


def v2_controllers_in_hybrid() -> list[str]:
    """Controllers attached to the cgroup2 hierarchy of a hybrid layout ([] when not hybrid)."""
    try:
        with open(os.path.join(UNIFIED, "cgroup.controllers")) as handle:
            return handle.read().split()
    except OSError:
        return []


def move_v2_controllers_to_v1() -> None:
    """Mount each controller still on cgroup2 (hybrid layout) as a v1 hierarchy (RuntimeError if it cannot)."""
    for controller in v2_controllers_in_hybrid():
        target = os.path.join(CGROUP_ROOT, controller)
        os.makedirs(target, exist_ok=True)
        done = subprocess.run(["mount", "-t", "cgroup", "-o", controller, "cgroup", target],
                              capture_output=True, text=True, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"cannot mount the {controller} cgroup controller for crun: {done.stderr.strip()}")
        log.warning("mounted the %s cgroup controller as a v1 hierarchy at %s (crun needs hybrid without v2 "
                    "controllers)", controller, target)  # fmt: skip


def oom_kills(cgroup_dir: str) -> int:
    """How many processes the kernel OOM-killed in a memory cgroup (0 if unknown)."""
    for name in ("memory.oom_control", "memory.events"):
        with contextlib.suppress(OSError), open(os.path.join(cgroup_dir, name)) as handle:
            for line in handle:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    return 0
