"""A real etcd member for tests: Debian's ``etcd`` binary on free loopback ports in a temp dir."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

from pinnace.storage.etcd import EtcdStore, EtcdTLS


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class ServerTLS:
    """The member's serving certificate, and what a client needs (the CA, a client certificate)."""

    cert_file: Path
    key_file: Path
    client: EtcdTLS


class EtcdServer:
    """One single-member etcd cluster; ``start``/``stop`` can be repeated on the same data dir and ports."""

    def __init__(self, data_dir: Path, *, tls: ServerTLS | None = None) -> None:
        binary = shutil.which("etcd")
        if binary is None:
            raise RuntimeError("the etcd binary is required (apt-get install etcd-server)")
        self.binary = binary
        self.data_dir = data_dir
        self.client_port = free_port()
        self.peer_port = free_port()
        self.process: asyncio.subprocess.Process | None = None
        self.tls = tls

    @property
    def endpoint(self) -> str:
        """The client URL."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.client_port}"

    def _tls_args(self) -> list[str]:
        if self.tls is None:
            return []
        return [
            "--cert-file", str(self.tls.cert_file),
            "--key-file", str(self.tls.key_file),
            "--trusted-ca-file", str(self.tls.client.ca_file),
            "--client-cert-auth",
        ]  # fmt: skip

    async def start(self, timeout: float = 20.0) -> None:
        """Start etcd and wait until it serves reads."""
        peer = f"http://127.0.0.1:{self.peer_port}"
        log = (self.data_dir.parent / f"{self.data_dir.name}.log").open("ab")
        self.process = await asyncio.create_subprocess_exec(
            self.binary,
            "--name", "m0",
            "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.endpoint,
            "--advertise-client-urls", self.endpoint,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"m0={peer}",
            "--heartbeat-interval", "20",
            "--election-timeout", "200",
            "--log-level", "warn",
            *self._tls_args(),
            stdout=log,
            stderr=log,
            env={**os.environ, "ETCD_UNSUPPORTED_ARCH": ""},
        )  # fmt: skip
        log.close()
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if self.process.returncode is not None:
                raise RuntimeError(f"etcd exited with {self.process.returncode}; see {log.name}")
            try:
                client_tls = self.tls.client if self.tls else None
                store = await EtcdStore.open([self.endpoint], tls=client_tls, retry_timeout=0.2, request_timeout=1.0)
            except Exception:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.05)
                continue
            await store.close()
            return

    async def stop(self) -> None:
        """Kill etcd (SIGKILL, by its PID) and reap it."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()
        self.process = None


