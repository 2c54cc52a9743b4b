"""The Deployment controller with the ReplicaSet controller: rollouts, scaling, pause, rollback, history, progress."""

from __future__ import annotations

from typing import Any

import pytest
from tests.integration._workloads import EVENTS, live_pods, recorded, run_pod, template

from pinnace.client.rest import ResourceRef
from pinnace.cluster.testenv import TestEnv
from pinnace.controllers import deployment_util as du

pytestmark = pytest.mark.pinnace_env(controllers=["deployment", "replicaset"])

DEPLOY = ResourceRef("apps", "v1", "deployments")
RS = ResourceRef("apps", "v1", "replicasets")
JSON_PATCH = "application/json-patch+json"
Obj = dict[str, Any]


def deployment(name: str, replicas: int, **spec: Any) -> Obj:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": template(labels), **spec},
    }


async def replicasets(env: TestEnv, app: str) -> list[Obj]:
    listing = await env.rest.list(RS, "default", labelSelector=f"app={app}")
    return sorted(listing.get("items") or [], key=du.by_revision)


async def ready_all(env: TestEnv, app: str) -> None:
    """The kubelet's part: every live pod of the app Running and Ready."""
    for pod in await live_pods(env, f"app={app}"):
        if not any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (pod.get("status") or {}).get("conditions") or []
        ):
            await run_pod(env, pod["metadata"]["name"])


async def rolled_out(env: TestEnv, name: str) -> Obj | None:
    """Ready the pods as they come; the Deployment once complete (as ``kubectl rollout status`` judges)."""
    await ready_all(env, name)
    d = await env.rest.get(DEPLOY, name, "default")
    status, want = d.get("status") or {}, d["spec"]["replicas"]
    done = (
        status.get("observedGeneration", 0) >= d["metadata"]["generation"]
        and status.get("updatedReplicas", 0) == want
        and status.get("replicas", 0) == want
        and status.get("availableReplicas", 0) == want
    )
    return d if done else None


def condition(d: Obj, type_: str) -> Obj:
    return next(c for c in d["status"]["conditions"] if c["type"] == type_)


async def test_create_makes_a_hashed_replicaset_and_completes(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    created = await env.rest.create(DEPLOY, deployment("web", 3), "default")
    d = await env.eventually(lambda: rolled_out(env, "web"), timeout=15)
    (rs,) = await replicasets(env, "web")
    hash_ = rs["metadata"]["labels"][du.HASH_LABEL]
    assert rs["metadata"]["name"] == f"web-{hash_}"
    assert 1 <= len(hash_) <= 10 and set(hash_) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", du.HASH_LABEL: hash_}
    assert rs["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
    assert rs["metadata"]["annotations"][du.REVISION] == "1"
    assert rs["metadata"]["annotations"][du.DESIRED_REPLICAS] == "3"
    assert rs["metadata"]["annotations"][du.MAX_REPLICAS] == "4"  # 3 + 25% surge rounded up
    assert d["metadata"]["annotations"][du.REVISION] == "1"
    for pod in await live_pods(env, "app=web"):
        assert pod["metadata"]["labels"][du.HASH_LABEL] == hash_
    assert condition(d, "Available")["reason"] == "MinimumReplicasAvailable"
    progressing = condition(d, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetAvailable")
    assert progressing["message"] == f'ReplicaSet "web-{hash_}" has successfully progressed.'
    assert d["status"]["readyReplicas"] == 3 and "unavailableReplicas" not in d["status"]
    await recorded(env, "web", ("ScalingReplicaSet", f"Scaled up replica set web-{hash_} from 0 to 3"))


async def test_rolling_update_replaces_every_pod_and_keeps_history(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    await env.rest.create(DEPLOY, deployment("api", 4), "default")
    await env.eventually(lambda: rolled_out(env, "api"), timeout=15)
    (first,) = await replicasets(env, "api")
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "busybox:2"}]}}}}
    await env.rest.patch(DEPLOY, "api", patch, "default", patch_type="application/strategic-merge-patch+json")
    d = await env.eventually(lambda: rolled_out(env, "api"), timeout=20)
    old, new = await replicasets(env, "api")
    assert old["metadata"]["name"] == first["metadata"]["name"] and old["spec"]["replicas"] == 0
    assert new["metadata"]["annotations"][du.REVISION] == "2" and new["spec"]["replicas"] == 4
    assert d["metadata"]["annotations"][du.REVISION] == "2"
    pods = await live_pods(env, "app=api")
    assert len(pods) == 4
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"busybox:2"}
    scaled_down = f"Scaled down replica set {old['metadata']['name']} from 4 to"
    await recorded(env, "api", lambda reason, note: reason == "ScalingReplicaSet" and note.startswith(scaled_down))
    # Rollback as kubectl rollout undo does it: a JSON patch of the template from the old ReplicaSet.
    back = old["spec"]["template"]
    del back["metadata"]["labels"][du.HASH_LABEL]
    ops = [{"op": "replace", "path": "/spec/template", "value": back}]
    await env.rest.patch(DEPLOY, "api", ops, "default", patch_type=JSON_PATCH)
    await env.eventually(lambda: rolled_out(env, "api"), timeout=20)
    rss = await replicasets(env, "api")
    assert len(rss) == 2  # the old ReplicaSet is the new one again, no third
    latest = rss[-1]
    assert latest["metadata"]["name"] == first["metadata"]["name"]
    assert latest["metadata"]["annotations"][du.REVISION] == "3"
    assert latest["metadata"]["annotations"][du.REVISION_HISTORY] == "1"


