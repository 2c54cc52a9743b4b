"""Network namespaces for pod sandboxes: named ones under /run/netns, and sockets opened inside them.

A sandbox's namespace is made with ``ip netns add`` (a fresh namespace
bind-mounted at ``/run/netns/<name>``, so it lives without a process in it and
a restarted agent finds it by path) and removed with ``ip netns delete``.

Python has no ``setns``: :func:`open_connection_in` calls it through ctypes in
a thread of its own, creates the socket there (a socket belongs to the
namespace it was created in), switches the thread back, and hands the socket
to asyncio. :func:`loopback_up` uses such a socket for the ``SIOCSIFFLAGS``
ioctl that sets the namespace's ``lo`` up — what CNI's ``loopback`` plugin
does, without a process.
"""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import os
import socket
import struct

from pinnace.node.cri import RuntimeFailure

NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


async def _ip(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "ip", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    return proc.returncode or 0, err.decode(errors="replace").strip()


def netns_path(name: str) -> str:
    """Where a named network namespace is mounted."""
    return os.path.join(NETNS_DIR, name)


async def create(name: str) -> str:
    """Create a named network namespace (with ``lo`` down: :func:`loopback_up` brings it up); its path."""
    code, err = await _ip("netns", "add", name)
    if code != 0:
        raise RuntimeFailure(f"creating network namespace {name}: {err}")
    return netns_path(name)


async def delete(name: str) -> None:
    """Delete a named network namespace. Idempotent."""
    if os.path.exists(netns_path(name)):
        code, err = await _ip("netns", "delete", name)
        if code != 0 and os.path.exists(netns_path(name)):
            raise RuntimeFailure(f"deleting network namespace {name}: {err}")


def set_loopback_up(path: str) -> None:
    """Bring up ``lo`` in the network namespace at ``path`` (blocking: call it in a thread)."""
    with socket_in(path, socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(sock, SIOCGIFFLAGS, request + bytes(22))[:18])[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP) + bytes(22))


async def loopback_up(path: str) -> None:
    """Bring up ``lo`` in the pod's network namespace at ``path`` (RuntimeFailure if it cannot)."""
    try:
        await asyncio.to_thread(set_loopback_up, path)
    except OSError as exc:
        raise RuntimeFailure(f"bringing up lo in {path}: {exc}") from exc


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


async def open_connection_in(
    path: str, host: str, port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
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
