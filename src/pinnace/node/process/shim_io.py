"""The process runtime's shim, part one: a container's processes and where their output goes.

:class:`ShimIO` holds the shim's state (the container's configuration, its
selector, the main process, the exec/attach sessions), starts processes the way
the container's are (env, cwd, user, cgroups, own session), and moves output
without ever blocking: into the CRI log file (``<RFC3339Nano> stdout|stderr F|P
<line>``, lines over 16 KiB cut into ``P`` records as containerd does) and into
:class:`Pump` s to attach and exec clients. :mod:`.shim_sessions` adds the
clients' control connections, :mod:`.shim` the main loop and the entry point.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import subprocess
from typing import TYPE_CHECKING, Any

# Run by path (``python -S shim.py``: stdlib only, so it starts fast), the shim's siblings are top-level
# modules; imported as part of the package (type checking, documentation), they are the package's.
if TYPE_CHECKING or __package__:
    from pinnace.node.crilog import CRILog
    from pinnace.node.process.shim_host import become, child_setup, controlling_tty, join_cgroups
else:
    from crilog import CRILog
    from shim_host import become, child_setup, controlling_tty, join_cgroups

__all__ = ["MAX_PENDING", "Pump", "Session", "ShimIO"]

#: Bytes an attach client may lag behind before its copy of the output is dropped.
MAX_PENDING = 1 << 20


class Pump:
    """Bytes to write to a non-blocking fd, kept while it is not writable."""

    def __init__(self, fd: int, limit: int | None) -> None:
        self.fd = fd
        self.limit = limit
        self.pending = bytearray()
        self.closing = False


class Session:
    """One client connection: an exec (its own process) or an attach."""

    def __init__(self, conn: socket.socket, kind: str) -> None:
        self.conn = conn
        self.kind = kind
        self.proc: subprocess.Popen[bytes] | None = None
        self.master: int | None = None
        self.stdin_fd: int | None = None  # attach: our end of the client's stdin pipe
        self.out: list[Pump] = []
        self.exit_sent = False
        self.exited_at: float | None = None


class ShimIO:
    """The shim's state, its container's processes and their output (one thread, a selector)."""

    def __init__(self, cdir: str, cfg: dict[str, Any]) -> None:
        self.cdir = cdir
        self.cfg = cfg
        self.sel = selectors.DefaultSelector()
        self.log = CRILog(cfg.get("log_path") or "")
        self.partial: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self.main: subprocess.Popen[bytes] | None = None
        self.main_stdin: int | None = None
        self.main_master: int | None = None
        self.sources: dict[int, str] = {}  # output fd of the main process -> stream name
        self.sessions: dict[int, Session] = {}  # by connection fd
        self.buffers: dict[int, bytearray] = {}
        self.state: dict[str, Any] = {}

    def spawn(self, argv: list[str], stdin: Any, stdout: Any, stderr: Any, *, tty: bool) -> subprocess.Popen[bytes]:
        """A process of the container: its env, cwd, user (runAsUser/runAsGroup), cgroups and own session."""
        uid, gid = self.cfg.get("user"), self.cfg.get("group")
        terminal = controlling_tty if tty else child_setup
        procs = list(self.cfg.get("cgroup_procs") or [])

        def setup() -> None:  # the user changes after the cgroups are joined: that takes root
            become(uid, gid)
            terminal()

        return subprocess.Popen(
            argv,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=dict(self.cfg.get("env") or {}),
            cwd=self.cfg.get("cwd") or "/",
            start_new_session=True,
            preexec_fn=(lambda: join_cgroups(procs, setup)) if procs else setup,
        )

    def record(self, stream: str, data: bytes) -> None:
        """Write a chunk of the main process's output to the log, line by line, and to attach clients."""
        for session in self.sessions.values():
            if session.kind == "attach" and session.out:
                pump = session.out[0] if stream == "stdout" or len(session.out) == 1 else session.out[1]
                self.send(pump, data)
        self.log.write(stream, data, self.partial[stream])

    def flush_partial(self) -> None:
        """The main process's output ended: what is left of each stream's line is a last full line."""
        for stream, buf in self.partial.items():
            self.log.flush(stream, buf)

    def send(self, pump: Pump, data: bytes) -> None:
        if pump.fd < 0:
            return
        if pump.limit is not None and len(pump.pending) + len(data) > pump.limit:
            return  # a client that does not read loses output, as a slow attach does upstream
        if not pump.pending:
            try:
                n = os.write(pump.fd, data)
            except BlockingIOError:
                n = 0
            except OSError:
                self.close_pump(pump)
                return
            data = data[n:]
            if not data:
                return
            pump.pending += data
            self.sel.register(pump.fd, selectors.EVENT_WRITE, ("pump", pump))
        else:
            pump.pending += data

    def flush_pump(self, pump: Pump) -> None:
        try:
            n = os.write(pump.fd, pump.pending)
        except BlockingIOError:
            return
        except OSError:
            self.close_pump(pump)
            return
        del pump.pending[:n]
        if not pump.pending:
            self.sel.unregister(pump.fd)
            if pump.closing:
                self.close_pump(pump)

    def close_pump(self, pump: Pump, *, drain: bool = False) -> None:
        if pump.fd < 0:
            return
        if drain and pump.pending:
            pump.closing = True
            return
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(pump.fd)
        os.close(pump.fd)
        pump.fd = -1
