"""Real etcd members for tests: Debian's ``etcd`` binary on free loopback ports in a temp dir.

How a member is started is :mod:`pinnace.cluster.etcd_member`'s job; this module adds
what tests need around it: free ports, restarts on the same data dir, kill -9, SIGSTOP.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
from pathlib import Path

from pinnace.cluster.etcd_member import EtcdMemberSpec, ServerTLS, start_member, wait_serving
from pinnace.cluster.ports import free_port

__all__ = ["EtcdCluster", "EtcdServer", "ServerTLS", "free_port"]


class EtcdServer:
    """One single-member etcd cluster; ``start``/``stop`` can be repeated on the same data dir and ports."""

    def __init__(self, data_dir: Path, *, tls: ServerTLS | None = None, quota_backend_bytes: int | None = None) -> None:
        self.data_dir = data_dir
        self.quota_backend_bytes = quota_backend_bytes
        self.client_port = free_port()
        self.peer_port = free_port()
        self.process: asyncio.subprocess.Process | None = None
        self.tls = tls

    @property
    def endpoint(self) -> str:
        """The client URL."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.client_port}"

    async def start(self, timeout: float = 20.0) -> None:
        """Start etcd and wait until it serves reads."""
        spec = EtcdMemberSpec(
            name="m0",
            data_dir=self.data_dir,
            client_url=self.endpoint,
            peer_url=f"http://127.0.0.1:{self.peer_port}",
            heartbeat_ms=20,
            election_ms=200,
            tls=self.tls,
            quota_backend_bytes=self.quota_backend_bytes,
        )
        log = self.data_dir.parent / f"{self.data_dir.name}.log"
        self.process = await start_member(spec, log)
        client_tls = self.tls.client if self.tls else None
        process = self.process
        await wait_serving(
            self.endpoint, timeout=timeout, tls=client_tls, exit_code=lambda: process.returncode, log_path=log
        )

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

    def _log(self, i: int) -> Path:
        return self.base_dir / f"m{i}.log"

    async def _spawn(self, i: int) -> None:
        spec = EtcdMemberSpec(
            name=f"m{i}",
            data_dir=self.base_dir / f"m{i}",
            client_url=self.endpoints[i],
            peer_url=f"http://127.0.0.1:{self.peer_ports[i]}",
            initial_cluster=self._initial_cluster(),
            cluster_token=f"pinnace-test-{self.peer_ports[0]}",
            heartbeat_ms=50,
            election_ms=500,
        )
        self.processes[i] = await start_member(spec, self._log(i))

    async def _wait_serving(self, i: int, timeout: float) -> None:
        """Wait until member ``i`` answers a linearizable read (it has joined a cluster with a leader)."""
        process = self.processes[i]
        if process is None:
            raise RuntimeError(f"etcd member m{i} is not running; see {self._log(i)}")
        await wait_serving(
            self.endpoints[i], timeout=timeout, exit_code=lambda: process.returncode, log_path=self._log(i)
        )

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
