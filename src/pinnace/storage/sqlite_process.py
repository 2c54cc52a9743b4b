"""The SQLite writer as a child process, seen from the store's event loop.

``SQLiteStore(writer_process=True)`` starts ``sqlite_writer`` with ``python -S``
and talks to it over its stdin and stdout (length-prefixed ``marshal``
messages, see ``sqlite_writer``), both non-blocking and driven by the loop's
reader and writer callbacks: nothing here blocks the loop or takes a thread.
The store gets each answer's results in the order it sent the operations, and
hears when the process ends: after the EOF it sent at close, or because it
died.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pinnace.storage import sqlite_writer
from pinnace.storage.sqlite_writer import Result, frame, unframe

#: The writer process's program (run by path with ``python -S``: stdlib only).
WRITER_PROGRAM = sqlite_writer.__file__

#: An operation as the store keeps it: the writer's five fields, then the store's own (its future).
Submitted = tuple[Any, ...]
#: (the operations answered, their results, the revision, commits made, largest batch).
OnResults = Callable[[list[Submitted], list[Result], int, int, int], None]
#: (the operations sent and never answered) once the process has ended.
OnExit = Callable[[list[Submitted]], None]


class WriterProcess:
    """One writer process: send it operations, get their results and its end through callbacks."""

    def __init__(
        self,
        path: Path,
        *,
        durable: bool,
        revision: int,
        max_batch: int,
        on_results: OnResults,
        on_exit: OnExit,
        inherit_fd: int | None = None,
    ) -> None:
        """``inherit_fd``: a descriptor the process keeps open for its lifetime (the store's lock)."""
        self._loop = asyncio.get_running_loop()
        self._on_results = on_results
        self._on_exit = on_exit
        self.process = subprocess.Popen(
            [sys.executable, "-S", WRITER_PROGRAM, str(path), "1" if durable else "0", str(revision),
             str(max_batch)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            pass_fds=() if inherit_fd is None else (inherit_fd,),
            start_new_session=True,  # a Ctrl-C at the terminal is the store's to act on (close), not the writer's
        )  # fmt: skip
        assert self.process.stdin is not None and self.process.stdout is not None
        self._stdin = self.process.stdin
        self._stdout = self.process.stdout
        self._in_flight: deque[list[Submitted]] = deque()
        self._in_buffer = bytearray()
        self._out_buffer = bytearray()
        self._closing = False
        os.set_blocking(self._stdin.fileno(), False)
        os.set_blocking(self._stdout.fileno(), False)
        self._loop.add_reader(self._stdout.fileno(), self._on_output)

    def send(self, ops: list[Submitted]) -> None:
        """Hand it a batch of operations (answered in order)."""
        self._in_flight.append(ops)
        data = frame([op[:5] for op in ops])
        if self._out_buffer:
            self._out_buffer += data
            return
        try:
            sent = os.write(self._stdin.fileno(), data)
        except BlockingIOError:
            sent = 0
        except (BrokenPipeError, ValueError):  # it died: the EOF of its output reports what is in flight
            return
        if sent < len(data):
            self._out_buffer += data[sent:]
            self._loop.add_writer(self._stdin.fileno(), self._drain)

    def close(self) -> None:
        """End its input once everything is sent: it answers all it read, then exits (``on_exit`` follows)."""
        self._closing = True
        if not self._out_buffer:
            self._stdin.close()

    def _drain(self) -> None:
        try:
            sent = os.write(self._stdin.fileno(), self._out_buffer)
        except BlockingIOError:
            return
        except (BrokenPipeError, ValueError):
            sent = len(self._out_buffer)
        del self._out_buffer[:sent]
        if not self._out_buffer:
            self._loop.remove_writer(self._stdin.fileno())
            if self._closing:
                self._stdin.close()

    def _on_output(self) -> None:
        try:
            data = os.read(self._stdout.fileno(), 1 << 20)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._ended()
            return
        self._in_buffer += data
        for answered, results, revision, commits, largest in unframe(self._in_buffer):
            ops: list[Submitted] = []
            for _ in range(answered):
                ops += self._in_flight.popleft()
            self._on_results(ops, results, revision, commits, largest)

    def _ended(self) -> None:
        self._loop.remove_reader(self._stdout.fileno())
        with contextlib.suppress(ValueError):  # already closed
            self._loop.remove_writer(self._stdin.fileno())
        for stream in (self._stdin, self._stdout):
            with contextlib.suppress(OSError):
                stream.close()
        self._loop.run_in_executor(None, self.process.wait)  # reap it
        lost = [op for ops in self._in_flight for op in ops]
        self._in_flight.clear()
        self._on_exit(lost)
