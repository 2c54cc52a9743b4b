"""The process runtime's shim: the parent of one container process, as containerd's shim is.

Run as ``python -S shim.py <container-dir> <status-fd>`` (by file path, stdlib only, so it
starts fast and imports nothing of Pinnace). It reads ``config.json`` from the
container directory, detaches (forks; the runtime's child exits at once), and:

- enters a private mount namespace (as root; otherwise a user + mount
  namespace) when the container has volumes, and bind-mounts each at its
  mountPath on top of the host's filesystem;
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
(``{"pid": N}``) or could not (``{"error": …}``).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import pty
import selectors
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
#: Longest partial line kept before it is written as a ``P`` record (containerd's 16 KiB).
MAX_LINE = 16 * 1024
#: Bytes an attach client may lag behind before its copy of the output is dropped.
MAX_PENDING = 1 << 20


def rfc3339nano(ns: int) -> str:
    """A CRI log timestamp (RFC 3339 with nanoseconds, UTC)."""
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def write_json(path: str, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically (rename), so readers never see half a file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def exit_code(returncode: int) -> int:
    """A shell-style exit code: 128+N for a process killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


# ---- mount namespace ------------------------------------------------------------------------
def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def enter_mount_namespace(mounts: list[dict[str, Any]], mode: str = "") -> None:
    """Enter a private mount namespace and bind each volume at its mountPath (OSError if impossible).

    ``mode``: ``"root"`` (a mount namespace), ``"userns"`` (a user namespace mapping our own IDs, and a mount
    namespace in it: no privilege needed where the kernel allows it); by default, whichever our euid allows.
    """
    libc = _libc()
    uid, gid = os.geteuid(), os.getegid()
    if (mode or ("root" if uid == 0 else "userns")) == "root":
        _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    else:
        _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare(CLONE_NEWUSER|CLONE_NEWNS)")
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"{uid} {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"{gid} {gid} 1")
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "making / private")
    for m in mounts:
        target, source = m["container_path"], m["host_path"]
        if m.get("is_file"):
            if not os.path.exists(target):
                os.makedirs(os.path.dirname(target) or "/", exist_ok=True)
                open(target, "a").close()
        else:
            os.makedirs(target, exist_ok=True)
        _check(libc.mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None), f"mounting {target}")
        if m.get("readonly"):
            flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC
            _check(libc.mount(b"none", target.encode(), None, flags, None), f"read-only {target}")


#: Signals the shim ignores (it outlives its agent); a container gets them back at their defaults.
_IGNORED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _child_setup() -> None:
    """In the child, before exec: default signal dispositions (ignored ones would survive exec)."""
    for sig in _IGNORED:
        signal.signal(sig, signal.SIG_DFL)


def _join_cgroups(procs_files: list[str], then: Any) -> None:
    """In the child, before exec: join the container's cgroups (its resource limits), then ``then()``."""
    pid = str(os.getpid()).encode()
    for path in procs_files:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, pid)
        finally:
            os.close(fd)
    then()


def _controlling_tty() -> None:
    """In the child (after setsid): default signals, and stdin, the pty slave, as its controlling terminal."""
    _child_setup()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def set_winsize(fd: int, width: int, height: int) -> None:
    """Resize the terminal behind ``fd``."""
    with contextlib.suppress(OSError):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def _nonblock(fd: int) -> None:
    os.set_blocking(fd, False)


# ---- the shim ----------------------------------------------------------------------------------
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