async def test_scaling_during_a_rollout_is_proportional(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    spec = {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}}
    await env.rest.create(DEPLOY, deployment("prop", 10, **spec), "default")
    await env.eventually(lambda: rolled_out(env, "prop"), timeout=15)
    # A new template whose pods never become ready: the rollout stalls with both ReplicaSets active.
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "busybox:broken"}]}}}}
    await env.rest.patch(DEPLOY, "prop", patch, "default", patch_type="application/strategic-merge-patch+json")

    async def stalled() -> list[Obj]:
        rss = await replicasets(env, "prop")
        sizes = [r["spec"]["replicas"] for r in rss]
        return rss if len(rss) == 2 and sizes == [8, 5] else []

    await env.eventually(stalled, timeout=15)
    await env.rest.patch(DEPLOY, "prop", {"spec": {"replicas": 20}}, "default")

    async def scaled() -> list[int]:
        sizes = [r["spec"]["replicas"] for r in await replicasets(env, "prop")]
        return sizes if sum(sizes) == 23 else []

    sizes = await env.eventually(scaled, timeout=15)
    # 13 -> 23 pods: the old set (8 of 13) gets 8*23/13 = 14, the new one the rest: 9.
    assert sizes == [14, 9]


async def test_recreate_scales_old_to_zero_before_the_new_one_starts(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    await env.rest.create(DEPLOY, deployment("batch", 2, strategy={"type": "Recreate"}), "default")
    await env.eventually(lambda: rolled_out(env, "batch"), timeout=15)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "busybox:2"}]}}}}
    await env.rest.patch(DEPLOY, "batch", patch, "default", patch_type="application/strategic-merge-patch+json")
    await env.eventually(lambda: rolled_out(env, "batch"), timeout=20)
    old, new = await replicasets(env, "batch")
    assert (old["spec"]["replicas"], new["spec"]["replicas"]) == (0, 2)
    down = f"Scaled down replica set {old['metadata']['name']} from 2 to 0"
    up = f"Scaled up replica set {new['metadata']['name']} from 0 to 2"
    await recorded(env, "batch", ("ScalingReplicaSet", down), ("ScalingReplicaSet", up))
    listing = await env.rest.list(EVENTS, "default")
    stamps = {e["message"]: e["lastTimestamp"] for e in listing["items"] if e["involvedObject"]["name"] == "batch"}
    assert stamps[down] <= stamps[up]


