"""Pid files that cannot be taken for another process.

``pinnace up``, the node agent of ``adm join`` and a stacked etcd member record
their pid so that ``pinnace down``, ``pinnace status`` and ``adm reset`` find
them. A record left behind (SIGKILL, a reboot) names a pid the system may have
given to any other process since: stopping it would kill a stranger. So a
record holds the process's start time too (``/proc/PID/stat``, in clock ticks
since boot), and it names a live process only while that pid's start time is
the same. Where ``/proc`` does not tell, or a record has no start time (written
by an older Pinnace), the pid alone is trusted, as before.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

__all__ = ["read", "start_time", "write"]


def start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), or None if it does not exist or ``/proc`` does not
    tell."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()  # after the command, which may hold spaces
        return int(fields[19])  # field 22 of stat(5); fields[0] is field 3
    except (OSError, IndexError, ValueError):
        return None


def write(path: Path, pid: int, **extra: Any) -> None:
    """Record ``pid`` (with its start time, and ``extra`` fields) in ``path``."""
    path.write_bytes(orjson.dumps({"pid": pid, "started": start_time(pid), **extra}))


def read(path: Path) -> dict[str, Any] | None:
    """The record in ``path`` (``pid``, ``started`` and its extra fields) if it names a live process, the one that
    wrote it; None otherwise (no file, no record, a process that is gone, or a pid now another process's)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        info = orjson.loads(data)
        if isinstance(info, int):  # an older plain "PID" file
            info = {"pid": info}
        pid = int(info["pid"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        pass
    recorded, now = info.get("started"), start_time(pid)
    if recorded is not None and now is not None and recorded != now:
        return None  # the pid was reused
    return dict(info)
