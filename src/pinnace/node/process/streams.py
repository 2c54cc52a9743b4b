"""Exec and attach sessions of the process runtime: a client of a container's shim socket.

The shim (see :mod:`.shim`) answers an ``exec`` or ``attach`` request with pipe
file descriptors (SCM_RIGHTS) and later reports ``{"exit": N}`` on the same
connection; this module turns that into a :class:`pinnace.node.cri.StreamSession`
(asyncio streams, ``resize``, ``wait``, ``close``). The handshake is a blocking
exchange in a worker thread (``recvmsg`` with ancillary data has no asyncio
form); everything after it is asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from typing import Any

from pinnace.node.cri import RuntimeFailure

__all__ = ["ShimSession", "open_session"]

#: The largest line a stream reader buffers (exec output is read in chunks, not lines, by callers).
_LIMIT = 1 << 20


async def _reader(fd: int) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0))
    return reader


async def _writer(fd: int) -> asyncio.StreamWriter:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.connect_write_pipe(
        lambda: asyncio.streams.FlowControlMixin(), os.fdopen(fd, "wb", buffering=0)
    )
    return asyncio.StreamWriter(transport, protocol, None, loop)


def _handshake(path: str, request: dict[str, Any], nfds: int) -> tuple[socket.socket, dict[str, Any], list[int], bytes]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(10.0)
        sock.connect(path)
        sock.sendall(json.dumps(request).encode() + b"\n")
        data, fds, _flags, _addr = socket.recv_fds(sock, 65536, max(nfds, 1))
        while b"\n" not in data:
            more = sock.recv(65536)
            if not more:
                break
            data += more
    except BaseException:
        sock.close()
        raise
    line, _, rest = data.partition(b"\n")
    try:
        reply = json.loads(line) if line else {"error": "the container's shim closed the connection"}
    except ValueError:
        reply = {"error": f"bad answer from the container's shim: {line[:200]!r}"}
    return sock, reply, fds, rest


class ShimSession:
    """A running exec or attach through a shim (implements :class:`pinnace.node.cri.StreamSession`)."""

    def __init__(
        self,
        sock: socket.socket,
        stdin: asyncio.StreamWriter | None,
        stdout: asyncio.StreamReader,
        stderr: asyncio.StreamReader | None,
        pending: bytes,
    ) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self._sock = sock
        self._exit: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._buffer = pending
        self._task = asyncio.create_task(self._read_control(), name="shim session control")

    async def _read_control(self) -> None:
        loop = asyncio.get_running_loop()
        buf = self._buffer
        try:
            while True:
                while b"\n" in buf:
                    line, _, buf = buf.partition(b"\n")
                    with contextlib.suppress(ValueError):
                        msg = json.loads(line)
                        if "exit" in msg and not self._exit.done():
                            self._exit.set_result(int(msg["exit"]))
                data = await loop.sock_recv(self._sock, 4096)
                if not data:
                    break
                buf += data
        except OSError:
            pass
        if not self._exit.done():
            self._exit.set_result(137)  # the shim went away with the container

    def resize(self, width: int, height: int) -> None:
        """Change the terminal size (ignored without a TTY)."""
        with contextlib.suppress(OSError):
            self._sock.send(json.dumps({"resize": [width, height]}).encode() + b"\n")

    async def wait(self) -> int:
        """The exit code of the exec'd command (or of the main process, for an attach)."""
        return await asyncio.shield(self._exit)

    async def close(self) -> None:
        """Close stdin and the control connection (the shim kills an exec that still runs)."""
        if self.stdin is not None and not self.stdin.is_closing():
            self.stdin.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._sock.close()
        if not self._exit.done():
            self._exit.set_result(137)


async def open_session(path: str, request: dict[str, Any], *, stdin: bool, tty: bool) -> ShimSession:
    """Ask the shim listening on ``path`` for an exec or attach session; RuntimeFailure if it cannot."""
    nfds = int(stdin) + (1 if tty else 2)
    try:
        sock, reply, fds, rest = await asyncio.to_thread(_handshake, path, request, nfds)
    except OSError as exc:
        raise RuntimeFailure(f"cannot reach the container's shim: {exc}") from exc
    if "error" in reply:
        for fd in fds:
            os.close(fd)
        sock.close()
        raise RuntimeFailure(str(reply["error"]))
    sock.setblocking(False)
    want_stdin = stdin and len(fds) == nfds
    pos = 0
    writer = None
    if want_stdin:
        writer = await _writer(fds[0])
        pos = 1
    elif len(fds) > (1 if tty else 2):  # the shim gave a stdin nobody asked for
        os.close(fds[0])
        pos = 1
    stdout = await _reader(fds[pos])
    stderr = None if tty else await _reader(fds[pos + 1])
    return ShimSession(sock, writer, stdout, stderr, rest)
