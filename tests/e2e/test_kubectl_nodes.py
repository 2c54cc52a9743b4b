"""Nodes with the real kubectl against ``pinnace up --sim-nodes 5``: Ready nodes, running pods, a node going away.

The cluster's node lifecycle runs with short timeouts (see ``sim_cluster``): a
node silent for SIM_NODE_GRACE_PERIOD seconds goes NotReady, and its pods are
evicted SIM_POD_EVICTION_TIMEOUT seconds later. A simulated node stops its
heartbeat when it carries ``pinnace.dev/sim-paused=true`` — that is how a test
makes one "go away" from outside the process.
"""

from __future__ import annotations

import json
import time
from typing import Any, TypeVar

from tests.e2e.conftest import Cluster
from tests.e2e.kubectl import eventually, get_json, table

T = TypeVar("T")


def pod_manifest(name: str, node: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "nginx:1.27"}]},
        }
    )


def node_rows(cluster: Cluster) -> list[list[str]]:
    return table(cluster.kubectl("get", "nodes").stdout)


def test_get_nodes_shows_five_ready_nodes(sim_cluster: Cluster) -> None:
    def five_ready() -> list[list[str]] | None:
        rows = node_rows(sim_cluster)
        return rows if len(rows) == 6 and all(r[1] == "Ready" for r in rows[1:]) else None

    rows = eventually(five_ready)
    assert rows[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert [r[0] for r in rows[1:]] == [f"sim-node-{i}" for i in range(5)]
    assert all(r[2] == "agent" and r[4] == "v1.32.0" for r in rows[1:])
    wide = table(sim_cluster.kubectl("get", "node", "sim-node-0", "-o", "wide").stdout)
    header, row = wide[0], wide[1]
    assert header[:7] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP"]
    assert row[6] == "<none>" and row[5].count(".") == 3
    described = sim_cluster.kubectl("describe", "node", "sim-node-0").stdout
    assert "Ready            True" in described or "KubeletReady" in described
    assert "node.kubernetes.io/instance-type=simulated" in described
    assert "Taints:             <none>" in described


def test_a_pod_bound_to_a_node_runs_and_is_ready(sim_cluster: Cluster) -> None:
    sim_cluster.kubectl("apply", "-f", "-", input=pod_manifest("bound", "sim-node-1"))
    sim_cluster.kubectl("wait", "--for=condition=Ready", "pod/bound", "--timeout=30s")
    rows = table(sim_cluster.kubectl("get", "pod", "bound", "-o", "wide").stdout)
    header, row = rows[0], rows[1]
    assert header[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert row[1:4] == ["1/1", "Running", "0"]
    assert row[5].startswith("10.") and row[6] == "sim-node-1"
    pod = get_json(sim_cluster, "pod", "bound")
    node = get_json(sim_cluster, "node", "sim-node-1")
    assert pod["status"]["hostIP"] == node["status"]["addresses"][0]["address"]
    started = time.monotonic()
    sim_cluster.kubectl("delete", "pod", "bound", timeout=30)  # waits until the node has finished it
    assert time.monotonic() - started < 20
    assert sim_cluster.kubectl("get", "pod", "bound", check=False).returncode != 0


def test_logs_and_exec_on_a_simulated_node_say_no_kubelet_serves_it(sim_cluster: Cluster) -> None:
    """No kubelet serves a simulated node: the API server dials none and answers as upstream does for a kubelet it
    cannot reach (a bare 500: the log stream's failed GET, exec's ``error dialing backend``), the dial error
    replaced by the reason (it dialled the made-up address, and relayed whatever answered there: a 404, no message)."""
    sim_cluster.kubectl("apply", "-f", "-", input=pod_manifest("quiet", "sim-node-2"))
    sim_cluster.kubectl("wait", "--for=condition=Ready", "pod/quiet", "--timeout=30s")
    kubelet = get_json(sim_cluster, "node", "sim-node-2")["status"]["addresses"][0]["address"] + ":10250"
    why = f"dial tcp {kubelet}: node sim-node-2 is simulated: no kubelet serves it"
    logs = sim_cluster.kubectl("logs", "quiet", check=False)
    url = f"https://{kubelet}/containerLogs/default/quiet/app"
    assert (logs.returncode, logs.stderr.strip()) == (1, f'Error from server: Get "{url}": {why}')
    run = sim_cluster.kubectl("exec", "quiet", "--", "true", check=False)
    assert (run.returncode, run.stderr.strip()) == (1, f"Error from server: error dialing backend: {why}")
    sim_cluster.kubectl("delete", "pod", "quiet", "--wait=false")


def test_a_silent_node_goes_not_ready_and_its_pods_are_evicted(sim_cluster: Cluster) -> None:
    sim_cluster.kubectl("apply", "-f", "-", input=pod_manifest("doomed", "sim-node-4"))
    sim_cluster.kubectl("wait", "--for=condition=Ready", "pod/doomed", "--timeout=30s")
    sim_cluster.kubectl("annotate", "node", "sim-node-4", "pinnace.dev/sim-paused=true")
    try:

        def not_ready() -> bool:
            return any(r[0] == "sim-node-4" and r[1] == "NotReady" for r in node_rows(sim_cluster)[1:])

        eventually(not_ready)
        node = get_json(sim_cluster, "node", "sim-node-4")
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "Unknown"
        assert ready["reason"] == "NodeStatusUnknown"
        assert ready["message"] == "Kubelet stopped posting node status."

        def tainted() -> str | None:
            text = sim_cluster.kubectl("describe", "node", "sim-node-4").stdout
            return text if "node.kubernetes.io/unreachable:NoExecute" in text else None

        described = eventually(tainted)
        assert "node.kubernetes.io/unreachable:NoSchedule" in described

        def evicted() -> dict[str, Any] | None:
            pod = get_json(sim_cluster, "pod", "doomed")
            return pod if pod["metadata"].get("deletionTimestamp") else None

        pod = eventually(evicted)
        reasons = {c["type"]: c.get("reason") for c in pod["status"]["conditions"]}
        assert reasons.get("DisruptionTarget") == "DeletionByTaintManager"
        ready_pod = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
        assert ready_pod["status"] == "False"
        rows = table(sim_cluster.kubectl("get", "pod", "doomed").stdout)
        assert rows[1][2] == "Terminating"
        events = sim_cluster.kubectl("get", "events", "--field-selector", "involvedObject.name=doomed").stdout
        assert "TaintManagerEviction" in events
        assert "Marking for deletion Pod default/doomed" in events
        healthy = [r for r in node_rows(sim_cluster)[1:] if r[0] != "sim-node-4"]
        assert all(r[1] == "Ready" for r in healthy)
        described = sim_cluster.kubectl("describe", "node", "sim-node-4").stdout
        assert "Node sim-node-4 status is now: NodeNotReady" in described  # the node controller's event
    finally:
        sim_cluster.kubectl("annotate", "node", "sim-node-4", "pinnace.dev/sim-paused-")

    def back() -> bool:
        return any(r[0] == "sim-node-4" and r[1] == "Ready" for r in node_rows(sim_cluster)[1:])

    eventually(back)
    # the kubelet is back: it finishes the deletion it missed, and the taints are gone
    eventually(lambda: sim_cluster.kubectl("get", "pod", "doomed", check=False).returncode != 0)
    eventually(lambda: not get_json(sim_cluster, "node", "sim-node-4")["spec"].get("taints"))
