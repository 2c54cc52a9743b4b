"""The StatefulSet controller: ordinal names, ordered ready-gated start and scale-down, Parallel,
rolling updates with a partition, OnDelete, claims from templates, revisions and status."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pinnace.cluster.testenv import TestEnv
from pinnace.runtime.client import MergePatch

from ._workloads import finish_pod, live_pods, recorded, run_pod, template

pytestmark = pytest.mark.pinnace_env(controllers=["statefulset"])

STS = "apps/v1/StatefulSet"
SELECTOR = "app=web"


def sts(name: str = "web", replicas: int = 3, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "template": template({"app": "web"}),
            **spec,
        },
    }


async def names(env: TestEnv) -> list[str]:
    return [p["metadata"]["name"] for p in await live_pods(env, SELECTOR)]


async def wait_names(env: TestEnv, expected: list[str]) -> None:
    async def check() -> bool:
        return await names(env) == expected

    try:
        await env.eventually(check)
    except AssertionError:
        raise AssertionError(f"pods are {await names(env)}, not {expected}") from None


async def status(env: TestEnv, name: str = "web") -> dict[str, Any]:
    obj = await env.client.get(STS, name, "default")
    result: dict[str, Any] = obj.get("status") or {}
    return result


async def test_ordered_ready_creation_and_identity(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    await env.client.create(sts())
    await wait_names(env, ["web-0"])
    await asyncio.sleep(0.3)
    assert await names(env) == ["web-0"], "web-1 must wait for web-0 to be Running and Ready"
    await run_pod(env, "web-0", ready=False)
    await asyncio.sleep(0.3)
    assert await names(env) == ["web-0"], "Running but not Ready still blocks"
    await run_pod(env, "web-0")
    await wait_names(env, ["web-0", "web-1"])
    await run_pod(env, "web-1")
    await wait_names(env, ["web-0", "web-1", "web-2"])
    await run_pod(env, "web-2")

    pod = (await live_pods(env, SELECTOR))[1]
    labels = pod["metadata"]["labels"]
    assert labels["statefulset.kubernetes.io/pod-name"] == "web-1"
    assert labels["apps.kubernetes.io/pod-index"] == "1"
    assert labels["controller-revision-hash"].startswith("web-")
    assert pod["spec"]["hostname"] == "web-1" and pod["spec"]["subdomain"] == "web"
    owner = pod["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("StatefulSet", "web", True)

    async def settled() -> bool:
        s = await status(env)
        return bool(s.get("readyReplicas") == 3 and s.get("availableReplicas") == 3)

    await env.eventually(settled)
    s = await status(env)
    assert s["replicas"] == 3 and s["currentReplicas"] == 3 and s["updatedReplicas"] == 3
    assert s["currentRevision"] == s["updateRevision"] == labels["controller-revision-hash"]
    assert s["observedGeneration"] == 1
    await recorded(env, "web", ("SuccessfulCreate", "create Pod web-0 in StatefulSet web successful"))


async def test_scale_down_removes_highest_ordinal_first(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    obj = await env.client.create(sts(podManagementPolicy="Parallel"))
    await wait_names(env, ["web-0", "web-1", "web-2"])
    for n in ("web-0", "web-1", "web-2"):
        await run_pod(env, n)
    await env.client.patch(obj, MergePatch({"spec": {"replicas": 1}}))
    await wait_names(env, ["web-0"])
    await recorded(env, "web", ("SuccessfulDelete", "delete Pod web-2 in StatefulSet web successful"))


async def test_ordered_scale_down_goes_one_at_a_time(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    obj = await env.client.create(sts(replicas=2))
    await wait_names(env, ["web-0"])
    await run_pod(env, "web-0")
    await wait_names(env, ["web-0", "web-1"])
    await run_pod(env, "web-1")
    await env.eventually(lambda: _ready(env, 2))
    await run_pod(env, "web-0", ready=False)
    await env.client.patch(obj, MergePatch({"spec": {"replicas": 1}}))
    await asyncio.sleep(0.3)
    assert await names(env) == ["web-0", "web-1"], "no scale-down while an ordinal below is unhealthy"
    await run_pod(env, "web-0")
    await wait_names(env, ["web-0"])


async def _ready(env: TestEnv, n: int) -> bool:
    return (await status(env)).get("readyReplicas") == n


async def test_parallel_creates_all_at_once(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    await env.client.create(sts(replicas=4, podManagementPolicy="Parallel"))
    await wait_names(env, ["web-0", "web-1", "web-2", "web-3"])


async def test_volume_claim_templates_become_claims_and_volumes(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    claim = {
        "metadata": {"name": "www", "labels": {"tier": "data"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    await env.client.create(sts(replicas=2, podManagementPolicy="Parallel", volumeClaimTemplates=[claim]))
    await wait_names(env, ["web-0", "web-1"])
    pvc = await env.client.get("v1/PersistentVolumeClaim", "www-web-1", "default")
    assert pvc["metadata"]["labels"] == {"tier": "data", "app": "web"}
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
    pod = (await live_pods(env, SELECTOR))[1]
    assert {"name": "www", "persistentVolumeClaim": {"claimName": "www-web-1"}} in pod["spec"]["volumes"]
    await recorded(env, "web", ("SuccessfulCreate", "create Claim www-web-0 Pod web-0 in StatefulSet web success"))


async def test_a_claim_template_without_a_name_is_a_failed_create_not_a_crash(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    claim = {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    await env.client.create(sts(replicas=1, volumeClaimTemplates=[claim]))
    failed = "create Claim -web-0 for Pod web-0 in StatefulSet web failed"
    await recorded(env, "web", lambda reason, note: reason == "FailedCreate" and failed in note)
    assert await live_pods(env, SELECTOR) == []


async def test_rolling_update_with_partition_and_revisions(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    obj = await env.client.create(sts(podManagementPolicy="Parallel"))
    await wait_names(env, ["web-0", "web-1", "web-2"])
    for n in ("web-0", "web-1", "web-2"):
        await run_pod(env, n)
    await env.eventually(lambda: _ready(env, 3))
    first = (await status(env))["currentRevision"]

    patch = {
        "spec": {
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
            "template": {"spec": {"containers": [{"name": "app", "image": "busybox:2"}]}},
        }
    }
    await env.client.patch(obj, MergePatch(patch))

    async def image_of(name: str) -> str | None:
        for p in await live_pods(env, SELECTOR):
            if p["metadata"]["name"] == name:
                return str(p["spec"]["containers"][0]["image"])
        return None

    async def updated(name: str) -> bool:
        return await image_of(name) == "busybox:2"

    await env.eventually(lambda: updated("web-2"))
    await asyncio.sleep(0.3)
    assert await image_of("web-1") == "busybox", "web-1 waits for web-2 to be Ready"
    await run_pod(env, "web-2")
    await env.eventually(lambda: updated("web-1"))
    await run_pod(env, "web-1")

    async def partitioned() -> bool:
        s = await status(env)
        return bool(s.get("updatedReplicas") == 2 and s.get("readyReplicas") == 3)

    await env.eventually(partitioned)
    s = await status(env)
    assert await image_of("web-0") == "busybox", "ordinals below the partition keep the old template"
    assert s["currentRevision"] == first != s["updateRevision"]
    assert s["currentReplicas"] == 1

    revisions = await env.client.list("apps/v1/ControllerRevision", "default")
    assert sorted((r["revision"], r["metadata"]["name"]) for r in revisions) == [
        (1, first),
        (2, s["updateRevision"]),
    ]
    assert revisions[0]["data"]["spec"]["template"]["$patch"] == "replace"

    await env.client.patch(obj, MergePatch({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}}))
    await env.eventually(lambda: updated("web-0"))
    await run_pod(env, "web-0")

    async def complete() -> bool:
        s = await status(env)
        return bool(s.get("currentRevision") == s.get("updateRevision") and s.get("currentReplicas") == 3)

    await env.eventually(complete)


async def test_on_delete_replaces_only_deleted_pods(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    obj = await env.client.create(sts(replicas=2, podManagementPolicy="Parallel", updateStrategy={"type": "OnDelete"}))
    await wait_names(env, ["web-0", "web-1"])
    for n in ("web-0", "web-1"):
        await run_pod(env, n)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "busybox:2"}]}}}}
    await env.client.patch(obj, MergePatch(patch))
    await env.eventually(lambda: _updated_revision_differs(env))
    await asyncio.sleep(0.3)
    assert [p["spec"]["containers"][0]["image"] for p in await live_pods(env, SELECTOR)] == ["busybox", "busybox"]
    old = (await live_pods(env, SELECTOR))[1]
    await env.client.delete(old)

    async def replaced() -> bool:
        current = [p for p in await live_pods(env, SELECTOR) if p["metadata"]["name"] == "web-1"]
        return bool(current) and current[0]["spec"]["containers"][0]["image"] == "busybox:2"

    await env.eventually(replaced)


async def _updated_revision_differs(env: TestEnv) -> bool:
    s = await status(env)
    return bool(s.get("updateRevision") and s.get("updateRevision") != s.get("currentRevision"))


async def test_failed_pod_is_recreated(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    await env.client.create(sts(replicas=1))
    await wait_names(env, ["web-0"])
    first = (await live_pods(env, SELECTOR))[0]["metadata"]["uid"]
    await finish_pod(env, "web-0", exit_code=1)

    async def recreated() -> bool:
        current = await live_pods(env, SELECTOR)
        return bool(current) and current[0]["metadata"]["uid"] != first

    await env.eventually(recreated)
