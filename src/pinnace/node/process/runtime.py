"""The ``process`` runtime: pod containers as host subprocesses, each under a shim (no root needed).

:class:`ProcessRuntime` implements :class:`pinnace.node.cri.RuntimeService`.
A sandbox is a record (the pod shares the node's network: its IP is the node's
InternalIP); a container is a host process started by a small shim process
(:mod:`.shim`) that outlives the agent, writes the CRI log and records how the
process ended. Everything the runtime knows lives as JSON under its state
directory::

    <state>/sandboxes/<id>.json            SandboxConfig, state, created time
    <state>/sandboxes/<id>/resolv.conf     the pod's resolver file, when it has DNS config of its own
    <state>/containers/<id>/config.json    what the shim runs (argv, env, cwd, mounts, log, stdin/tty)
    <state>/containers/<id>/meta.json      ContainerConfig as the agent gave it, sandbox, created time
    <state>/containers/<id>/state.json     written by the shim: pid, start, exit code and finish time

so a new ``ProcessRuntime`` on the same directory (an agent restart) sees every
sandbox and container, running or exited, and adopts them.

There is no image: it is recorded, not pulled, as if every image had no
entrypoint — the container runs its ``command`` followed by its ``args`` (so
``args`` alone is the command line, as with an image like busybox whose CMD
they replace); with neither, ``create_container`` fails, as a runtime does for
an image without an entrypoint. Volumes are bind-mounted at their mountPath in a
private mount namespace (as root; otherwise a user + mount namespace when the
kernel allows it); when neither is possible, a container with volumes fails
to be created with a message that says so. Missing mount points are created on
the host's filesystem (as a bind mount needs one). A pod's resolv.conf (from the
DNS config the agent forms) is bound read-only over /etc/resolv.conf in that
namespace; a hostNetwork pod keeps the node's unless its dnsPolicy is
ClusterFirstWithHostNet (or None). Where that cannot be done the container runs
on with the node's file, and the runtime logs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pinnace import __version__
from pinnace.node import podfiles
from pinnace.node.cri import (
    ContainerConfig,
    ContainerState,
    ContainerStats,
    ContainerStatus,
    ExecResult,
    Mount,
    NotFoundError,
    Resources,
    RuntimeFailure,
    SandboxConfig,
    SandboxState,
    SandboxStatus,
    SecurityContext,
    StreamSession,
    sandbox_config_from_dict,
)
from pinnace.node.process import cgroups
from pinnace.node.process.streams import ShimSession, open_session
from pinnace.node.process.usage import ContainerUsage

__all__ = ["DEFAULT_PATH", "ProcessRuntime", "mount_namespace_mode", "pod_hostname"]

#: The PATH a container gets when its env has none (what container images set).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_SHIM = str(Path(__file__).with_name("shim.py"))
#: sun_path is 108 bytes; a socket path longer than this goes under a short private directory.
_MAX_SOCKET_PATH = 100
_POLL = 0.02

log = logging.getLogger(__name__)

Obj = dict[str, Any]


def mount_namespace_mode() -> str:
    """How containers get their volumes: ``"root"``, ``"userns"`` (unprivileged) or ``"none"``."""
    if os.geteuid() == 0:
        return "root"
    try:
        probe = subprocess.run(["unshare", "-Urm", "true"], capture_output=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "none"
    return "userns" if probe.returncode == 0 else "none"


def _read_json(path: Path) -> Obj | None:
    try:
        with path.open() as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: Obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), or None if no live (non-zombie) process has that pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _sandbox_config(data: Obj) -> SandboxConfig:
    return sandbox_config_from_dict(data)


def _container_config(data: Obj) -> ContainerConfig:
    data = dict(data)
    data["mounts"] = tuple(Mount(**m) for m in data.get("mounts") or ())
    data["env"] = tuple((k, v) for k, v in data.get("env") or ())
    data["resources"] = Resources(**(data.get("resources") or {}))
    security = dict(data.get("security") or {})
    for key in ("capabilities_add", "capabilities_drop"):
        security[key] = tuple(security.get(key) or ())
    data["security"] = SecurityContext(**security)
    for key in ("command", "args"):
        data[key] = tuple(data.get(key) or ())
    return ContainerConfig(**data)


def _own_resolv_conf(config: SandboxConfig) -> bool:
    """Whether the pod's containers get a resolv.conf of their own: a hostNetwork pod keeps the node's, unless its
    dnsPolicy asks for the cluster's (ClusterFirstWithHostNet) or only its dnsConfig (None)."""
    return not config.host_network or config.dns_policy in ("ClusterFirstWithHostNet", "None")


