"""A real etcd member for tests: Debian's ``etcd`` binary on free loopback ports in a temp dir."""

from __future__ import annotations

import asyncio
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
