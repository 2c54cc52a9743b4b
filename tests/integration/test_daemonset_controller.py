"""The DaemonSet controller: a pod per eligible node (nodeSelector, affinity, taints and the default
daemon tolerations), following nodes; rolling updates with maxUnavailable and maxSurge; OnDelete; status."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pinnace.cluster.testenv import TestEnv
from pinnace.controllers._daemon_nodes import target_node
from pinnace.runtime.client import MergePatch

from ._workloads import finish_pod, live_pods, recorded, run_pod, template

pytestmark = pytest.mark.pinnace_env(controllers=["daemonset"])

DS = "apps/v1/DaemonSet"
SELECTOR = "app=agent"


def node(name: str, labels: dict[str, str] | None = None, taints: list[dict[str, str]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def ds(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template({"app": "agent"}), **spec},
    }


async def placement(env: TestEnv) -> dict[str, str]:
    """node -> pod name of the live daemon pods."""
    return {target_node(p): p["metadata"]["name"] for p in await live_pods(env, SELECTOR)}


async def wait_nodes(env: TestEnv, expected: set[str]) -> dict[str, str]:
    async def check() -> dict[str, str]:
        pods = await live_pods(env, SELECTOR)
        where = await placement(env)
        return where if set(where) == expected and len(pods) == len(expected) else {}

    try:
        result: dict[str, str] = await env.eventually(check)
    except AssertionError:
        raise AssertionError(f"daemon pods on {sorted(await placement(env))}, not {sorted(expected)}") from None
    return result


async def status(env: TestEnv) -> dict[str, Any]:
    obj = await env.client.get(DS, "agent", "default")
    result: dict[str, Any] = obj.get("status") or {}
    return result


async def test_one_pod_per_node_following_nodes(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    for name in ("n1", "n2"):
        await env.client.create(node(name))
    await env.client.create(ds())
    where = await wait_nodes(env, {"n1", "n2"})
    pod = next(p for p in await live_pods(env, SELECTOR) if p["metadata"]["name"] == where["n1"])
    assert pod["metadata"]["generateName"] == "agent-"
    assert pod["metadata"]["labels"]["pod-template-generation"] == "1"
    assert pod["metadata"]["labels"]["controller-revision-hash"]
    required = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required == {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]
    }
    keys = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]}
    assert keys >= {
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    }
    assert not pod["spec"].get("nodeName"), "the scheduler binds daemon pods"

    await env.client.create(node("n3"))
    await wait_nodes(env, {"n1", "n2", "n3"})
    await env.client.delete(await env.client.get("v1/Node", "n2"))
    await wait_nodes(env, {"n1", "n3"})

    for p in await live_pods(env, SELECTOR):
        await run_pod(env, p["metadata"]["name"])

    async def counted() -> bool:
        s = await status(env)
        return s.get("numberReady") == 2 and s.get("numberAvailable") == 2

    await env.eventually(counted)
    s = await status(env)
    assert (s["desiredNumberScheduled"], s["currentNumberScheduled"], s["updatedNumberScheduled"]) == (2, 2, 2)
    assert (s["numberMisscheduled"], s["observedGeneration"]) == (0, 1)
    assert "numberUnavailable" not in s  # omitempty upstream: not written at zero
    created = "Created pod: agent-"
    await recorded(env, "agent", lambda reason, note: reason == "SuccessfulCreate" and note.startswith(created))


async def test_node_selector_and_label_changes(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    await env.client.create(node("gpu", {"accel": "yes"}))
    plain = await env.client.create(node("plain"))
    spec_template = template({"app": "agent"})
    spec_template["spec"]["nodeSelector"] = {"accel": "yes"}
    await env.client.create(ds(template=spec_template))
    await wait_nodes(env, {"gpu"})
    await env.client.patch(plain, MergePatch({"metadata": {"labels": {"accel": "yes"}}}))
    await wait_nodes(env, {"gpu", "plain"})
    await env.client.patch(plain, MergePatch({"metadata": {"labels": {"accel": None}}}))
    await wait_nodes(env, {"gpu"})


async def test_taints_and_tolerations(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    await env.client.create(node("clean"))
    await env.client.create(node("dedicated", taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]))
    await env.client.create(
        node("cordoned", taints=[{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}])
    )
    await env.client.create(
        node("unreachable", taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}])
    )
    obj = await env.client.create(ds())
    await wait_nodes(env, {"clean", "cordoned", "unreachable"})
    tolerating = template({"app": "agent"})
    tolerating["spec"]["tolerations"] = [
        {"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}
    ]
    await env.client.patch(obj, MergePatch({"spec": {"template": tolerating}}))
    await wait_nodes(env, {"clean", "cordoned", "unreachable", "dedicated"})
    evicting = await env.client.get("v1/Node", "clean")
    await env.client.patch(evicting, MergePatch({"spec": {"taints": [{"key": "gone", "effect": "NoExecute"}]}}))
    await wait_nodes(env, {"cordoned", "unreachable", "dedicated"})


async def test_failed_pod_is_replaced(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    await env.client.create(node("n1"))
    await env.client.create(ds())
    first = (await wait_nodes(env, {"n1"}))["n1"]
    await finish_pod(env, first, exit_code=1)

    async def replaced() -> bool:
        where = await placement(env)
        return bool(where.get("n1")) and where["n1"] != first

    await env.eventually(replaced)
    await recorded(env, "agent", lambda reason, _: reason == "FailedDaemonPod")


async def _image_by_node(env: TestEnv) -> dict[str, str]:
    return {target_node(p): p["spec"]["containers"][0]["image"] for p in await live_pods(env, SELECTOR)}


async def test_rolling_update_max_unavailable(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    for name in ("n1", "n2", "n3"):
        await env.client.create(node(name))
    obj = await env.client.create(ds())
    await wait_nodes(env, {"n1", "n2", "n3"})
    for p in await live_pods(env, SELECTOR):
        await run_pod(env, p["metadata"]["name"])
    await env.eventually(lambda: _available(env, 3))
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "busybox:2"}]}}}}
    await env.client.patch(obj, MergePatch(patch))

    async def one_updated() -> bool:
        images = await _image_by_node(env)
        return list(images.values()).count("busybox:2") == 1 and len(images) == 3

    await env.eventually(one_updated)
    await asyncio.sleep(0.3)
    assert list((await _image_by_node(env)).values()).count("busybox:2") == 1, "maxUnavailable 1: one at a time"
    for _ in range(3):
        for p in await live_pods(env, SELECTOR):
            if p["spec"]["containers"][0]["image"] == "busybox:2" and p.get("status", {}).get("phase") != "Running":
                await run_pod(env, p["metadata"]["name"])
        await asyncio.sleep(0.3)

    async def all_updated() -> bool:
        images = await _image_by_node(env)
        return list(images.values()) == ["busybox:2"] * 3

    await env.eventually(all_updated)
    for p in await live_pods(env, SELECTOR):
        await run_pod(env, p["metadata"]["name"])

    async def rolled() -> bool:
        s = await status(env)
        return (
            s.get("updatedNumberScheduled") == 3 and s.get("numberAvailable") == 3 and s.get("observedGeneration") == 2
        )

    await env.eventually(rolled)
    revisions = await env.client.list("apps/v1/ControllerRevision", "default")
    assert sorted(r["revision"] for r in revisions) == [1, 2]


async def _available(env: TestEnv, n: int) -> bool:
    return (await status(env)).get("numberAvailable") == n


async def test_rolling_update_with_surge_starts_new_pod_beside_old(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    await env.client.create(node("n1"))
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    obj = await env.client.create(ds(updateStrategy=strategy))
    old = (await wait_nodes(env, {"n1"}))["n1"]
    await run_pod(env, old)
    await env.eventually(lambda: _available(env, 1))
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "busybox:2"}]}}}}
    await env.client.patch(obj, MergePatch(patch))

    async def two() -> list[dict[str, Any]]:
        pods = await live_pods(env, SELECTOR)
        return pods if len(pods) == 2 else []

    pods = await env.eventually(two)
    new = next(p for p in pods if p["metadata"]["name"] != old)
    await asyncio.sleep(0.2)
    assert len(await live_pods(env, SELECTOR)) == 2, "the old pod stays until the new one is available"
    await run_pod(env, new["metadata"]["name"])
    await wait_nodes(env, {"n1"})
    assert (await placement(env))["n1"] == new["metadata"]["name"]


async def test_on_delete_keeps_old_pods(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    await env.client.create(node("n1"))
    obj = await env.client.create(ds(updateStrategy={"type": "OnDelete"}))
    await wait_nodes(env, {"n1"})
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "busybox:2"}]}}}}
    await env.client.patch(obj, MergePatch(patch))

    async def observed() -> bool:
        return (await status(env)).get("observedGeneration") == 2

    await env.eventually(observed)
    assert await _image_by_node(env) == {"n1": "busybox"}
    (pod,) = await live_pods(env, SELECTOR)
    await env.client.delete(pod)

    async def replaced() -> bool:
        return await _image_by_node(env) == {"n1": "busybox:2"}

    await env.eventually(replaced)
