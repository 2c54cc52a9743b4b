"""The ``oci`` runtime's shim: the parent of one runc/crun container, as containerd-shim-runc-v2 is.

Forked by the agent's shim launcher (:mod:`pinnace.node.oci.launcher`, a
clean interpreter with this module loaded; never forked from the agent, whose
gRPC would abort the child), or run as ``python -S -m pinnace.node.oci.shim
<container-dir>``. It outlives the node agent, which adopts it on restart. It
reads ``shim.json`` from the container directory and:

- becomes a child subreaper, runs ``<runtime> create`` with the container's
  stdio on pipes (or, for a TTY, a console socket that receives the pty
  master), then ``<runtime> start``; the container's init is reparented to the
  shim, which waits for it, so its exit status is the shim's to learn;
- writes the container's output to the CRI log file (``<RFC3339Nano>
  stdout|stderr F|P <line>``) and a copy to attached clients;
- records ``{"pid", "started_at"}`` and then ``{"exit_code", "finished_at",
  "oom_killed"}`` in ``state.json`` (atomically). OOM is read from the
  container's memory cgroup (v1 ``memory.oom_control`` ``oom_kill``, v2
  ``memory.events``) after init exits and before ``<runtime> delete`` removes it;
- serves an attach socket (``attach_socket`` in ``shim.json``; the protocol is
  in :mod:`pinnace.node.oci.attach`).

It detaches first (forks; the runtime's child exits at once), so it is
nobody's child but init's and lives through agent restarts. The first line
the shim prints on stdout tells the runtime whether the container started (``{"pid": N}``) or not (``{"error": "…"}``).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from pinnace.node.crilog import CRILog
from pinnace.node.oci.attach import RESIZE, STDERR, STDIN, STDOUT, frame, read_frame, set_winsize
from pinnace.node.oci.cgroups import oom_kills

PR_SET_CHILD_SUBREAPER = 36


def receive_console(listener: socket.socket, proc: subprocess.Popen[bytes]) -> int:
    """Accept runc/crun on a console socket and take the pty master it sends (SCM_RIGHTS)."""
    listener.settimeout(0.1)
    while True:
        try:
            conn, _ = listener.accept()
            break
        except TimeoutError:
            if proc.poll() is not None:
                raise RuntimeError("the runtime exited before sending the console") from None
    with conn:
        _, ancdata, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(4))
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            return int(struct.unpack("i", data[:4])[0])
    raise RuntimeError("the console socket carried no file descriptor")


def memory_cgroup(pid: int) -> str:
    """The memory cgroup directory of a process (v1 controller, else the v2 unified one)."""
    unified = ""
    with open(f"/proc/{pid}/cgroup") as handle:
        for line in handle:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if "memory" in controllers.split(","):
                return f"/sys/fs/cgroup/memory{path}"
            if controllers == "":
                unified = path
    base = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else "/sys/fs/cgroup"
    return f"{base}{unified}"


class Shim:
    """One container's shim: start it, pump its output, serve attach, record how it ends."""

    def __init__(self, directory: str, config: dict[str, Any]) -> None:
        self.dir = directory
        self.config = config
        self.runtime: list[str] = [config["runtime"], "--root", config["root"]]
        self.id: str = config["id"]
        self.lock = threading.Lock()
        self.log = CRILog(config.get("log_path") or "")
        self.clients: list[socket.socket] = []
        self.stdin_fd: int | None = None
        self.master: int | None = None
        self.pumps: list[threading.Thread] = []

    def _broadcast(self, kind: int, data: bytes) -> None:
        with self.lock:
            clients = list(self.clients)
        for client in clients:
            try:
                client.sendall(frame(kind, data))
            except OSError:
                self._drop(client)

    def _drop(self, client: socket.socket) -> None:
        with self.lock:
            if client in self.clients:
                self.clients.remove(client)
        with contextlib.suppress(OSError):
            client.close()

    def _pump(self, fd: int, stream: str, kind: int) -> None:
        partial = bytearray()
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the pty's last slave closed
                data = b""
            if not data:
                break
            self.log.write(stream, data, partial)
            self._broadcast(kind, data)
        self.log.flush(stream, partial)
        os.close(fd)

    def _serve_attach(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._attach_client, args=(conn,), daemon=True).start()

    def _attach_client(self, conn: socket.socket) -> None:
        hello = b""
        while not hello.endswith(b"\n"):
            chunk = conn.recv(1)
            if not chunk:
                conn.close()
                return
            hello += chunk
        wants_stdin = bool(json.loads(hello).get("stdin"))
        with self.lock:
            self.clients.append(conn)
        while (item := read_frame(conn)) is not None:
            kind, data = item
            target = self.master if self.master is not None else self.stdin_fd
            if kind == STDIN and wants_stdin and target is not None:
                if data:
                    with contextlib.suppress(OSError):
                        os.write(target, data)
                elif self.master is None and self.config.get("stdin_once"):
                    self._close_stdin()
            elif kind == RESIZE and self.master is not None and len(data) == 4:
                width, height = struct.unpack(">HH", data)
                set_winsize(self.master, width, height)
        self._drop(conn)

    def _close_stdin(self) -> None:
        with self.lock:
            fd, self.stdin_fd = self.stdin_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _create(self) -> int:
        """``<runtime> create`` with the container's stdio; the init pid."""
        pid_file = os.path.join(self.dir, "init.pid")
        argv = [*self.runtime, "--log", os.path.join(self.dir, "runtime.log"), "--log-format", "json", "create",
                "--bundle", self.config["bundle"], "--pid-file", pid_file]  # fmt: skip
        child_fds: list[int] = []
        if self.config.get("tty"):
            sock_dir = tempfile.mkdtemp(prefix="pnc-")
            sock_path = os.path.join(sock_dir, "console.sock")
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(sock_path)
            listener.listen(1)
            argv += ["--console-socket", sock_path, self.id]
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)  # fmt: skip
                self.master = receive_console(listener, proc)
            finally:
                listener.close()
                os.unlink(sock_path)
                os.rmdir(sock_dir)
            _, err = proc.communicate()
        else:
            stdin_r, stdin_w = os.pipe() if self.config.get("stdin") else (os.open(os.devnull, os.O_RDONLY), -1)
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            child_fds = [stdin_r, out_w, err_w]
            proc = subprocess.Popen([*argv, self.id], stdin=stdin_r, stdout=out_w, stderr=err_w)
            for fd in child_fds:
                os.close(fd)
            self.stdin_fd = stdin_w if stdin_w >= 0 else None
            self._start_pump(out_r, "stdout", STDOUT)
            self._start_pump(err_r, "stderr", STDERR)
            err = b""
            proc.wait()
        if proc.returncode != 0:
            raise RuntimeError(self._runtime_error(err))
        if self.master is not None:
            self._start_pump(self.master, "stdout", STDOUT)
        with open(pid_file) as handle:
            return int(handle.read().strip())

    def _start_pump(self, fd: int, stream: str, kind: int) -> None:
        thread = threading.Thread(target=self._pump, args=(fd, stream, kind), daemon=True)
        thread.start()
        self.pumps.append(thread)

    def _runtime_error(self, stderr: bytes) -> str:
        """The runtime's own error message (its JSON log's last error), else its stderr."""
        message = stderr.decode(errors="replace").strip()
        with contextlib.suppress(OSError, ValueError), open(os.path.join(self.dir, "runtime.log")) as handle:
            for line in handle:
                entry = json.loads(line)
                if entry.get("level") in ("error", "fatal"):
                    message = str(entry.get("msg", message))
        return message or "the OCI runtime failed to create the container"

    def _run_runtime(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*self.runtime, *args], capture_output=True, check=False)

    def run(self) -> int:
        """Start the container, report to the runtime, wait for it to end, record it; the shim's exit status."""
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        state_path = os.path.join(self.dir, "state.json")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock_path = self.config["attach_socket"]
        os.makedirs(os.path.dirname(sock_path), exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(sock_path)
        listener.bind(sock_path)
        listener.listen(16)
        try:
            pid = self._create()
            cgroup = memory_cgroup(pid)
            started = self._run_runtime("start", self.id)
            if started.returncode != 0:
                raise RuntimeError(self._runtime_error(started.stderr))
        except (OSError, RuntimeError) as exc:
            self._run_runtime("delete", "--force", self.id)
            write_json(state_path, {"error": str(exc), "finished_at": time.time(), "exit_code": 128})
            report({"error": str(exc)})
            return 1
        write_json(state_path, {"pid": pid, "started_at": time.time()})
        report({"pid": pid})
        threading.Thread(target=self._serve_attach, args=(listener,), daemon=True).start()
        status = self._reap(pid)
        finished = time.time()
        oom = oom_kills(cgroup) > 0
        for pump in self.pumps:
            pump.join(timeout=5)
        code = os.waitstatus_to_exitcode(status)
        code = 128 - code if code < 0 else code
        write_json(state_path, {"pid": pid, "started_at": _started_at(state_path), "finished_at": finished,
                                "exit_code": code, "oom_killed": oom})  # fmt: skip
        self._close_stdin()
        listener.close()
        with self.lock:
            clients, self.clients = self.clients, []
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
                client.close()
        self._run_runtime("delete", "--force", self.id)
        return 0

    def _reap(self, pid: int) -> int:
        """Reap children (as subreaper, orphans come to us) until the container's init has exited."""
        while True:
            try:
                reaped, status = os.waitpid(-1, 0)
            except ChildProcessError:
                return _poll_gone(pid)
            if reaped == pid:
                return status


def _poll_gone(pid: int) -> int:
    """Init is not our child (it should be): wait for it to vanish; its status is unknown (SIGKILL assumed)."""
    while os.path.exists(f"/proc/{pid}"):
        time.sleep(0.1)
    return signal.SIGKILL


def write_json(path: str, data: dict[str, Any]) -> None:
    """Replace ``path`` with ``data`` in one rename: a reader sees the old record or the new, never half."""
    staged = f"{path}.tmp"
    with open(staged, "w") as handle:
        handle.write(json.dumps(data))
    os.replace(staged, path)


def _started_at(state_path: str) -> float:
    with open(state_path) as handle:
        return float(json.load(handle).get("started_at", 0.0))


def report(message: dict[str, Any]) -> None:
    """Tell the runtime (our stdout: a pipe or the launcher's report socket) how the start went, then let go of it.

    Once only: later calls write to /dev/null."""
    os.write(1, (json.dumps(message) + "\n").encode())
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def run_in(directory: str) -> int:
    """Be the shim of the container in ``directory`` (already detached); the shim's exit status."""
    with open(os.path.join(directory, "shim.json")) as handle:
        config = json.load(handle)
    with open(os.path.join(directory, "shim.pid"), "w") as handle:
        handle.write(str(os.getpid()))
    return Shim(directory, config).run()


def main(argv: list[str]) -> int:
    """Entry point: ``python -m pinnace.node.oci.shim <container-dir>`` (detaches, then runs the shim)."""
    if os.fork() > 0:  # detach: the caller's child exits at once, the shim lives on in a session of its own
        os._exit(0)
    os.setsid()
    return run_in(argv[0])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
