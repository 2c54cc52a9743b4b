"""The ``oci`` RuntimeService: pod sandboxes as network namespaces on CNI, containers as runc/crun bundles.

State lives under ``root`` — ``sandboxes/<id>/`` (``sandbox.json``, the pod's
``hosts``, ``resolv.conf`` and ``hostname``) and ``containers/<id>/``
(``container.json``, the bundle with its ``config.json`` and overlay rootfs,
and the shim's ``state.json`` and logs; its attach socket is under :data:`SOCKET_DIR`) — so a new
:class:`OCIRuntime` over the same root sees, and adopts, everything an earlier
one started. Each container runs under its own shim process
(:mod:`pinnace.node.oci.shim`) that outlives the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import time
import uuid
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Protocol

from pinnace.node import cgroupstats, cri, podfiles
from pinnace.node.cni import CNI, node_conflist, write_conflist
from pinnace.node.images.config import ImageConfig
from pinnace.node.oci import cgroups, masquerade, netns, podns, records, rootfs
from pinnace.node.oci.launcher import LAUNCHER
from pinnace.node.oci.sessions import AttachSession, ExecSession
from pinnace.node.oci.spec import SandboxPaths, build_spec

#: How long a shim may take to report that its container started.
START_TIMEOUT = 60.0
_POLL = 0.05
RUNTIME_COMMANDS = 8
#: Attach sockets live here, not in the state directory: a unix socket path must stay under 108 bytes.
SOCKET_DIR = "/run/pinnace-oci"


class ImageSource(Protocol):
    """Where root filesystems and image configs come from: the node's image store (LocalImageService)."""

    async def unpack(self, image: str) -> os.PathLike[str]:
        """The image's unpacked rootfs, a directory the runtime must only read."""

    async def image_config(self, image: str) -> ImageConfig:
        """The image's Entrypoint, Cmd, Env, WorkingDir and User."""


