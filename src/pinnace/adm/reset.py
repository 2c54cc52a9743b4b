"""``pinnace adm reset``: undo what ``adm init`` or ``adm join`` did on this host.

kubeadm reset's phases, over a data directory:

- ``preflight``: says what will be reset (the prompt itself is the command's);
- ``remove-etcd-member``: with stacked etcd (:mod:`pinnace.cluster.stacked_etcd`), this
  node's member leaves the etcd cluster (MemberRemove; not the last member,
  which is the cluster) and its URL leaves ``kubeadm-config``; the member is
  stopped and its data goes with cleanup-node. Without it the store is the
  SQLite file in the data directory, removed with the rest; an external etcd
  is the user's to clean (kubeadm says the same of an external etcd);
- ``cleanup-node``: on a node, delete its Node object (with ``--kubeconfig``,
  an admin's: upstream's RBAC does not let a node delete its Node); stop the processes Pinnace started
  here — the control plane by ``pinnace.pid``, a stacked etcd member by ``etcd.pid`` and a joined node agent by
  ``node.pid`` (SIGTERM to those pids only, nothing found by name); then remove
  the PKI, the kubeconfigs, the store, the node state and init's configuration.

What is not removed, as with kubeadm: the user's own kubeconfig (a merged
``pinnace`` context stays until they remove it), the image store and logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pinnace.adm.init import CONFIG_FILE, load_plan
from pinnace.adm.nodefiles import NODE_PID_FILE, read_node_flags, read_node_pid
from pinnace.api import errors
from pinnace.client.rest import ResourceRef
from pinnace.cluster.ingress import MARKER as INGRESS_CLASS_MARKER
from pinnace.cluster.netslot import NETWORK_FILE
from pinnace.cluster.storageclass import MARKER as STORAGE_CLASS_MARKER

__all__ = [
    "NODE_PID_FILE",
    "PHASES",
    "REMOVED",
    "ResetResult",
    "cleanup_node",
    "delete_own_node",
    "stop_node_agent",
]

#: reset's phases, in order.
PHASES = ("preflight", "remove-etcd-member", "cleanup-node")
#: What reset removes from the data directory (kubeadm: /etc/kubernetes/{pki,*.conf,manifests}, /var/lib/kubelet,
#: /var/lib/etcd); the files ``pinnace up`` writes in the same roles.
REMOVED = (
    "pki",
    "admin.conf",
    "super-admin.conf",
    "controller-manager.conf",
    "scheduler.conf",
    "kubelet.conf",
    "kubeconfig",
    "node.yaml",
    "nodes",
    "pods",
    "runtime",
    "store.db",
    "store.db-wal",
    "store.db-shm",
    "store.db.lock",  # the store's writer lock (storage.sqlite_lock)
    "sa.key",
    "encryption-config.yaml",
    CONFIG_FILE,
    "kubeadm-nodes.yaml",
    "etcd",
    NETWORK_FILE,
    STORAGE_CLASS_MARKER,  # a reset data dir is a new cluster: it gets the default StorageClass again
    INGRESS_CLASS_MARKER,  # and the default IngressClass
)
NODES = ResourceRef("", "v1", "nodes", namespaced=False)


@dataclass
class ResetResult:
    """What cleanup-node did."""

    stopped: list[str]
    removed: list[Path]
    node_deleted: str | None = None


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it has stopped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def stop_node_agent(data_dir: Path, timeout: float = 20.0) -> int | None:
    """SIGTERM the node agent recorded in ``node.pid`` and wait for it; its pid, or None if none ran."""
    pid = read_node_pid(data_dir)
    if pid is None or not _alive(pid):
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the node agent (pid {pid}) did not stop within {timeout:.0f}s")
        time.sleep(0.05)
    return pid


async def delete_own_node(kubeconfig: Path, node_name: str) -> str | None:
    """Delete the Node ``node_name`` with the node's own credentials; None when done, else why it could not."""
    from pinnace.client.config import load_client_config
    from pinnace.client.exceptions import ConfigError

    try:
        rest = load_client_config(kubeconfig).rest_client()
    except (ConfigError, OSError, ValueError) as exc:
        return str(exc)
    try:
        await asyncio.wait_for(rest.delete(NODES, node_name), timeout=10)
    except errors.NotFound:
        return None
    except (errors.StatusError, OSError, TimeoutError) as exc:
        return str(exc) or type(exc).__name__
    finally:
        await rest.close()
    return None