async def test_paused_deployments_hold_template_changes_until_resumed(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    await env.rest.create(DEPLOY, deployment("held", 2), "default")
    await env.eventually(lambda: rolled_out(env, "held"), timeout=15)
    await env.rest.patch(DEPLOY, "held", {"spec": {"paused": True}}, "default")

    async def paused() -> bool:
        d = await env.rest.get(DEPLOY, "held", "default")
        return condition(d, "Progressing")["reason"] == "DeploymentPaused"

    await env.eventually(paused)
    patch = {"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "app", "image": "busybox:2"}]}}}}
    await env.rest.patch(DEPLOY, "held", patch, "default", patch_type="application/strategic-merge-patch+json")

    async def scaled_only() -> bool:
        rss = await replicasets(env, "held")
        return len(rss) == 1 and rss[0]["spec"]["replicas"] == 3

    await env.eventually(scaled_only)
    assert len(await replicasets(env, "held")) == 1
    await env.rest.patch(DEPLOY, "held", {"spec": {"paused": False}}, "default")
    await env.eventually(lambda: rolled_out(env, "held"), timeout=20)
    assert len(await replicasets(env, "held")) == 2


async def test_revision_history_limit_deletes_old_replicasets(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    await env.rest.create(DEPLOY, deployment("hist", 1, revisionHistoryLimit=1), "default")
    for image in ("busybox:1", "busybox:2", "busybox:3"):
        await env.eventually(lambda: rolled_out(env, "hist"), timeout=15)
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
        await env.rest.patch(DEPLOY, "hist", patch, "default", patch_type="application/strategic-merge-patch+json")
    await env.eventually(lambda: rolled_out(env, "hist"), timeout=15)

    async def trimmed() -> list[str]:
        rss = await replicasets(env, "hist")
        return [r["metadata"]["annotations"][du.REVISION] for r in rss] if len(rss) == 2 else []

    assert await env.eventually(trimmed) == ["3", "4"]


async def test_progress_deadline_exceeded(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    await env.rest.create(DEPLOY, deployment("stuck", 1, progressDeadlineSeconds=2), "default")

    async def timed_out() -> Obj | None:
        d = await env.rest.get(DEPLOY, "stuck", "default")
        conds = (d.get("status") or {}).get("conditions") or []
        return next((c for c in conds if c["type"] == "Progressing" and c["status"] == "False"), None)

    cond = await env.eventually(timed_out, timeout=15)
    assert cond["reason"] == "ProgressDeadlineExceeded"
    assert cond["message"].endswith("has timed out progressing.")
    d = await env.rest.get(DEPLOY, "stuck", "default")
    assert condition(d, "Available")["status"] == "False"
    assert d["status"]["unavailableReplicas"] == 1


def test_surge_and_unavailability_round_as_upstream() -> None:
    def d(replicas: int, surge: Any, unavailable: Any) -> Obj:
        rolling = {"maxSurge": surge, "maxUnavailable": unavailable}
        return {"spec": {"replicas": replicas, "strategy": {"type": "RollingUpdate", "rollingUpdate": rolling}}}

    assert (du.max_surge(d(10, "25%", "25%")), du.max_unavailable(d(10, "25%", "25%"))) == (3, 2)
    assert (du.max_surge(d(1, "0%", "10%")), du.max_unavailable(d(1, "0%", "10%"))) == (0, 1)  # both 0: one may go
    assert du.max_unavailable(d(3, 0, 5)) == 3  # never more than the replicas
    assert du.max_surge({"spec": {"replicas": 3, "strategy": {"type": "Recreate"}}}) == 0


def test_template_hash_and_equality_ignore_the_hash_label() -> None:
    t = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "a", "image": "i"}]}}
    labelled = {"metadata": {"labels": {"app": "x", du.HASH_LABEL: "abc"}, "annotations": {}}, "spec": t["spec"]}
    assert du.equal_ignore_hash(t, labelled)
    assert du.pod_template_hash(t) == du.pod_template_hash(t)
    assert du.pod_template_hash(t) != du.pod_template_hash(t, 1)
