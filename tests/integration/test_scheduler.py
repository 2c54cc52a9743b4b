"""The scheduler against a real API server: placement, FailedScheduling, retries, affinity, preemption."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pinnace.api import errors
from pinnace.client.rest import ResourceRef
from pinnace.cluster.testenv import TestEnv
from pinnace.node.simstatus import node_object

pytestmark = pytest.mark.pinnace_env(controllers=["scheduler"])

PODS = ResourceRef("", "v1", "pods")
NODES = ResourceRef("", "v1", "nodes", namespaced=False)
EVENTS = ResourceRef("", "v1", "events")
CLASSES = ResourceRef("scheduling.k8s.io", "v1", "priorityclasses", namespaced=False)


def node(name: str, cpu: str = "4", *, labels: dict[str, str] | None = None, taints: list[Any] | None = None) -> Any:
    obj = node_object(
        name,
        internal_ip="10.0.0.1",
        pod_cidr="10.244.0.0/24",
        cpu=cpu,
        memory="8Gi",
        pods=110,
        ephemeral_storage="100Gi",
        labels=labels,
        now=datetime.now(UTC),
    )
    if taints:
        obj["spec"]["taints"] = taints
    return obj


def pod(name: str, cpu: str = "100m", **spec: Any) -> dict[str, Any]:
    labels = spec.pop("labels", {})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}], **spec},
    }


async def add_nodes(env: TestEnv, *nodes: Any) -> None:
    for n in nodes:
        await env.rest.create(NODES, n)


async def node_of(env: TestEnv, name: str) -> str:
    async def bound() -> str:
        return str((await env.rest.get(PODS, name, "default"))["spec"].get("nodeName") or "")

    return str(await env.eventually(bound))


async def unschedulable_message(env: TestEnv, name: str) -> str:
    async def message() -> str:
        current = await env.rest.get(PODS, name, "default")
        for c in (current.get("status") or {}).get("conditions") or []:
            if c["type"] == "PodScheduled" and c["status"] == "False":
                assert c["reason"] == "Unschedulable"
                return str(c["message"])
        return ""

    return str(await env.eventually(message))


async def events_about(env: TestEnv, name: str, reason: str) -> list[dict[str, Any]]:
    listing = await env.rest.list(EVENTS, "default")
    return [e for e in listing["items"] if e["involvedObject"]["name"] == name and e["reason"] == reason]


async def test_pod_is_bound_with_condition_and_event(pinnace_env: TestEnv) -> None:
    await add_nodes(pinnace_env, node("n1"))
    await pinnace_env.rest.create(PODS, pod("web"), "default")
    assert await node_of(pinnace_env, "web") == "n1"
    bound = await pinnace_env.rest.get(PODS, "web", "default")
    assert any(c["type"] == "PodScheduled" and c["status"] == "True" for c in bound["status"]["conditions"])
    events = await pinnace_env.eventually(lambda: events_about(pinnace_env, "web", "Scheduled"))
    assert events[0]["message"] == "Successfully assigned default/web to n1"
    assert events[0]["type"] == "Normal"
    assert events[0]["source"]["component"] == "default-scheduler"


async def test_unschedulable_message_then_scheduled_when_a_node_appears(pinnace_env: TestEnv) -> None:
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    await add_nodes(pinnace_env, node("small-1", "1"), node("small-2", "1"), node("small-3", "1"))
    await add_nodes(pinnace_env, node("tainted-1", "8", taints=[taint]), node("tainted-2", "8", taints=[taint]))
    await pinnace_env.rest.create(PODS, pod("big", "2"), "default")
    message = await unschedulable_message(pinnace_env, "big")
    assert message == (
        "0/5 nodes are available: 2 node(s) had untolerated taint {dedicated: gpu}, 3 Insufficient cpu. "
        "preemption: 0/5 nodes are available: 2 Preemption is not helpful for scheduling, "
        "3 No preemption victims found for incoming pod."
    )
    warnings = await pinnace_env.eventually(lambda: events_about(pinnace_env, "big", "FailedScheduling"))
    assert warnings[0]["type"] == "Warning" and warnings[0]["message"] == message
    fields = (await pinnace_env.rest.get(PODS, "big", "default"))["metadata"]["managedFields"]
    writers = {(f["manager"], f.get("subresource", "")) for f in fields if "f:status" in f["fieldsV1"]}
    assert writers == {("kube-scheduler", "status")}  # as upstream's, though it runs in the controller manager
    await add_nodes(pinnace_env, node("large", "4"))
    assert await node_of(pinnace_env, "big") == "large"


async def test_resources_account_for_pods_already_placed(pinnace_env: TestEnv) -> None:
    await add_nodes(pinnace_env, node("n1", "1"), node("n2", "1"))
    for i in range(4):
        await pinnace_env.rest.create(PODS, pod(f"p{i}", "500m"), "default")
    placed = [await node_of(pinnace_env, f"p{i}") for i in range(4)]
    assert sorted(placed) == ["n1", "n1", "n2", "n2"]
    await pinnace_env.rest.create(PODS, pod("extra", "500m"), "default")
    assert (await unschedulable_message(pinnace_env, "extra")).startswith(
        "0/2 nodes are available: 2 Insufficient cpu."
    )
    await pinnace_env.rest.delete(PODS, "p0", "default", gracePeriodSeconds=0)
    assert await node_of(pinnace_env, "extra") in ("n1", "n2")


async def test_node_selector_affinity_and_tolerations(pinnace_env: TestEnv) -> None:
    taint = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    await add_nodes(
        pinnace_env,
        node("ssd", labels={"disk": "ssd"}),
        node("hdd", labels={"disk": "hdd"}),
        node("db", labels={"disk": "ssd"}, taints=[taint]),
    )
    await pinnace_env.rest.create(PODS, pod("sel", nodeSelector={"disk": "hdd"}), "default")
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]
            }
        }
    }
    toleration = [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]
    await pinnace_env.rest.create(PODS, pod("aff", affinity=affinity), "default")
    await pinnace_env.rest.create(PODS, pod("tol", affinity=affinity, tolerations=toleration, nodeName=None), "default")
    assert await node_of(pinnace_env, "sel") == "hdd"
    assert await node_of(pinnace_env, "aff") == "ssd"
    assert await node_of(pinnace_env, "tol") in ("ssd", "db")
    await pinnace_env.rest.create(PODS, pod("none", nodeSelector={"disk": "nvme"}), "default")
    assert (await unschedulable_message(pinnace_env, "none")).startswith(
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, "
        "2 node(s) didn't match Pod's node affinity/selector."
    )


async def test_unschedulable_node_is_skipped(pinnace_env: TestEnv) -> None:
    cordoned = node("cordoned")
    cordoned["spec"]["unschedulable"] = True
    await add_nodes(pinnace_env, cordoned)
    await pinnace_env.rest.create(PODS, pod("p"), "default")
    assert (await unschedulable_message(pinnace_env, "p")).startswith(
        "0/1 nodes are available: 1 node(s) were unschedulable."
    )
    await pinnace_env.rest.patch(NODES, "cordoned", {"spec": {"unschedulable": False}})
    assert await node_of(pinnace_env, "p") == "cordoned"


def anti_affinity(app: str) -> dict[str, Any]:
    term = {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": "kubernetes.io/hostname"}
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


async def test_required_pod_anti_affinity_spreads_one_per_host(pinnace_env: TestEnv) -> None:
    await add_nodes(pinnace_env, node("a"), node("b"), node("c"))
    for i in range(3):
        await pinnace_env.rest.create(PODS, pod(f"r{i}", labels={"app": "r"}, affinity=anti_affinity("r")), "default")
    placed = {await node_of(pinnace_env, f"r{i}") for i in range(3)}
    assert placed == {"a", "b", "c"}
    await pinnace_env.rest.create(PODS, pod("r3", labels={"app": "r"}, affinity=anti_affinity("r")), "default")
    assert (await unschedulable_message(pinnace_env, "r3")).startswith(
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."
    )
    # a pod without anti-affinity of its own is kept off by the placed pods' anti-affinity
    await pinnace_env.rest.create(PODS, pod("plain", labels={"app": "r"}), "default")
    assert (await unschedulable_message(pinnace_env, "plain")).startswith(
        "0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity rules."
    )


async def test_required_pod_affinity_follows_its_peer(pinnace_env: TestEnv) -> None:
    await add_nodes(pinnace_env, node("a", labels={"zone": "z1"}), node("b", labels={"zone": "z2"}))
    term = {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": "zone"}
    affinity = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    await pinnace_env.rest.create(PODS, pod("web", affinity=affinity), "default")
    assert (await unschedulable_message(pinnace_env, "web")).startswith(
        "0/2 nodes are available: 2 node(s) didn't match pod affinity rules."
    )
    await pinnace_env.rest.create(PODS, pod("cache", labels={"app": "cache"}, nodeSelector={"zone": "z2"}), "default")
    assert await node_of(pinnace_env, "cache") == "b"
    assert await node_of(pinnace_env, "web") == "b"


async def test_topology_spread_do_not_schedule(pinnace_env: TestEnv) -> None:
    await add_nodes(pinnace_env, node("a", labels={"zone": "z1"}), node("b", labels={"zone": "z2"}))
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "s"}},
        }
    ]
    for i in range(4):
        await pinnace_env.rest.create(
            PODS, pod(f"s{i}", labels={"app": "s"}, topologySpreadConstraints=spread), "default"
        )
        await node_of(pinnace_env, f"s{i}")
    placed = [await node_of(pinnace_env, f"s{i}") for i in range(4)]
    assert sorted(placed) == ["a", "a", "b", "b"]


async def test_priority_class_preemption(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    await rest.create(CLASSES, {"metadata": {"name": "high"}, "value": 1000})
    await add_nodes(pinnace_env, node("only", "1"))
    await rest.create(PODS, pod("low", "800m"), "default")
    assert await node_of(pinnace_env, "low") == "only"
    await rest.create(PODS, pod("vip", "800m", priorityClassName="high"), "default")

    async def low_deleting() -> bool:
        try:
            current = await rest.get(PODS, "low", "default")
        except errors.NotFound:
            return True
        return bool(current["metadata"].get("deletionTimestamp"))

    await pinnace_env.eventually(low_deleting)
    vip = await pinnace_env.eventually(lambda: _nominated(pinnace_env, "vip"))
    assert vip == "only"
    await rest.delete(PODS, "low", "default", gracePeriodSeconds=0)  # what the node would do when it stops
    assert await node_of(pinnace_env, "vip") == "only"
    preempted = await pinnace_env.eventually(lambda: events_about(pinnace_env, "low", "Preempted"))
    assert preempted[0]["message"].startswith("Preempted by pod ")


async def _nominated(env: TestEnv, name: str) -> str:
    current = await env.rest.get(PODS, name, "default")
    return str((current.get("status") or {}).get("nominatedNodeName") or current["spec"].get("nodeName") or "")


async def test_preemption_policy_never_does_not_preempt(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    await rest.create(CLASSES, {"metadata": {"name": "polite"}, "value": 1000, "preemptionPolicy": "Never"})
    await add_nodes(pinnace_env, node("only", "1"))
    await rest.create(PODS, pod("low", "800m"), "default")
    await node_of(pinnace_env, "low")
    await rest.create(PODS, pod("polite", "800m", priorityClassName="polite", preemptionPolicy="Never"), "default")
    assert await unschedulable_message(pinnace_env, "polite") == (
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
    )


async def test_other_schedulers_pods_are_left_alone(pinnace_env: TestEnv) -> None:
    await add_nodes(pinnace_env, node("n1"))
    await pinnace_env.rest.create(PODS, pod("mine", schedulerName="my-scheduler"), "default")
    await pinnace_env.rest.create(PODS, pod("theirs"), "default")
    await node_of(pinnace_env, "theirs")
    assert not (await pinnace_env.rest.get(PODS, "mine", "default"))["spec"].get("nodeName")