def _node_name(data_dir: Path) -> str | None:
    name = read_node_flags(data_dir).get("node_name")
    return str(name) if name else None


def cleanup_node(
    data_dir: Path, announce: Callable[[str], None] = print, *, kubeconfig: Path | None = None
) -> ResetResult:
    """kubeadm reset's cleanup-node: delete this node's Node, stop what Pinnace started here, remove its files.

    The Node is deleted with ``kubeconfig`` when given (an admin's), else with the node's own credentials, which
    upstream's RBAC does not let delete Nodes: then the warning says to delete it from the control plane.
    """
    from pinnace.cluster import daemon
    from pinnace.cluster.etcd_member import stop_detached  # the etcd client (gRPC) only here: not in every node agent
    from pinnace.cluster.stacked_etcd import PID_FILE as ETCD_PID_FILE

    result = ResetResult(stopped=[], removed=[])
    name = _node_name(data_dir)
    kubelet_conf = data_dir / "kubelet.conf"
    if name and kubelet_conf.exists():
        failed = asyncio.run(delete_own_node(kubeconfig or kubelet_conf, name))
        if failed is None:
            result.node_deleted = name
            announce(f'[reset] Deleted the Node "{name}" from the cluster')
        else:
            announce(
                f'[reset] WARNING: could not delete the Node "{name}" ({failed}); run `kubectl delete node {name}` '
                "on the control plane, or reset with an admin's --kubeconfig"
            )
    pid = stop_node_agent(data_dir)
    if pid is not None:
        result.stopped.append(f"node agent (pid {pid})")
        announce(f"[reset] Stopped the node agent (pid {pid})")
    running = daemon.stop(data_dir)
    if running is not None:
        result.stopped.append(f"control plane (pid {running.pid})")
        announce(f"[reset] Stopped the control plane (pid {running.pid}, {running.url})")
    etcd_pid = stop_detached(data_dir / ETCD_PID_FILE)
    if etcd_pid is not None:
        result.stopped.append(f"etcd member (pid {etcd_pid})")
        announce(f"[reset] Stopped the local etcd member (pid {etcd_pid})")
    for rel in (*REMOVED, NODE_PID_FILE, daemon.PID_FILE):
        path = data_dir / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        result.removed.append(path)
        announce(f"[reset] Deleted {path}")
    with contextlib.suppress(OSError):
        if data_dir.is_dir() and not any(data_dir.iterdir()):
            data_dir.rmdir()
    return result


def remove_etcd_member(data_dir: Path, announce: Callable[[str], None] = print) -> bool:
    """The remove-etcd-member phase for stacked etcd: this node's member leaves its cluster (unless it is the last)
    and the kubeadm-config list, then stops. False when this host has no stacked etcd member."""
    from pinnace.adm.init import with_admin_client
    from pinnace.adm.kubeadmconfig import record_etcd_endpoint
    from pinnace.cluster.stacked_etcd import remove_member, stop_local

    plan = load_plan(data_dir)
    if plan is None or not plan.stacked_etcd:
        return False
    local = plan.local_etcd()
    if local.running() is None:
        announce(f"[reset] The local etcd member {local.name} does not run: it cannot be removed from its cluster")
        return True
    try:  # first, while this member still serves the API server the admin kubeconfig may name
        asyncio.run(with_admin_client(plan, lambda rest: record_etcd_endpoint(rest, local.client_url, remove=True)))
    except Exception as exc:  # the cluster may be unreachable from here: say so, and go on removing the member
        announce(f"[reset] WARNING: could not update kubeadm-config's etcd endpoints: {exc}")
    try:
        remaining = asyncio.run(remove_member(local))
    except RuntimeError as exc:
        announce(f"[reset] WARNING: could not remove the etcd member {local.name}: {exc}")
    else:
        if remaining:
            announce(f"[reset] Removed the etcd member {local.name}; members left: {', '.join(remaining)}")
        else:
            announce(f"[reset] {local.name} is the last etcd member: the etcd cluster ends with it")
    pid = stop_local(local)
    if pid is not None:
        announce(f"[reset] Stopped the local etcd member (pid {pid})")
    return True


NOTE = """The reset process does not clean your kubeconfig files: a "pinnace" context merged into
$HOME/.kube/config stays until you remove it (kubectl config delete-context pinnace).
The node's image store and the cluster's log (pinnace.log) are kept."""