def pod_hostname(name: str) -> str:
    """A pod's host name: its ``spec.hostname`` or name, cut to 63 characters without a trailing "-" or "." (the
    kubelet's truncatePodHostnameIfNeeded)."""
    return name if len(name) <= 63 else name[:63].rstrip("-.")


class ProcessRuntime:
    """Containers as host processes under shims; state on disk, adopted by a new instance (see module doc)."""

    name = "process"

    def __init__(self, state_dir: Path | str, *, node_ip: str = "127.0.0.1", namespaces: str | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.node_ip = node_ip
        #: "root", "userns" or "none" (see :func:`mount_namespace_mode`); probed when not given.
        self.namespaces = namespaces or mount_namespace_mode()
        (self.state_dir / "sandboxes").mkdir(parents=True, exist_ok=True)
        (self.state_dir / "containers").mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, asyncio.Lock] = {}
        # Caches (the files stay the truth): immutable container metadata, final states, and
        # sandbox records by file mtime — so listing 100 containers does not read 300 files.
        self._metas: dict[str, tuple[Obj, ContainerConfig]] = {}
        self._final: dict[str, Obj] = {}
        self._sandboxes: dict[str, tuple[int, Obj, SandboxStatus]] = {}
        self._shims: dict[str, int] = {}
        self._usage = ContainerUsage()

    async def version(self) -> str:
        """``process://<pinnace version>``."""
        return f"process://{__version__}"

    # ---- sandboxes -----------------------------------------------------------------------------
    def _sandbox_path(self, sandbox_id: str) -> Path:
        return self.state_dir / "sandboxes" / f"{sandbox_id}.json"

    def _sandbox(self, sandbox_id: str) -> Obj:
        data = self._sandbox_record(sandbox_id)
        if data is None:
            raise NotFoundError(f"no pod sandbox {sandbox_id!r}")
        return dict(data)

    def _sandbox_record(self, sandbox_id: str) -> Obj | None:
        path = os.path.join(self.state_dir, "sandboxes", f"{sandbox_id}.json")
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            self._sandboxes.pop(sandbox_id, None)
            return None
        cached = self._sandboxes.get(sandbox_id)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        data = _read_json(Path(path))
        if data is not None:
            self._sandboxes[sandbox_id] = (mtime, data, self._sandbox_status(data))
        return data

    async def run_pod_sandbox(self, config: SandboxConfig) -> str:
        """Record a sandbox; the pod shares the node's network, so its IP is the node's."""
        sandbox_id = secrets.token_hex(32)
        if config.log_directory:
            Path(config.log_directory).mkdir(parents=True, exist_ok=True)
        record = {
            "id": sandbox_id,
            "config": dataclasses.asdict(config),
            "state": SandboxState.READY.value,
            "created_at": time.time(),
            "ips": [self.node_ip],
        }
        resolv = podfiles.resolv_conf(config) if _own_resolv_conf(config) else ""
        if resolv:
            self._sandbox_dir(sandbox_id).mkdir(parents=True, exist_ok=True)
            (self._sandbox_dir(sandbox_id) / "resolv.conf").write_text(resolv)
        _write_json(self._sandbox_path(sandbox_id), record)
        return sandbox_id

    def _sandbox_dir(self, sandbox_id: str) -> Path:
        """The sandbox's files (its resolv.conf), beside its record."""
        return self.state_dir / "sandboxes" / sandbox_id

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        """Kill every container of the sandbox and mark it not ready."""
        record = self._sandbox(sandbox_id)
        containers = await self.list_containers(sandbox_id)
        await asyncio.gather(*(self.stop_container(c.id, 0) for c in containers))
        record["state"] = SandboxState.NOTREADY.value
        _write_json(self._sandbox_path(sandbox_id), record)

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        """Remove a sandbox and its containers' records (stopping anything still running)."""
        if not self._sandbox_path(sandbox_id).exists():
            return
        for c in await self.list_containers(sandbox_id):
            await self.stop_container(c.id, 0)
            await self.remove_container(c.id)
        shutil.rmtree(self._sandbox_dir(sandbox_id), ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            self._sandbox_path(sandbox_id).unlink()

    async def pod_sandbox_status(self, sandbox_id: str) -> SandboxStatus:
        """The sandbox's state and IPs."""
        if self._sandbox_record(sandbox_id) is None:
            raise NotFoundError(f"no pod sandbox {sandbox_id!r}")
        return self._sandboxes[sandbox_id][2]

    def _sandbox_status(self, record: Obj) -> SandboxStatus:
        return SandboxStatus(
            id=record["id"],
            config=_sandbox_config(record["config"]),
            state=SandboxState(record["state"]),
            created_at=float(record["created_at"]),
            ips=tuple(record.get("ips") or ()),
        )

    async def list_pod_sandboxes(self) -> list[SandboxStatus]:
        """Every sandbox recorded under the state directory."""
        out = []
        for name in sorted(os.listdir(os.path.join(self.state_dir, "sandboxes"))):
            if not name.endswith(".json"):
                continue
            sandbox_id = name[: -len(".json")]
            if self._sandbox_record(sandbox_id) is not None:
                out.append(self._sandboxes[sandbox_id][2])
        return out

    # ---- containers ------------------------------------------------------------------------------
    def _cdir(self, container_id: str) -> Path:
        return self.state_dir / "containers" / container_id

    def _socket_path(self, container_id: str) -> str:
        path = str(self._cdir(container_id) / "shim.sock")
        if len(path) <= _MAX_SOCKET_PATH:
            return path
        short = Path(tempfile.gettempdir()) / f"pinnace-shims-{os.geteuid()}"
        short.mkdir(mode=0o700, exist_ok=True)
        os.chmod(short, 0o700)
        return str(short / f"{container_id[:32]}.sock")

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        """Record a container; RuntimeFailure when it has no command or its volumes cannot be mounted."""
        sandbox = self._sandbox(sandbox_id)
        if not config.command and not config.args:
            raise RuntimeFailure(
                f"container {config.name!r} has no command: the process runtime runs no image entrypoint"
                " (give the container a command or args)"
            )
        if config.mounts and self.namespaces == "none":
            raise RuntimeFailure(
                f"container {config.name!r} has volumes, and this node can make no mount namespace for them"
                " (run the node as root, or allow unprivileged user namespaces)"
            )
        resolv_conf = str(self._sandbox_dir(sandbox_id) / "resolv.conf")
        if not os.path.exists(resolv_conf):
            resolv_conf = ""
        elif self.namespaces == "none":
            log.warning(
                "container %s of pod %s/%s sees the node's /etc/resolv.conf, not the pod's: this node can make no"
                " mount namespace (run the node as root, or allow unprivileged user namespaces)",
                config.name, sandbox["config"]["namespace"], sandbox["config"]["name"],
            )  # fmt: skip
            resolv_conf = ""
        container_id = secrets.token_hex(32)
        cdir = self._cdir(container_id)
        cdir.mkdir(parents=True)
        env = dict(config.env)
        env.setdefault("PATH", DEFAULT_PATH)
        hostname = pod_hostname(sandbox["config"].get("hostname") or sandbox["config"]["name"])
        env.setdefault("HOSTNAME", hostname)
        if config.log_path:
            Path(config.log_path).parent.mkdir(parents=True, exist_ok=True)
        shim_config = {
            "argv": [*config.command, *config.args],
            "env": env,
            "cwd": config.working_dir or "/",
            "mounts": [dataclasses.asdict(m) for m in config.mounts],
            "log_path": config.log_path,
            "stdin": config.stdin,
            "stdin_once": config.stdin_once,
            "tty": config.tty,
            "socket": self._socket_path(container_id),
            "namespaces": self.namespaces,
            # The pod's resolv.conf, bound read-only over /etc/resolv.conf in the container's mount namespace.
            "resolv_conf": resolv_conf,
            # The pod's host name in a UTS namespace of its own, where the node can make one; a hostNetwork pod
            # keeps the node's, as upstream.
            "hostname": "" if sandbox["config"].get("host_network") or self.namespaces == "none" else hostname,
            # runAsUser/runAsGroup as root; an unprivileged node runs everything as itself.
            "user": config.security.run_as_user if os.geteuid() == 0 else None,
            "group": config.security.run_as_group if os.geteuid() == 0 else None,
        }
        shim_config.update(cgroups.shim_settings(container_id, config.resources, config.name))
        _write_json(cdir / "config.json", shim_config)
        meta = {
            "id": container_id,
            "sandbox_id": sandbox_id,
            "created_at": time.time(),
            "config": dataclasses.asdict(config),
        }
        _write_json(cdir / "meta.json", meta)
        return container_id

    def _lock(self, container_id: str) -> asyncio.Lock:
        return self._locks.setdefault(container_id, asyncio.Lock())

    async def start_container(self, container_id: str) -> None:
        """Start the container's shim and wait until it says the process runs (RuntimeFailure if it cannot)."""
        cdir = self._cdir(container_id)
        if not (cdir / "meta.json").exists():
            raise NotFoundError(f"no container {container_id!r}")
        async with self._lock(container_id):
            if (cdir / "state.json").exists():
                raise RuntimeFailure(f"container {container_id} was already started")
            line = await asyncio.to_thread(self._spawn_shim, cdir)
        try:
            answer = json.loads(line) if line else {}
        except ValueError:
            answer = {}
        if "pid" in answer:
            for warning in answer.get("warnings") or ():
                log.warning("container %s: %s", container_id, warning)
            return
        message = answer.get("error") or self._shim_failure(cdir)
        if not (cdir / "state.json").exists():
            _write_json(
                cdir / "state.json",
                {
                    "started_at": 0.0,
                    "finished_at": time.time(),
                    "exit_code": 128,
                    "reason": "ContainerCannotRun",
                    "message": message,
                },
            )
        raise RuntimeFailure(message)

    @staticmethod
    def _spawn_shim(cdir: Path) -> bytes:
        """Start the shim (it detaches at once) and read the line it writes on its status pipe.

        The pipe is ours alone: Popen closes every other descriptor in the child, so a shim started
        at the same time by another worker never holds this one open (which would hide its end).
        """
        read_end, write_end = os.pipe()
        try:
            with (cdir / "shim.log").open("ab") as log_file:
                proc = subprocess.Popen(
                    [sys.executable, "-S", _SHIM, str(cdir), str(write_end)],
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=log_file,
                    pass_fds=(write_end,),
                    start_new_session=True,
                )
            os.close(write_end)
            write_end = -1
            with os.fdopen(read_end, "rb", buffering=0) as status:
                read_end = -1
                line = status.readline()
            proc.wait()
            return line
        finally:
            for fd in (read_end, write_end):
                if fd >= 0:
                    os.close(fd)

    @staticmethod
    def _shim_failure(cdir: Path) -> str:
        try:
            tail = (cdir / "shim.log").read_text(errors="replace").strip().splitlines()[-1:]
        except OSError:
            tail = []
        return "the container's shim failed" + (f": {tail[0]}" if tail else "")

    def _state(self, container_id: str) -> Obj | None:
        final = self._final.get(container_id)
        if final is not None:
            return dict(final)
        state = _read_json(Path(os.path.join(self.state_dir, "containers", container_id, "state.json")))
        if state is not None and "exit_code" in state:
            state = self._exited(container_id, state)
        return state

    def _exited(self, container_id: str, state: Obj) -> Obj:
        """A container's final state, seen for the first time: whether the kernel OOM-killed it is read from its
        cgroup, which then goes (as runc's goes with its container; a busy one stays until the container is
        removed)."""
        if state["exit_code"] == 137 and state.get("reason") == "Error" and not state.get("oom_checked"):
            state = self._oom_checked(container_id, state)
        cgroups.remove(list((_read_json(self._cdir(container_id) / "config.json") or {}).get("cgroups") or []))
        self._final[container_id] = dict(state)
        return state

    def _running_pid(self, state: Obj | None) -> int | None:
        """The main process's pid while the container runs (its shim is alive and has not recorded an exit)."""
        if state is None or "exit_code" in state or "pid" not in state:
            return None
        shim = int(state.get("shim_pid") or 0)
        if not shim:
            return None
        key = f"{shim}:{state.get('shim_start')}"
        if self._shims.get(key) == shim:  # verified once (start time): now only whether it still exists
            try:
                os.kill(shim, 0)
            except ProcessLookupError:
                self._shims.pop(key, None)
                return None
            except PermissionError:
                pass
            return int(state["pid"])
        if _start_time(shim) == int(state.get("shim_start") or -1):
            self._shims[key] = shim
            return int(state["pid"])
        return None

    async def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM to the container's process group, SIGKILL after ``timeout`` s; returns once it has exited."""
        state = self._state(container_id)
        pid = self._running_pid(state)
        if pid is None:
            self._mark_lost(container_id, state)
            return
        if timeout > 0:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
            if await self._wait_exit(container_id, timeout):
                return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        if not await self._wait_exit(container_id, 10.0):
            raise RuntimeFailure(f"container {container_id} did not exit after SIGKILL")

    async def _wait_exit(self, container_id: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            state = self._state(container_id)
            if self._running_pid(state) is None:
                self._mark_lost(container_id, state)
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_POLL)

    def _mark_lost(self, container_id: str, state: Obj | None) -> None:
        """A container whose shim died without recording an exit: kill what is left and record it as ended."""
        if state is None or "exit_code" in state or "pid" not in state:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(int(state["pid"]), signal.SIGKILL)
        state.update(exit_code=137, finished_at=time.time(), reason="Error", message="the container's shim died")
        with contextlib.suppress(OSError):
            _write_json(self._cdir(container_id) / "state.json", state)
        self._final[container_id] = dict(state)

    async def remove_container(self, container_id: str) -> None:
        """Remove an exited container's record (its log file stays until the pod's log directory goes)."""
        cdir = self._cdir(container_id)
        if not cdir.exists():
            return
        if self._running_pid(self._state(container_id)) is not None:
            raise RuntimeFailure(f"container {container_id} is running; stop it first")
        shim_config = _read_json(cdir / "config.json") or {}
        with contextlib.suppress(OSError):
            os.unlink(str(shim_config.get("socket") or ""))
        cgroups.remove(list(shim_config.get("cgroups") or []))
        shutil.rmtree(cdir, ignore_errors=True)
        self._locks.pop(container_id, None)
        self._metas.pop(container_id, None)
        self._final.pop(container_id, None)
        self._usage.forget(container_id)

    def _meta(self, container_id: str) -> tuple[Obj, ContainerConfig] | None:
        cached = self._metas.get(container_id)
        if cached is None:
            meta = _read_json(Path(os.path.join(self.state_dir, "containers", container_id, "meta.json")))
            if meta is None:
                return None
            cached = self._metas[container_id] = (meta, _container_config(meta["config"]))
        return cached

    def _container_status(self, container_id: str) -> ContainerStatus | None:
        found = self._meta(container_id)
        if found is None:
            return None
        meta, config = found
        state = self._state(container_id)
        started = finished = 0.0
        code, reason, message = 0, "", ""
        if state is None:
            phase = ContainerState.CREATED
        elif "exit_code" in state:
            phase = ContainerState.EXITED
            if state["exit_code"] == 137 and state.get("reason") == "Error" and not state.get("oom_checked"):
                state = self._oom_checked(container_id, state)
            started, finished = float(state.get("started_at") or 0), float(state.get("finished_at") or 0)
            code, reason, message = (
                int(state["exit_code"]),
                str(state.get("reason") or ""),
                str(state.get("message") or ""),
            )
        elif self._running_pid(state) is not None:
            phase = ContainerState.RUNNING
            started = float(state.get("started_at") or 0)
        else:
            self._mark_lost(container_id, state)
            return self._container_status(container_id)
        return ContainerStatus(
            id=container_id,
            sandbox_id=meta["sandbox_id"],
            name=config.name,
            attempt=config.attempt,
            state=phase,
            image=config.image,
            image_ref=config.image_ref,
            created_at=float(meta["created_at"]),
            started_at=started,
            finished_at=finished,
            exit_code=code,
            reason=reason,
            message=message,
            log_path=config.log_path,
            labels=config.labels,
            annotations=config.annotations,
        )

    def _oom_checked(self, container_id: str, state: Obj) -> Obj:
        """A SIGKILLed container's state, with reason OOMKilled (recorded) if the kernel OOM-killed in its cgroup."""
        memory = (_read_json(self._cdir(container_id) / "config.json") or {}).get("cgroup_memory")
        state = {**state, "oom_checked": True}
        if memory and cgroups.oom_kills(str(memory)) > 0:
            state["reason"] = "OOMKilled"
            with contextlib.suppress(OSError):
                _write_json(self._cdir(container_id) / "state.json", state)
        self._final[container_id] = dict(state)
        return state

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        """Every container recorded (of one sandbox, when given), oldest first."""
        out = []
        for name in os.listdir(os.path.join(self.state_dir, "containers")):
            found = self._meta(name)
            if found is None or (sandbox_id is not None and found[0]["sandbox_id"] != sandbox_id):
                continue
            status = self._container_status(name)
            if status is not None:
                out.append(status)
        out.sort(key=lambda s: s.created_at)
        return out

    async def container_status(self, container_id: str) -> ContainerStatus:
        """One container's state."""
        status = self._container_status(container_id)
        if status is None:
            raise NotFoundError(f"no container {container_id!r}")
        return status

    async def container_stats(self, container_id: str) -> ContainerStats | None:
        """The container's CPU and memory use now, from its cgroup or its process tree (:mod:`.usage`)."""
        pid = self._running_pid(self._state(container_id))
        if pid is None:
            return None
        return await self._usage.stats(container_id, self._cdir(container_id), pid)

    # ---- streams ---------------------------------------------------------------------------------
    def _shim_socket(self, container_id: str) -> str:
        cdir = self._cdir(container_id)
        shim_config = _read_json(cdir / "config.json")
        if shim_config is None:
            raise NotFoundError(f"no container {container_id!r}")
        if self._running_pid(self._state(container_id)) is None:
            raise RuntimeFailure(f"container {container_id} is not running")
        return str(shim_config["socket"])

    async def exec(self, container_id: str, command: Sequence[str], *, tty: bool, stdin: bool) -> StreamSession:
        """Run ``command`` beside the container's process: same mount namespace, env and working directory."""
        if not command:
            raise RuntimeFailure("exec: no command")
        path = self._shim_socket(container_id)
        return await open_session(
            path, {"op": "exec", "cmd": list(command), "tty": tty, "stdin": stdin}, stdin=stdin, tty=tty
        )

    async def exec_sync(self, container_id: str, command: Sequence[str], timeout: float) -> ExecResult:
        """Run ``command`` to completion (probes); killed after ``timeout`` seconds."""
        session = await self.exec(container_id, command, tty=False, stdin=False)
        assert isinstance(session, ShimSession) and session.stderr is not None
        try:
            out, err, code = await asyncio.wait_for(
                asyncio.gather(session.stdout.read(), session.stderr.read(), session.wait()), timeout
            )
        except TimeoutError:
            await session.close()
            return ExecResult(exit_code=-1, stdout=b"", stderr=b"", timed_out=True)
        await session.close()
        return ExecResult(exit_code=code, stdout=out, stderr=err)

    async def attach(self, container_id: str, *, tty: bool, stdin: bool) -> StreamSession:
        """The main process's stdin (when its spec has stdin) and a copy of its output from now on."""
        meta = _read_json(self._cdir(container_id) / "meta.json")
        if meta is None:
            raise NotFoundError(f"no container {container_id!r}")
        path = self._shim_socket(container_id)
        spec_tty = bool(meta["config"].get("tty"))
        return await open_session(path, {"op": "attach", "stdin": stdin, "tty": spec_tty}, stdin=stdin, tty=spec_tty)

    async def port_forward(self, sandbox_id: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to ``port`` on the pod's address (the node's), or on loopback."""
        record = self._sandbox(sandbox_id)
        last: OSError | None = None
        for host in dict.fromkeys([*(record.get("ips") or []), "127.0.0.1"]):
            try:
                return await asyncio.open_connection(host, port)
            except OSError as exc:
                last = exc
        raise RuntimeFailure(f"port-forward to port {port}: {last}")

    # ---- shutdown --------------------------------------------------------------------------------
    async def stop_all(self, timeout: float = 0) -> None:
        """Stop every running container (a node that goes away for good, e.g. ``pinnace down``)."""
        running = [c for c in await self.list_containers() if c.state == ContainerState.RUNNING]
        await asyncio.gather(*(self.stop_container(c.id, timeout) for c in running), return_exceptions=True)
