"""The process runtime's shim: the parent of one container process, as containerd's shim is.

Run as ``python -S shim.py <container-dir> <status-fd>`` (by file path, stdlib only, so it
starts fast and imports nothing of Pinnace; its parts are the sibling modules
:mod:`.shim_host`, :mod:`.shim_io` and :mod:`.shim_sessions`). It reads ``config.json`` from the
container directory, detaches (forks; the runtime's child exits at once), and:

- enters a private mount namespace (as root; otherwise a user + mount
  namespace) when the container has volumes, and bind-mounts each at its
  mountPath on top of the host's filesystem, and the pod's resolv.conf
  (read-only) over /etc/resolv.conf when it has one;
- starts the container process in its own session and process group, with the
  configured argv, env and cwd, on pipes or a pseudo-terminal;
- writes the process's output to the CRI log file (``<RFC3339Nano> stdout|stderr
  F|P <line>``, the format ``kubectl logs`` and upstream tools read);
- records the pid, then the exit code and finish time, in ``state.json``
  (written atomically), so an agent that restarts adopts the container and
  still learns how it ended;
- serves a unix socket for ``exec`` (a command in the same namespace, env and
  cwd; pipes or a real pty) and ``attach`` (the main process's stdin and a
  copy of its output). A request is one JSON line; the answer is one JSON line
  carrying pipe file descriptors (SCM_RIGHTS); later lines report ``{"exit":
  N}``; the client sends ``{"resize": [w, h]}`` for a TTY, and closing the
  connection ends an exec (SIGKILL to its group) or detaches an attach.

When the main process exits, the rest of its process group is killed (as a
container's PID namespace dies with its init), output is drained, the state is
written and exec sessions are ended. The line it writes on the status pipe
(file descriptor ``argv[2]``) tells the runtime the container started
(``{"pid": N, "warnings": [...]}``: what it could not do but the container runs without, for the
runtime to log) or could not (``{"error": …}``).
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
import sys
import time
from typing import TYPE_CHECKING

# Run by path (``python -S shim.py``: stdlib only, so it starts fast), the shim's siblings are top-level
# modules; imported as part of the package (type checking, documentation), they are the package's.
if TYPE_CHECKING or __package__:
    from pinnace.node.process.shim_host import (
        IGNORED_SIGNALS,
        enter_mount_namespace,
        exit_code,
        nonblock,
        start_time,
        write_json,
    )
    from pinnace.node.process.shim_sessions import ShimSessions, exec_error
else:
    # ... and the modules of the directory above that are stdlib only too (crilog, the CRI log writer).
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from shim_host import IGNORED_SIGNALS, enter_mount_namespace, exit_code, nonblock, start_time, write_json
    from shim_sessions import ShimSessions, exec_error


class Shim(ShimSessions):
    """The shim: starts the container's main process, serves its loop, and records how it ended."""

    def start(self) -> None:
        cfg = self.cfg
        argv = list(cfg["argv"])
        if cfg.get("tty"):
            master, slave = pty.openpty()
            self.main = self.spawn(argv, slave, slave, slave, tty=True)
            os.close(slave)
            self.main_master = master
            self.main_stdin = master if cfg.get("stdin") else None
            self.sources[master] = "stdout"
        else:
            stdin = subprocess.PIPE if cfg.get("stdin") else subprocess.DEVNULL
            self.main = self.spawn(argv, stdin, subprocess.PIPE, subprocess.PIPE, tty=False)
            assert self.main.stdout is not None and self.main.stderr is not None
            self.sources[self.main.stdout.fileno()] = "stdout"
            self.sources[self.main.stderr.fileno()] = "stderr"
            if self.main.stdin is not None:
                self.main_stdin = self.main.stdin.fileno()
        for fd in self.sources:
            nonblock(fd)
            self.sel.register(fd, selectors.EVENT_READ, ("output", fd))

    def main_output(self, fd: int) -> bool:
        """Read the main process's output; False at EOF."""
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if not data:
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(fd)
            del self.sources[fd]
            return False
        self.record(self.sources[fd], data)
        return True

    def run(self, server: socket.socket, wakeup: int) -> None:
        self.sel.register(server, selectors.EVENT_READ, ("server", server))
        self.sel.register(wakeup, selectors.EVENT_READ, ("wakeup", wakeup))
        assert self.main is not None
        drain_deadline: float | None = None
        while True:
            timeout = 0.2 if drain_deadline is not None or any(s.exited_at for s in self.sessions.values()) else None
            for key, _ in self.sel.select(timeout):
                kind, obj = key.data
                if kind == "output":
                    self.main_output(obj)
                elif kind == "server":
                    self.accept(obj)
                elif kind == "conn":
                    self.on_conn(obj)
                elif kind == "pump":
                    self.flush_pump(obj)
                elif kind == "tty-out":
                    self.tty_output(obj)
                elif kind == "tty-in":
                    self.on_stdin(obj, obj.master)
                elif kind == "attach-in":
                    self.on_stdin(obj, self.main_stdin)
                elif kind == "wakeup":
                    with contextlib.suppress(OSError):
                        os.read(wakeup, 4096)
            now = time.monotonic()
            for session in list(self.sessions.values()):  # a tty whose output never ends (a background job)
                if session.exited_at and now - session.exited_at > 1.0 and session.proc is not None:
                    self.end_session(session, exit_code(session.proc.wait()))
            self.check_children()
            if drain_deadline is None and self.main.poll() is not None:
                with contextlib.suppress(OSError):
                    os.killpg(self.main.pid, signal.SIGKILL)  # the rest of the container goes with its main process
                drain_deadline = now + 2.0
            if drain_deadline is not None and (not self.sources or now > drain_deadline):
                return

    def finish(self) -> None:
        assert self.main is not None and self.main.returncode is not None
        self.flush_partial()
        code = exit_code(self.main.returncode)
        self.state.update(exit_code=code, finished_at=time.time(), reason="Completed" if code == 0 else "Error")
        write_json(os.path.join(self.cdir, "state.json"), self.state)
        for session in list(self.sessions.values()):
            if session.kind == "exec" and session.proc is not None and session.proc.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(session.proc.pid, signal.SIGKILL)
                session.proc.wait()
            self.end_session(
                session, code if session.kind == "attach" else exit_code(session.proc.wait() if session.proc else 137)
            )
        deadline = time.monotonic() + 1.0
        while (
            any(p.pending for s in self.sessions.values() for p in s.out if p.fd >= 0) and time.monotonic() < deadline
        ):
            for key, _ in self.sel.select(0.1):
                if key.data[0] == "pump":
                    self.flush_pump(key.data[1])


