"""Two ``pinnace up`` clusters on one host at once (as several kind clusters run side by side), as root.

Both run the default node (``process`` pods in the host's network namespace,
where both clusters' service proxies program iptables). The second cluster
takes the next network slot (:mod:`pinnace.cluster.netslot`): other node
addresses, Service range and chains. Each cluster's Service reaches its own
pod; ``pinnace down`` of one removes its rules only and the other keeps
answering.
"""

from __future__ import annotations

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

pytestmark = pytest.mark.slow


@pytest.fixture
def two_clusters(tmp_path: Path) -> Iterator[tuple[Cluster, Cluster]]:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH: the e2e tests need the real kubectl 1.32")
    if os.geteuid() != 0:
        pytest.fail("service routing for process pods needs root (the node agents' proxies program the host)")
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    with ThreadPoolExecutor(2) as pool:  # started at once: they race for the first network slot
        futures = [
            pool.submit(start_cluster, tmp_path / n / "data", tmp_path / n / "home", None, ["--nodes", "1"])
            for n in ("a", "b")
        ]
        errors = [f.exception() for f in futures]
    started = [f.result() for f in futures if f.exception() is None]
    try:
        if any(errors):
            raise AssertionError(f"a cluster did not start: {errors}")
        yield started[0], started[1]
    finally:
        for cluster in started:
            stop_cluster(cluster)


def _serve(cluster: Cluster, port: int, www: Path) -> str:
    """A pod serving ``served by <its data dir's parent>`` on ``port``, a Service on port 80 for it; its cluster IP."""
    name = cluster.data_dir.parent.name
    script = f"mkdir -p {www} && echo served by {name} > {www}/index.html && exec busybox httpd -f -p {port} -h {www}"
    eventually(lambda: cluster.kubectl("get", "serviceaccount", "default", check=False).returncode == 0, 30)
    run = ["run", "backend", "--image=busybox", "--labels=app=backend", "--restart=Never", "--command", "--"]
    cluster.kubectl(*run, "sh", "-c", script)
    cluster.kubectl("create", "service", "clusterip", "backend", f"--tcp=80:{port}")
    return str(get_json(cluster, "service", "backend")["spec"]["clusterIP"])


def _fetch(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return bytes(response.read())
    except OSError:
        return None


def _nat_rules() -> str:
    return subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True).stdout


def test_two_clusters_route_their_own_services_and_one_going_down_leaves_the_other(
    two_clusters: tuple[Cluster, Cluster], tmp_path: Path
) -> None:
    by_slot = sorted(two_clusters, key=lambda c: (c.data_dir / "network.json").read_text())
    first, second = by_slot
    assert [(c.data_dir / "network.json").read_text().strip() for c in by_slot] == ['{"slot": 0}', '{"slot": 1}']
    ips = [_serve(c, free_port(), tmp_path / c.data_dir.parent.name / "www") for c in by_slot]
    assert ips[0].startswith("10.") and 96 <= int(ips[0].split(".")[1]) < 112  # 10.96.0.0/12: the default range
    assert 112 <= int(ips[1].split(".")[1]) < 128  # 10.112.0.0/12: the second cluster's
    nodes = [get_json(c, "nodes")["items"][0]["status"]["addresses"] for c in by_slot]
    assert [[a["address"] for a in n if a["type"] == "InternalIP"] for n in nodes] == [["127.0.0.2"], ["127.0.1.2"]]
    for cluster in by_slot:
        cluster.kubectl("wait", "--for=condition=Ready", "pod/backend", "--timeout=60s", timeout=70)
    for cluster, ip in zip(by_slot, ips, strict=True):
        expected = f"served by {cluster.data_dir.parent.name}\n".encode()
        assert eventually(lambda ip=ip: _fetch(f"http://{ip}/"), 30) == expected
    rules = _nat_rules()  # both proxies' chains in the host's namespace, each with its own Service
    assert "-j KUBE-SERVICES" in rules and "-j KUBE1-SERVICES" in rules
    assert f"-A KUBE-SERVICES -d {ips[0]}/32" in rules and f"-A KUBE1-SERVICES -d {ips[1]}/32" in rules

    down = run_pinnace("down", "--data-dir", str(first.data_dir))
    assert down.returncode == 0, down.stderr
    first.proc.wait(timeout=30)
    rules = _nat_rules()
    assert "KUBE-SERVICES" not in rules.replace("KUBE1-SERVICES", "")  # the first cluster's chains are gone
    assert f"-A KUBE1-SERVICES -d {ips[1]}/32" in rules  # the second's are not
    assert second.kubectl("get", "pods", "-o", "name").stdout.split() == ["pod/backend"]
    expected = f"served by {second.data_dir.parent.name}\n".encode()
    assert _fetch(f"http://{ips[1]}/") == expected
    assert _fetch(f"http://{ips[0]}/") is None  # nothing routes the first cluster's Service now


