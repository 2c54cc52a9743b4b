"""A real etcd member for tests: Debian's ``etcd`` binary on free loopback ports in a temp dir."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
from pathlib import Path

from pinnace.storage.etcd import EtcdStore


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class EtcdServer:
    """One single-member etcd cluster; ``start``/``stop`` can be repeated on the same data dir and ports."""

    def __init__(self, data_dir: Path) -> None:
        binary = shutil.which("etcd")
        if binary is None:
            raise RuntimeError("the etcd binary is required (apt-get install etcd-server)")
        self.binary = binary
        self.data_dir = data_dir
        self.client_port = free_port()
        self.peer_port = free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def endpoint(self) -> str:
        """The client URL."""
        return f"http://127.0.0.1:{self.client_port}"

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
                store = await EtcdStore.open([self.endpoint], retry_timeout=0.2, request_timeout=1.0)
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
