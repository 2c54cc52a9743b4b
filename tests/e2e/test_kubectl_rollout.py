"""Deployments with the real kubectl on ``pinnace up --sim-nodes 5``: create, scale, every ``kubectl rollout`` verb."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.e2e.conftest import Cluster
from tests.e2e.kubectl import eventually, get_json, table

HASH = "pod-template-hash"


def rollout_status(cluster: Cluster, name: str = "web") -> str:
    return cluster.kubectl("rollout", "status", f"deployment/{name}", "--timeout=90s", timeout=120).stdout


def replicasets(cluster: Cluster, app: str = "web") -> list[dict[str, Any]]:
    items = get_json(cluster, "replicasets", "-l", f"app={app}")["items"]
    return sorted(items, key=lambda rs: int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]))


def ready_pods(cluster: Cluster, app: str = "web") -> list[dict[str, Any]]:
    pods = get_json(cluster, "pods", "-l", f"app={app}")["items"]
    return [
        p
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])
    ]


def images(cluster: Cluster, app: str = "web") -> set[str]:
    return {p["spec"]["containers"][0]["image"] for p in ready_pods(cluster, app)}


def test_create_scale_and_roll_a_deployment(sim_cluster: Cluster) -> None:
    c = sim_cluster
    c.kubectl("create", "deployment", "web", "--image=nginx", "--replicas=3")
    assert 'deployment "web" successfully rolled out' in rollout_status(c)
    (rs,) = replicasets(c)
    assert rs["metadata"]["name"] == f"web-{rs['metadata']['labels'][HASH]}"
    assert rs["status"]["readyReplicas"] == 3
    pods = eventually(lambda: len(ready_pods(c)) == 3 and ready_pods(c))
    assert all(p["spec"].get("nodeName") for p in pods)
    assert all(p["metadata"]["labels"][HASH] == rs["metadata"]["labels"][HASH] for p in pods)
    rows = table(c.kubectl("get", "deployment", "web").stdout)
    assert rows[1][:4] == ["web", "3/3", "3", "3"]

    c.kubectl("scale", "deployment", "web", "--replicas=5")
    rollout_status(c)
    eventually(lambda: len(ready_pods(c)) == 5)

    c.kubectl("set", "image", "deployment/web", "nginx=nginx:1.27")
    assert 'deployment "web" successfully rolled out' in rollout_status(c)
    old, new = replicasets(c)
    assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (0, 5)
    eventually(lambda: images(c) == {"nginx:1.27"} and len(ready_pods(c)) == 5)

    history = c.kubectl("rollout", "history", "deployment/web").stdout
    assert [r[0] for r in table(history)[2:]] == ["1", "2"]
    revision_2 = c.kubectl("rollout", "history", "deployment/web", "--revision=2").stdout
    assert re.search(r"Image:\s+nginx:1.27", revision_2)

    undone = c.kubectl("rollout", "undo", "deployment/web", "--to-revision=1").stdout
    assert "rolled back" in undone
    rollout_status(c)
    eventually(lambda: images(c) == {"nginx"} and len(ready_pods(c)) == 5)
    rss = replicasets(c)
    assert len(rss) == 2 and rss[-1]["metadata"]["name"] == old["metadata"]["name"]
    history = c.kubectl("rollout", "history", "deployment/web").stdout
    assert [r[0] for r in table(history)[2:]] == ["2", "3"]

    describe = c.kubectl("describe", "deployment", "web").stdout
    assert "ScalingReplicaSet" in describe
    assert f"Scaled up replica set {old['metadata']['name']} from 0 to 3" in describe
    assert "NewReplicaSetAvailable" in describe


def test_pause_resume_and_restart(sim_cluster: Cluster) -> None:
    c = sim_cluster
    c.kubectl("create", "deployment", "api", "--image=nginx", "--replicas=2")
    rollout_status(c, "api")
    c.kubectl("rollout", "pause", "deployment/api")
    c.kubectl("set", "image", "deployment/api", "nginx=nginx:1.27")
    eventually(
        lambda: any(
            cond["reason"] == "DeploymentPaused"
            for cond in get_json(c, "deployment", "api")["status"].get("conditions") or []
        )
    )
    time.sleep(1)
    assert len(replicasets(c, "api")) == 1  # the template change waits
    c.kubectl("rollout", "resume", "deployment/api")
    rollout_status(c, "api")
    assert len(replicasets(c, "api")) == 2
    eventually(lambda: images(c, "api") == {"nginx:1.27"} and len(ready_pods(c, "api")) == 2)

    c.kubectl("rollout", "restart", "deployment/api")
    rollout_status(c, "api")
    rss = replicasets(c, "api")
    assert len(rss) == 3
    annotations = rss[-1]["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations
    eventually(lambda: len(ready_pods(c, "api")) == 2)