class EtcdCluster:
    """Three etcd members on loopback, each one killable (SIGKILL), pausable (SIGSTOP/SIGCONT) and restartable."""

    size = 3

    def __init__(self, base_dir: Path) -> None:
        binary = shutil.which("etcd")
        if binary is None:
            raise RuntimeError("the etcd binary is required (apt-get install etcd-server)")
        self.binary = binary
        self.base_dir = base_dir
        self.client_ports = [free_port() for _ in range(self.size)]
        self.peer_ports = [free_port() for _ in range(self.size)]
        self.processes: list[asyncio.subprocess.Process | None] = [None] * self.size

    @property
    def endpoints(self) -> list[str]:
        """Every member's client URL, in member order."""
        return [f"http://127.0.0.1:{port}" for port in self.client_ports]

    def _initial_cluster(self) -> str:
        return ",".join(f"m{i}=http://127.0.0.1:{port}" for i, port in enumerate(self.peer_ports))

    async def _spawn(self, i: int) -> None:
        peer = f"http://127.0.0.1:{self.peer_ports[i]}"
        log = (self.base_dir / f"m{i}.log").open("ab")
        self.processes[i] = await asyncio.create_subprocess_exec(
            self.binary,
            "--name", f"m{i}",
            "--data-dir", str(self.base_dir / f"m{i}"),
            "--listen-client-urls", self.endpoints[i],
            "--advertise-client-urls", self.endpoints[i],
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", self._initial_cluster(),
            "--initial-cluster-state", "new",
            "--initial-cluster-token", f"pinnace-test-{self.peer_ports[0]}",
            "--heartbeat-interval", "50",
            "--election-timeout", "500",
            "--log-level", "warn",
            stdout=log,
            stderr=log,
            env={**os.environ, "ETCD_UNSUPPORTED_ARCH": ""},
        )  # fmt: skip
        log.close()

    async def _wait_serving(self, i: int, timeout: float) -> None:
        """Wait until member ``i`` answers a linearizable read (it has joined a cluster with a leader)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            process = self.processes[i]
            if process is None or process.returncode is not None:
                raise RuntimeError(f"etcd member m{i} is not running; see {self.base_dir / f'm{i}.log'}")
            try:
                store = await EtcdStore.open(
                    [self.endpoints[i]], retry_timeout=0.2, request_timeout=1.0, watch_window=0
                )
            except Exception:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.05)
                continue
            await store.close()
            return

    async def start(self, timeout: float = 30.0) -> None:
        """Start every member and wait until each serves reads."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        for i in range(self.size):
            await self._spawn(i)
        await asyncio.gather(*(self._wait_serving(i, timeout) for i in range(self.size)))

    def pid(self, i: int) -> int:
        """Member ``i``'s process id."""
        process = self.processes[i]
        if process is None:
            raise RuntimeError(f"etcd member m{i} is not running")
        return process.pid

    async def kill(self, i: int) -> None:
        """kill -9 member ``i`` (by its PID) and reap it."""
        process = self.processes[i]
        if process is not None and process.returncode is None:
            os.kill(process.pid, signal.SIGKILL)
            await process.wait()
        self.processes[i] = None

    def pause(self, i: int) -> None:
        """SIGSTOP member ``i``: it keeps its sockets but answers nothing."""
        os.kill(self.pid(i), signal.SIGSTOP)

    def resume(self, i: int) -> None:
        """SIGCONT member ``i``."""
        os.kill(self.pid(i), signal.SIGCONT)

    async def restart(self, i: int, timeout: float = 30.0) -> None:
        """Start a killed member again on its data dir and wait until it serves reads."""
        await self.kill(i)
        await self._spawn(i)
        await self._wait_serving(i, timeout)

    async def status(self) -> tuple[list[str], str]:
        """(member ids in member order, the leader's id), as ``etcdctl endpoint status`` reports them."""
        etcdctl = shutil.which("etcdctl")
        if etcdctl is None:
            raise RuntimeError("etcdctl is required (apt-get install etcd-client)")
        proc = await asyncio.create_subprocess_exec(
            etcdctl, "--endpoints", ",".join(self.endpoints), "endpoint", "status", "-w", "json",
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "ETCDCTL_API": "3"},
        )  # fmt: skip
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"etcdctl endpoint status failed with {proc.returncode}")
        rows = json.loads(out)
        by_endpoint = {row["Endpoint"]: row["Status"] for row in rows}
        ids = [f"{by_endpoint[e]['header']['member_id']:x}" for e in self.endpoints]
        return ids, f"{rows[0]['Status']['leader']:x}"

    async def make_leader(self, i: int) -> None:
        """Move the raft leadership to member ``i`` (``etcdctl move-leader``), so a fault can hit the leader."""
        ids, leader = await self.status()
        if leader == ids[i]:
            return
        etcdctl = shutil.which("etcdctl")
        assert etcdctl is not None  # status() checked
        proc = await asyncio.create_subprocess_exec(
            etcdctl, "--endpoints", self.endpoints[ids.index(leader)], "move-leader", ids[i],
            stdout=asyncio.subprocess.DEVNULL,
            env={**os.environ, "ETCDCTL_API": "3"},
        )  # fmt: skip
        if await proc.wait() != 0:
            raise RuntimeError("etcdctl move-leader failed")

    async def stop(self) -> None:
        """Kill every member (a paused one is killed too) and reap them."""
        for i in range(self.size):
            await self.kill(i)
