"""Simulated nodes: registration, heartbeats, pods that go Running, finish, and are deleted as by a kubelet."""

from __future__ import annotations

from typing import Any

from pinnace.api import errors
from pinnace.cluster.testenv import TestEnv
from pinnace.node.simstatus import ANNOTATION_EXIT_AFTER, ANNOTATION_EXIT_CODE, ANNOTATION_PAUSED, KUBELET_VERSION
from pinnace.runtime.client import MergePatch

NODE, POD, LEASE = "v1/Node", "v1/Pod", "coordination.k8s.io/v1/Lease"


def pod(name: str, node: str, **extra: Any) -> dict[str, Any]:
    annotations = extra.pop("annotations", None)
    spec = {"nodeName": node, "containers": [{"name": "app", "image": "nginx"}], **extra}
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in obj["status"].get("conditions") or [] if c["type"] == type_)


async def test_nodes_register_with_capacity_conditions_and_leases(pinnace_env: TestEnv) -> None:
    await pinnace_env.run_sim_nodes(3, cpu="4", memory="16Gi", pods=50)
    nodes = await pinnace_env.client.list(NODE)
    assert [n["metadata"]["name"] for n in nodes] == ["sim-node-0", "sim-node-1", "sim-node-2"]
    node = nodes[1]
    assert node["status"]["capacity"] == {"cpu": "4", "memory": "16Gi", "pods": "50", "ephemeral-storage": "100Gi"}
    assert node["status"]["allocatable"] == node["status"]["capacity"]
    assert node["status"]["nodeInfo"]["kubeletVersion"] == KUBELET_VERSION
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == "sim-node-1"
    assert labels["kubernetes.io/os"] == "linux"
    assert labels["node.kubernetes.io/instance-type"] == "simulated"
    assert node["metadata"]["annotations"]["pinnace.dev/simulated"] == "true"
    assert [a["type"] for a in node["status"]["addresses"]] == ["InternalIP", "Hostname"]
    assert condition(node, "Ready")["status"] == "True"
    assert condition(node, "Ready")["reason"] == "KubeletReady"
    assert condition(node, "MemoryPressure")["status"] == "False"
    cidrs = {n["spec"]["podCIDR"] for n in nodes}
    assert len(cidrs) == 3 and all(c.startswith("10.244.") and c.endswith("/24") for c in cidrs)
    lease = await pinnace_env.client.get(LEASE, "sim-node-1", "kube-node-lease")
    assert lease["spec"]["holderIdentity"] == "sim-node-1"
    assert lease["spec"]["leaseDurationSeconds"] == 40
    assert lease["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]


async def test_leases_are_renewed_and_pause_stops_them(pinnace_env: TestEnv) -> None:
    sim = await pinnace_env.run_sim_nodes(2, heartbeat_interval=0.2)
    c = pinnace_env.client
    first = (await c.get(LEASE, "sim-node-0", "kube-node-lease"))["spec"]["renewTime"]

    async def renewed() -> bool:
        return bool((await c.get(LEASE, "sim-node-0", "kube-node-lease"))["spec"]["renewTime"] != first)

    await pinnace_env.eventually(renewed)
    sim.pause("sim-node-0")
    await pinnace_env.eventually(lambda: sim._inflight == set())
    paused = (await c.get(LEASE, "sim-node-0", "kube-node-lease"))["spec"]["renewTime"]
    other = (await c.get(LEASE, "sim-node-1", "kube-node-lease"))["spec"]["renewTime"]

    async def other_renewed() -> bool:
        return bool((await c.get(LEASE, "sim-node-1", "kube-node-lease"))["spec"]["renewTime"] != other)

    await pinnace_env.eventually(other_renewed)
    await pinnace_env.eventually(other_renewed)  # several periods of the other node, none of the paused one
    assert (await c.get(LEASE, "sim-node-0", "kube-node-lease"))["spec"]["renewTime"] == paused
    sim.resume("sim-node-0")
    first = paused
    await pinnace_env.eventually(renewed)


async def test_pause_from_outside_with_the_annotation(pinnace_env: TestEnv) -> None:
    sim = await pinnace_env.run_sim_nodes(1, heartbeat_interval=0.2)
    node = await pinnace_env.client.get(NODE, "sim-node-0")
    node["metadata"].setdefault("annotations", {})[ANNOTATION_PAUSED] = "true"
    await pinnace_env.client.update(node)
    await pinnace_env.eventually(lambda: sim.nodes["sim-node-0"].paused)
    node = await pinnace_env.client.get(NODE, "sim-node-0")
    del node["metadata"]["annotations"][ANNOTATION_PAUSED]
    await pinnace_env.client.update(node)
    await pinnace_env.eventually(lambda: not sim.nodes["sim-node-0"].paused)


async def test_bound_pod_goes_running_and_ready(pinnace_env: TestEnv) -> None:
    await pinnace_env.run_sim_nodes(2)
    c = pinnace_env.client
    spec_init = [{"name": "init", "image": "busybox:1.36"}]
    await c.create(pod("web", "sim-node-1", initContainers=spec_init))

    async def running() -> dict[str, Any] | None:
        p = await c.get(POD, "web", "default")
        return p if p["status"].get("phase") == "Running" else None

    p = await pinnace_env.eventually(running)
    node = await c.get(NODE, "sim-node-1")
    status = p["status"]
    assert status["hostIP"] == node["status"]["addresses"][0]["address"]
    assert status["podIP"].startswith(node["spec"]["podCIDR"].rsplit(".", 1)[0] + ".")
    assert status["podIPs"] == [{"ip": status["podIP"]}]
    assert status["startTime"]
    types = [cond["type"] for cond in status["conditions"]]
    assert types == ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
    assert all(cond["status"] == "True" for cond in status["conditions"])
    (cs,) = status["containerStatuses"]
    assert cs["ready"] is True and cs["started"] is True and cs["restartCount"] == 0
    assert "running" in cs["state"]
    assert cs["image"] == "docker.io/library/nginx:latest"
    assert cs["imageID"].startswith("docker.io/library/nginx@sha256:")
    assert cs["containerID"].startswith("sim://")
    (init,) = status["initContainerStatuses"]
    assert init["state"]["terminated"]["reason"] == "Completed"


async def test_pods_get_distinct_ips(pinnace_env: TestEnv) -> None:
    await pinnace_env.run_sim_nodes(1)
    c = pinnace_env.client
    for i in range(5):
        await c.create(pod(f"p{i}", "sim-node-0"))

    async def all_running() -> list[str] | None:
        pods = await c.list(POD, "default")
        ips = [p["status"].get("podIP") for p in pods if p["status"].get("phase") == "Running"]
        return ips if len(ips) == 5 else None

    ips = await pinnace_env.eventually(all_running)
    assert len(set(ips)) == 5


async def test_pods_on_other_nodes_are_left_alone(pinnace_env: TestEnv) -> None:
    await pinnace_env.run_sim_nodes(1)
    c = pinnace_env.client
    await c.create(pod("elsewhere", "real-node"))
    await c.create(pod("here", "sim-node-0"))

    async def here_running() -> bool:
        return bool((await c.get(POD, "here", "default"))["status"].get("phase") == "Running")

    await pinnace_env.eventually(here_running)
    assert (await c.get(POD, "elsewhere", "default"))["status"]["phase"] == "Pending"


async def test_exit_after_finishes_pods_by_restart_policy(pinnace_env: TestEnv) -> None:
    await pinnace_env.run_sim_nodes(1)
    c = pinnace_env.client
    await c.create(pod("ok", "sim-node-0", restartPolicy="Never", annotations={ANNOTATION_EXIT_AFTER: "300ms"}))
    failing = {ANNOTATION_EXIT_AFTER: "200ms", ANNOTATION_EXIT_CODE: "3"}
    await c.create(pod("bad", "sim-node-0", restartPolicy="Never", annotations=failing))
    await c.create(pod("again", "sim-node-0", restartPolicy="Always", annotations=failing))

    async def phase(name: str, want: str) -> dict[str, Any] | None:
        p = await c.get(POD, name, "default")
        return p if p["status"].get("phase") == want else None

    ok = await pinnace_env.eventually(lambda: phase("ok", "Succeeded"))
    term = ok["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 0 and term["reason"] == "Completed"
    assert condition(ok, "Ready")["status"] == "False" and condition(ok, "Ready")["reason"] == "PodCompleted"
    bad = await pinnace_env.eventually(lambda: phase("bad", "Failed"))
    assert bad["status"]["containerStatuses"][0]["state"]["terminated"] == {
        **bad["status"]["containerStatuses"][0]["state"]["terminated"],
        "exitCode": 3,
        "reason": "Error",
    }

    async def restarted() -> dict[str, Any] | None:
        p = await c.get(POD, "again", "default")
        statuses = p["status"].get("containerStatuses") or [{}]
        return p if statuses[0].get("restartCount", 0) >= 1 else None

    again = await pinnace_env.eventually(restarted)
    assert again["status"]["phase"] == "Running"
    assert again["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 3


async def test_deleted_pod_is_finalized_by_the_kubelet(pinnace_env: TestEnv) -> None:
    await pinnace_env.run_sim_nodes(1)
    c = pinnace_env.client
    created = await c.create(pod("doomed", "sim-node-0"))

    async def running() -> bool:
        return bool((await c.get(POD, "doomed", "default"))["status"].get("phase") == "Running")

    await pinnace_env.eventually(running)
    await c.delete(created)  # graceful: 30 s by default, finished by the node at once
    marked = await c.get(POD, "doomed", "default")
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30

    async def gone() -> bool:
        try:
            await c.get(POD, "doomed", "default")
        except errors.NotFound:
            return True
        return False

    await pinnace_env.eventually(gone, timeout=5)


async def test_paused_node_leaves_pods_pending_until_resumed(pinnace_env: TestEnv) -> None:
    sim = await pinnace_env.run_sim_nodes(1)
    sim.pause("sim-node-0")
    c = pinnace_env.client
    await c.create(pod("waiting", "sim-node-0"))
    await pinnace_env.eventually(lambda: len(sim.queue) == 0 and not sim.queue.is_processing("default/waiting"))
    assert (await c.get(POD, "waiting", "default"))["status"]["phase"] == "Pending"
    sim.resume("sim-node-0")

    async def running() -> bool:
        return bool((await c.get(POD, "waiting", "default"))["status"].get("phase") == "Running")

    await pinnace_env.eventually(running)


async def test_add_node_and_delete_node(pinnace_env: TestEnv) -> None:
    sim = await pinnace_env.run_sim_nodes(1)
    node = await sim.add_node()
    assert node["metadata"]["name"] == "sim-node-1"
    await pinnace_env.client.get(LEASE, "sim-node-1", "kube-node-lease")
    await pinnace_env.client.delete(node)
    await pinnace_env.eventually(lambda: "sim-node-1" not in sim.nodes)
    await sim.stop()
    assert sim.nodes.keys() == {"sim-node-0"}


async def test_restart_adopts_existing_nodes_and_pods(pinnace_env: TestEnv) -> None:
    sim = await pinnace_env.run_sim_nodes(1)
    c = pinnace_env.client
    await c.create(pod("kept", "sim-node-0"))

    async def running() -> dict[str, Any] | None:
        p = await c.get(POD, "kept", "default")
        return p if p["status"].get("phase") == "Running" else None

    before = await pinnace_env.eventually(running)
    cidr = (await c.get(NODE, "sim-node-0"))["spec"]["podCIDR"]
    await sim.stop()
    root = "pinnace.dev/local-path-root"  # as a node registered before simulated nodes published one
    await c.patch(await c.get(NODE, "sim-node-0"), MergePatch({"metadata": {"annotations": {root: None}}}))
    again = await pinnace_env.run_sim_nodes(2)
    adopted = await c.get(NODE, "sim-node-0")
    assert adopted["spec"]["podCIDR"] == cidr
    assert adopted["metadata"]["annotations"][root].endswith("/sim-node-0")  # published on adoption
    assert (await c.get(NODE, "sim-node-1"))["spec"]["podCIDR"] != cidr
    await c.create(pod("new", "sim-node-0"))

    async def new_running() -> dict[str, Any] | None:
        p = await c.get(POD, "new", "default")
        return p if p["status"].get("phase") == "Running" else None

    new = await pinnace_env.eventually(new_running)
    assert new["status"]["podIP"] != before["status"]["podIP"]
    assert "sim-node-0" in again.nodes


async def test_a_statefulsets_claims_bind_on_simulated_nodes(pinnace_env: TestEnv) -> None:
    """Simulated nodes publish a local-path root, so a workload with claims of the default class runs on them."""
    from pinnace.cluster.storageclass import default_storage_class

    client = pinnace_env.client
    await client.create(default_storage_class())
    manager = await pinnace_env.run_controllers(
        ["statefulset", "scheduler", "persistentvolume-binder", "local-path-provisioner"]
    )
    await pinnace_env.run_sim_nodes(1, manager)
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    labels = {"app": "db"}
    template = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "db", "image": "postgres"}]}}
    spec = {"serviceName": "db", "replicas": 2, "selector": {"matchLabels": labels}, "template": template}
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"}}
    await client.create({**sts, "spec": {**spec, "volumeClaimTemplates": [claim]}})

    async def running() -> bool:
        pods = await client.list(POD, "default")
        return len(pods) == 2 and all(p.get("status", {}).get("phase") == "Running" for p in pods)

    await pinnace_env.eventually(running, timeout=30)
    for ordinal in (0, 1):
        bound = await client.get("v1/PersistentVolumeClaim", f"data-db-{ordinal}", "default")
        assert bound["status"]["phase"] == "Bound"
        assert bound["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == "sim-node-0"
    node = await client.get(NODE, "sim-node-0")
    assert node["metadata"]["annotations"]["pinnace.dev/local-path-root"].endswith("/sim-node-0")
