"""Running an etcd member from Debian's ``etcd`` binary: its command line, start-up and readiness.

One place says how Pinnace starts etcd, for everything that does: the
stacked-etcd topology of ``pinnace adm`` (a member on each control-plane
node), the tests' single members and three-member clusters, and
``benchmarks/etcd.py``. A member is described by :class:`EtcdMemberSpec`;
:func:`etcd_command` turns it into argv, :func:`start_member` runs it with its
output in a log file, and :func:`wait_serving` waits until the member answers a
linearizable read through the same client the store uses. A stacked member
outlives the command that starts it (as kubeadm's etcd static pod outlives
``kubeadm init``): :func:`start_detached` runs it in its own session and records
its pid in a file, by which :func:`stop_detached` stops it again.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pinnace.cluster import pidfile
from pinnace.storage.etcd import EtcdStore, EtcdTLS

__all__ = [
    "EtcdMemberSpec",
    "ServerTLS",
    "etcd_binary",
    "etcd_command",
    "member_env",
    "read_pid",
    "start_detached",
    "start_member",
    "stop_detached",
    "wait_serving",
]


def etcd_binary() -> str:
    """The etcd executable on the PATH (Debian's ``etcd-server`` package)."""
    binary = shutil.which("etcd")
    if binary is None:
        raise RuntimeError("the etcd binary is required (apt-get install etcd-server)")
    return binary


@dataclass(frozen=True)
class ServerTLS:
    """A member's serving certificate, and what its clients need (the CA, a client certificate).

    With it the member serves HTTPS and requires client certificates signed by the CA.
    """

    cert_file: Path
    key_file: Path
    client: EtcdTLS


@dataclass(frozen=True)
class EtcdMemberSpec:
    """One member of an etcd cluster: its name, data directory, URLs and the cluster it starts in."""

    name: str
    data_dir: Path
    client_url: str
    peer_url: str
    #: ``name=peer_url,…`` for every member of the initial cluster (this one included).
    initial_cluster: str = ""
    #: "new" to form the cluster, "existing" to join one that runs (after ``member add``).
    cluster_state: str = "new"
    cluster_token: str = "pinnace"
    #: Raft timing in milliseconds (etcd's defaults are 100 and 1000; tests use faster ones).
    heartbeat_ms: int = 100
    election_ms: int = 1000
    tls: ServerTLS | None = None
    #: The peer certificate (kubeadm's etcd/peer): peers then talk HTTPS and must show certificates of the CA.
    peer_tls: ServerTLS | None = None
    log_level: str = "warn"
    #: The database size past which it refuses writes (etcd's --quota-backend-bytes; None: etcd's 2 GiB).
    quota_backend_bytes: int | None = None

    def command(self, binary: str | None = None) -> list[str]:
        """This member's argv (see :func:`etcd_command`)."""
        return etcd_command(self, binary)


def etcd_command(spec: EtcdMemberSpec, binary: str | None = None) -> list[str]:
    """The argv that starts ``spec``'s member."""
    args = [
        binary or etcd_binary(),
        "--name", spec.name,
        "--data-dir", str(spec.data_dir),
        "--listen-client-urls", spec.client_url,
        "--advertise-client-urls", spec.client_url,
        "--listen-peer-urls", spec.peer_url,
        "--initial-advertise-peer-urls", spec.peer_url,
        "--initial-cluster", spec.initial_cluster or f"{spec.name}={spec.peer_url}",
        "--initial-cluster-state", spec.cluster_state,
        "--initial-cluster-token", spec.cluster_token,
        "--heartbeat-interval", str(spec.heartbeat_ms),
        "--election-timeout", str(spec.election_ms),
        "--log-level", spec.log_level,
    ]  # fmt: skip
    if spec.quota_backend_bytes is not None:
        args += ["--quota-backend-bytes", str(spec.quota_backend_bytes)]
    if spec.tls is not None:
        args += [
            "--cert-file", str(spec.tls.cert_file),
            "--key-file", str(spec.tls.key_file),
            "--trusted-ca-file", str(spec.tls.client.ca_file),
            "--client-cert-auth",
        ]  # fmt: skip
    if spec.peer_tls is not None:
        args += [
            "--peer-cert-file", str(spec.peer_tls.cert_file),
            "--peer-key-file", str(spec.peer_tls.key_file),
            "--peer-trusted-ca-file", str(spec.peer_tls.client.ca_file),
            "--peer-client-cert-auth",
        ]  # fmt: skip
    return args


def member_env() -> dict[str, str]:
    """etcd's environment: ours, with the unsupported-architecture guard cleared."""
    return {**os.environ, "ETCD_UNSUPPORTED_ARCH": ""}


async def start_member(spec: EtcdMemberSpec, log_path: Path) -> asyncio.subprocess.Process:
    """Start the member with its output appended to ``log_path``; it is not waited for (see :func:`wait_serving`)."""
    with log_path.open("ab") as log:
        return await asyncio.create_subprocess_exec(
            *etcd_command(spec),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=member_env(),
        )


def start_detached(spec: EtcdMemberSpec, log_path: Path, pid_path: Path) -> subprocess.Popen[bytes]:
    """Start the member in its own session (it outlives this process), output to ``log_path``, pid in ``pid_path``."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            etcd_command(spec), stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=member_env(),
            start_new_session=True,
        )  # fmt: skip
    pidfile.write(pid_path, process.pid)
    return process


def read_pid(pid_path: Path) -> int | None:
    """The pid recorded in ``pid_path`` if that process is alive and is the one recorded (None otherwise)."""
    info = pidfile.read(pid_path)
    return None if info is None else int(info["pid"])


def stop_detached(pid_path: Path, timeout: float = 10.0) -> int | None:
    """Stop the member recorded in ``pid_path`` (SIGTERM, then SIGKILL after ``timeout``); its pid, or None if none
    ran. The pid file is removed."""
    pid = read_pid(pid_path)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while read_pid(pid_path) is not None and _not_reaped(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.05)
    pid_path.unlink(missing_ok=True)
    return pid


def _not_reaped(pid: int) -> bool:
    """Whether ``pid`` still runs; reaps it if it is our exited child (a zombie would look alive to kill 0)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True  # not our child: read_pid's kill 0 tells
    return done == 0


def _last_line(log_path: Path) -> str:
    """The last line etcd wrote to its log: on a failed start, why (``... bind: address already in use``)."""
    try:
        with log_path.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 4096))
            lines = log.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


