"""Nodes in network namespaces of their own on one host (the kind idea), routed as flannel's host-gw.

With root and the ``oci`` runtime, ``pinnace up --nodes N`` gives every node
agent a network of its own: a namespace ``<bridge>-<node>`` whose ``eth0`` is
a veth on a host bridge (``pinnace0``, ``172.18.0.0/16`` like kind's network;
the host — and the API server — is ``172.18.0.1``). Each node gets a podCIDR
from the cluster CIDR (``10.244.<i>.0/24``); its agent runs the CNI bridge for
its pods inside its namespace. host-gw routing: each node namespace routes
every other node's podCIDR via that node's address, and the host routes every
podCIDR the same way, so pod-to-pod traffic crosses nodes with pod addresses
intact (pods' traffic to the cluster CIDR is exempt from the bridge plugin's
masquerading, as flannel exempts it).

The podCIDR is assigned here, by the composition that starts the nodes (the
node IPAM controller's job, done once at start): the launcher hands it to each
agent, which sets it on its Node at registration and writes its conflist.

Everything is torn down by :meth:`ClusterNetwork.teardown`; :meth:`setup`
first removes what a crashed run with the same bridge left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pinnace.cluster.netslot import NetworkSlot, network_slot
from pinnace.cluster.nodes import LoopbackPlacer, NodePlacement, NodePlacer, NodeSpec
from pinnace.node.oci.netns import socket_in

log = logging.getLogger(__name__)
NETNS_DIR = "/run/netns"


class NodeNetworkError(RuntimeError):
    """The host network for the nodes could not be set up (the message says which command failed)."""


@dataclass(frozen=True, slots=True)
class NodeNetwork:
    """One node's place on the host network."""

    node: str
    netns: str
    address: str
    pod_cidr: str

    @property
    def netns_path(self) -> str:
        """The namespace's path (``/run/netns/<name>``)."""
        return os.path.join(NETNS_DIR, self.netns)

    def exec_prefix(self) -> list[str]:
        """argv prefix that runs a command in this node's network (only: the filesystem stays the host's)."""
        return ["nsenter", f"--net={self.netns_path}", "--"]


async def _run(*argv: str, check: bool = True) -> str:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if check and proc.returncode != 0:
        raise NodeNetworkError(f"{' '.join(argv)}: {err.decode(errors='replace').strip()}")
    return out.decode()


