"""Namespaces that outlive any process: made by ``unshare`` in a thread of our own and kept by a bind mount.

``ip netns add`` and ``unshare --ipc=FILE`` make a namespace and bind-mount
its ``/proc/.../ns/*`` file onto a file, so that it lives without a process
in it. Each is a process per call. Linux keeps network, IPC and UTS
namespaces per thread, so the same is done in-process — as the CNI project's
test utilities and Go's netns packages do — in a fresh thread: unshare the
namespaces, set them up (bring ``lo`` up, set the hostname), bind-mount
``/proc/thread-self/ns/<kind>`` onto each file, and switch the thread back.
The thread is a new one each time and ends after, so a thread that could not
switch back is never reused for anything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

CLONE_NEWNET = 0x40000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUTS = 0x04000000
#: The ``/proc/thread-self/ns`` entry of each kind.
KINDS = {CLONE_NEWNET: "net", CLONE_NEWIPC: "ipc", CLONE_NEWUTS: "uts"}
MS_BIND = 0x1000
MNT_DETACH = 2

T = TypeVar("T")


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def persist(files: Mapping[int, str], setup: Callable[[], None] | None = None) -> None:
    """Make new namespaces of the kinds in ``files`` (CLONE_NEW* → path), run ``setup`` inside them, and
    bind-mount each onto its path (created here). Blocking: call it through :func:`in_new_thread`.

    On failure nothing is left mounted and the files are removed.
    """
    libc = _libc()
    flags = 0
    for kind in files:
        flags |= kind
    own = {kind: os.open(f"/proc/thread-self/ns/{KINDS[kind]}", os.O_RDONLY) for kind in files}
    made: list[str] = []
    try:
        for path in files.values():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444))
            made.append(path)
        _check(libc.unshare(flags), "unshare")
        try:
            if setup is not None:
                setup()
            for kind, path in files.items():
                source = f"/proc/thread-self/ns/{KINDS[kind]}".encode()
                _check(libc.mount(source, path.encode(), b"none", MS_BIND, None), f"bind-mounting {path}")
        finally:
            for kind, fd in own.items():
                _check(libc.setns(fd, kind), "switching the thread back")  # else the thread dies with this error
    except BaseException:
        release(made)
        raise
    finally:
        for fd in own.values():
            os.close(fd)


def release(paths: list[str]) -> None:
    """Unmount (lazily) and remove namespace files. Idempotent."""
    libc = _libc()
    for path in paths:
        libc.umount2(path.encode(), MNT_DETACH)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


async def in_new_thread(function: Callable[[], T]) -> T:
    """Run ``function`` in a thread of its own (one that ends after it), without blocking the event loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(setter: Callable[..., None], value: object) -> None:
        if not future.done():
            setter(value)

    def run() -> None:
        try:
            result = function()
        except BaseException as exc:  # handed to the awaiting task
            loop.call_soon_threadsafe(deliver, future.set_exception, exc)
        else:
            loop.call_soon_threadsafe(deliver, future.set_result, result)

    threading.Thread(target=run, name="pinnace-namespaces", daemon=True).start()
    return await future