class OCIRuntime:
    """CRI RuntimeService on runc or crun (root needed), with CNI networking for pods."""

    name = "oci"

    def __init__(
        self,
        root: str | os.PathLike[str],
        images: ImageSource,
        *,
        oci_runtime: str = "runc",
        cni: CNI | None = None,
        host_ip: str = "127.0.0.1",
        cgroup_root: str = "pinnace",
    ) -> None:
        self.root = os.fspath(root)
        self.images = images
        self.oci_runtime = oci_runtime
        #: The pod network; set (or replaced) by the agent once its podCIDR is known.
        self.cni = cni
        self.host_ip = host_ip
        self.cgroup_root = cgroup_root.strip("/")
        self._host_checked = False
        #: At most this many runc/crun commands at once: stopping a hundred pods is no fork storm.
        self._limit = asyncio.Semaphore(RUNTIME_COMMANDS)
        self._records: dict[str, tuple[dict[str, Any], cri.ContainerConfig]] = {}
        #: Sandbox records and container states, re-read only when their files change.
        self._files = records.RecordCache()
        #: Each container's shim, once known (it never changes).
        self._shim_pids: dict[str, int] = {}
        #: Each container's cgroup directories, from the cgroupsPath its bundle gave runc/crun (None: not found).
        self._cgroups: dict[str, cgroupstats.CgroupPaths | None] = {}
        for sub in ("sandboxes", "containers", "runtime"):
            os.makedirs(os.path.join(self.root, sub), exist_ok=True)
        if self.cni is None and os.path.exists(self._conflist_path):
            self.cni = self._cni_from(records.read_record(self._conflist_path) or {})

    # ---- network configuration -----------------------------------------------------------------
    @property
    def _conflist_path(self) -> str:
        return os.path.join(self.root, "cni", "net.conflist")

    def _cni_from(self, conflist: Mapping[str, Any]) -> CNI:
        return CNI(conflist, cache_dir=os.path.join(self.root, "cni", "cache"))

    def write_network(self, pod_cidr: str, *, bridge: str = "cni0") -> None:
        """Set the node's pod network (CRI UpdateRuntimeConfig's podCIDR): write its conflist and use it.

        The conflist is kept under the root, so a restarted agent's runtime
        releases (CNI DEL) the addresses its predecessor gave out. Egress is
        masqueraded once for the node (:mod:`.masquerade`), not by the bridge
        plugin for every pod.
        """
        conflist = node_conflist(network="pinnace", bridge=bridge, pod_cidr=pod_cidr, ip_masq=False,
                                 data_dir=os.path.join(self.root, "cni", "ipam"))  # fmt: skip
        try:
            masquerade.ensure(bridge, pod_cidr)
        except (OSError, masquerade.MasqueradeError) as exc:
            raise cri.RuntimeFailure(f"masquerading the pod network {pod_cidr}: {exc}") from exc
        write_conflist(self._conflist_path, conflist)
        self.cni = self._cni_from(conflist)

    # ---- helpers -------------------------------------------------------------------------------
    @property
    def _runtime_argv(self) -> list[str]:
        return [self.oci_runtime, "--root", os.path.join(self.root, "runtime")]

    def _sandbox_dir(self, sandbox_id: str) -> str:
        return os.path.join(self.root, "sandboxes", sandbox_id)

    def _container_dir(self, container_id: str) -> str:
        return os.path.join(self.root, "containers", container_id)

    def _sandbox_record(self, sandbox_id: str) -> dict[str, Any]:
        """The sandbox's record (shared: copy it to change it)."""
        record = self._files.read(os.path.join(self._sandbox_dir(sandbox_id), "sandbox.json"))
        if record is None:
            raise cri.NotFoundError(f"pod sandbox {sandbox_id!r} not found")
        return record

    def _container_record(self, container_id: str, *, listed: bool = False) -> dict[str, Any]:
        """The container's record; ``listed``: its directory was just listed, so a cached record stands."""
        cached = self._records.get(container_id)
        if cached is not None and (listed or os.path.isdir(self._container_dir(container_id))):
            return cached[0]
        record = records.read_record(os.path.join(self._container_dir(container_id), "container.json"))
        if record is None:
            self._records.pop(container_id, None)
            raise cri.NotFoundError(f"container {container_id!r} not found")
        # A container's record never changes once written: keep it (and its config) for the relists.
        self._records[container_id] = (record, records.container_config_from_dict(record["config"]))
        return record

    async def _run(self, *args: str) -> tuple[int, str]:
        async with self._limit:
            proc = await asyncio.create_subprocess_exec(
                *self._runtime_argv, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
            out, err = await proc.communicate()
        return proc.returncode or 0, (err or out).decode(errors="replace").strip()

    # ---- RuntimeService ------------------------------------------------------------------------
    async def version(self) -> str:
        """``runc://1.1.5`` (the OCI runtime's name and version)."""
        proc = await asyncio.create_subprocess_exec(
            self.oci_runtime, "--version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        out, _ = await proc.communicate()
        first = out.decode().splitlines()[0] if out else ""
        return f"{self.oci_runtime}://{first.split()[-1] if first else 'unknown'}"

    async def run_pod_sandbox(self, config: cri.SandboxConfig) -> str:
        """A network namespace attached by CNI (unless hostNetwork), and the pod's /etc files."""
        sandbox_id = uuid.uuid4().hex
        directory = self._sandbox_dir(sandbox_id)
        os.makedirs(directory)
        record: dict[str, Any] = {
            "id": sandbox_id,
            "config": records.sandbox_config_to_dict(config),
            "created_at": time.time(),
            "state": cri.SandboxState.NOTREADY.value,  # READY once it is all there
            "netns": "",
            "ips": [self.host_ip],
            "network_attached": False,
        }
        try:
            if not config.host_network:
                if self.cni is None:
                    raise cri.RuntimeFailure("network is not ready: no CNI configuration for this node yet")
                name = f"pinnace-{sandbox_id[:20]}"
                record["netns"] = await netns.create(name)
                records.write_record(os.path.join(directory, "sandbox.json"), record)
                attachment = await self.cni.add(sandbox_id, record["netns"], port_mappings=config.port_mappings)
                record["ips"] = list(attachment.ips)
                record["network_attached"] = True
            self._write_pod_files(directory, config, list(record["ips"]))
            hostname = open(os.path.join(directory, "hostname")).read().strip()  # noqa: SIM115
            shared = await podns.create(sandbox_id, directory, hostname, own_uts=not config.host_network)
            record["shared"] = {"ipc": shared.ipc, "uts": shared.uts, "shm": shared.shm}
            record["state"] = cri.SandboxState.READY.value
            records.write_record(os.path.join(directory, "sandbox.json"), record)
        except BaseException:
            with contextlib.suppress(cri.CRIError, OSError):
                await self._teardown_sandbox(sandbox_id, record)
            raise
        return sandbox_id

    def _write_pod_files(self, directory: str, config: cri.SandboxConfig, ips: list[str]) -> None:
        """The pod's ``hostname``, ``hosts`` (the kubelet's managed file) and ``resolv.conf`` (from its DNS config;
        the host's own file when it has none)."""
        hostname = config.hostname or config.name
        node_hosts = ""
        if config.host_network:
            hostname = socket.gethostname()
            with open("/etc/hosts", errors="replace") as handle:
                node_hosts = handle.read()
        with open(os.path.join(directory, "hosts"), "w") as handle:
            handle.write(podfiles.hosts_file(config, ips, hostname, node_hosts))
        with open(os.path.join(directory, "hostname"), "w") as handle:
            handle.write(hostname + "\n")
        resolv = podfiles.resolv_conf(config)
        if resolv:
            with open(os.path.join(directory, "resolv.conf"), "w") as handle:
                handle.write(resolv)
        else:
            shutil.copyfile("/etc/resolv.conf", os.path.join(directory, "resolv.conf"))

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        """Kill its containers and release its network (CNI DEL). Idempotent."""
        record = dict(self._sandbox_record(sandbox_id))
        for container in await self.list_containers(sandbox_id):
            await self.stop_container(container.id, 0)
        if record.get("network_attached") and self.cni is not None:
            await self.cni.delete(sandbox_id, record["netns"])
            record["network_attached"] = False
        record["state"] = cri.SandboxState.NOTREADY.value
        records.write_record(os.path.join(self._sandbox_dir(sandbox_id), "sandbox.json"), record)

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        """Stop it if needed, remove its containers, namespace, cgroup and records. Idempotent."""
        try:
            record = self._sandbox_record(sandbox_id)
        except cri.NotFoundError:
            return
        await self.stop_pod_sandbox(sandbox_id)
        for container in await self.list_containers(sandbox_id):
            await self.remove_container(container.id)
        await self._teardown_sandbox(sandbox_id, record)

    async def _teardown_sandbox(self, sandbox_id: str, record: Mapping[str, Any]) -> None:
        if record.get("network_attached") and self.cni is not None:
            await self.cni.delete(sandbox_id, record["netns"])
        podns.release(podns.PodNamespaces(**record.get("shared", {})))
        if record.get("netns"):
            await netns.delete(os.path.basename(record["netns"]))
        _remove_cgroup(self._cgroup_parent(record))
        shutil.rmtree(self._sandbox_dir(sandbox_id), ignore_errors=True)
        self._files.forget_under(self._sandbox_dir(sandbox_id))

    async def remove_all(self) -> None:
        """Kill and remove every container and sandbox under the root, and the node's masquerading when this
        runtime has a network (a cluster going away for good)."""
        limit = asyncio.Semaphore(RUNTIME_COMMANDS)

        async def bounded(step: Awaitable[None]) -> None:
            async with limit:
                await step

        await asyncio.gather(*(bounded(self.remove_pod_sandbox(s.id)) for s in await self.list_pod_sandboxes()))
        await asyncio.gather(*(bounded(self.remove_container(c.id)) for c in await self.list_containers()))
        bridge = str(self.cni.conflist["plugins"][0].get("bridge") or "") if self.cni is not None else ""
        if bridge:
            await asyncio.to_thread(masquerade.remove, bridge)

    def _cgroup_parent(self, record: Mapping[str, Any]) -> str:
        config = record["config"]
        return config.get("cgroup_parent") or f"{self.cgroup_root}/pod{config['uid']}"

    def _sandbox_status(self, record: Mapping[str, Any]) -> cri.SandboxStatus:
        return cri.SandboxStatus(
            id=record["id"],
            config=records.sandbox_config_from_dict(record["config"]),
            state=cri.SandboxState(record["state"]),
            created_at=record["created_at"],
            ips=tuple(record.get("ips", ())),
            netns_path=record.get("netns", ""),
        )

    async def pod_sandbox_status(self, sandbox_id: str) -> cri.SandboxStatus:
        """The sandbox's state and IPs."""
        return self._sandbox_status(self._sandbox_record(sandbox_id))

    async def list_pod_sandboxes(self) -> list[cri.SandboxStatus]:
        """Every sandbox under the root, including ones an earlier agent made."""
        out = []
        for sandbox_id in sorted(os.listdir(os.path.join(self.root, "sandboxes"))):
            record = self._files.read(os.path.join(self._sandbox_dir(sandbox_id), "sandbox.json"))
            if record is not None:
                out.append(self._sandbox_status(record))
        return out

    async def create_container(self, sandbox_id: str, config: cri.ContainerConfig) -> str:
        """The bundle: an overlay rootfs over the image's, and ``config.json`` from image and pod."""
        sandbox = self._sandbox_record(sandbox_id)
        image = config.image_ref or config.image
        lower = os.fspath(await self.images.unpack(image))
        image_config = await self.images.image_config(image)
        container_id = uuid.uuid4().hex
        directory = self._container_dir(container_id)
        bundle = os.path.join(directory, "bundle")
        os.makedirs(bundle)
        target = os.path.join(bundle, "rootfs")
        try:
            rootfs.prepare(lower, directory, target)
            sandbox_dir = self._sandbox_dir(sandbox_id)
            paths = SandboxPaths(
                hostname=open(os.path.join(sandbox_dir, "hostname")).read().strip(),  # noqa: SIM115
                netns_path=sandbox.get("netns", ""),
                hosts_file=os.path.join(sandbox_dir, "hosts"),
                resolv_file=os.path.join(sandbox_dir, "resolv.conf"),
                hostname_file=os.path.join(sandbox_dir, "hostname"),
                cgroup_parent=self._cgroup_parent(sandbox),
                ipc_path=sandbox.get("shared", {}).get("ipc", ""),
                uts_path=sandbox.get("shared", {}).get("uts", ""),
                shm_dir=sandbox.get("shared", {}).get("shm", ""),
            )
            spec = build_spec(
                config,
                image_config,
                container_id=container_id,
                rootfs=target,
                sandbox=paths,
                pid_namespace=self._pid_namespace(config.pid_namespace_of),
            )
            records.write_record(os.path.join(bundle, "config.json"), spec)
            if config.log_path:
                os.makedirs(os.path.dirname(config.log_path), exist_ok=True)
        except BaseException:
            rootfs.release(target)
            shutil.rmtree(directory, ignore_errors=True)
            raise
        records.write_record(
            os.path.join(directory, "container.json"),
            {"id": container_id, "sandbox_id": sandbox_id, "config": records.container_config_to_dict(config),
             "created_at": time.time()},
        )  # fmt: skip
        return container_id

    async def start_container(self, container_id: str) -> None:
        """Start the container under a new shim; returns once it runs (RuntimeFailure if it could not)."""
        record = self._container_record(container_id)
        directory = self._container_dir(container_id)
        if self.oci_runtime.endswith("crun") and not self._host_checked:
            try:
                cgroups.move_v2_controllers_to_v1()
            except RuntimeError as exc:
                raise cri.RuntimeFailure(str(exc)) from exc
            self._host_checked = True
        if os.path.exists(os.path.join(directory, "state.json")):
            raise cri.RuntimeFailure(f"container {container_id} was already started")
        config = record["config"]
        records.write_record(os.path.join(directory, "shim.json"), {
            "runtime": self.oci_runtime, "root": os.path.join(self.root, "runtime"), "id": container_id,
            "bundle": os.path.join(directory, "bundle"), "log_path": config.get("log_path", ""),
            "tty": config.get("tty", False), "stdin": config.get("stdin", False),
            "stdin_once": config.get("stdin_once", False), "attach_socket": _attach_socket(container_id),
        })  # fmt: skip
        try:  # forked by the launcher, not by the agent (see pinnace.node.oci.launcher)
            report = await LAUNCHER.start(directory, START_TIMEOUT)
        except TimeoutError:
            message = f"container {container_id}: the shim did not report within {START_TIMEOUT}s"
            raise cri.RuntimeFailure(message) from None
        except OSError as exc:
            raise cri.RuntimeFailure(f"container {container_id}: starting its shim: {exc}") from exc
        if "error" in report:
            raise cri.RuntimeFailure(report["error"])

    async def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; returns once it has exited. Idempotent."""
        self._container_record(container_id)
        if not self._running(container_id):
            return
        if timeout > 0:
            await self._run("kill", container_id, "TERM")
            if await self._wait_exit(container_id, timeout):
                return
        await self._run("kill", container_id, "KILL")
        if not await self._wait_exit(container_id, 10.0):
            raise cri.RuntimeFailure(f"container {container_id} did not exit after SIGKILL")

    async def _wait_exit(self, container_id: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._running(container_id):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_POLL)
        return True

    def _pid_namespace(self, container_id: str) -> str:
        """The process namespace of a running container, to join ("" for none asked)."""
        if not container_id:
            return ""
        state = self._state(container_id)
        pid = (state or {}).get("pid")
        path = f"/proc/{pid}/ns/pid"
        if not pid or not self._running(container_id) or not os.path.exists(path):
            raise cri.RuntimeFailure(f"container {container_id}, whose process namespace was asked for, is not running")
        return path

    def _state(self, container_id: str) -> dict[str, Any] | None:
        return self._files.read(os.path.join(self._container_dir(container_id), "state.json"))

    def _running(self, container_id: str) -> bool:
        state = self._state(container_id)
        return state is not None and "exit_code" not in state and self._alive(container_id, state)

    def _alive(self, container_id: str, state: Mapping[str, Any]) -> bool:
        """Whether the container's shim (or, without its shim, its init) still lives."""
        try:
            shim = self._shim_pids.get(container_id)
            if shim is None:
                with open(os.path.join(self._container_dir(container_id), "shim.pid")) as handle:
                    shim = self._shim_pids[container_id] = int(handle.read())
            os.kill(shim, 0)
            return True
        except (OSError, ValueError):
            return os.path.exists(f"/proc/{state.get('pid', 0)}") and bool(state.get("pid"))

    async def remove_container(self, container_id: str) -> None:
        """Remove an exited container: its runtime state, rootfs mount and directory. Idempotent."""
        try:
            self._container_record(container_id)
        except cri.NotFoundError:
            return
        if self._running(container_id):
            await self.stop_container(container_id, 0)
        await self._run("delete", "--force", container_id)
        directory = self._container_dir(container_id)
        rootfs.release(os.path.join(directory, "bundle", "rootfs"))
        shutil.rmtree(directory, ignore_errors=True)
        self._records.pop(container_id, None)
        self._shim_pids.pop(container_id, None)
        self._cgroups.pop(container_id, None)
        self._files.forget_under(directory)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(_attach_socket(container_id))

    def _container_status(self, record: Mapping[str, Any]) -> cri.ContainerStatus:
        container_id = record["id"]
        config = self._records[container_id][1]
        state = self._state(container_id)
        fields: dict[str, Any] = {"state": cri.ContainerState.CREATED}
        if state is not None:
            fields = {"started_at": state.get("started_at", 0.0), "state": cri.ContainerState.RUNNING}
            if "exit_code" in state:
                fields.update(_exit_fields(state))
            elif not self._alive(container_id, state):
                fields.update(state=cri.ContainerState.EXITED, exit_code=255, reason="Unknown",
                              message="the container's shim is gone", finished_at=time.time())  # fmt: skip
        return cri.ContainerStatus(
            id=container_id, sandbox_id=record["sandbox_id"], name=config.name, attempt=config.attempt,
            image=config.image, image_ref=config.image_ref, created_at=record["created_at"],
            log_path=config.log_path, labels=config.labels, annotations=config.annotations, **fields,
        )  # fmt: skip

    async def list_containers(self, sandbox_id: str | None = None) -> list[cri.ContainerStatus]:
        """Every container under the root (of one sandbox, when given)."""
        out = []
        for container_id in sorted(os.listdir(os.path.join(self.root, "containers"))):
            try:
                record = self._container_record(container_id, listed=True)
            except cri.NotFoundError:  # being created or removed
                continue
            if sandbox_id in (None, record["sandbox_id"]):
                out.append(self._container_status(record))
        return out

    async def container_status(self, container_id: str) -> cri.ContainerStatus:
        """One container's state, exit code and reason (OOMKilled, Completed, Error)."""
        return self._container_status(self._container_record(container_id))

    async def container_stats(self, container_id: str) -> cri.ContainerStats | None:
        """The container's CPU and memory use now, read from its cgroup (in a worker thread)."""
        try:
            self._container_record(container_id)
        except cri.NotFoundError:
            return None
        if not self._running(container_id):
            return None
        if container_id not in self._cgroups:
            spec = records.read_record(os.path.join(self._container_dir(container_id), "bundle", "config.json"))
            path = str(((spec or {}).get("linux") or {}).get("cgroupsPath") or "")
            self._cgroups[container_id] = cgroupstats.locate(path) if path else None
        paths = self._cgroups[container_id]
        if paths is None:
            return None
        return await asyncio.to_thread(cgroupstats.container_stats, container_id, paths)

    def _require_running(self, container_id: str) -> None:
        self._container_record(container_id)
        if not self._running(container_id):
            raise cri.RuntimeFailure(f"container {container_id} is not running")

    async def exec_sync(self, container_id: str, command: Sequence[str], timeout: float) -> cri.ExecResult:
        """Run a command in the container, collecting its output (``timed_out`` if it outlived ``timeout``)."""
        self._require_running(container_id)
        session = await ExecSession.start(self._runtime_argv, container_id, command, tty=False, stdin=False)
        assert session.stderr is not None
        gather = asyncio.gather(session.stdout.read(), session.stderr.read(), session.wait())
        try:
            out, err, code = await asyncio.wait_for(gather, timeout if timeout > 0 else None)
        except TimeoutError:
            await session.close()
            return cri.ExecResult(exit_code=-1, stdout=b"", stderr=b"", timed_out=True)
        return cri.ExecResult(exit_code=code, stdout=out, stderr=err)

    async def exec(self, container_id: str, command: Sequence[str], *, tty: bool, stdin: bool) -> ExecSession:
        """Start a command in the container with streams (``kubectl exec``)."""
        self._require_running(container_id)
        return await ExecSession.start(self._runtime_argv, container_id, command, tty=tty, stdin=stdin)

    async def attach(self, container_id: str, *, tty: bool, stdin: bool) -> AttachSession:
        """Attach to the container's main process through its shim."""
        self._require_running(container_id)
        exited = asyncio.ensure_future(self._exit_code(container_id))
        return await AttachSession.connect(_attach_socket(container_id), tty=tty, stdin=stdin, exited=exited)

    async def _exit_code(self, container_id: str) -> int:
        while True:
            state = self._state(container_id)
            if state is None or "exit_code" in state:
                return int(state["exit_code"]) if state else 255
            if not self._alive(container_id, state):
                return 255
            await asyncio.sleep(_POLL * 4)

    async def port_forward(self, sandbox_id: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to ``localhost:port`` in the sandbox's network namespace."""
        record = self._sandbox_record(sandbox_id)
        try:
            if record.get("netns"):
                return await netns.open_connection_in(record["netns"], "127.0.0.1", port)
            return await asyncio.open_connection("127.0.0.1", port)
        except OSError as exc:
            raise cri.RuntimeFailure(f"port-forward to port {port} of sandbox {sandbox_id}: {exc}") from exc


def _attach_socket(container_id: str) -> str:
    return os.path.join(SOCKET_DIR, f"{container_id}.sock")


def _exit_fields(state: Mapping[str, Any]) -> dict[str, Any]:
    code = int(state["exit_code"])
    if state.get("error"):
        reason, message = "StartError", str(state["error"])
    elif state.get("oom_killed"):
        reason, message = "OOMKilled", ""
    else:
        reason, message = ("Completed" if code == 0 else "Error"), ""
    return {"state": cri.ContainerState.EXITED, "exit_code": code, "reason": reason, "message": message,
            "finished_at": state.get("finished_at", 0.0)}  # fmt: skip


def _remove_cgroup(parent: str) -> None:
    """Remove a pod's cgroup directories in every hierarchy (children first; busy ones stay)."""
    base = "/sys/fs/cgroup"
    with contextlib.suppress(OSError):
        hierarchies = [os.path.join(base, name) for name in os.listdir(base)] + [base]
        for hierarchy in hierarchies:
            path = os.path.join(hierarchy, parent)
            if not os.path.isdir(path):
                continue
            for current, dirs, _ in os.walk(path, topdown=False):
                for name in dirs:
                    with contextlib.suppress(OSError):
                        os.rmdir(os.path.join(current, name))
            with contextlib.suppress(OSError):
                os.rmdir(path)


__all__ = ["ImageSource", "OCIRuntime"]
