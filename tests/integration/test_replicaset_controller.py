"""The ReplicaSet controller: pods from the template, adoption and release, status, deletion order, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.integration._workloads import event_notes, live_pods, run_pod, template

from pinnace.api import errors
from pinnace.client.rest import ResourceRef
from pinnace.cluster.testenv import TestEnv
from pinnace.controllers.replicaset import calculate_status, pods_to_delete

pytestmark = pytest.mark.pinnace_env(controllers=["replicaset"])

RS = ResourceRef("apps", "v1", "replicasets")
PODS = ResourceRef("", "v1", "pods")
Obj = dict[str, Any]


def replicaset(name: str, replicas: int, labels: dict[str, str], **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": template(labels), **spec},
    }


async def status_of(env: TestEnv, name: str) -> Obj:
    rs = await env.rest.get(RS, name, "default")
    return dict(rs.get("status") or {})


async def test_creates_pods_owned_by_the_replicaset_and_reports_status(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    rs = await env.rest.create(RS, replicaset("web", 3, {"app": "web"}), "default")

    async def three() -> list[Obj]:
        found = await live_pods(env, "app=web")
        return found if len(found) == 3 else []

    pods = await env.eventually(three)
    for pod in pods:
        assert pod["metadata"]["generateName"] == "web-"
        assert pod["metadata"]["name"].startswith("web-")
        assert pod["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "web",
                "uid": rs["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    await env.eventually(lambda: _status_is(env, "web", {"replicas": 3, "fullyLabeledReplicas": 3}))
    for pod in pods[:2]:
        await run_pod(env, pod["metadata"]["name"])
    await env.eventually(
        lambda: _status_is(
            env, "web", {"replicas": 3, "readyReplicas": 2, "availableReplicas": 2, "observedGeneration": 1}
        )
    )
    notes = await env.eventually(lambda: _with_reason(env, "web", "SuccessfulCreate", 3))
    assert {n for _, n in notes} == {f"Created pod: {p['metadata']['name']}" for p in pods}


async def _status_is(env: TestEnv, name: str, want: dict[str, int]) -> bool:
    status = await status_of(env, name)
    return all(status.get(k) == v for k, v in want.items())


async def _with_reason(env: TestEnv, name: str, reason: str, count: int) -> list[tuple[str, str]]:
    notes = [n for n in await event_notes(env, name) if n[0] == reason]
    return notes if len(notes) >= count else []


async def test_scale_down_deletes_unready_pods_first(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    await env.rest.create(RS, replicaset("api", 4, {"app": "api"}), "default")
    pods = await env.eventually(lambda: _count(env, "app=api", 4))
    ready = [p["metadata"]["name"] for p in pods[:2]]
    for name in ready:
        await run_pod(env, name)
    await env.eventually(lambda: _status_is(env, "api", {"readyReplicas": 2}))
    await env.rest.patch(RS, "api", {"spec": {"replicas": 2}}, "default")
    left = await env.eventually(lambda: _count(env, "app=api", 2))
    assert sorted(p["metadata"]["name"] for p in left) == sorted(ready)
    await env.eventually(lambda: _with_reason(env, "api", "SuccessfulDelete", 2))


async def _count(env: TestEnv, selector: str, n: int) -> list[Obj]:
    found = await live_pods(env, selector)
    return found if len(found) == n else []


async def test_deleted_pods_are_replaced_without_over_creation(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    await env.rest.create(RS, replicaset("cache", 2, {"app": "cache"}), "default")
    pods = await env.eventually(lambda: _count(env, "app=cache", 2))
    await env.rest.delete(PODS, pods[0]["metadata"]["name"], "default")
    after = await env.eventually(lambda: _count(env, "app=cache", 2))
    assert pods[0]["metadata"]["name"] not in {p["metadata"]["name"] for p in after}
    await env.rest.patch(RS, "cache", {"spec": {"replicas": 0}}, "default")
    await env.eventually(lambda: _no_pods(env, "app=cache"))


async def _no_pods(env: TestEnv, selector: str) -> bool:
    return not await live_pods(env, selector)


async def test_adopts_matching_orphans_and_releases_pods_that_stop_matching(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    orphan = await env.rest.create(
        PODS,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "stray", "namespace": "default", "labels": {"app": "db"}},
            "spec": {"containers": [{"name": "app", "image": "busybox"}]},
        },
        "default",
    )
    rs = await env.rest.create(RS, replicaset("db", 2, {"app": "db"}), "default")

    async def adopted() -> bool:
        pod = await env.rest.get(PODS, "stray", "default")
        refs = pod["metadata"].get("ownerReferences") or []
        return [r["uid"] for r in refs if r.get("controller")] == [rs["metadata"]["uid"]]

    await env.eventually(adopted)
    pods = await env.eventually(lambda: _count(env, "app=db", 2))
    assert "stray" in {p["metadata"]["name"] for p in pods}
    assert orphan["metadata"]["uid"] == (await env.rest.get(PODS, "stray", "default"))["metadata"]["uid"]
    # Relabel the pod: it is released and replaced.
    await env.rest.patch(PODS, "stray", {"metadata": {"labels": {"app": "other"}}}, "default")

    async def released() -> bool:
        pod = await env.rest.get(PODS, "stray", "default")
        return not pod["metadata"].get("ownerReferences")

    await env.eventually(released)
    await env.eventually(lambda: _count(env, "app=db", 2))


async def test_min_ready_seconds_delays_availability(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    await env.rest.create(RS, replicaset("slow", 1, {"app": "slow"}, minReadySeconds=2), "default")
    pods = await env.eventually(lambda: _count(env, "app=slow", 1))
    await run_pod(env, pods[0]["metadata"]["name"])
    await env.eventually(lambda: _status_is(env, "slow", {"readyReplicas": 1}))
    assert (await status_of(env, "slow")).get("availableReplicas") is None
    await env.eventually(lambda: _status_is(env, "slow", {"availableReplicas": 1}), timeout=10)


def test_a_failure_to_manage_pods_is_the_replica_failure_condition() -> None:
    rs = replicaset("blocked", 2, {"app": "blocked"})
    rs["metadata"]["generation"] = 1
    now = datetime.now(UTC)
    failed = calculate_status(rs, [], errors.Forbidden('pods "blocked-x" is forbidden: exceeded quota'), now)
    assert failed["observedGeneration"] == 1
    assert "replicas" not in failed  # zero counts are omitted, as upstream's JSON
    (cond,) = failed["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == ("ReplicaFailure", "True", "FailedCreate")
    assert cond["message"] == 'pods "blocked-x" is forbidden: exceeded quota'
    rs["status"] = failed
    assert "conditions" not in calculate_status(rs, [], None, now)


def test_status_counts_fully_labeled_ready_and_available_pods() -> None:
    """fullyLabeledReplicas counts pods with every template label (extra labels allowed, a missing or different
    one not); readyReplicas those Ready; availableReplicas those Ready for minReadySeconds. The pods are left as
    they were."""
    rs = replicaset("count", 4, {"app": "count"}, minReadySeconds=30)
    rs["spec"]["template"]["metadata"]["labels"] = {"app": "count", "tier": "web"}
    now = datetime.now(UTC)

    def pod(labels: dict[str, str], ready_since: timedelta | None) -> Obj:
        conditions = [{"type": "PodScheduled", "status": "True"}]
        if ready_since is not None:
            since = (now - ready_since).strftime("%Y-%m-%dT%H:%M:%SZ")
            conditions.append({"type": "Ready", "status": "True", "lastTransitionTime": since})
        return {"metadata": {"labels": labels}, "status": {"phase": "Running", "conditions": conditions}}

    pods = [
        pod({"app": "count", "tier": "web", "extra": "x"}, timedelta(minutes=5)),  # labeled, ready, available
        pod({"app": "count", "tier": "web"}, timedelta(seconds=5)),  # labeled, ready, not yet available
        pod({"app": "count"}, None),  # missing a label, not ready
        pod({"app": "count", "tier": "db"}, timedelta(minutes=5)),  # a different value: not fully labeled
    ]
    before = [dict(p["status"]["conditions"][-1]) for p in pods]
    status = calculate_status(rs, pods, None, now)
    assert (status["replicas"], status["fullyLabeledReplicas"]) == (4, 2)
    assert (status["readyReplicas"], status["availableReplicas"]) == (3, 2)
    assert [p["status"]["conditions"][-1] for p in pods] == before


def test_deletion_order_prefers_unscheduled_pending_unready_and_newer_pods() -> None:
    now = datetime.now(UTC)

    def pod(name: str, node: str = "", phase: str = "Running", ready: bool = True, age: float = 100) -> Obj:
        t = (now - timedelta(seconds=age)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "metadata": {"name": name, "creationTimestamp": t},
            "spec": {"nodeName": node},
            "status": {
                "phase": phase,
                "conditions": [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": t}],
            },
        }

    pods = [
        pod("old-ready", "n1", age=5000),
        pod("new-ready", "n2", age=10),
        pod("unready", "n3", ready=False),
        pod("pending", "n4", phase="Pending", ready=False),
        pod("unscheduled", phase="Pending", ready=False),
    ]
    order = [p["metadata"]["name"] for p in pods_to_delete(pods, pods, 4, now)]
    assert order == ["unscheduled", "pending", "unready", "new-ready"]
    doubled = [pod("alone", "n1"), pod("twin-a", "n2"), pod("twin-b", "n2")]
    assert pods_to_delete(doubled, doubled, 1, now)[0]["metadata"]["name"].startswith("twin")
