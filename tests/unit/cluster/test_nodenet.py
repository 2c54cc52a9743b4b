"""Nodes in network namespaces on a host bridge, host-gw routes: a pod on one node reaches a pod on another.

Real namespaces, veths, bridges and CNI plugins: needs root (CI runs as root).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pinnace.cluster.nodenet import ClusterNetwork, NodeNetwork

ADD_POD = """
import asyncio, subprocess, sys
from pinnace.node.cni import CNI, node_conflist
bridge, cidr, data, pod = sys.argv[1:5]
subprocess.run(["ip", "netns", "add", pod], check=True)
conflist = node_conflist(network="pods", bridge=bridge, pod_cidr=cidr, data_dir=data + "/ipam")
cni = CNI(conflist, cache_dir=data + "/cache")
print(asyncio.run(cni.add(pod, "/run/netns/" + pod)).ips[0])
"""


def _in(netns: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", netns, *argv], capture_output=True, text=True, check=False)


@pytest.fixture
async def cluster_network() -> AsyncIterator[ClusterNetwork]:
    network = ClusterNetwork(bridge=f"pnn{os.getpid() % 10000}", subnet="172.30.0.0/16", cluster_cidr="10.246.0.0/16")
    yield network
    await network.teardown()


def test_plan_gives_addresses_and_pod_cidrs_in_order() -> None:
    plan = ClusterNetwork(bridge="pinnace0").plan(["a", "b", "c"])
    assert [(n.node, n.netns, n.address, n.pod_cidr) for n in plan] == [
        ("a", "pinnace0-0", "172.18.0.2", "10.244.0.0/24"),
        ("b", "pinnace0-1", "172.18.0.3", "10.244.1.0/24"),
        ("c", "pinnace0-2", "172.18.0.4", "10.244.2.0/24"),
    ]
    assert plan[0].exec_prefix() == ["nsenter", "--net=/run/netns/pinnace0-0", "--"]


async def test_pods_on_different_nodes_reach_each_other(cluster_network: ClusterNetwork, tmp_path: Path) -> None:
    nodes = await cluster_network.setup(["n0", "n1", "n2"])
    assert cluster_network.host_address == "172.30.0.1"
    for node in nodes:
        assert os.path.exists(node.netns_path)
        assert _in(node.netns, "busybox", "ping", "-c", "1", "-W", "2", cluster_network.host_address).returncode == 0
    routes = _in(nodes[0].netns, "ip", "route").stdout
    assert f"{nodes[1].pod_cidr} via {nodes[1].address}" in routes
    assert f"{nodes[2].pod_cidr} via {nodes[2].address}" in routes

    pods: list[tuple[NodeNetwork, str, str]] = []
    try:
        for node in nodes[:2]:
            pod = f"{node.netns}-pod"
            data = tmp_path / node.node
            argv = [*node.exec_prefix(), sys.executable, "-c", ADD_POD, f"cb{os.getpid() % 10000}", node.pod_cidr,
                    str(data), pod]  # fmt: skip
            added = subprocess.run(argv, capture_output=True, text=True, check=False)
            assert added.returncode == 0, added.stderr
            pods.append((node, pod, added.stdout.strip()))
        (_, pod_a, ip_a), (_, pod_b, ip_b) = pods
        assert ip_a.startswith("10.246.0.") and ip_b.startswith("10.246.1.")
        www = tmp_path / "www"
        www.mkdir()
        (www / "index.html").write_text("served on n1\n")
        httpd = ["busybox", "httpd", "-f", "-p", "8080", "-h", str(www)]
        server = subprocess.Popen(["ip", "netns", "exec", pod_b, *httpd])
        try:
            for _ in range(50):  # until httpd listens
                got = _in(pod_a, "busybox", "wget", "-q", "-O", "-", f"http://{ip_b}:8080/index.html")
                if got.returncode == 0:
                    break
                time.sleep(0.1)
            assert got.stdout == "served on n1\n", got.stderr
        finally:
            server.kill()
            server.wait()
        # Pod addresses are kept across nodes (no masquerading inside the cluster CIDR).
        nat = _in(nodes[0].netns, "iptables", "-t", "nat", "-S", "POSTROUTING").stdout
        assert f"-s {nodes[0].pod_cidr} -d 10.246.0.0/16 -j RETURN" in nat
        assert _in(pod_a, "busybox", "ping", "-c", "1", "-W", "2", ip_b).returncode == 0
    finally:
        for _, pod, _ in pods:
            subprocess.run(["ip", "netns", "delete", pod], check=False)


async def test_the_hosts_loopback_port_is_reachable_from_every_node(cluster_network: ClusterNetwork) -> None:
    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        name = await reader.readline()
        writer.write(b"hello " + name)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    nodes = await cluster_network.setup(["n0", "n1"])
    await cluster_network.forward_to_host(port)
    try:
        for node in nodes:
            proc = await asyncio.create_subprocess_exec(
                *node.exec_prefix(), "busybox", "nc", "127.0.0.1", str(port),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await asyncio.wait_for(proc.communicate(node.node.encode() + b"\n"), 10)
            assert out == f"hello {node.node}\n".encode()
    finally:
        server.close()


async def test_teardown_and_stale_cleanup(tmp_path: Path) -> None:
    bridge = f"pns{os.getpid() % 10000}"
    first = ClusterNetwork(bridge=bridge, subnet="172.31.0.0/16", cluster_cidr="10.247.0.0/16")
    await first.setup(["a", "b"])
    # A crashed run leaves everything behind; the next setup with the same bridge cleans it first.
    second = ClusterNetwork(bridge=bridge, subnet="172.31.0.0/16", cluster_cidr="10.247.0.0/16")
    nodes = await second.setup(["a"])
    assert len(nodes) == 1
    assert not os.path.exists("/run/netns/" + f"{bridge}-1")
    await second.teardown()
    assert not any(name.startswith(f"{bridge}-") for name in os.listdir("/run/netns"))
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert bridge not in links


async def test_netns_placer_places_nodes_for_the_launcher(tmp_path: Path) -> None:
    from pinnace.cluster.nodenet import NetnsPlacer
    from pinnace.cluster.nodes import NodeSpec

    network = ClusterNetwork(bridge=f"pnp{os.getpid() % 10000}", subnet="172.29.0.0/16", cluster_cidr="10.248.0.0/16")
    placer = NetnsPlacer(tmp_path, api_port=6443, oci_runtime="crun", network=network)
    placements = await placer.place([NodeSpec("a", runtime="oci"), NodeSpec("b", runtime="oci")])
    try:
        assert [(p.address, p.pod_cidr, p.kubelet_port) for p in placements] == [
            ("172.29.0.2", "10.248.0.0/24", 10250),
            ("172.29.0.3", "10.248.1.0/24", 10250),
        ]
        script = "echo $PINNACE_POD_CIDR $PINNACE_OCI_RUNTIME $PINNACE_IMAGES; ip -o -4 addr show eth0"
        argv = [*placements[1].exec_prefix, "sh", "-c", script]
        shown = subprocess.run(argv, capture_output=True, text=True, check=True)
        assert shown.stdout.startswith(f"10.248.1.0/24 crun {tmp_path}/images\n")
        assert "inet 172.29.0.3/16" in shown.stdout
    finally:
        await placer.release()
    assert not any(name.startswith(network.bridge) for name in os.listdir("/run/netns"))