async def wait_serving(
    endpoint: str,
    *,
    timeout: float,
    tls: EtcdTLS | None = None,
    exit_code: Callable[[], int | None] | None = None,
    log_path: Path | None = None,
) -> None:
    """Wait until the member at ``endpoint`` answers a linearizable read (it is in a cluster with a leader).

    ``exit_code``: tells the member process's exit code, None while it runs (``Popen.poll``, or
    ``lambda: process.returncode``); if it exits meanwhile, fail at once, quoting the last line of
    ``log_path`` (why it stopped). Not serving within ``timeout`` raises RuntimeError too, with that line.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        code = exit_code() if exit_code is not None else None
        if code is not None:
            said = _last_line(log_path) if log_path else ""
            where = (f": {said}" if said else "") + (f" (see {log_path})" if log_path else "")
            raise RuntimeError(f"etcd at {endpoint} exited with {code}{where}")
        try:
            store = await EtcdStore.open([endpoint], tls=tls, retry_timeout=0.2, request_timeout=1.0, watch_window=0)
        except Exception as exc:
            if asyncio.get_running_loop().time() > deadline:
                said = _last_line(log_path) if log_path else ""
                where = (f"; its log's last line: {said}" if said else "") + (f" (see {log_path})" if log_path else "")
                raise RuntimeError(f"etcd at {endpoint} did not serve within {timeout:g} s: {exc}{where}") from exc
            await asyncio.sleep(0.05)
            continue
        await store.close()
        return
