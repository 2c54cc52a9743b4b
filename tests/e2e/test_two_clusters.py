"""Two ``pinnace up`` clusters on one host at once (as several kind clusters run side by side), as root.

The second cluster takes the next free network slot (:mod:`pinnace.cluster.netslot`).
With the default node (``process`` pods in the host's network namespace, where
both clusters' service proxies program iptables) it has other node addresses,
Service range, chains and NodePort addresses; with ``--runtime oci`` another
bridge, node subnet and pod CIDR. Each cluster's Service reaches its own pod;
``pinnace down`` of one removes its rules (or bridge) only, and the other keeps
answering.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tests.e2e.conftest import Cluster, free_port, run_pinnace, start_cluster, stop_cluster
from tests.e2e.kubectl import eventually, get_json

from pinnace.cluster.netslot import NetworkSlot, network_slot

pytestmark = pytest.mark.slow


def _preconditions(why_root: str) -> None:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH: the e2e tests need the real kubectl 1.32")
    if os.geteuid() != 0:
        pytest.fail(why_root)


@contextlib.contextmanager
def _started_at_once(tmp_path: Path, args: list[str]) -> Iterator[tuple[Cluster, Cluster]]:
    """``pinnace up ARGS`` from ``tmp_path/a/data`` and ``tmp_path/b/data``, started at once (they race for the first
    free network slot); both stopped at the end (their pods deleted first)."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir(exist_ok=True)
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(start_cluster, tmp_path / n / "data", tmp_path / n / "home", None, args) for n in "ab"]
        errors = [f.exception() for f in futures]
    started = [f.result() for f in futures if f.exception() is None]
    try:
        if any(errors):
            raise AssertionError(f"a cluster did not start: {errors}")
        yield started[0], started[1]
    finally:
        for cluster in started:
            # Pods whose PID 1 ignores SIGTERM would hold the agents' shutdown for their grace period.
            cluster.kubectl("delete", "pods", "--all", "--grace-period=1", check=False, timeout=60)
            stop_cluster(cluster)


@pytest.fixture
def two_clusters(tmp_path: Path) -> Iterator[tuple[Cluster, Cluster]]:
    """Two ``pinnace up --nodes 1`` (process pods) at once."""
    _preconditions("service routing for process pods needs root (the node agents' proxies program the host)")
    with _started_at_once(tmp_path, ["--nodes", "1"]) as clusters:
        yield clusters


def _serve(cluster: Cluster, port: int, www: Path) -> tuple[str, int]:
    """A pod serving ``served by <its data dir's parent>`` on ``port``, a NodePort Service on port 80 for it; its
    cluster IP and node port."""
    name = cluster.data_dir.parent.name
    script = f"mkdir -p {www} && echo served by {name} > {www}/index.html && exec busybox httpd -f -p {port} -h {www}"
    eventually(lambda: cluster.kubectl("get", "serviceaccount", "default", check=False).returncode == 0, 30)
    run = ["run", "backend", "--image=busybox", "--labels=app=backend", "--restart=Never", "--command", "--"]
    cluster.kubectl(*run, "sh", "-c", script)
    cluster.kubectl("create", "service", "nodeport", "backend", f"--tcp=80:{port}")
    spec = get_json(cluster, "service", "backend")["spec"]
    return str(spec["clusterIP"]), int(spec["ports"][0]["nodePort"])


def _fetch(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return bytes(response.read())
    except OSError:
        return None


def _nat_rules() -> str:
    return subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True).stdout


def _slot(cluster: Cluster) -> NetworkSlot:
    """The network slot the cluster recorded (slot 0 and 1 unless another cluster on the host holds one)."""
    return network_slot(json.loads((cluster.data_dir / "network.json").read_text())["slot"])


def _node_ip(cluster: Cluster) -> str:
    addresses = get_json(cluster, "nodes")["items"][0]["status"]["addresses"]
    return str(next(a["address"] for a in addresses if a["type"] == "InternalIP"))


def test_two_clusters_route_their_own_services_and_one_going_down_leaves_the_other(
    two_clusters: tuple[Cluster, Cluster], tmp_path: Path
) -> None:
    first, second = by_slot = sorted(two_clusters, key=lambda c: _slot(c).index)
    slots = [_slot(c) for c in by_slot]
    assert slots[0].index < slots[1].index and slots[1].index >= 1  # the second one took the next free slot
    served = [_serve(c, free_port(), tmp_path / c.data_dir.parent.name / "www") for c in by_slot]
    ips, node_ports = [ip for ip, _ in served], [port for _, port in served]
    for slot, ip in zip(slots, ips, strict=True):  # each cluster's Services in its own range
        assert ipaddress.ip_address(ip) in ipaddress.ip_network(slot.service_cidr)
    node_ips = [_node_ip(c) for c in by_slot]
    assert node_ips == [str(ipaddress.ip_address(s.loopback_base) + 1) for s in slots]  # 127.0.0.2, 127.0.1.2
    for cluster in by_slot:
        cluster.kubectl("wait", "--for=condition=Ready", "pod/backend", "--timeout=60s", timeout=70)
    expected = [f"served by {c.data_dir.parent.name}\n".encode() for c in by_slot]
    for ip, answer in zip(ips, expected, strict=True):
        assert eventually(lambda ip=ip: _fetch(f"http://{ip}/"), 30) == answer
    # NodePorts on the nodes' addresses; the second cluster's on its own node's only (the first: any local address).
    for node_ip, port, answer in zip(node_ips, node_ports, expected, strict=True):
        assert _fetch(f"http://{node_ip}:{port}/") == answer
    assert _fetch(f"http://127.0.0.1:{node_ports[1]}/") != expected[1]
    rules = _nat_rules()  # both proxies' chains in the host's namespace, each with its own Service
    for slot, ip in zip(slots, ips, strict=True):
        assert f"-j {slot.chain_prefix}SERVICES" in rules and f"-A {slot.chain_prefix}SERVICES -d {ip}/32" in rules

    down = run_pinnace("down", "--data-dir", str(first.data_dir))
    assert down.returncode == 0, down.stderr
    first.proc.wait(timeout=30)
    rules = _nat_rules()
    gone, kept = slots[0].chain_prefix, slots[1].chain_prefix
    assert f"-j {gone}SERVICES" not in rules and f"-A {gone}SERVICES -d {ips[0]}/32" not in rules  # first's: gone
    assert f"-j {kept}SERVICES" in rules and f"-A {kept}SERVICES -d {ips[1]}/32" in rules  # the second's: kept
    assert second.kubectl("get", "pods", "-o", "name").stdout.split() == ["pod/backend"]
    assert _fetch(f"http://{ips[1]}/") == expected[1]
    assert _fetch(f"http://{node_ips[1]}:{node_ports[1]}/") == expected[1]
    assert _fetch(f"http://{ips[0]}/") is None  # nothing routes the first cluster's Service now


