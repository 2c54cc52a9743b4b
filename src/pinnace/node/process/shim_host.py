"""What the process runtime's shim asks of the kernel: a mount namespace with the volumes, a container process's
set-up before exec (signals, cgroups, controlling terminal), terminal sizes, and files written atomically.

Stdlib only, like the rest of the shim (:mod:`.shim`), which runs by file path with ``python -S``.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import signal
import struct
import termios
from typing import Any

__all__ = [
    "IGNORED_SIGNALS",
    "become",
    "child_setup",
    "controlling_tty",
    "enter_mount_namespace",
    "exit_code",
    "join_cgroups",
    "nonblock",
    "set_winsize",
    "start_time",
    "write_json",
]

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
RESOLV_CONF = "/etc/resolv.conf"


def write_json(path: str, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically (rename), so readers never see half a file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def exit_code(returncode: int) -> int:
    """A shell-style exit code: 128+N for a process killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


# ---- mount namespace ------------------------------------------------------------------------
def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def enter_mount_namespace(
    mounts: list[dict[str, Any]], mode: str = "", hostname: str = "", resolv_conf: str = ""
) -> list[str]:
    """Enter a private mount namespace and bind each volume at its mountPath (OSError if impossible); with a
    ``hostname``, a UTS namespace too, in which the host name is the pod's (as a container runtime gives it);
    with a ``resolv_conf`` (the pod's file), bind it read-only over /etc/resolv.conf unless a volume is mounted
    there. What could not be done for the resolv.conf is returned (a warning: the container runs on without it).

    ``mode``: ``"root"`` (a mount namespace), ``"userns"`` (a user namespace mapping our own IDs, and a mount
    namespace in it: no privilege needed where the kernel allows it); by default, whichever our euid allows.
    """
    libc = _libc()
    uid, gid = os.geteuid(), os.getegid()
    uts = CLONE_NEWUTS if hostname else 0
    if (mode or ("root" if uid == 0 else "userns")) == "root":
        _check(libc.unshare(CLONE_NEWNS | uts), "unshare(CLONE_NEWNS)")
    else:
        _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | uts), "unshare(CLONE_NEWUSER|CLONE_NEWNS)")
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"{uid} {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"{gid} {gid} 1")
    if hostname:
        name = hostname.encode()
        _check(libc.sethostname(name, len(name)), "sethostname")
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "making / private")
    for m in mounts:
        target, source = m["container_path"], m["host_path"]
        if m.get("is_file"):
            if not os.path.exists(target):
                os.makedirs(os.path.dirname(target) or "/", exist_ok=True)
                open(target, "a").close()
        else:
            os.makedirs(target, exist_ok=True)
        _check(libc.mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None), f"mounting {target}")
        if m.get("readonly"):
            flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC
            _check(libc.mount(b"none", target.encode(), None, flags, None), f"read-only {target}")
    if resolv_conf and not any(m["container_path"] == RESOLV_CONF for m in mounts):
        try:
            bind_read_only(libc, resolv_conf, RESOLV_CONF)
        except OSError as exc:
            return [f"the pod's resolv.conf is not mounted over {RESOLV_CONF}: {exc}"]
    return []


def bind_read_only(libc: Any, source: str, target: str) -> None:
    """Bind the file ``source`` over ``target`` (which must exist), read-only.

    The remount keeps the flags of the mount the target is on (nosuid, nodev, noexec): in a user namespace
    they are locked, and a remount without them is refused.
    """
    _check(libc.mount(source.encode(), target.encode(), None, MS_BIND, None), f"mounting {target}")
    locked = os.statvfs(target).f_flag & (os.ST_NOSUID | os.ST_NODEV | os.ST_NOEXEC)
    flags = MS_BIND | MS_REMOUNT | MS_RDONLY | locked  # ST_NOSUID/NODEV/NOEXEC have the MS_ flags' values
    _check(libc.mount(b"none", target.encode(), None, flags, None), f"read-only {target}")


#: Signals the shim ignores (it outlives its agent); a container gets them back at their defaults.
IGNORED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def child_setup() -> None:
    """In the child, before exec: default signal dispositions (ignored ones would survive exec)."""
    for sig in IGNORED_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)


def become(uid: int | None, gid: int | None) -> None:
    """In the child, before exec and after joining the cgroups (which takes root): runAsUser and runAsGroup (the
    user's own id as the group when none is given), without supplementary groups; nothing when neither is set."""
    group = gid if gid is not None else uid
    if uid is not None:
        os.setgroups([])
    if group is not None:
        os.setregid(group, group)
    if uid is not None:
        os.setreuid(uid, uid)


def join_cgroups(procs_files: list[str], then: Any) -> None:
    """In the child, before exec: join the container's cgroups (its limits and accounting), then ``then()``."""
    pid = str(os.getpid()).encode()
    for path in procs_files:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, pid)
        finally:
            os.close(fd)
    then()


def controlling_tty() -> None:
    """In the child (after setsid): default signals, and stdin, the pty slave, as its controlling terminal."""
    child_setup()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def set_winsize(fd: int, width: int, height: int) -> None:
    """Resize the terminal behind ``fd``."""
    with contextlib.suppress(OSError):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def nonblock(fd: int) -> None:
    """Make ``fd`` non-blocking (the shim's loop never blocks on one fd)."""
    os.set_blocking(fd, False)


def start_time(pid: int) -> int:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22): tells a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0