def main(argv: list[str]) -> int:
    """Start the container described in ``argv[1]``/config.json and look after it until it exits."""
    cdir = argv[1]
    status_fd = int(argv[2])
    with open(os.path.join(cdir, "config.json")) as f:
        cfg = json.load(f)
    if os.fork() != 0:
        os._exit(0)  # the runtime's child returns at once; the shim lives on, orphaned, as containerd's does
    state_path = os.path.join(cdir, "state.json")
    shim = Shim(cdir, cfg)
    wake_r, wake_w = os.pipe()
    nonblock(wake_r)
    nonblock(wake_w)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    for sig in IGNORED_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)  # the shim outlives its agent; the runtime signals the container
    warnings: list[str] = []
    try:
        needed = bool(cfg.get("mounts") or cfg.get("hostname"))
        if needed or cfg.get("resolv_conf"):
            try:
                warnings = enter_mount_namespace(
                    cfg.get("mounts") or [],
                    str(cfg.get("namespaces") or ""),
                    cfg.get("hostname") or "",
                    cfg.get("resolv_conf") or "",
                )
            except OSError as exc:
                if needed:
                    raise
                warnings = [f"the pod's resolv.conf is not mounted (no mount namespace): {exc}"]
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(cfg["socket"])
        server.bind(cfg["socket"])
        os.chmod(cfg["socket"], 0o600)
        server.listen(16)
        server.setblocking(False)
        shim.start()
    except (OSError, subprocess.SubprocessError) as exc:
        message = exec_error(cfg["argv"], exc) if not isinstance(exc, OSError) or exc.filename else str(exc)
        if isinstance(exc, OSError) and exc.filename == cfg.get("cwd"):
            message = f"chdir to cwd ({cfg.get('cwd')!r}): {exc.strerror}"
        now = time.time()
        write_json(
            state_path,
            {
                "shim_pid": os.getpid(),
                "started_at": 0.0,
                "finished_at": now,
                "exit_code": 128,
                "reason": "ContainerCannotRun",
                "message": message,
            },
        )
        os.write(status_fd, json.dumps({"error": message}).encode() + b"\n")
        return 1
    assert shim.main is not None
    shim.state = {
        "pid": shim.main.pid,
        "shim_pid": os.getpid(),
        "shim_start": start_time(os.getpid()),
        "started_at": time.time(),
    }
    write_json(state_path, shim.state)
    os.write(status_fd, json.dumps({"pid": shim.main.pid, "warnings": warnings}).encode() + b"\n")
    os.close(status_fd)
    shim.run(server, wake_r)
    shim.finish()
    with contextlib.suppress(OSError):
        os.unlink(cfg["socket"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