IMAGE = "pinnace.test/busybox:1"


@pytest.fixture
def two_oci_clusters(tmp_path: Path) -> Iterator[tuple[Cluster, Cluster]]:
    """Two ``pinnace up --nodes 1 --runtime oci`` at once: each node in a network namespace on its cluster's bridge."""
    _preconditions("the oci runtime needs root (containers, network namespaces)")
    for name in ("a", "b"):
        built = run_pinnace("image", "build", "--from-binary", "/bin/busybox", "--tag", IMAGE,
                            "--data-dir", str(tmp_path / name / "data"))  # fmt: skip
        assert built.returncode == 0, built.stderr
    with _started_at_once(tmp_path, ["--nodes", "1", "--runtime", "oci"]) as clusters:
        yield clusters


def _links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def _serve_oci(cluster: Cluster) -> tuple[str, int]:
    """An httpd pod and a NodePort Service for it; the pod's IP and the node port."""
    name = cluster.data_dir.parent.name
    script = f"mkdir -p /www && echo served by {name} > /www/index.html && exec httpd -f -p 8080 -h /www"
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "backend", "labels": {"app": "backend"}},
        "spec": {"containers": [{"name": "httpd", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                                 "command": ["sh", "-c", script]}]},
    }  # fmt: skip
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "backend"},
        "spec": {"type": "NodePort", "selector": {"app": "backend"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }  # fmt: skip
    eventually(lambda: cluster.kubectl("get", "serviceaccount", "default", check=False).returncode == 0, 30)
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [pod, service]}))
    cluster.kubectl("wait", "--for=condition=Ready", "pod/backend", "--timeout=60s", timeout=70)
    ip = get_json(cluster, "pod", "backend")["status"]["podIP"]
    return str(ip), int(get_json(cluster, "service", "backend")["spec"]["ports"][0]["nodePort"])


def test_two_oci_clusters_have_their_own_bridges_and_pod_networks_and_one_going_down_leaves_the_other(
    two_oci_clusters: tuple[Cluster, Cluster],
) -> None:
    first, second = by_slot = sorted(two_oci_clusters, key=lambda c: _slot(c).index)
    slots = [_slot(c) for c in by_slot]
    assert slots[0].index < slots[1].index  # pinnace0 and pinnace1 unless another cluster on the host holds one
    assert {s.bridge for s in slots} <= _links()
    assert all(os.path.exists(f"/run/netns/{s.bridge}-0") for s in slots)
    (ip0, port0), (ip1, port1) = _serve_oci(first), _serve_oci(second)
    for slot, ip in zip(slots, (ip0, ip1), strict=True):  # each cluster's pods in its own pod CIDR
        assert ipaddress.ip_address(ip) in ipaddress.ip_network(slot.cluster_cidr)
    node_ips = [_node_ip(c) for c in by_slot]
    assert node_ips == [str(ipaddress.ip_network(s.node_subnet).network_address + 2) for s in slots]
    # The host routes to both clusters' pods, and each node's proxy routes its own NodePort.
    expected = [f"served by {c.data_dir.parent.name}\n".encode() for c in by_slot]
    assert eventually(lambda: _fetch(f"http://{ip0}:8080/"), 30) == expected[0]
    assert eventually(lambda: _fetch(f"http://{ip1}:8080/"), 30) == expected[1]
    assert eventually(lambda: _fetch(f"http://{node_ips[0]}:{port0}/"), 30) == expected[0]
    assert eventually(lambda: _fetch(f"http://{node_ips[1]}:{port1}/"), 30) == expected[1]

    first.kubectl("delete", "pods", "--all", "--grace-period=1", timeout=60)
    down = run_pinnace("down", "--data-dir", str(first.data_dir))
    assert down.returncode == 0, down.stderr
    first.proc.wait(timeout=30)
    links = _links()
    gone, kept = slots[0].bridge, slots[1].bridge
    assert gone not in links and not os.path.exists(f"/run/netns/{gone}-0")  # the first cluster's network
    assert kept in links and os.path.exists(f"/run/netns/{kept}-0")  # the second's stays
    assert second.kubectl("get", "pods", "-o", "name").stdout.split() == ["pod/backend"]
    assert _fetch(f"http://{ip1}:8080/") == expected[1]
    assert _fetch(f"http://{node_ips[1]}:{port1}/") == expected[1]
