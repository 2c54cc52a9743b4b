"""A container's root filesystem: an overlay over the image's read-only rootfs, or a copy of it.

Every container of an image shares the image's unpacked rootfs as the lower
layer of an overlay mount; what the container writes goes to an upper
directory of its own (as containerd's overlayfs snapshotter does). Where
overlayfs cannot be mounted (no privilege, an unsupported filesystem), the
rootfs is copied instead — slower, same result.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil

MNT_DETACH = 2


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def prepare(lower: str, container_dir: str, target: str) -> str:
    """Make ``target`` the container's rootfs over ``lower``; "overlay" or "copy", as it was made."""
    upper = os.path.join(container_dir, "upper")
    work = os.path.join(container_dir, "work")
    for path in (upper, work, target):
        os.makedirs(path, exist_ok=True)
    options = f"lowerdir={lower},upperdir={upper},workdir={work}".encode()
    if _libc().mount(b"overlay", target.encode(), b"overlay", 0, options) == 0:
        return "overlay"
    os.rmdir(target)
    shutil.copytree(lower, target, symlinks=True)
    return "copy"


def is_mounted(target: str) -> bool:
    """Whether something is mounted at ``target`` (per /proc/self/mountinfo)."""
    real = os.path.realpath(target)
    with open("/proc/self/mountinfo") as handle:
        return any(line.split()[4] == real for line in handle)


def release(target: str) -> None:
    """Unmount the rootfs (lazily, so a straggler cannot block it). Idempotent."""
    with contextlib.suppress(OSError):
        if is_mounted(target):
            libc = _libc()
            if libc.umount2(target.encode(), MNT_DETACH) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"unmounting {target}: {os.strerror(err)}")
