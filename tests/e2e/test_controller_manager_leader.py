"""Two ``pinnace controller-manager --leader-elect``: one works, the other takes over when it dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.e2e.conftest import Cluster, start_cluster, stop_cluster
from tests.e2e.kubectl import eventually, get_json

pytestmark = pytest.mark.slow

LEASE_DURATION = 3.0


def _manager(cluster: Cluster, log: Path, controllers: str = "namespace") -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pinnace",
            "controller-manager",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--controllers",
            controllers,
            "--leader-elect",
            f"--leader-elect-lease-duration={LEASE_DURATION}",
            "--leader-elect-renew-deadline=2",
            "--leader-elect-retry-period=0.5",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _lease_exists(cluster: Cluster) -> bool:
    found = cluster.kubectl("get", "lease", "kube-controller-manager", "-n", "kube-system", check=False)
    return found.returncode == 0


def _holder(cluster: Cluster) -> str:
    lease = get_json(cluster, "lease", "kube-controller-manager", "-n", "kube-system")
    return str(lease["spec"].get("holderIdentity") or "")


def test_only_the_leader_works_and_a_follower_takes_over_within_the_lease(tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path / "data", tmp_path / "home", extra_args=["--controllers", ""])
    managers = [_manager(cluster, tmp_path / f"cm-{i}.log") for i in range(2)]
    try:
        first = eventually(lambda: _lease_exists(cluster) and _holder(cluster))
        cluster.kubectl("create", "namespace", "one")
        cluster.kubectl("delete", "namespace", "one", "--timeout=30s")  # finalized by the leader's controller

        logs = [(tmp_path / f"cm-{i}.log").read_text() for i in range(2)]
        assert sum("became leader" in log for log in logs) == 1  # the other waits, doing nothing

        # Kill the leader outright (no release): the other must take the lease once it expires.
        leader = next(
            m for i, m in enumerate(managers) if f"{first}: became leader" in (tmp_path / f"cm-{i}.log").read_text()
        )
        os.kill(leader.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        second = eventually(lambda: (h := _holder(cluster)) != first and h, timeout=30)
        took = time.monotonic() - killed_at
        assert took <= LEASE_DURATION + 3, f"failover took {took:.1f}s"
        assert second != first
        cluster.kubectl("create", "namespace", "two")
        cluster.kubectl("delete", "namespace", "two", "--timeout=30s")  # the new leader works
    finally:
        for m in managers:
            if m.poll() is None:
                m.terminate()
                m.wait(15)
        stop_cluster(cluster)


def test_a_rollout_completes_after_the_leading_manager_is_killed_in_the_middle(tmp_path: Path) -> None:
    """Issue 9: kill -9 the leading controller manager during a rollout; the other takes over and finishes it."""
    cluster = start_cluster(tmp_path / "data", tmp_path / "home", extra_args=["--controllers", "", "--sim-nodes", "3"])
    workers = "deployment,replicaset,scheduler,gc"
    managers = [_manager(cluster, tmp_path / f"cm-{i}.log", workers) for i in range(2)]
    try:
        eventually(lambda: len(cluster.kubectl("get", "nodes", "-o", "name").stdout.split()) == 3, timeout=30)
        first = eventually(lambda: _lease_exists(cluster) and _holder(cluster))
        cluster.kubectl("create", "deployment", "web", "--image=nginx:1", "--replicas=4")
        cluster.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        cluster.kubectl("set", "image", "deployment/web", "nginx=nginx:2")
        leader = next(
            m for i, m in enumerate(managers) if f"{first}: became leader" in (tmp_path / f"cm-{i}.log").read_text()
        )
        os.kill(leader.pid, signal.SIGKILL)  # in the middle of the rollout
        cluster.kubectl("rollout", "status", "deployment/web", "--timeout=90s", timeout=120)
        assert _holder(cluster) not in ("", first)
        deployment = get_json(cluster, "deployment", "web")
        assert deployment["status"]["updatedReplicas"] == 4 and deployment["status"]["availableReplicas"] == 4
        images = {
            c["image"]
            for pod in get_json(cluster, "pods", "-l", "app=web")["items"]
            if not pod["metadata"].get("deletionTimestamp")
            for c in pod["spec"]["containers"]
        }
        assert images == {"nginx:2"}
    finally:
        for m in managers:
            if m.poll() is None:
                m.terminate()
                m.wait(15)
        stop_cluster(cluster)
