"""``pinnace adm reset``: undo what ``adm init`` or ``adm join`` did on this host.

kubeadm reset's phases, over a data directory:

- ``preflight``: says what will be reset (the prompt itself is the command's);
- ``remove-etcd-member``: Pinnace's stacked store is the SQLite file in the
  data directory, removed with the rest; an external etcd is the user's to
  clean (kubeadm says the same of an external etcd);
- ``cleanup-node``: on a node, delete its Node object (with ``--kubeconfig``,
  an admin's: upstream's RBAC does not let a node delete its Node); stop the processes Pinnace started
  here — the control plane by ``pinnace.pid`` and a joined node agent by
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

import orjson

from pinnace.adm.init import CONFIG_FILE
from pinnace.api import errors
from pinnace.client.rest import ResourceRef

__all__ = [
    "NODE_PID_FILE",
    "PHASES",
    "REMOVED",
    "ResetResult",
    "cleanup_node",
    "delete_own_node",
    "stop_node_agent",
    "write_node_pid",
]

#: reset's phases, in order.
PHASES = ("preflight", "remove-etcd-member", "cleanup-node")
#: The pid of the node agent ``adm join`` runs (it replaces the join process, so the pid is the agent's).
NODE_PID_FILE = "node.pid"
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
    "sa.key",
    "encryption-config.yaml",
    CONFIG_FILE,
    "kubeadm-nodes.yaml",
)
NODES = ResourceRef("", "v1", "nodes", namespaced=False)


@dataclass
class ResetResult:
    """What cleanup-node did."""

    stopped: list[str]
    removed: list[Path]
    node_deleted: str | None = None


def write_node_pid(data_dir: Path) -> None:
    """Record this process as the node agent of ``data_dir`` (``adm join`` calls it before it becomes the agent)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / NODE_PID_FILE).write_bytes(orjson.dumps({"pid": os.getpid()}))


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it has stopped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def stop_node_agent(data_dir: Path, timeout: float = 20.0) -> int | None:
    """SIGTERM the node agent recorded in ``node.pid`` and wait for it; its pid, or None if none ran."""
    try:
        pid = int(orjson.loads((data_dir / NODE_PID_FILE).read_bytes())["pid"])
    except (FileNotFoundError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
    if not _alive(pid):
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
    from pinnace.adm.join import read_node_flags

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


NOTE = """The reset process does not clean your kubeconfig files: a "pinnace" context merged into
$HOME/.kube/config stays until you remove it (kubectl config delete-context pinnace).
The node's image store and the cluster's log (pinnace.log) are kept."""
