"""The node agents ``pinnace up`` runs: N nodes on one machine (the kind idea), each a supervised child.

:class:`NodesConfig` says which nodes (``pinnace up --nodes N --runtime R``, or
a kind-like ``--config cluster.yaml``, see :func:`load_cluster_config`);
:class:`NodeLauncher` starts one node agent process per node (``pinnace node``'s
body, by the lean entry point :mod:`pinnace.cluster.node_main`), each with
its own data directory (``DATA_DIR/nodes/<name>``), its own kubeconfig
(``DATA_DIR/nodes/<name>/kubelet.conf``: the node's ``system:node:<name>``
client certificate when the cluster has a PKI, else a plain one), its own
address and kubelet port — supervised as the controller manager is (restart
with backoff, gone with the cluster), and stopped with its containers when the
cluster stops.

Node names: ``node-0`` … ``node-{N-1}``; with a config file, a node may be
named, and a ``control-plane`` role node is ``control-plane`` (then
``control-plane-1`` …), labelled ``node-role.kubernetes.io/control-plane`` and,
when there are workers, tainted ``NoSchedule`` as kind does. Labels that
NodeRestriction keeps a kubelet from setting on itself (that one, and any other
``kubernetes.io`` label outside the kubelet's set) are not passed to the agent:
the launcher sets them as the admin once the node has registered, as kubeadm's
mark-control-plane phase does.

Where a node lives is a :class:`NodePlacer`'s call. :class:`LoopbackPlacer`
(the default, no root needed) puts node *i* on ``127.0.0.(i+2)`` with a free
kubelet port on that address: process pods share their node's address, so
that is their pod IP. Another placer (network namespaces on a bridge, for the
``oci`` runtime as root) returns, per node, the address, the pod CIDR, the API
URL the node reaches the server at, and the command prefix that runs the agent
inside the node's namespace (``ip netns exec <ns>``); the launcher does the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from pinnace.cluster.node_main import NodeOptions, node_argv
from pinnace.cluster.ports import free_port
from pinnace.cluster.supervisor import SupervisedProcess
from pinnace.node.kubeletcert import ensure_serving_cert

if TYPE_CHECKING:
    from pinnace.client.rest import RestClient

__all__ = [
    "LoopbackPlacer",
    "NodeLauncher",
    "NodePlacement",
    "NodePlacer",
    "NodeSpec",
    "NodesConfig",
    "forbidden_labels",
    "load_cluster_config",
    "write_node_kubeconfig",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
RUNTIMES = ("process", "oci")
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"


def forbidden_labels(labels: dict[str, str]) -> list[str]:
    """The labels NodeRestriction keeps a kubelet from setting on itself (the launcher sets them as the admin)."""
    from pinnace.apiserver.admission.noderestriction import forbidden_labels as refused

    return refused(labels)


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One node to run."""

    name: str
    role: str = "worker"
    runtime: str = "process"
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Obj, ...] = ()


@dataclass(frozen=True, slots=True)
class NodesConfig:
    """The nodes of a local cluster, and how their agents run."""

    nodes: tuple[NodeSpec, ...] = ()
    #: CrashLoopBackOff's first back-off for every agent (upstream 10 s).
    backoff_base: float = 10.0
    #: Node Lease renewal period (upstream 10 s).
    heartbeat_interval: float = 10.0

    @classmethod
    def count(cls, n: int, runtime: str = "process") -> NodesConfig:
        """``n`` worker nodes ``node-0`` … on ``runtime``."""
        _check_runtime(runtime)
        return cls(tuple(NodeSpec(f"node-{i}", runtime=runtime) for i in range(n)))

    def arguments(self, config_file: Path | None) -> list[str]:
        """How ``pinnace up`` passes this on to a detached server (its --nodes/--runtime/--config flags)."""
        if config_file is not None:
            return [f"--config={config_file}"]
        runtime = self.nodes[0].runtime if self.nodes else "process"
        return [f"--nodes={len(self.nodes)}", f"--runtime={runtime}"]


def _check_runtime(runtime: str) -> None:
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; known: {', '.join(RUNTIMES)}")


def _taint(raw: Any) -> Obj:
    if isinstance(raw, str):
        from pinnace.node.agent.registration import parse_taints  # one parser for the flag syntax

        [taint] = parse_taints(raw)
        return taint
    if (
        not isinstance(raw, dict)
        or not raw.get("key")
        or raw.get("effect")
        not in (
            "NoSchedule",
            "PreferNoSchedule",
            "NoExecute",
        )
    ):
        raise ValueError(f"invalid taint {raw!r}: want {{key, value?, effect}} or 'key=value:Effect'")
    return {k: raw[k] for k in ("key", "value", "effect") if raw.get(k) is not None}


