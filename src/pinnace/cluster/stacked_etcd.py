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
the running cluster as a learner (MemberAdd, with its peer URL), starts it with
``--initial-cluster-state existing`` and promotes it to a voter once it has
caught up, as kubeadm's EtcdLearnerMode does (a member that fails to start is
removed again, so the cluster keeps its quorum); its API server then talks to
that local member. ``adm reset`` removes the member from the cluster (unless it is the
last) before stopping it and deleting its data. The client URLs of the members
are kept in the ``kubeadm-config`` ConfigMap (key ``EtcdEndpoints``), where a
joining control plane, holding only a bootstrap token, can read them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
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
    "forget_member",
    "promote_member",
    "remove_member",
    "start_local",
    "stop_local",
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


def start_local(
    local: LocalEtcd,
    *,
    initial_cluster: str = "",
    state: str = "new",
    timeout: float = 30.0,
    learner_of: Sequence[str] = (),
) -> int:
    """Start the member detached (unless it runs) and wait until it serves; its pid. RuntimeError if it does not.

    ``learner_of``: the member joins as a learner through these endpoints (see :func:`add_member`); it is promoted
    to a voter once in sync before it is waited for (a learner serves no linearizable reads), and if it fails, it is
    stopped and removed from the membership again, so the cluster is as it was.
    """
    running = local.running()
    if running is not None:
        return running
    (local.data_dir / DATA_SUBDIR).mkdir(parents=True, exist_ok=True, mode=0o700)
    log_path = local.data_dir / LOG_FILE
    process = start_detached(local.spec(initial_cluster, state), log_path, local.pid_file)

    async def ready() -> None:
        if learner_of:
            await promote_member(learner_of, local, timeout=timeout, exit_code=process.poll, log_path=log_path)
        health = local.client_tls("etcd/healthcheck-client")
        await wait_serving(local.client_url, timeout=timeout, tls=health, exit_code=process.poll, log_path=log_path)

    try:
        asyncio.run(ready())
    except BaseException:
        stop_detached(local.pid_file)
        if learner_of:
            asyncio.run(forget_member(learner_of, local))
        raise
    return process.pid


async def add_member(endpoints: Sequence[str], local: LocalEtcd) -> str:
    """MemberAdd ``local`` as a learner through the members at ``endpoints``; the ``--initial-cluster`` it must
    start with. A member already added with the same peer URL (a join that failed after this step) is not added
    twice. After it starts, :func:`promote_member` makes it a voter."""
    from pinnace.storage.etcd_cluster import EtcdCluster

    cluster = EtcdCluster(endpoints, tls=local.client_tls())
    try:
        members = await cluster.members()
        if not any(local.peer_url in m.peer_urls for m in members):
            _, members = await cluster.add([local.peer_url], learner=True)
    finally:
        await cluster.close()
    named = []
    for member in members:
        name = local.name if local.peer_url in member.peer_urls else member.name
        named += [f"{name}={url}" for url in member.peer_urls]
    return ",".join(named)


async def promote_member(
    endpoints: Sequence[str],
    local: LocalEtcd,
    *,
    timeout: float = 30.0,
    exit_code: Callable[[], int | None] | None = None,
    log_path: Path | None = None,
) -> None:
    """Promote ``local``'s learner to a voting member once it has caught up with the leader (etcd refuses before);
    RuntimeError if its process exits (``exit_code``, as :func:`~pinnace.cluster.etcd_member.wait_serving`) or the
    time runs out."""
    from pinnace.storage.etcd_cluster import EtcdCluster

    cluster = EtcdCluster(endpoints, tls=local.client_tls())
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        while True:
            code = exit_code() if exit_code is not None else None
            if code is not None:
                where = f"; see {log_path}" if log_path else ""
                raise RuntimeError(f"etcd member {local.name} exited with {code}{where}")
            member = next((m for m in await cluster.members() if local.peer_url in m.peer_urls), None)
            if member is None:
                raise RuntimeError(f"the etcd member {local.name} ({local.peer_url}) is not in the cluster")
            if not member.is_learner:
                return
            try:
                await cluster.promote(member.id)
                return
            except RuntimeError:  # not yet in sync with the leader
                if asyncio.get_running_loop().time() > deadline:
                    raise
            await asyncio.sleep(0.2)
    finally:
        await cluster.close()


async def forget_member(endpoints: Sequence[str], local: LocalEtcd) -> None:
    """Remove ``local``'s member through the other members (a join that added it but could not start it)."""
    from pinnace.storage.etcd_cluster import EtcdCluster

    cluster = EtcdCluster(endpoints, tls=local.client_tls())
    try:
        for member in await cluster.members():
            if local.peer_url in member.peer_urls:
                await cluster.remove(member.id)
    finally:
        await cluster.close()


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
