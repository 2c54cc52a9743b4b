"""Stacked etcd: a local etcd member on each control-plane node (kubeadm's ``etcd local`` phase and its join/reset).

With ``pinnace adm init --etcd stacked`` (or a ClusterConfiguration whose
``etcd.local`` is given), the control plane keeps its objects in an etcd
member that runs beside it, from Debian's etcd binary, rather than in the
SQLite file. Everything is TLS as in kubeadm: the member serves clients and
peers with ``pki/etcd/server`` and ``pki/etcd/peer`` certificates of the etcd
CA (``pki/etcd/ca``) and requires client certificates of that CA; the API
server connects with ``pki/apiserver-etcd-client``, health checks use
``pki/etcd/healthcheck-client``.

Files in the data directory: the member's data in ``etcd/`` (kubeadm's
``/var/lib/etcd``), its log in ``etcd.log`` and its pid in ``etcd.pid``.

A control plane that joins (``adm join --control-plane``) adds its member to
the running cluster (MemberAdd, with its peer URL) and starts it with
``--initial-cluster-state existing``; its API server then talks to that local
member. ``adm reset`` removes the member from the cluster (unless it is the
last) before stopping it and deleting its data. The client URLs of the members
are kept in the ``kubeadm-config`` ConfigMap (key ``EtcdEndpoints``), where a
joining control plane, holding only a bootstrap token, can read them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pinnace.cluster.etcd_member import EtcdMemberSpec, ServerTLS, read_pid, start_detached, stop_detached, wait_serving
from pinnace.storage.etcd_channel import EtcdTLS

__all__ = [
    "DATA_SUBDIR",
    "LOG_FILE",
    "PID_FILE",
    "LocalEtcd",
    "add_member",
    "remove_member",
    "start_local",
]

DATA_SUBDIR = "etcd"
LOG_FILE = "etcd.log"
PID_FILE = "etcd.pid"
#: kubeadm's default client and peer ports.
CLIENT_PORT = 2379
PEER_PORT = 2380


def _url(host: str, port: int) -> str:
    return f"https://{'[' + host + ']' if ':' in host else host}:{port}"


@dataclass(frozen=True, slots=True)
class LocalEtcd:
    """This node's etcd member: where it keeps its data and listens, and the PKI it uses."""

    data_dir: Path
    name: str
    host: str = "127.0.0.1"
    client_port: int = CLIENT_PORT
    peer_port: int = PEER_PORT

    @property
    def client_url(self) -> str:
        """The URL clients (the API server) reach the member at."""
        return _url(self.host, self.client_port)

    @property
    def peer_url(self) -> str:
        """The URL the other members reach this one at."""
        return _url(self.host, self.peer_port)

    @property
    def pid_file(self) -> Path:
        """The running member's pid."""
        return self.data_dir / PID_FILE

    def _pki(self, name: str) -> tuple[Path, Path]:
        base = self.data_dir / "pki"
        return base / f"{name}.crt", base / f"{name}.key"

    @property
    def ca_file(self) -> Path:
        """The etcd CA."""
        return self._pki("etcd/ca")[0]

    def client_tls(self, name: str = "apiserver-etcd-client") -> EtcdTLS:
        """Client TLS to the members with one of this node's etcd client certificates."""
        cert, key = self._pki(name)
        return EtcdTLS(self.ca_file, cert, key)

    def spec(self, initial_cluster: str = "", state: str = "new") -> EtcdMemberSpec:
        """The member's command-line description (serving and peer TLS of the etcd CA)."""
        health = self.client_tls("etcd/healthcheck-client")
        return EtcdMemberSpec(
            name=self.name,
            data_dir=self.data_dir / DATA_SUBDIR,
            client_url=self.client_url,
            peer_url=self.peer_url,
            initial_cluster=initial_cluster,
            cluster_state=state,
            tls=ServerTLS(*self._pki("etcd/server"), health),
            peer_tls=ServerTLS(*self._pki("etcd/peer"), health),
        )

    def store_arguments(self) -> list[str]:
        """The ``pinnace up`` options that put its API server on this member (kube-apiserver's --etcd-* flags)."""
        cert, key = self._pki("apiserver-etcd-client")
        endpoint = self.client_url.removeprefix("https://")
        return [f"--store=etcd://{endpoint}", f"--etcd-cafile={self.ca_file}", f"--etcd-certfile={cert}",
                f"--etcd-keyfile={key}"]  # fmt: skip

    def running(self) -> int | None:
        """The member's pid if it runs."""
        return read_pid(self.pid_file)


def start_local(local: LocalEtcd, *, initial_cluster: str = "", state: str = "new", timeout: float = 30.0) -> int:
    """Start the member detached (unless it runs) and wait until it serves; its pid. RuntimeError if it does not."""
    running = local.running()
    if running is not None:
        return running
    (local.data_dir / DATA_SUBDIR).mkdir(parents=True, exist_ok=True, mode=0o700)
    log_path = local.data_dir / LOG_FILE
    process = start_detached(local.spec(initial_cluster, state), log_path, local.pid_file)
    try:
        health = local.client_tls("etcd/healthcheck-client")
        serving = wait_serving(local.client_url, timeout=timeout, tls=health, exit_code=process.poll, log_path=log_path)
        asyncio.run(serving)
    except BaseException:
        stop_detached(local.pid_file)
        raise
    return process.pid


async def add_member(endpoints: Sequence[str], local: LocalEtcd) -> str:
    """MemberAdd ``local`` through the members at ``endpoints``; the ``--initial-cluster`` it must start with.

    A member already added with the same peer URL (a join that failed after this step) is not added twice.
    """
    from pinnace.storage.etcd_cluster import EtcdCluster

    cluster = EtcdCluster(endpoints, tls=local.client_tls())
    try:
        members = await cluster.members()
        if not any(local.peer_url in m.peer_urls for m in members):
            _, members = await cluster.add([local.peer_url])
    finally:
        await cluster.close()
    named = []
    for member in members:
        name = local.name if local.peer_url in member.peer_urls else member.name
        named += [f"{name}={url}" for url in member.peer_urls]
    return ",".join(named)


async def remove_member(local: LocalEtcd) -> list[str]:
    """Remove ``local``'s member from its cluster, through itself; the names of the members that remain.

    The last member is not removed (the cluster would be gone): [] is returned and nothing is changed.
    """
    from pinnace.storage.etcd_cluster import EtcdCluster

    cluster = EtcdCluster([local.client_url], tls=local.client_tls())
    try:
        members = await cluster.members()
        mine = [m for m in members if m.name == local.name or local.peer_url in m.peer_urls]
        if not mine or len(members) == 1:
            return []
        remaining = await cluster.remove(mine[0].id)
    finally:
        await cluster.close()
    return [m.name for m in remaining]


def stop_local(local: LocalEtcd) -> int | None:
    """Stop the member (its pid, or None if it did not run)."""
    return stop_detached(local.pid_file)