def load_cluster_config(path: Path, default_runtime: str = "process") -> NodesConfig:
    """A kind-like cluster description: ``nodes: [{role, name?, labels, taints, runtime, count?}]``.

    ``role`` is ``control-plane`` or ``worker`` (default); ``count`` repeats an
    entry; ``runtime`` defaults to ``default_runtime``. ``kind``/``apiVersion``
    are accepted and ignored, so a kind config with ``nodes:`` works as is.
    ValueError says what is wrong.
    """
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    entries = doc.get("nodes") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: want a mapping with a 'nodes' list")
    raw_nodes: list[tuple[dict[str, Any], str]] = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: each node must be a mapping, not {entry!r}")
        role = str(entry.get("role") or "worker")
        if role not in ("control-plane", "worker"):
            raise ValueError(f"{path}: role must be control-plane or worker, not {role!r}")
        raw_nodes += [(entry, role)] * int(entry.get("count") or 1)
    has_workers = any(role == "worker" for _, role in raw_nodes)
    specs: list[NodeSpec] = []
    counters = {"control-plane": 0, "worker": 0}
    for entry, role in raw_nodes:
        runtime = str(entry.get("runtime") or default_runtime)
        _check_runtime(runtime)
        labels = {str(k): str(v) for k, v in (entry.get("labels") or {}).items()}
        taints = [_taint(t) for t in entry.get("taints") or []]
        index = counters[role]
        counters[role] += 1
        if role == "control-plane":
            name = entry.get("name") or ("control-plane" if index == 0 else f"control-plane-{index}")
            labels.setdefault(CONTROL_PLANE_LABEL, "")
            if has_workers and not any(t["key"] == CONTROL_PLANE_LABEL for t in taints):
                taints.append({"key": CONTROL_PLANE_LABEL, "effect": "NoSchedule"})
        else:
            name = entry.get("name") or f"node-{index}"
        if entry.get("name") and int(entry.get("count") or 1) > 1:
            name = f"{entry['name']}-{index}"
        specs.append(NodeSpec(str(name), role, runtime, labels, tuple(taints)))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: node names repeat: {names}")
    return NodesConfig(tuple(specs))


@dataclass(frozen=True, slots=True)
class NodePlacement:
    """Where one node's agent runs and how it is reached."""

    #: The node's InternalIP.
    address: str
    #: The kubelet API port (0: a free port on ``address``, chosen by the launcher).
    kubelet_port: int = 0
    #: The node's pod CIDR ("" for none: process pods use the node's address).
    pod_cidr: str = ""
    #: The API server URL as the node reaches it (None: the cluster's own URL).
    api_url: str | None = None
    #: A command prefix that runs the agent where the node lives (``["ip", "netns", "exec", "ns1"]``).
    exec_prefix: tuple[str, ...] = ()
    #: The service proxy's iptables chain prefix where the node shares its network namespace with other clusters'
    #: nodes ("": upstream's ``KUBE-``).
    proxy_chain_prefix: str = ""
    #: The CIDRs its NodePorts answer on there (kube-proxy's --nodeport-addresses, comma-separated; "": every local
    #: address).
    nodeport_addresses: str = ""


class NodePlacer(Protocol):
    """Decides where nodes live (and sets up and tears down what that needs)."""

    async def place(self, nodes: Sequence[NodeSpec]) -> list[NodePlacement]:
        """One placement per node, in order."""

    async def release(self) -> None:
        """Undo what :meth:`place` set up (the cluster is stopping)."""


class LoopbackPlacer:
    """Nodes as processes on loopback: node *i* at ``base + 1 + i`` (``127.0.0.(i+2)``), each with a free kubelet
    port; they share the host's network namespace, so their service proxies use ``chain_prefix``'s chains (another
    cluster on the host has other addresses and chains, :mod:`pinnace.cluster.netslot`)."""

    def __init__(self, base: str = "127.0.0.1", *, chain_prefix: str = "KUBE-") -> None:
        self.base = ipaddress.ip_address(base)
        self.chain_prefix = chain_prefix

    async def place(self, nodes: Sequence[NodeSpec]) -> list[NodePlacement]:
        """Addresses in order, and a free port on each."""
        out = []
        # A second cluster on the host: chains of its own, and NodePorts on its own loopback addresses only (its nodes'
        # InternalIPs), not on every local address as the first cluster's.
        prefix = "" if self.chain_prefix == "KUBE-" else self.chain_prefix
        own = str(ipaddress.ip_network(f"{self.base}/24", strict=False)) if prefix else ""
        for i in range(len(nodes)):
            address = str(self.base + i + 1)
            out.append(NodePlacement(address=address, kubelet_port=free_port(address), proxy_chain_prefix=prefix,
                                     nodeport_addresses=own))  # fmt: skip
        return out

    async def release(self) -> None:
        """Nothing to undo."""


