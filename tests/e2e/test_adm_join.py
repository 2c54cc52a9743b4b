"""``pinnace adm join``: a second node joins ``pinnace up`` with kubeadm's bootstrap protocol and goes Ready.

The node is a second process with its own data directory, loopback address
and kubelet port (the not-root form of "a second node"): token discovery with
the CA pin, the TLS bootstrap (its CSR approved and signed by the controller
manager), then its node agent registers the Node and runs pods. A wrong CA
pin, a deleted token and an expired one are refused with kubeadm's messages,
and no Node appears.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.conftest import Cluster, free_port, run_pinnace, start_cluster, stop_cluster
from tests.e2e.kubectl import eventually

pytestmark = pytest.mark.slow

CONTROLLERS = "namespace,csrapproving,csrsigning,bootstrapsigner,tokencleaner,serviceaccount"


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("join")
    cluster = start_cluster(base / "data", base / "home", extra_args=["--controllers", CONTROLLERS])
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


def join_command(cluster: Cluster, *extra: str) -> list[str]:
    created = run_pinnace("adm", "token", "create", "--print-join-command", "--data-dir", str(cluster.data_dir), *extra)
    assert created.returncode == 0, created.stderr
    words = created.stdout.split()
    assert words[:3] == ["pinnace", "adm", "join"]
    return words[3:]


def join(args: list[str], node_dir: Path, name: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "pinnace", "adm", "join", *args, "--data-dir", str(node_dir), "--node-name", name]
    command += ["--node-ip", "127.0.0.9", "--kubelet-port", str(free_port())]
    log = (node_dir.parent / f"{name}.out").open("w")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)


def test_a_second_node_joins_and_runs_pods(control_plane: Cluster, tmp_path: Path) -> None:
    args = join_command(control_plane)
    node = join(args, tmp_path / "worker-1", "worker-1")
    try:

        def ready() -> bool:
            got = control_plane.kubectl("get", "node", "worker-1", "-o", "json", check=False)
            if got.returncode != 0:
                return False
            conditions = {c["type"]: c["status"] for c in json.loads(got.stdout)["status"]["conditions"]}
            return conditions.get("Ready") == "True"

        eventually(ready, timeout=60)
        output = (tmp_path / "worker-1.out").read_text()
        assert "This node has joined the cluster:" in output
        csrs = json.loads(control_plane.kubectl("get", "csr", "-o", "json").stdout)["items"]
        mine = [c for c in csrs if c["spec"]["username"] == f"system:bootstrap:{args[2].split('.')[0]}"]
        assert mine and {c["type"] for c in mine[0]["status"]["conditions"]} == {"Approved"}
        assert mine[0]["status"]["certificate"]
        # The node's own identity, not the token, runs it from now on.
        kubelet_conf = (tmp_path / "worker-1" / "kubelet.conf").read_text()
        assert "client-certificate-data" in kubelet_conf and "token" not in kubelet_conf
        # A pod bound to it runs, and its log comes through the API server.
        control_plane.kubectl(
            "run", "hello", "--image=busybox", "--restart=Never", "--overrides",
            json.dumps({"spec": {"nodeName": "worker-1"}}), "--", "sh", "-c", "echo joined; sleep 60",
        )  # fmt: skip
        eventually(lambda: control_plane.kubectl("logs", "hello", check=False).stdout.strip() == "joined", timeout=30)
        control_plane.kubectl("delete", "pod", "hello", "--grace-period=1")
        # The same data directory cannot join twice.
        again = run_pinnace("adm", "join", *args, "--data-dir", str(tmp_path / "worker-1"), "--node-name", "worker-1")
        assert again.returncode == 1 and "this data directory is already a node's" in again.stderr
        # Stopped, the node's agent starts again from its data directory alone, as the same node.
        node.terminate()
        node.wait(timeout=30)
        before = lease_renewed(control_plane, "worker-1")
        log = (tmp_path / "restart.out").open("w")
        node = subprocess.Popen(
            [sys.executable, "-m", "pinnace", "node", "--data-dir", str(tmp_path / "worker-1")],
            stdout=log, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        eventually(lambda: lease_renewed(control_plane, "worker-1") != before, timeout=30)
        assert "worker-1" in (tmp_path / "restart.out").read_text()
    finally:
        node.terminate()
        node.wait(timeout=30)


def lease_renewed(cluster: Cluster, node: str) -> str:
    lease = json.loads(cluster.kubectl("get", "lease", node, "-n", "kube-node-lease", "-o", "json").stdout)
    return str(lease["spec"].get("renewTime"))


def test_joins_that_cannot_be_trusted_are_refused(control_plane: Cluster, tmp_path: Path) -> None:
    args = join_command(control_plane)
    wrong_pin = [*args[:-1], "sha256:" + "0" * 64]
    refused = run_pinnace("adm", "join", *wrong_pin, "--data-dir", str(tmp_path / "a"), "--node-name", "pin")
    assert refused.returncode == 1
    assert "cluster CA found in cluster-info ConfigMap is invalid: none of the public keys" in refused.stderr

    token = args[2]
    run_pinnace("adm", "token", "delete", token, "--data-dir", str(control_plane.data_dir))
    message = f'token id "{token.split(".")[0]}" is invalid for this cluster or it has expired'

    def refused_for(directory: str, name: str, join_args: list[str]) -> bool:
        result = run_pinnace("adm", "join", *join_args, "--data-dir", str(tmp_path / directory), "--node-name", name)
        return (
            result.returncode == 1 and message.replace(token.split(".")[0], join_args[2].split(".")[0]) in result.stderr
        )

    eventually(lambda: refused_for("b", "deleted", args), timeout=20)

    expiring = join_command(control_plane, "--ttl", "1s")
    time.sleep(1.5)
    eventually(lambda: refused_for("c", "expired", expiring), timeout=20)
    nodes = control_plane.kubectl("get", "nodes", "-o", "name").stdout
    assert "pin" not in nodes and "deleted" not in nodes and "expired" not in nodes
