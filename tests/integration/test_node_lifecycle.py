"""The node lifecycle controller on simulated nodes: Unknown after the grace period, taints, evictions, recovery."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api import errors
from pinnace.cluster.testenv import TestEnv
from pinnace.controllers.nodelifecycle import add_node_lifecycle_controller

NODE, POD = "v1/Node", "v1/Pod"
GRACE = 1.0


def pod(name: str, node: str, tolerations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeName": node, "containers": [{"name": "app", "image": "nginx"}]}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), None)


def taints(node: dict[str, Any]) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or []}


async def cluster(env: TestEnv, nodes: int = 2, eviction_timeout: float = 300.0) -> Any:
    manager = env.manager()
    await add_node_lifecycle_controller(
        manager, grace_period=GRACE, eviction_timeout=eviction_timeout, monitor_period=0.2
    )
    await env.start(manager)
    return await env.run_sim_nodes(nodes, manager, heartbeat_interval=0.2)


async def running(env: TestEnv, name: str) -> None:
    async def check() -> bool:
        p = await env.client.get(POD, name, "default")
        return bool(p["status"].get("phase") == "Running")

    await env.eventually(check)


async def events(env: TestEnv, reason: str) -> list[dict[str, Any]]:
    """The core/v1 Events of ``reason`` (what kubectl describe lists), with events.k8s.io names for note/regarding."""
    found = await env.client.list("v1/Event")
    return [{**e, "note": e["message"], "regarding": e["involvedObject"]} for e in found if e.get("reason") == reason]


async def test_silent_node_goes_unknown_tainted_and_recovers(pinnace_env: TestEnv) -> None:
    sim = await cluster(pinnace_env)
    c = pinnace_env.client
    await c.create(pod("web", "sim-node-0", tolerations=[]))
    await running(pinnace_env, "web")
    await pinnace_env.eventually(lambda: events(pinnace_env, "RegisteredNode"))
    sim.pause("sim-node-0")

    async def unknown() -> dict[str, Any] | None:
        node = await c.get(NODE, "sim-node-0")
        ready = condition(node, "Ready")
        return node if ready and ready["status"] == "Unknown" and taints(node) else None

    node = await pinnace_env.eventually(unknown)
    ready = condition(node, "Ready")
    assert ready is not None
    assert ready["reason"] == "NodeStatusUnknown"
    assert ready["message"] == "Kubelet stopped posting node status."
    for type_ in ("MemoryPressure", "DiskPressure", "PIDPressure"):
        assert (condition(node, type_) or {}).get("status") == "Unknown"
    assert (condition(node, "NetworkUnavailable") or {}).get("status") == "False"

    async def tainted() -> bool:
        node = await c.get(NODE, "sim-node-0")
        return taints(node) == {
            ("node.kubernetes.io/unreachable", "NoExecute"),
            ("node.kubernetes.io/unreachable", "NoSchedule"),
        }

    await pinnace_env.eventually(tainted)
    node = await c.get(NODE, "sim-node-0")
    no_execute = next(t for t in node["spec"]["taints"] if t["effect"] == "NoExecute")
    assert no_execute["timeAdded"]
    other = await c.get(NODE, "sim-node-1")
    assert (condition(other, "Ready") or {}).get("status") == "True" and not taints(other)
    not_ready = await pinnace_env.eventually(lambda: events(pinnace_env, "NodeNotReady"))
    notes = {e["note"] for e in not_ready}
    assert "Node sim-node-0 status is now: NodeNotReady" in notes

    sim.resume("sim-node-0")

    async def recovered() -> bool:
        node = await c.get(NODE, "sim-node-0")
        return (condition(node, "Ready") or {}).get("status") == "True" and not taints(node)

    await pinnace_env.eventually(recovered)
    await pinnace_env.eventually(lambda: events(pinnace_env, "NodeReady"))


async def test_pods_of_a_silent_node_are_marked_not_ready_and_evicted(pinnace_env: TestEnv) -> None:
    sim = await cluster(pinnace_env, eviction_timeout=1.0)
    c = pinnace_env.client
    forever = [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}]
    await c.create(pod("default-toleration", "sim-node-0"))  # eviction_timeout applies
    await c.create(pod("stays", "sim-node-0", tolerations=forever))
    await c.create(pod("elsewhere", "sim-node-1"))
    for name in ("default-toleration", "stays", "elsewhere"):
        await running(pinnace_env, name)
    sim.pause("sim-node-0")

    async def evicted() -> dict[str, Any] | None:
        p = await c.get(POD, "default-toleration", "default")
        return p if p["metadata"].get("deletionTimestamp") else None

    p = await pinnace_env.eventually(evicted, timeout=15)
    # The node's kubelet is gone: nothing finishes the deletion, the pod stays Terminating (as upstream).
    target = condition(p, "DisruptionTarget")
    assert target is not None and target["status"] == "True" and target["reason"] == "DeletionByTaintManager"
    assert (condition(p, "Ready") or {}).get("status") == "False"
    marked = await pinnace_env.eventually(lambda: events(pinnace_env, "TaintManagerEviction"))
    assert any(e["note"] == "Marking for deletion Pod default/default-toleration" for e in marked)
    pod_events = [e for e in await events(pinnace_env, "NodeNotReady") if e["regarding"]["kind"] == "Pod"]
    assert {e["regarding"]["name"] for e in pod_events} >= {"default-toleration", "stays"}

    stays = await c.get(POD, "stays", "default")
    assert not stays["metadata"].get("deletionTimestamp")
    assert (condition(stays, "Ready") or {}).get("status") == "False"
    assert not (await c.get(POD, "elsewhere", "default"))["metadata"].get("deletionTimestamp")

    sim.resume("sim-node-0")  # the kubelet returns: it finishes the deletion and reports the other pod Ready

    async def gone() -> bool:
        try:
            await c.get(POD, "default-toleration", "default")
        except errors.NotFound:
            return True
        return False

    await pinnace_env.eventually(gone)

    async def ready_again() -> bool:
        return (condition(await c.get(POD, "stays", "default"), "Ready") or {}).get("status") == "True"

    await pinnace_env.eventually(ready_again)


async def test_pod_without_a_matching_toleration_is_evicted_at_once(pinnace_env: TestEnv) -> None:
    await cluster(pinnace_env, eviction_timeout=300.0)
    c = pinnace_env.client
    await c.create(pod("intolerant", "sim-node-1"))
    await c.create(pod("tolerant", "sim-node-1"))
    await running(pinnace_env, "intolerant")
    node = await c.get(NODE, "sim-node-1")
    node["spec"]["taints"] = [{"key": "dedicated", "value": "gpu", "effect": "NoExecute"}]
    await c.update(node)

    async def gone(name: str) -> bool:
        try:
            await c.get(POD, name, "default")
        except errors.NotFound:
            return True
        return False

    await pinnace_env.eventually(lambda: gone("intolerant"))
    # the user's taint stays; the controller only manages its own
    assert taints(await c.get(NODE, "sim-node-1")) == {("dedicated", "NoExecute")}


@pytest.mark.parametrize("seconds", [0])
async def test_toleration_seconds_zero_evicts_at_once(pinnace_env: TestEnv, seconds: int) -> None:
    sim = await cluster(pinnace_env, eviction_timeout=300.0)
    c = pinnace_env.client
    tol = [
        {
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": seconds,
        }
    ]
    await c.create(pod("short", "sim-node-0", tolerations=tol))
    await c.create(pod("long", "sim-node-0"))
    await running(pinnace_env, "short")
    await running(pinnace_env, "long")
    sim.pause("sim-node-0")

    async def terminating(name: str) -> bool:
        return bool((await c.get(POD, name, "default"))["metadata"].get("deletionTimestamp"))

    await pinnace_env.eventually(lambda: terminating("short"), timeout=15)
    assert not await terminating("long")


async def test_all_nodes_silent_is_a_disruption_not_an_eviction(pinnace_env: TestEnv) -> None:
    sim = await cluster(pinnace_env, nodes=1, eviction_timeout=0.0)
    c = pinnace_env.client
    await c.create(pod("kept", "sim-node-0"))
    await running(pinnace_env, "kept")
    sim.pause("sim-node-0")

    async def no_schedule_only() -> bool:
        node = await c.get(NODE, "sim-node-0")
        return taints(node) == {("node.kubernetes.io/unreachable", "NoSchedule")}

    await pinnace_env.eventually(no_schedule_only)
    assert not (await c.get(POD, "kept", "default"))["metadata"].get("deletionTimestamp")