class Shim:
    """The shim's state and event loop (one thread, a selector)."""

    def __init__(self, cdir: str, cfg: dict[str, Any]) -> None:
        self.cdir = cdir
        self.cfg = cfg
        self.sel = selectors.DefaultSelector()
        self.log = open(cfg["log_path"], "ab", buffering=0) if cfg.get("log_path") else None  # noqa: SIM115
        self.partial: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self.main: subprocess.Popen[bytes] | None = None
        self.main_stdin: int | None = None
        self.main_master: int | None = None
        self.sources: dict[int, str] = {}  # output fd of the main process -> stream name
        self.sessions: dict[int, Session] = {}  # by connection fd
        self.buffers: dict[int, bytearray] = {}
        self.state: dict[str, Any] = {}

    # -- starting
    def spawn(self, argv: list[str], stdin: Any, stdout: Any, stderr: Any, *, tty: bool) -> subprocess.Popen[bytes]:
        """A process of the container: its env, cwd, user (runAsUser/runAsGroup), cgroups and own session."""
        uid, gid = self.cfg.get("user"), self.cfg.get("group")
        setup = _controlling_tty if tty else _child_setup
        procs = list(self.cfg.get("cgroup_procs") or [])
        return subprocess.Popen(
            argv,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=dict(self.cfg.get("env") or {}),
            cwd=self.cfg.get("cwd") or "/",
            start_new_session=True,
            preexec_fn=(lambda: _join_cgroups(procs, setup)) if procs else setup,
            user=uid,
            group=gid if gid is not None else (uid if uid is not None else None),
            extra_groups=[] if uid is not None else None,
        )

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
            _nonblock(fd)
            self.sel.register(fd, selectors.EVENT_READ, ("output", fd))

    # -- output
    def record(self, stream: str, data: bytes) -> None:
        """Write a chunk of the main process's output to the log, line by line, and to attach clients."""
        for session in self.sessions.values():
            if session.kind == "attach" and session.out:
                pump = session.out[0] if stream == "stdout" or len(session.out) == 1 else session.out[1]
                self.send(pump, data)
        if self.log is None:
            return
        buf = self.partial[stream]
        buf += data
        records = []
        now = rfc3339nano(time.time_ns())
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            records.append(b"%s %s F %s\n" % (now.encode(), stream.encode(), bytes(buf[:nl])))
            del buf[: nl + 1]
        while len(buf) >= MAX_LINE:
            records.append(b"%s %s P %s\n" % (now.encode(), stream.encode(), bytes(buf[:MAX_LINE])))
            del buf[:MAX_LINE]
        if records:
            self.log.write(b"".join(records))

    def flush_partial(self) -> None:
        if self.log is None:
            return
        now = rfc3339nano(time.time_ns()).encode()
        for stream, buf in self.partial.items():
            if buf:
                self.log.write(b"%s %s F %s\n" % (now, stream.encode(), bytes(buf)))
                buf.clear()

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

    # -- control connections
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
                _nonblock(master)
                _nonblock(in_r)
                _nonblock(out_w)
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
            self.reply(conn, {"error": _exec_error(msg["cmd"], exc)})
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
            _nonblock(in_r)
            self.sel.register(in_r, selectors.EVENT_READ, ("attach-in", session))
            session.stdin_fd = in_r
            give.append(in_w)
        streams = 1 if self.cfg.get("tty") else 2
        for _ in range(streams):
            r, w = os.pipe()
            _nonblock(w)
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

    # -- the loop
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


def _exec_error(argv: list[str], exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError) and argv:
        return f'exec: "{argv[0]}": executable file not found in $PATH'
    if isinstance(exc, PermissionError) and argv:
        return f'exec: "{argv[0]}": permission denied'
    return f"exec: {exc}"


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
    _nonblock(wake_r)
    _nonblock(wake_w)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    for sig in _IGNORED:
        signal.signal(sig, signal.SIG_IGN)  # the shim outlives its agent; the runtime signals the container
    try:
        if cfg.get("mounts"):
            enter_mount_namespace(cfg["mounts"], str(cfg.get("namespaces") or ""))
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(cfg["socket"])
        server.bind(cfg["socket"])
        os.chmod(cfg["socket"], 0o600)
        server.listen(16)
        server.setblocking(False)
        shim.start()
    except (OSError, subprocess.SubprocessError) as exc:
        message = _exec_error(cfg["argv"], exc) if not isinstance(exc, OSError) or exc.filename else str(exc)
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
        "shim_start": _start_time(os.getpid()),
        "started_at": time.time(),
    }
    write_json(state_path, shim.state)
    os.write(status_fd, json.dumps({"pid": shim.main.pid}).encode() + b"\n")
    os.close(status_fd)
    shim.run(server, wake_r)
    shim.finish()
    with contextlib.suppress(OSError):
        os.unlink(cfg["socket"])
    return 0


def _start_time(pid: int) -> int:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22): tells a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
