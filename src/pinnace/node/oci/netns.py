"""Network namespaces for pod sandboxes: named ones under /run/netns, and sockets opened inside them.

A sandbox's namespace is made as ``ip netns add`` makes one — a fresh
namespace bind-mounted at ``/run/netns/<name>``, so it lives without a process
in it and a restarted agent finds it by path, with ``/run/netns`` a shared
mount so the namespace is seen from other mount namespaces — but in-process
(:mod:`.nsfiles`), with ``lo`` down as CNI's ``loopback`` plugin expects to find
it (the node's conflist ends with that plugin). Deleting it is ``ip netns
delete``'s lazy unmount and unlink.

Python has no ``setns``: :func:`open_connection_in` calls it through ctypes in
a thread of its own, creates the socket there (a socket belongs to the
namespace it was created in), switches the thread back, and hands the socket
to asyncio.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import os
import socket

from pinnace.node.cri import RuntimeFailure
from pinnace.node.oci import nsfiles

NETNS_DIR = "/run/netns"
CLONE_NEWNET = nsfiles.CLONE_NEWNET
MS_REC = 0x4000
MS_SHARED = 1 << 20


def netns_path(name: str) -> str:
    """Where a named network namespace is mounted."""
    return os.path.join(NETNS_DIR, name)


@functools.cache
def _share_netns_dir() -> None:
    """Make /run/netns a shared mount (a bind mount of itself first, if it is not a mount), as ``ip`` does.

    Once per process (a failure is not cached: the next namespace tries again)."""
    os.makedirs(NETNS_DIR, mode=0o755, exist_ok=True)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"", NETNS_DIR.encode(), b"none", MS_SHARED | MS_REC, None) != 0:
        if ctypes.get_errno() != 22:  # EINVAL: not a mount point yet
            raise OSError(ctypes.get_errno(), f"making {NETNS_DIR} shared: {os.strerror(ctypes.get_errno())}")
        for flags in (nsfiles.MS_BIND | MS_REC, MS_SHARED | MS_REC):
            source = NETNS_DIR.encode() if flags & nsfiles.MS_BIND else b""
            if libc.mount(source, NETNS_DIR.encode(), b"none", flags, None) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"making {NETNS_DIR} a shared mount: {os.strerror(err)}")


def _create(path: str) -> None:
    _share_netns_dir()
    nsfiles.persist({CLONE_NEWNET: path})


async def create(name: str) -> str:
    """Create a named network namespace (``lo`` down until CNI's loopback plugin brings it up); its path."""
    path = netns_path(name)
    try:
        await nsfiles.in_new_thread(lambda: _create(path))
    except OSError as exc:
        raise RuntimeFailure(f"creating network namespace {name}: {exc}") from exc
    return path


async def delete(name: str) -> None:
    """Delete a named network namespace (lazily unmounted: a process still in it keeps it). Idempotent."""
    path = netns_path(name)
    nsfiles.release([path])
    if os.path.exists(path):
        raise RuntimeFailure(f"deleting network namespace {name}: {path} is still there")


def socket_in(path: str, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A new socket (TCP by default) of the network namespace at ``path`` (blocking: call it in a thread)."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
        try:
            return socket.socket(family, kind)
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:  # pragma: no cover - the thread would be lost
                err = ctypes.get_errno()
                raise OSError(err, f"setns back: {os.strerror(err)}")
    finally:
        os.close(target)
        os.close(own)


async def open_connection_in(path: str, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection to ``host:port`` as seen from inside the network namespace at ``path``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = await asyncio.to_thread(socket_in, path, family)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except OSError:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)
