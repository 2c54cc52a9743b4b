"""Starting shims cheaply: a pre-started launcher process forks each container's shim.

A shim (:mod:`pinnace.node.oci.shim`) must be a process of its own that
outlives the agent, and it must not be forked from the agent (gRPC, which the
agent's grpc probes use, aborts a forked child). Starting a fresh interpreter
for every container costs ~60-100 ms of CPU, most of a pod start's budget. So
each agent process starts one *launcher* once — ``python -S -m
pinnace.node.oci.launcher``, a clean interpreter with the shim's modules
already imported and no threads — and asks it to fork the shims (a fork of a
small idle process is ~1 ms), as a zygote does.

The protocol runs over a ``SOCK_SEQPACKET`` socket pair: the agent sends one
message per container, the container directory, with one end of a fresh
socket pair attached (``SCM_RIGHTS``). The launcher forks; the child starts a
session of its own and forks again (so the shim is nobody's child but init's,
as before), and the grandchild runs the shim with that socket as its stdout:
the shim's first line there is its report (``{"pid": N}`` or
``{"error": "…"}``), which :meth:`ShimLauncher.start` returns. The launcher
exits when the agent's end of the socket closes (the agent went away); the
shims it forked live on.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from typing import Any

from pinnace.node.oci import shim

#: The directory holding the ``pinnace`` package: the launcher runs without site-packages (``-S``).
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
_MESSAGE = 4096
#: The launcher's end of the control socket, in the launcher process.
_CONTROL_FD = 3


class ShimLauncher:
    """The agent's side: one launcher process per agent process, started on first use and restarted if it died."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._control: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The running launcher's pid (None before the first start, or once it exited)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def _ensure(self) -> socket.socket:
        """The control socket to a live launcher (started now if there is none). Caller holds ``_lock``."""
        if self._control is not None and self._proc is not None and self._proc.poll() is None:
            return self._control
        self.close_locked()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-S", "-m", "pinnace.node.oci.launcher"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, pass_fds=(theirs.fileno(),),
                env={**os.environ, "PYTHONPATH": _PACKAGE_PARENT, "PINNACE_LAUNCHER_FD": str(theirs.fileno())},
            )  # fmt: skip
        finally:
            theirs.close()
        self._control = ours
        return ours

    def _send(self, directory: str, report_end: socket.socket) -> None:
        fds = array.array("i", [report_end.fileno()])
        message = directory.encode()
        with self._lock:
            for attempt in (1, 2):  # a launcher that died is replaced once
                control = self._ensure()
                try:
                    control.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
                    return
                except OSError:
                    self.close_locked()
                    if attempt == 2:
                        raise

    async def start(self, directory: str, timeout: float) -> dict[str, Any]:
        """Have the launcher fork the shim of the container in ``directory``; the shim's report.

        Raises TimeoutError if the shim did not report within ``timeout`` seconds.
        """
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                self._send(directory, theirs)
            finally:
                theirs.close()
            reader, writer = await asyncio.open_unix_connection(sock=ours)
        except BaseException:
            ours.close()
            raise
        try:
            line = await asyncio.wait_for(reader.readline(), timeout)
        finally:
            writer.close()
        if not line.strip():
            return {"error": "the shim exited without a report (see shim.log in its container directory)"}
        report: dict[str, Any] = json.loads(line)
        return report

    def close_locked(self) -> None:
        """Let the launcher go (it exits on EOF). Caller holds the lock (or no other thread uses this)."""
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=1.0 if self._proc.poll() is None else 0)
            self._proc = None


#: The launcher of this process (the agent runs one; every OCIRuntime of the process shares it).
LAUNCHER = ShimLauncher()


# ---- the launcher process ------------------------------------------------------------------------------
def _fork_shim(directory: str, report_fd: int, control: socket.socket) -> None:
    """Fork, detach (new session, second fork) and run the shim in the grandchild, reporting on ``report_fd``."""
    child = os.fork()
    if child > 0:
        os.close(report_fd)
        os.waitpid(child, 0)  # the middle process exits at once
        return
    try:  # the middle process
        control.close()
        os.setsid()
        if os.fork() > 0:
            os._exit(0)
        _become_shim(directory, report_fd)
    finally:
        os._exit(1)


def _become_shim(directory: str, report_fd: int) -> None:
    """In the grandchild: stdio as a shim run from the command line has it, then the shim itself."""
    os.dup2(report_fd, 1)
    os.close(report_fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    log = os.open(os.path.join(directory, "shim.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 2)
    os.close(log)
    try:
        code = shim.run_in(directory)
    except BaseException as exc:  # the report must say why, whatever it was
        with contextlib.suppress(OSError):
            shim.report({"error": f"the shim failed: {exc!r}"})
        code = 1
    os._exit(code)


def serve(control: socket.socket) -> None:
    """Fork a shim per request until the agent's end of ``control`` closes."""
    while True:
        try:
            data, ancdata, _, _ = control.recvmsg(_MESSAGE, socket.CMSG_SPACE(4))
        except InterruptedError:
            continue
        if not data:
            return
        fds = [
            fd
            for level, kind, payload in ancdata
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS
            for fd in array.array("i", payload[: len(payload) - len(payload) % 4])
        ]
        if not fds:
            continue
        for extra in fds[1:]:
            os.close(extra)
        try:
            _fork_shim(data.decode(), fds[0], control)
        except OSError as exc:  # fork failed: tell the agent, keep serving
            with contextlib.suppress(OSError):
                os.write(fds[0], (json.dumps({"error": f"cannot fork the shim: {exc}"}) + "\n").encode())
                os.close(fds[0])


def main() -> int:
    """Entry point: ``python -S -m pinnace.node.oci.launcher`` with the control socket in ``PINNACE_LAUNCHER_FD``."""
    fd = int(os.environ.pop("PINNACE_LAUNCHER_FD", _CONTROL_FD))
    control = socket.socket(fileno=fd)
    serve(control)
    return 0


if __name__ == "__main__":
    sys.exit(main())
