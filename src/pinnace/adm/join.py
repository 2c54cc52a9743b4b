"""``pinnace adm join``'s steps before the node agent starts: discovery, TLS bootstrap, the node's files.

The phases of kubeadm's join for a worker, over a data directory:
``preflight`` (the data directory is not already a node's), ``discovery``
(token and CA pins, or a discovery file: :mod:`pinnace.adm.discovery`),
``kubelet-start`` (the TLS bootstrap: :mod:`pinnace.adm.tlsbootstrap`; the
node's kubeconfig ``kubelet.conf`` and its flags ``node.yaml`` are written, so
``pinnace node --data-dir DIR`` starts the same agent later). The caller then
runs the node agent in the foreground. :data:`PHASES` are what ``adm join
phase NAME`` runs alone: ``preflight``, or ``kubelet-start`` (the rest, as join).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pinnace.adm.discovery import DiscoveredCluster, discover_with_file, discover_with_token
from pinnace.adm.nodefiles import NODE_FLAGS, NODE_KUBECONFIG, write_node_flags
from pinnace.adm.tlsbootstrap import request_node_credentials, write_node_kubeconfig

__all__ = [
    "NODE_FLAGS",
    "NODE_KUBECONFIG",
    "PHASES",
    "JoinConfig",
    "JoinError",
    "discover",
    "join",
    "local_address_towards",
    "preflight",
]

#: join's phases for a worker, in order.
PHASES = ("preflight", "kubelet-start")


class JoinError(Exception):
    """Joining failed; the message says why."""


@dataclass
class JoinConfig:
    """What ``pinnace adm join`` was asked (kubeadm's JoinConfiguration, the parts a worker uses)."""

    data_dir: Path
    endpoint: str = ""
    token: str = ""
    ca_cert_hashes: Sequence[str] = ()
    unsafe_skip_ca_verification: bool = False
    discovery_file: str = ""
    tls_bootstrap_token: str = ""
    node_name: str = field(default_factory=lambda: socket.gethostname().lower())
    #: The node agent's options, saved for ``pinnace node --data-dir``.
    node_flags: dict[str, Any] = field(default_factory=dict)
    timeout: float = 300.0


def local_address_towards(endpoint: str) -> str:
    """This host's address on the route to ``endpoint`` (host:port): the node's InternalIP by default."""
    host, _, port = endpoint.removeprefix("https://").rpartition(":")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((host.strip("[]"), int(port or 443)))
            address: str = probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"
    return address


def preflight(config: JoinConfig) -> None:
    """The preflight phase: JoinError if this data directory is already a node's or the join is underspecified."""
    kubelet_conf = config.data_dir / NODE_KUBECONFIG
    if kubelet_conf.exists():
        raise JoinError(
            f"[preflight] {kubelet_conf} already exists: this data directory is already a node's. "
            f"Run `pinnace node --data-dir {config.data_dir}` to start it, or `pinnace adm reset` first"
        )
    if not config.discovery_file and not (config.endpoint and config.token):
        raise JoinError("give the API server endpoint and --token, or --discovery-file")


async def discover(config: JoinConfig) -> DiscoveredCluster:
    """The discovery phase: the cluster found and trusted by token and CA pins, or by the discovery file."""
    if config.discovery_file:
        return await discover_with_file(config.discovery_file)
    return await discover_with_token(
        config.endpoint,
        config.token,
        config.ca_cert_hashes,
        unsafe_skip_ca_verification=config.unsafe_skip_ca_verification,
    )


async def join(config: JoinConfig) -> Path:
    """Run preflight, discovery and the TLS bootstrap; the node's kubeconfig path (DiscoveryError/BootstrapError/
    JoinError on failure, each with a clear message)."""
    preflight(config)
    cluster = await discover(config)
    token = config.tls_bootstrap_token or config.token
    if not token:
        raise JoinError("the TLS bootstrap needs a token: give --token or --tls-bootstrap-token")
    creds = await request_node_credentials(cluster, token, config.node_name, timeout=config.timeout)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    path = config.data_dir / NODE_KUBECONFIG
    write_node_kubeconfig(path, cluster, config.node_name, creds)
    flags = {"node_name": config.node_name, **config.node_flags}
    if not flags.get("cluster_dns"):
        flags["cluster_dns"] = await cluster_dns_address(path)
    write_node_flags(config.data_dir, flags)
    return path


async def cluster_dns_address(kubeconfig: Path) -> str:
    """The cluster DNS the node's pods are to use (its kubelet's clusterDNS): the cluster IP of ``kube-system/kube-dns``
    as the node reads it, "" if the cluster has none (kubeadm takes it from the cluster's kubelet configuration,
    which names that address)."""
    from pinnace.api import errors
    from pinnace.client import load_client_config
    from pinnace.client.rest import ResourceRef

    async with load_client_config(str(kubeconfig)).rest_client() as rest:
        try:
            service = await rest.get(ResourceRef("", "v1", "services"), "kube-dns", "kube-system")
        except (errors.NotFound, errors.Forbidden):
            return ""
    address = str((service.get("spec") or {}).get("clusterIP") or "")
    return "" if address == "None" else address
