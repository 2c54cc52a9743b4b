"""StatefulSets, DaemonSets and Jobs with the real kubectl against ``pinnace up --sim-nodes 5``.

(CronJobs are tested on a fake clock in tests/integration/test_cronjob_controller.py.)
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from tests.e2e.conftest import Cluster
from tests.e2e.kubectl import eventually, get_json

T = TypeVar("T")


def ready_since(pod: dict[str, Any]) -> str | None:
    for cond in pod.get("status", {}).get("conditions") or []:
        if cond["type"] == "Ready" and cond["status"] == "True":
            return str(cond["lastTransitionTime"])
    return None


STATEFULSET = {
    "apiVersion": "apps/v1",
    "kind": "StatefulSet",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 3,
        "serviceName": "web",
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]},
        },
        "volumeClaimTemplates": [
            {
                "metadata": {"name": "www"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            }
        ],
    },
}


def test_statefulset_starts_in_order_and_rolls_back(sim_cluster: Cluster) -> None:
    c = sim_cluster
    c.kubectl("apply", "-f", "-", input=json.dumps(STATEFULSET))
    c.kubectl("rollout", "status", "statefulset/web", "--timeout=90s", timeout=100)
    pods = {p["metadata"]["name"]: p for p in get_json(c, "pods", "-l", "app=web")["items"]}
    assert sorted(pods) == ["web-0", "web-1", "web-2"]
    for earlier, later in (("web-0", "web-1"), ("web-1", "web-2")):
        since = ready_since(pods[earlier])
        assert since is not None and pods[later]["metadata"]["creationTimestamp"] >= since, (
            f"{later} was created before {earlier} was Ready"
        )
    assert all(p["spec"].get("nodeName") for p in pods.values())
    claims = sorted(p["metadata"]["name"] for p in get_json(c, "pvc")["items"])
    assert claims == ["www-web-0", "www-web-1", "www-web-2"]
    sts = get_json(c, "statefulset", "web")
    assert sts["status"]["readyReplicas"] == 3 and sts["status"]["currentRevision"] == sts["status"]["updateRevision"]

    c.kubectl("set", "image", "statefulset/web", "nginx=nginx:1.28")
    c.kubectl("rollout", "status", "statefulset/web", "--timeout=90s", timeout=100)
    images = {
        p["metadata"]["name"]: p["spec"]["containers"][0]["image"]
        for p in get_json(c, "pods", "-l", "app=web")["items"]
    }
    assert images == {"web-0": "nginx:1.28", "web-1": "nginx:1.28", "web-2": "nginx:1.28"}
    history = c.kubectl("rollout", "history", "statefulset/web").stdout
    assert "REVISION" in history and "1" in history and "2" in history
    c.kubectl("rollout", "undo", "statefulset/web", "--to-revision=1")
    c.kubectl("rollout", "status", "statefulset/web", "--timeout=90s", timeout=100)

    def rolled_back() -> bool:
        items = get_json(c, "pods", "-l", "app=web")["items"]
        return sorted(p["spec"]["containers"][0]["image"] for p in items) == ["nginx:1.27"] * 3

    eventually(rolled_back)

    c.kubectl("scale", "statefulset/web", "--replicas=1")
    eventually(lambda: [p["metadata"]["name"] for p in get_json(c, "pods", "-l", "app=web")["items"]] == ["web-0"])
    c.kubectl("delete", "statefulset", "web")


DAEMONSET = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": {"name": "agent"},
    "spec": {
        "selector": {"matchLabels": {"app": "agent"}},
        "template": {
            "metadata": {"labels": {"app": "agent"}},
            "spec": {"containers": [{"name": "agent", "image": "busybox"}]},
        },
    },
}


def _target(pod: dict[str, Any]) -> str:
    if pod["spec"].get("nodeName"):
        return str(pod["spec"]["nodeName"])
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    return str(terms["nodeSelectorTerms"][0]["matchFields"][0]["values"][0])


def test_daemonset_on_every_node_and_a_new_one(sim_cluster: Cluster) -> None:
    c = sim_cluster
    nodes = sorted(n["metadata"]["name"] for n in get_json(c, "nodes")["items"])
    c.kubectl("apply", "-f", "-", input=json.dumps(DAEMONSET))
    c.kubectl("rollout", "status", "daemonset/agent", "--timeout=90s", timeout=100)
    pods = get_json(c, "pods", "-l", "app=agent")["items"]
    assert sorted(p["spec"]["nodeName"] for p in pods) == nodes, "one pod per node, bound by the scheduler"
    ds = get_json(c, "daemonset", "agent")["status"]
    assert ds["desiredNumberScheduled"] == ds["numberReady"] == ds["numberAvailable"] == len(nodes)

    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "added-node", "labels": {"role": "extra"}}}
    c.kubectl("create", "-f", "-", input=json.dumps(node))

    def on_new_node() -> bool:
        return any(_target(p) == "added-node" for p in get_json(c, "pods", "-l", "app=agent")["items"])

    eventually(on_new_node)
    c.kubectl("delete", "node", "added-node")

    def back_to_sim_nodes() -> bool:
        items = get_json(c, "pods", "-l", "app=agent")["items"]
        live = [p for p in items if not p["metadata"].get("deletionTimestamp")]
        return sorted(_target(p) for p in live) == nodes

    eventually(back_to_sim_nodes)
    c.kubectl("delete", "daemonset", "agent")


JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "pi"},
    "spec": {
        "completions": 3,
        "parallelism": 2,
        "template": {
            "metadata": {"annotations": {"pinnace.dev/sim-exit-after": "1s"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl", "command": ["true"]}]},
        },
    },
}


def test_job_runs_to_completion(sim_cluster: Cluster) -> None:
    c = sim_cluster
    c.kubectl("apply", "-f", "-", input=json.dumps(JOB))
    c.kubectl("wait", "--for=condition=complete", "job/pi", "--timeout=90s", timeout=100)
    job = get_json(c, "job", "pi")
    assert job["status"]["succeeded"] == 3 and job["status"].get("failed", 0) == 0
    assert job["status"]["completionTime"] >= job["status"]["startTime"]
    pods = get_json(c, "pods", "-l", "batch.kubernetes.io/job-name=pi")["items"]
    assert len(pods) == 3 and all(p["status"]["phase"] == "Succeeded" for p in pods)
    assert all(not p["metadata"].get("finalizers") for p in pods)
    rows = c.kubectl("get", "job", "pi").stdout
    assert "Complete" in rows and "3/3" in rows
    c.kubectl("delete", "job", "pi")
