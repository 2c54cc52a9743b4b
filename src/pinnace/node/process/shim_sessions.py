"""The process runtime's shim, part two: ``exec`` and ``attach`` over its unix socket.

A request is one JSON line (``{"op": "exec", "cmd": [...], "stdin": .., "tty": ..}``
or ``{"op": "attach", ...}``); the answer is one JSON line carrying pipe file
descriptors (SCM_RIGHTS), and a later line ``{"exit": N}``. The client sends
``{"resize": [w, h]}`` for a TTY; closing the connection ends an exec (SIGKILL
to its group) or detaches an attach (closing the main stdin for ``stdinOnce``).
An exec runs in the container's namespace, env and cwd, on pipes or a real pty.
The client side is :mod:`.streams`.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import selectors
import signal
import socket
import subprocess
import time
from typing import TYPE_CHECKING, Any

# Run by path (``python -S shim.py``: stdlib only, so it starts fast), the shim's siblings are top-level
# modules; imported as part of the package (type checking, documentation), they are the package's.
if TYPE_CHECKING or __package__:
    from pinnace.node.process.shim_host import exit_code, nonblock, set_winsize
    from pinnace.node.process.shim_io import MAX_PENDING, Pump, Session, ShimIO
else:
    from shim_host import exit_code, nonblock, set_winsize
    from shim_io import MAX_PENDING, Pump, Session, ShimIO

__all__ = ["ShimSessions", "exec_error"]


class ShimSessions(ShimIO):
    """The shim's exec and attach sessions: accepting, answering and ending them."""

    def accept(self, server: socket.socket) -> None:
        conn, _ = server.accept()
        conn.setblocking(False)
        self.buffers[conn.fileno()] = bytearray()
        self.sel.register(conn, selectors.EVENT_READ, ("conn", conn))

    def on_conn(self, conn: socket.socket) -> None:
        fd = conn.fileno()
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.drop(conn)
            return
        buf = self.buffers[fd]
        buf += data
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            self.handle(conn, msg)

    def reply(self, conn: socket.socket, msg: dict[str, Any], fds: list[int] = ()) -> None:  # type: ignore[assignment]
        conn.setblocking(True)
        try:
            socket.send_fds(conn, [json.dumps(msg).encode() + b"\n"], list(fds)) if fds else conn.sendall(
                json.dumps(msg).encode() + b"\n"
            )
        except OSError:
            pass
        finally:
            conn.setblocking(False)

    def handle(self, conn: socket.socket, msg: dict[str, Any]) -> None:
        fd = conn.fileno()
        session = self.sessions.get(fd)
        if "resize" in msg:
            width, height = msg["resize"]
            target = session.master if session is not None and session.kind == "exec" else self.main_master
            if target is not None:
                set_winsize(target, int(width), int(height))
            return
        if session is not None:
            return
        op = msg.get("op")
        if op == "exec":
            self.start_exec(conn, msg)
        elif op == "attach":
            self.start_attach(conn, msg)
        else:
            self.reply(conn, {"error": f"unknown op {op!r}"})

    def start_exec(self, conn: socket.socket, msg: dict[str, Any]) -> None:
        session = Session(conn, "exec")
        give: list[int] = []
        try:
            if msg.get("tty"):
                master, slave = pty.openpty()
                in_r, in_w = os.pipe()
                out_r, out_w = os.pipe()
                try:
                    session.proc = self.spawn(msg["cmd"], slave, slave, slave, tty=True)
                finally:
                    os.close(slave)
                session.master = master
                nonblock(master)
                nonblock(in_r)
                nonblock(out_w)
                self.sel.register(master, selectors.EVENT_READ, ("tty-out", session))
                self.sel.register(in_r, selectors.EVENT_READ, ("tty-in", session))
                session.stdin_fd = in_r
                session.out = [Pump(out_w, None)]
                give = [in_w, out_r] if msg.get("stdin") else [out_r]
                if not msg.get("stdin"):
                    os.close(in_w)
            else:
                stdin_r, stdin_w = os.pipe() if msg.get("stdin") else (None, None)
                out_r, out_w = os.pipe()
                err_r, err_w = os.pipe()
                try:
                    stdin = stdin_r if stdin_r is not None else subprocess.DEVNULL
                    session.proc = self.spawn(msg["cmd"], stdin, out_w, err_w, tty=False)
                finally:
                    for fd in (stdin_r, out_w, err_w):
                        if fd is not None:
                            os.close(fd)
                give = ([stdin_w] if stdin_w is not None else []) + [out_r, err_r]
        except (OSError, subprocess.SubprocessError) as exc:
            self.reply(conn, {"error": exec_error(msg["cmd"], exc)})
            return
        self.sessions[conn.fileno()] = session
        self.reply(conn, {"ok": True, "pid": session.proc.pid}, give)
        for fd in give:
            os.close(fd)

    def start_attach(self, conn: socket.socket, msg: dict[str, Any]) -> None:
        session = Session(conn, "attach")
        give: list[int] = []
        if msg.get("stdin") and self.main_stdin is not None:
            in_r, in_w = os.pipe()
            nonblock(in_r)
            self.sel.register(in_r, selectors.EVENT_READ, ("attach-in", session))
            session.stdin_fd = in_r
            give.append(in_w)
        streams = 1 if self.cfg.get("tty") else 2
        for _ in range(streams):
            r, w = os.pipe()
            nonblock(w)
            session.out.append(Pump(w, MAX_PENDING))
            give.append(r)
        self.sessions[conn.fileno()] = session
        self.reply(conn, {"ok": True, "pid": self.main.pid if self.main else 0}, give)
        for fd in give:
            os.close(fd)
        if self.main is not None and self.main.returncode is not None:
            self.end_session(session, exit_code(self.main.returncode))

    def drop(self, conn: socket.socket) -> None:
        """The client went away: end its exec, or detach (closing the main stdin for stdinOnce)."""
        fd = conn.fileno()
        session = self.sessions.pop(fd, None)
        self.buffers.pop(fd, None)
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(conn)
        conn.close()
        if session is None:
            return
        if session.kind == "exec" and session.proc is not None and session.proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(session.proc.pid, signal.SIGKILL)
            session.proc.wait()
        if session.kind == "attach" and session.stdin_fd is not None and self.cfg.get("stdin_once"):
            self.close_main_stdin()
        self.release(session)

    def release(self, session: Session) -> None:
        for pump in session.out:
            self.close_pump(pump)
        for fd in (session.stdin_fd, session.master):
            if fd is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self.sel.unregister(fd)
                with contextlib.suppress(OSError):
                    os.close(fd)
        session.stdin_fd = session.master = None

    def close_main_stdin(self) -> None:
        if self.main_stdin is not None and self.main_stdin != self.main_master and self.main is not None:
            with contextlib.suppress(OSError):
                assert self.main.stdin is not None
                self.main.stdin.close()
            self.main_stdin = None

    def end_session(self, session: Session, code: int) -> None:
        if session.exit_sent:
            return
        session.exit_sent = True
        for pump in session.out:
            self.close_pump(pump, drain=True)
        with contextlib.suppress(OSError):
            session.conn.setblocking(True)
            session.conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
            session.conn.setblocking(False)

    def on_stdin(self, session: Session, target: int | None) -> None:
        assert session.stdin_fd is not None
        try:
            data = os.read(session.stdin_fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(session.stdin_fd)
            os.close(session.stdin_fd)
            session.stdin_fd = None
            if session.kind == "attach" and self.cfg.get("stdin_once"):
                self.close_main_stdin()
            return
        if target is not None:
            with contextlib.suppress(OSError):
                os.write(target, data)

    def check_children(self) -> None:
        for session in list(self.sessions.values()):
            if session.kind == "exec" and session.proc is not None and not session.exit_sent:
                code = session.proc.poll()
                if code is None:
                    continue
                if session.master is not None:
                    session.exited_at = session.exited_at or time.monotonic()
                    continue  # tty: send the exit once its output is drained
                self.end_session(session, exit_code(code))

    def tty_output(self, session: Session) -> None:
        assert session.master is not None
        try:
            data = os.read(session.master, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.send(session.out[0], data)
            return
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(session.master)
        os.close(session.master)
        session.master = None
        if session.proc is not None:
            self.end_session(session, exit_code(session.proc.wait()))


def exec_error(argv: list[str], exc: BaseException) -> str:
    """What an exec that could not start says (as runc's errors read)."""
    if isinstance(exc, FileNotFoundError) and argv:
        return f'exec: "{argv[0]}": executable file not found in $PATH'
    if isinstance(exc, PermissionError) and argv:
        return f'exec: "{argv[0]}": permission denied'
    return f"exec: {exc}"
