"""Scheduling with the real kubectl against ``pinnace up --sim-nodes 5``: placement, FailedScheduling, drain.

The five simulated nodes have 8 cpu each. Tests in this module share one
cluster: a test that cordons a node uncordons it before it ends.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from tests.e2e.conftest import Cluster
from tests.e2e.kubectl import eventually, get_json, table

T = TypeVar("T")


#: The sim cluster's node lifecycle runs with a 4 s grace period, and on a loaded machine a simulated node
#: may miss a heartbeat and flap NotReady: the test pods tolerate that (as DaemonSet pods do), so that taint
#: eviction and the not-ready NoSchedule taint do not interfere with what is tested here.
TOLERATE_FLAPS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists"},
]


def pod_manifest(name: str, *, cpu: str = "100m", node: str | None = None) -> str:
    spec: dict[str, Any] = {
        "containers": [{"name": "app", "image": "nginx:1.27", "resources": {"requests": {"cpu": cpu}}}],
        "tolerations": TOLERATE_FLAPS,
    }
    if node is not None:
        spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    return json.dumps(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}}, "spec": spec}
    )


def events_section(describe: str) -> list[list[str]]:
    """The rows of ``kubectl describe``'s Events table (Type, Reason, Age, From, Message…)."""
    lines = describe.split("\nEvents:", 1)[1].splitlines()
    return [line.split(None, 4) for line in lines[3:] if line.strip()]


def test_pod_is_scheduled_and_describe_tells(sim_cluster: Cluster) -> None:
    sim_cluster.kubectl("apply", "-f", "-", input=pod_manifest("placed"))

    def node_column() -> str:
        rows = table(sim_cluster.kubectl("get", "pod", "placed", "-o", "wide").stdout)
        header, row = rows[0], rows[1]
        node = row[header.index("NODE")]
        return node if node.startswith("sim-node-") else ""

    node = eventually(node_column)

    def scheduled_event() -> list[str] | None:
        rows = events_section(sim_cluster.kubectl("describe", "pod", "placed").stdout)
        return next((r for r in rows if r[1] == "Scheduled"), None)

    row = eventually(scheduled_event)
    assert row[0] == "Normal" and row[3] == "default-scheduler"
    assert row[4] == f"Successfully assigned default/placed to {node}"
    conditions = get_json(sim_cluster, "pod", "placed")["status"]["conditions"]
    assert {"type": "PodScheduled", "status": "True"}.items() <= next(
        c for c in conditions if c["type"] == "PodScheduled"
    ).items()
    sim_cluster.kubectl("delete", "pod", "placed", "--wait=false")


def test_pod_asking_too_much_cpu_stays_pending_until_a_node_grows(sim_cluster: Cluster) -> None:
    sim_cluster.kubectl("apply", "-f", "-", input=pod_manifest("greedy", cpu="12"))
    message = (
        "0/5 nodes are available: 5 Insufficient cpu. "
        "preemption: 0/5 nodes are available: 5 No preemption victims found for incoming pod."
    )

    def failed_event() -> list[str] | None:
        rows = events_section(sim_cluster.kubectl("describe", "pod", "greedy").stdout)
        return next((r for r in rows if r[1] == "FailedScheduling"), None)

    row = eventually(failed_event)
    assert row[0] == "Warning" and row[3] == "default-scheduler"
    assert row[4] == message
    pod = get_json(sim_cluster, "pod", "greedy")
    assert pod["status"]["phase"] == "Pending" and not pod["spec"].get("nodeName")
    scheduled = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (scheduled["status"], scheduled["reason"], scheduled["message"]) == ("False", "Unschedulable", message)
    status = table(sim_cluster.kubectl("get", "pod", "greedy").stdout)[1]
    assert status[2] == "Pending"

    # The resources appear: one node's allocatable grows (as when a kubelet reports a resized machine).
    grown = json.dumps({"status": {"capacity": {"cpu": "16"}, "allocatable": {"cpu": "16"}}})
    sim_cluster.kubectl("patch", "node", "sim-node-4", "--subresource=status", "--type=merge", "-p", grown)
    eventually(lambda: get_json(sim_cluster, "pod", "greedy")["spec"].get("nodeName") == "sim-node-4")
    sim_cluster.kubectl("delete", "pod", "greedy", "--wait=false")


def test_cordoned_nodes_and_uncordon(sim_cluster: Cluster) -> None:
    nodes = [f"sim-node-{i}" for i in range(5)]
    sim_cluster.kubectl("cordon", *nodes)
    try:
        sim_cluster.kubectl("apply", "-f", "-", input=pod_manifest("waiting"))

        def condition_message() -> str:
            pod = get_json(sim_cluster, "pod", "waiting")
            for c in pod["status"].get("conditions") or []:
                if c["type"] == "PodScheduled" and c["status"] == "False":
                    return str(c["message"])
            return ""

        assert eventually(condition_message).startswith("0/5 nodes are available: 5 node(s) were unschedulable.")
    finally:
        sim_cluster.kubectl("uncordon", *nodes)
    eventually(lambda: get_json(sim_cluster, "pod", "waiting")["spec"].get("nodeName"))
    sim_cluster.kubectl("delete", "pod", "waiting", "--wait=false")


def test_drain_evicts_through_the_eviction_subresource(sim_cluster: Cluster) -> None:
    sim_cluster.kubectl("apply", "-f", "-", input=pod_manifest("drained", node="sim-node-2"))
    eventually(lambda: get_json(sim_cluster, "pod", "drained")["status"].get("phase") == "Running")
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "drained"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "drained"}}},
    }
    sim_cluster.kubectl("apply", "-f", "-", input=json.dumps(budget))
    try:
        # kubectl retries a refused eviction after 5 s, and gives up at its next attempt once the timeout has passed:
        # under 5 s, the one retry the message announces is the last.
        blocked = sim_cluster.kubectl(
            "drain", "sim-node-2", "--force", "--ignore-daemonsets", "--timeout=4s", check=False, timeout=60
        )
        assert blocked.returncode != 0, blocked.stdout + blocked.stderr
        assert (
            'error when evicting pods/"drained" -n "default" (will retry after 5s): '
            "Cannot evict pod as it would violate the pod's disruption budget."
        ) in blocked.stderr, blocked.stderr
        assert get_json(sim_cluster, "pod", "drained")["metadata"].get("deletionTimestamp") is None

        sim_cluster.kubectl("delete", "pdb", "drained")
        drained = sim_cluster.kubectl(
            "drain", "sim-node-2", "--force", "--ignore-daemonsets", "--timeout=60s", timeout=90
        )
        assert "evicting pod default/drained" in drained.stderr + drained.stdout
        assert "pod/drained evicted" in drained.stdout
        assert "node/sim-node-2 drained" in drained.stdout
        gone = sim_cluster.kubectl("get", "pod", "drained", check=False)
        assert gone.returncode != 0 and 'pods "drained" not found' in gone.stderr
        row = table(sim_cluster.kubectl("get", "node", "sim-node-2").stdout)[1]
        assert row[1] == "Ready,SchedulingDisabled"
    finally:
        sim_cluster.kubectl("uncordon", "sim-node-2")


def test_the_scheduler_reports_itself_in_componentstatuses(sim_cluster: Cluster) -> None:
    one = json.loads(sim_cluster.kubectl("get", "componentstatuses", "scheduler", "-o", "json").stdout)
    assert one["conditions"] == [{"type": "Healthy", "status": "True", "message": "ok"}]
