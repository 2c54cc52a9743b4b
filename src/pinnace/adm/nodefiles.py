"""The files a node agent's data directory holds for ``adm join``, ``adm reset`` and ``pinnace node``.

``adm join`` writes the node's kubeconfig (kubeadm's ``kubelet.conf``) and the
agent's flags (``node.yaml``, kubeadm's ``kubeadm-flags.env``); the agent
records its pid (``node.pid``) so ``adm reset`` can stop it. The node agent
reads and writes these at every start, so this module imports nothing heavy:
:mod:`pinnace.adm.join` and :mod:`pinnace.adm.reset` bring in cryptography and
the init phases (~14 MB resident), which an agent whose certificates already
exist never needs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pinnace.cluster import pidfile

__all__ = [
    "NODE_FLAGS",
    "NODE_KUBECONFIG",
    "NODE_PID_FILE",
    "read_node_flags",
    "read_node_pid",
    "write_node_flags",
    "write_node_pid",
]

#: kubeadm's kubelet.conf, and the agent's saved flags (kubeadm's kubeadm-flags.env), in the node's data directory.
NODE_KUBECONFIG = "kubelet.conf"
NODE_FLAGS = "node.yaml"
#: The running node agent's pid, by which ``adm reset`` stops it.
NODE_PID_FILE = "node.pid"


def write_node_flags(data_dir: Path, flags: dict[str, Any]) -> None:
    """Save the agent options ``adm join`` was given, for ``pinnace node --data-dir`` to start the same agent."""
    import yaml

    (data_dir / NODE_FLAGS).write_text(yaml.safe_dump(flags, sort_keys=True))


def read_node_flags(data_dir: Path) -> dict[str, Any]:
    """The agent options ``adm join`` saved in a node's data directory ({} if none)."""
    try:
        text = (data_dir / NODE_FLAGS).read_text()
    except FileNotFoundError:
        return {}
    import yaml  # only a joined node has the file; the agents of `pinnace up` never load the YAML parser for it

    return dict(yaml.safe_load(text) or {})


def write_node_pid(data_dir: Path) -> None:
    """Record this process as the node agent of ``data_dir`` (``adm join`` calls it before it becomes the agent)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    pidfile.write(data_dir / NODE_PID_FILE, os.getpid())


def read_node_pid(data_dir: Path) -> int | None:
    """The pid the node agent of ``data_dir`` recorded, if that agent still runs (None when there is no readable
    record, or the pid is now another process's)."""
    info = pidfile.read(data_dir / NODE_PID_FILE)
    return None if info is None else int(info["pid"])