IMAGE = "pinnace.test/busybox:1"


@pytest.fixture
def two_oci_clusters(tmp_path: Path) -> Iterator[tuple[Cluster, Cluster]]:
    """Two ``pinnace up --nodes 1 --runtime oci`` at once: each node in a network namespace on its cluster's bridge."""
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH: the e2e tests need the real kubectl 1.32")
    if os.geteuid() != 0:
        pytest.fail("the oci runtime needs root (containers, network namespaces)")
    for name in ("a", "b"):
        built = run_pinnace("image", "build", "--from-binary", "/bin/busybox", "--tag", IMAGE,
                            "--data-dir", str(tmp_path / name / "data"))  # fmt: skip
        assert built.returncode == 0, built.stderr
    args = ["--nodes", "1", "--runtime", "oci"]
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
            cluster.kubectl("delete", "pods", "--all", "--grace-period=1", check=False, timeout=60)
            stop_cluster(cluster)


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
    first, second = sorted(two_oci_clusters, key=lambda c: (c.data_dir / "network.json").read_text())
    assert {"pinnace0", "pinnace1"} <= _links()
    assert os.path.exists("/run/netns/pinnace0-0") and os.path.exists("/run/netns/pinnace1-0")
    (ip0, port0), (ip1, port1) = _serve_oci(first), _serve_oci(second)
    assert ip0.startswith("10.244.0.") and ip1.startswith("10.245.0.")  # each cluster's own pod CIDR
    nodes = [get_json(c, "nodes")["items"][0]["status"]["addresses"] for c in (first, second)]
    assert [[a["address"] for a in n if a["type"] == "InternalIP"] for n in nodes] == [["172.18.0.2"], ["172.19.0.2"]]
    # The host routes to both clusters' pods, and each node's proxy routes its own NodePort.
    expected = [f"served by {c.data_dir.parent.name}\n".encode() for c in (first, second)]
    assert eventually(lambda: _fetch(f"http://{ip0}:8080/"), 30) == expected[0]
    assert eventually(lambda: _fetch(f"http://{ip1}:8080/"), 30) == expected[1]
    assert eventually(lambda: _fetch(f"http://172.18.0.2:{port0}/"), 30) == expected[0]
    assert eventually(lambda: _fetch(f"http://172.19.0.2:{port1}/"), 30) == expected[1]

    first.kubectl("delete", "pods", "--all", "--grace-period=1", timeout=60)
    down = run_pinnace("down", "--data-dir", str(first.data_dir))
    assert down.returncode == 0, down.stderr
    first.proc.wait(timeout=30)
    links = _links()
    assert "pinnace0" not in links and not os.path.exists("/run/netns/pinnace0-0")  # the first cluster's network
    assert "pinnace1" in links and os.path.exists("/run/netns/pinnace1-0")  # the second's stays
    assert second.kubectl("get", "pods", "-o", "name").stdout.split() == ["pod/backend"]
    assert _fetch(f"http://{ip1}:8080/") == expected[1]
    assert _fetch(f"http://172.19.0.2:{port1}/") == expected[1]
