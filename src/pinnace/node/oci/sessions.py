"""Exec and attach sessions of ``oci`` containers, as the CRI StreamSession the kubelet's server pumps.

- :class:`ExecSession` wraps ``<runtime> exec`` in the foreground: its pipes,
  or (with a TTY) a pty of ours that the runtime proxies to the container's;
- :class:`AttachSession` speaks the shim's attach socket protocol (see
  :mod:`pinnace.node.oci.attach`) and presents it as plain streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import struct
from collections.abc import Sequence

from pinnace.node.cri import RuntimeFailure
from pinnace.node.oci.attach import HEADER, RESIZE, STDERR, STDIN, STDOUT, frame, set_winsize


def _reader_on_fd(fd: int) -> asyncio.StreamReader:
    """A StreamReader fed from a non-blocking fd; EIO (a pty whose slave closed) is its end."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    os.set_blocking(fd, False)

    def readable() -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            reader.feed_data(data)
        else:
            loop.remove_reader(fd)
            reader.feed_eof()

    loop.add_reader(fd, readable)
    return reader


async def _writer_on_fd(fd: int) -> asyncio.StreamWriter:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(fd, "wb", buffering=0)
    )
    return asyncio.StreamWriter(transport, protocol, None, loop)


class ExecSession:
    """A command running in a container through ``<runtime> exec``."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        stdin: asyncio.StreamWriter | None,
        stdout: asyncio.StreamReader,
        stderr: asyncio.StreamReader | None,
        master: int | None = None,
    ) -> None:
        self.proc = proc
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.master = master

    @classmethod
    async def start(cls, runtime: Sequence[str], container_id: str, command: Sequence[str], *, tty: bool,
                    stdin: bool) -> ExecSession:  # fmt: skip
        """Run ``command`` in the container, with pipes or a TTY."""
        if not tty:
            proc = await asyncio.create_subprocess_exec(
                *runtime, "exec", container_id, *command,
                stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            assert proc.stdout is not None and proc.stderr is not None
            return cls(proc, proc.stdin, proc.stdout, proc.stderr)
        # The runtime in the foreground proxies between its own terminal (our pty's slave) and the
        # container's; it applies our terminal's size on SIGWINCH.
        master, slave = os.openpty()
        try:
            proc = await asyncio.create_subprocess_exec(
                *runtime, "exec", "--tty", container_id, *command, stdin=slave, stdout=slave, stderr=slave,
            )  # fmt: skip
        finally:
            os.close(slave)
        writer = await _writer_on_fd(os.dup(master)) if stdin else None
        return cls(proc, writer, _reader_on_fd(master), None, master)

    def resize(self, width: int, height: int) -> None:
        """Change the terminal size (a no-op without a TTY)."""
        if self.master is not None:
            set_winsize(self.master, width, height)
            if self.proc.returncode is None:
                self.proc.send_signal(signal.SIGWINCH)

    async def wait(self) -> int:
        """Wait for the command to end; its exit code."""
        code = await self.proc.wait()
        return 128 - code if code < 0 else code

    async def close(self) -> None:
        """Close stdin and stop the command if it still runs."""
        if self.stdin is not None:
            self.stdin.close()
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        if self.master is not None:
            with contextlib.suppress(ValueError):
                asyncio.get_running_loop().remove_reader(self.master)
            with contextlib.suppress(OSError):
                os.close(self.master)
            self.master = None


class AttachSession:
    """Attached to a container's main process through its shim's attach socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, tty: bool,
                 stdin: bool, exited: asyncio.Future[int]) -> None:  # fmt: skip
        self._reader = reader
        self._writer = writer
        self._tty = tty
        self._exited = exited
        self.stdout = asyncio.StreamReader()
        self.stderr: asyncio.StreamReader | None = None if tty else asyncio.StreamReader()
        self.stdin: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = [asyncio.ensure_future(self._demux())]
        self._wants_stdin = stdin

    @classmethod
    async def connect(cls, socket_path: str, *, tty: bool, stdin: bool,
                      exited: asyncio.Future[int]) -> AttachSession:  # fmt: skip
        """Attach through the shim's socket; ``exited`` resolves to the container's exit code."""
        try:
            reader, writer = await asyncio.open_unix_connection(socket_path)
        except OSError as exc:
            raise RuntimeFailure(f"cannot attach: the container's shim does not answer ({exc})") from exc
        writer.write(json.dumps({"stdin": stdin}).encode() + b"\n")
        session = cls(reader, writer, tty=tty, stdin=stdin, exited=exited)
        if stdin:
            ours, theirs = socket.socketpair()
            user_reader, session.stdin = await asyncio.open_connection(sock=theirs)
            del user_reader
            session._tasks.append(asyncio.ensure_future(session._forward_stdin(ours)))
        return session

    async def _demux(self) -> None:
        try:
            while True:
                header = await self._reader.readexactly(HEADER.size)
                kind, length = HEADER.unpack(header)
                data = await self._reader.readexactly(length)
                if kind == STDOUT or (kind == STDERR and self.stderr is None):
                    self.stdout.feed_data(data)
                elif kind == STDERR and self.stderr is not None:
                    self.stderr.feed_data(data)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.stdout.feed_eof()
            if self.stderr is not None:
                self.stderr.feed_eof()

    async def _forward_stdin(self, ours: socket.socket) -> None:
        reader, writer = await asyncio.open_connection(sock=ours)
        try:
            while data := await reader.read(65536):
                self._writer.write(frame(STDIN, data))
                await self._writer.drain()
            self._writer.write(frame(STDIN, b""))
            await self._writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def resize(self, width: int, height: int) -> None:
        """Change the container's terminal size (a no-op without a TTY)."""
        if self._tty:
            self._writer.write(frame(RESIZE, struct.pack(">HH", width, height)))

    async def wait(self) -> int:
        """Wait for the container's main process to end; its exit code."""
        return await self._exited

    async def close(self) -> None:
        """Detach (the container goes on running)."""
        if self.stdin is not None:
            self.stdin.close()
        self._writer.close()
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