class ClusterNetwork:
    """The host bridge, a namespace per node with its address and podCIDR, and the host-gw routes."""

    def __init__(
        self,
        *,
        bridge: str = "pinnace0",
        subnet: str = "172.18.0.0/16",
        cluster_cidr: str = "10.244.0.0/16",
        node_prefix_length: int = 24,
    ) -> None:
        if len(bridge) > 11:
            raise ValueError(f"bridge name {bridge!r} is too long (at most 11 characters, veths add 4)")
        self.bridge = bridge
        self.subnet = ipaddress.ip_network(subnet)
        self.cluster_cidr = ipaddress.ip_network(cluster_cidr)
        self.node_prefix_length = node_prefix_length
        self.nodes: list[NodeNetwork] = []
        self._forwarders: list[asyncio.Server] = []

    @property
    def host_address(self) -> str:
        """The host's address on the bridge: where nodes reach the API server."""
        return str(self.subnet.network_address + 1)

    def plan(self, node_names: Sequence[str]) -> list[NodeNetwork]:
        """Addresses and podCIDRs for the nodes, in order (node i: host+1+i, the i-th /24 of the cluster CIDR)."""
        pod_cidrs = self.cluster_cidr.subnets(new_prefix=self.node_prefix_length)
        return [
            NodeNetwork(node=name, netns=f"{self.bridge}-{index}", address=str(self.subnet.network_address + 2 + index),
                        pod_cidr=str(next(pod_cidrs)))
            for index, name in enumerate(node_names)
        ]  # fmt: skip

    async def setup(self, node_names: Sequence[str]) -> list[NodeNetwork]:
        """Create the bridge, the node namespaces and the routes (after cleaning up a crashed run's)."""
        await self.cleanup_stale()
        prefix = self.subnet.prefixlen
        await _run("ip", "link", "add", self.bridge, "type", "bridge")
        await _run("ip", "addr", "add", f"{self.host_address}/{prefix}", "dev", self.bridge)
        await _run("ip", "link", "set", self.bridge, "up")
        self.nodes = self.plan(node_names)
        try:
            for index, node in enumerate(self.nodes):
                await self._add_node(index, node, prefix)
            for node in self.nodes:
                await _run("ip", "route", "replace", node.pod_cidr, "via", node.address, "dev", self.bridge)
                for other in self.nodes:
                    if other is not node:
                        await _run(*self._in(node), "ip", "route", "replace", other.pod_cidr, "via", other.address)
        except BaseException:
            await self.teardown()
            raise
        return self.nodes

    def _in(self, node: NodeNetwork) -> list[str]:
        return ["ip", "netns", "exec", node.netns]

    async def _add_node(self, index: int, node: NodeNetwork, prefix: int) -> None:
        host_end, node_end = f"{self.bridge}v{index}", f"{self.bridge}n{index}"
        await _run("ip", "netns", "add", node.netns)
        await _run("ip", "link", "add", host_end, "type", "veth", "peer", "name", node_end)
        await _run("ip", "link", "set", host_end, "master", self.bridge, "up")
        await _run("ip", "link", "set", node_end, "netns", node.netns)
        inside = self._in(node)
        await _run(*inside, "ip", "link", "set", node_end, "name", "eth0")
        await _run(*inside, "ip", "addr", "add", f"{node.address}/{prefix}", "dev", "eth0")
        await _run(*inside, "ip", "link", "set", "eth0", "up")
        await _run(*inside, "ip", "link", "set", "lo", "up")
        await _run(*inside, "ip", "route", "add", "default", "via", self.host_address)
        await _run(*inside, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")  # a router for its pods
        # Pod-to-pod traffic keeps pod addresses; only traffic leaving the cluster CIDR is masqueraded.
        await _run(*inside, "iptables", "-t", "nat", "-I", "POSTROUTING", "-s", node.pod_cidr,
                   "-d", str(self.cluster_cidr), "-j", "RETURN")  # fmt: skip

    async def cleanup_stale(self) -> None:
        """Remove the namespaces, veths and bridge a previous run with this bridge name left."""
        if os.path.isdir(NETNS_DIR):
            for name in sorted(os.listdir(NETNS_DIR)):
                if name.startswith(f"{self.bridge}-"):
                    log.warning("removing stale node network namespace %s", name)
                    await _run("ip", "netns", "delete", name, check=False)
        links = await _run("ip", "-o", "link", "show", check=False)
        for line in links.splitlines():
            name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
            if name == self.bridge or (name.startswith(f"{self.bridge}v") and name[len(self.bridge) + 1 :].isdigit()):
                await _run("ip", "link", "delete", name, check=False)

    async def forward_to_host(self, port: int, host: str = "127.0.0.1") -> None:
        """Make ``127.0.0.1:port`` inside every node namespace reach ``host:port`` on the host.

        The API server listens on the host's loopback; its certificate and the
        agents' kubeconfig name ``127.0.0.1``. A listener created inside each
        node namespace (a socket keeps the namespace it was made in) and served
        by this process relays each connection to the host, bytes untouched
        (TLS included), so agents use the same kubeconfig as on the host.
        """
        for node in self.nodes:
            sock = await asyncio.to_thread(socket_in, node.netns_path)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(128)
            sock.setblocking(False)

            async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                try:
                    up_reader, up_writer = await asyncio.open_connection(host, port)
                except OSError:
                    writer.close()
                    return
                try:
                    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
                finally:
                    writer.close()
                    up_writer.close()

            self._forwarders.append(await asyncio.start_server(relay, sock=sock))

    async def teardown(self) -> None:
        """Delete the node namespaces (their veths and routes go with them) and the bridge. Idempotent."""
        for server in self._forwarders:
            server.close()
        self._forwarders = []
        for node in self.nodes:
            await _run("ip", "netns", "delete", node.netns, check=False)
        self.nodes = []
        await self.cleanup_stale()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction of a relayed connection until its end, then half-close the other side."""
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()


class NetnsPlacer:
    """A NodePlacer (:mod:`pinnace.cluster.nodes`) that puts each node in a network namespace of its own.

    For ``pinnace up --runtime oci`` as root. Each node gets its address on the
    bridge, the standard kubelet port there, its podCIDR, and an agent command
    prefix that enters its namespace and sets the ``oci`` runtime's options
    (:class:`pinnace.node.oci.factory.OCIOptions`). The API server's loopback
    port is relayed into every namespace (:meth:`ClusterNetwork.forward_to_host`).
    When the cluster stops, what the agents left (containers, pod namespaces,
    mounts) is removed before the node namespaces and the bridge go.
    """

    def __init__(self, data_dir: str | os.PathLike[str], api_port: int, *, oci_runtime: str = "",
                 network: ClusterNetwork | None = None, kubelet_port: int = 10250) -> None:  # fmt: skip
        self.data_dir = os.fspath(data_dir)
        self.api_port = api_port
        #: runc or crun ("" : ``PINNACE_OCI_RUNTIME`` from the environment, else crun if installed, else runc).
        self.oci_runtime = oci_runtime or os.environ.get("PINNACE_OCI_RUNTIME", "")
        self.network = network or ClusterNetwork()
        self.kubelet_port = kubelet_port

    async def place(self, nodes: Sequence[NodeSpec]) -> list[NodePlacement]:
        """Set up the bridge and the node namespaces; one placement per node."""
        from pinnace.node.oci.factory import OCIOptions

        if os.geteuid() != 0:
            raise NodeNetworkError("nodes in network namespaces need root (run pinnace up as root for --runtime oci)")
        placed = await self.network.setup([spec.name for spec in nodes])
        await self.network.forward_to_host(self.api_port)
        images = os.path.join(self.data_dir, "images")
        out = []
        for node in placed:
            options = OCIOptions(oci_runtime=self.oci_runtime, images_root=images, pod_cidr=node.pod_cidr)
            env = [f"{key}={value}" for key, value in options.environment().items()]
            out.append(NodePlacement(address=node.address, kubelet_port=self.kubelet_port, pod_cidr=node.pod_cidr,
                                     exec_prefix=(*node.exec_prefix(), "env", *env)))  # fmt: skip
        return out

    async def release(self) -> None:
        """Remove the agents' leftovers (containers, pod namespaces), then the node network."""
        from pinnace.node.oci.runtime import OCIRuntime

        for node in self.network.nodes:
            root = os.path.join(self.data_dir, "nodes", node.node, "runtime", "oci")
            if os.path.isdir(root):
                runtime = OCIRuntime(root, _NoImages())
                runtime.cni = None  # the node's network goes as a whole; its plugins must not run on the host's
                try:
                    await runtime.remove_all()
                except Exception:
                    log.exception("could not remove the containers of node %s", node.node)
        await self.network.teardown()


def placer_for(
    runtimes: Sequence[str],
    data_dir: str | os.PathLike[str],
    api_port: int,
    *,
    cluster_cidr: str = "10.244.0.0/16",
    slot: NetworkSlot | None = None,
) -> NodePlacer:
    """The placer ``pinnace up`` uses: network namespaces on the slot's bridge and subnet when a node runs ``oci``
    (root only), else loopback addresses of the slot (:mod:`pinnace.cluster.netslot`; None: slot 0); the nodes'
    podCIDRs are cut from ``cluster_cidr`` (kube-controller-manager's ``--cluster-cidr``)."""
    slot = slot or network_slot(0)
    if "oci" not in runtimes:
        return LoopbackPlacer(slot.loopback_base, chain_prefix=slot.chain_prefix)
    if os.geteuid() != 0:
        raise NodeNetworkError("the oci runtime needs root (containers, network namespaces, cgroups); "
                               "without root, use --runtime process")  # fmt: skip
    network = ClusterNetwork(bridge=slot.bridge, subnet=slot.node_subnet, cluster_cidr=cluster_cidr)
    return NetnsPlacer(data_dir, api_port, network=network)


class _NoImages:
    """The image source of a runtime that only removes things."""

    async def unpack(self, image: str) -> os.PathLike[str]:
        raise NodeNetworkError("no images while tearing down")

    async def image_config(self, image: str) -> Any:
        raise NodeNetworkError("no images while tearing down")