def write_node_kubeconfig(path: Path, data_dir: Path, node: str, api_url: str) -> None:
    """The node's kubeconfig: ``system:node:<node>`` with a client certificate of the cluster CA when there is one."""
    from pinnace.client import kubeconfig

    ca_crt, ca_key = data_dir / "pki" / "ca.crt", data_dir / "pki" / "ca.key"
    if api_url.startswith("https://") and ca_crt.exists() and ca_key.exists():
        from pinnace.adm.kubeconfigs import node_identity, write_kubeconfig
        from pinnace.adm.pki import PKI, load_pair

        ca = load_pair(ca_crt, ca_key)
        if ca is None:
            raise ValueError(f"cannot load the cluster CA from {ca_crt}")
        front = load_pair(data_dir / "pki" / "front-proxy-ca.crt", data_dir / "pki" / "front-proxy-ca.key") or ca
        write_kubeconfig(path, PKI(data_dir / "pki", ca, front), api_url, node_identity(node))
        return
    kubeconfig.write(path, kubeconfig.build("pinnace", api_url))


def _heartbeat(node: Obj) -> datetime:
    """When the node's agent last reported it (its Ready condition's lastHeartbeatTime; the epoch if never)."""
    from pinnace.api.printers._common import parse_time

    for condition in (node.get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return parse_time(condition.get("lastHeartbeatTime")) or _EPOCH
    return _EPOCH


_EPOCH = datetime.fromtimestamp(0, UTC)


class NodeLauncher:
    """Starts, supervises and stops the node agents of a local cluster (see the module docstring)."""

    def __init__(
        self,
        config: NodesConfig,
        data_dir: Path,
        api_url: str,
        *,
        placer: NodePlacer | None = None,
        log_level: str | None = None,
        cluster_dns: str = "",
        cluster_domain: str = "",
    ) -> None:
        self.config = config
        #: The kubelets' --cluster-dns and --cluster-domain ("": none, and cluster.local).
        self.cluster_dns = cluster_dns
        self.cluster_domain = cluster_domain
        self.data_dir = data_dir
        self.api_url = api_url
        self.placer: NodePlacer = placer or LoopbackPlacer()
        self.log_level = log_level or logging.getLevelName(logging.getLogger().getEffectiveLevel())
        self.processes: dict[str, SupervisedProcess] = {}
        self.placements: dict[str, NodePlacement] = {}
        self._started = datetime.now(UTC)  # set again when the agents start
        self._tasks: list[asyncio.Task[None]] = []

    def node_dir(self, name: str) -> Path:
        """A node's data directory."""
        return self.data_dir / "nodes" / name

    def options(self, spec: NodeSpec, place: NodePlacement) -> NodeOptions:
        """One node's agent options (``pinnace node``'s flags)."""
        own = {k: v for k, v in spec.labels.items() if k not in forbidden_labels(dict(spec.labels))}
        return NodeOptions(
            data_dir=str(self.node_dir(spec.name)),
            node_name=spec.name,
            runtime=spec.runtime,
            node_ip=place.address,
            kubelet_port=place.kubelet_port or free_port(place.address),
            pod_cidr=place.pod_cidr,
            node_labels=",".join(f"{k}={v}" for k, v in own.items()),
            register_with_taints=",".join(
                f"{t['key']}{'=' + str(t['value']) if t.get('value') else ''}:{t['effect']}" for t in spec.taints
            ),
            backoff_base=self.config.backoff_base,
            heartbeat_interval=self.config.heartbeat_interval,
            stop_pods_on_exit=True,
            proxy_chain_prefix=place.proxy_chain_prefix,
            nodeport_addresses=place.nodeport_addresses,
            cluster_dns=self.cluster_dns,
            cluster_domain=self.cluster_domain,
        )

    def argv(self, spec: NodeSpec, place: NodePlacement, kubeconfig_path: Path) -> list[str]:
        """The command that runs one node's agent: :mod:`pinnace.cluster.node_main`, where the node lives."""
        return [*place.exec_prefix, *node_argv(str(kubeconfig_path), self.log_level, self.options(spec, place))]

    async def start(self) -> None:
        """Place the nodes, write their kubeconfigs and start their agents (they register on their own)."""
        if not self.config.nodes:
            return
        self._started = datetime.now(UTC).replace(microsecond=0)  # heartbeats are in whole seconds
        placements = await self.placer.place(self.config.nodes)
        for spec, place in zip(self.config.nodes, placements, strict=True):
            node_dir = self.node_dir(spec.name)
            node_dir.mkdir(parents=True, exist_ok=True)
            kubeconfig_path = node_dir / "kubelet.conf"
            await asyncio.to_thread(
                write_node_kubeconfig, kubeconfig_path, self.data_dir, spec.name, place.api_url or self.api_url
            )
            # The kubelet's self-signed serving certificate, made here where cryptography is loaded anyway: the
            # agent finds it usable and never loads cryptography itself (~14 MB less per node).
            await asyncio.to_thread(ensure_serving_cert, node_dir / "pki", spec.name, [place.address])
            proc = SupervisedProcess(f"node agent {spec.name}", self.argv(spec, place, kubeconfig_path))
            proc.start()
            self.processes[spec.name] = proc
            self.placements[spec.name] = place
            self._tasks.append(asyncio.create_task(proc.supervise(), name=f"node agent {spec.name}"))
            marked = {k: spec.labels[k] for k in forbidden_labels(dict(spec.labels))}
            if marked:
                self._tasks.append(asyncio.create_task(self._mark(spec.name, marked), name=f"mark {spec.name}"))
        log.info("started %d node agent(s): %s", len(self.processes), ", ".join(self.processes))

    def _admin_client(self) -> RestClient:
        """A client of the API as the cluster admin (the agents' own credentials are theirs)."""
        from pinnace.client import load_client_config
        from pinnace.client.rest import RestClient

        admin = self.data_dir / "admin.conf"
        return load_client_config(str(admin)).rest_client() if admin.exists() else RestClient(self.api_url)

    async def wait_registered(self, timeout: float) -> list[str]:
        """Wait until every agent has registered its Node since it started (a heartbeat from this start, not the
        last one's: its kubelet API listens by then), so that ``kubectl get nodes`` and ``kubectl logs`` right after
        ``pinnace up`` work (as after ``kind create cluster``); the names still missing when ``timeout`` runs out."""
        from pinnace.api import errors
        from pinnace.client.rest import ResourceRef

        missing = list(self.processes)
        if not missing:
            return []
        nodes = ResourceRef("", "v1", "nodes", namespaced=False)
        rest = self._admin_client()
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    listed = await rest.list(nodes)
                    fresh = {
                        (item.get("metadata") or {}).get("name")
                        for item in listed.get("items") or []
                        if _heartbeat(item) >= self._started
                    }
                    missing = [name for name in self.processes if name not in fresh]
                except (errors.StatusError, OSError) as exc:
                    log.debug("waiting for the nodes to register: %s", exc)
                if not missing or time.monotonic() >= deadline:
                    return missing
                await asyncio.sleep(0.05)
        finally:
            await rest.close()

    async def _mark(self, name: str, labels: dict[str, str]) -> None:
        """Set, once the node has registered, the labels NodeRestriction keeps a kubelet from setting on itself
        (``node-role.kubernetes.io/control-plane`` …) — as kubeadm's mark-control-plane phase does, as the admin."""
        from pinnace.api import errors
        from pinnace.client.rest import ResourceRef

        nodes = ResourceRef("", "v1", "nodes", namespaced=False)
        rest = self._admin_client()
        try:
            while True:
                try:
                    await rest.patch(nodes, name, {"metadata": {"labels": labels}})
                    log.info("node %s: labelled %s", name, ", ".join(sorted(labels)))
                    return
                except errors.NotFound:
                    await asyncio.sleep(0.05)  # not registered yet
                except (errors.StatusError, OSError) as exc:
                    log.warning("node %s: cannot set its labels %s yet: %s", name, ", ".join(sorted(labels)), exc)
                    await asyncio.sleep(1.0)
        finally:
            await rest.close()

    async def stop(self) -> None:
        """Stop every agent (each stops its containers first), then release the placements."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await asyncio.gather(*(asyncio.to_thread(p.stop, 20.0) for p in self.processes.values()))
        self.processes.clear()
        if self.placements:
            await self.placer.release()
            self.placements.clear()
