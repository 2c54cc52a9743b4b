"""The Job controller: completions and parallelism, tracking finalizers, backoffLimit, activeDeadlineSeconds,
Indexed mode, suspend, and the TTL-after-finished controller deleting finished Jobs."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pytest

from pinnace.client.rest import ResourceRef
from pinnace.cluster.testenv import TestEnv
from pinnace.controllers._workload_pods import parse_time
from pinnace.controllers.job import add_job_controller
from pinnace.runtime.client import MergePatch

from ._workloads import EVENTS, finish_pod, gone, live_pods, pods, recorded, run_pod, template


@pytest.fixture
async def env(pinnace_env: TestEnv) -> TestEnv:
    """The server with the Job controller, whose pod failure backoff is short (upstream: 10 s, doubling)."""
    manager = pinnace_env.manager()
    await add_job_controller(manager, pod_failure_backoff=0.2)
    await pinnace_env.start(manager)
    return pinnace_env


JOB = "batch/v1/Job"


def job(name: str = "pi", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"template": template({"app": name}, restart="Never"), **spec},
    }


async def status(env: TestEnv, name: str = "pi") -> dict[str, Any]:
    obj = await env.client.get(JOB, name, "default")
    result: dict[str, Any] = obj.get("status") or {}
    return result


def condition(s: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for c in s.get("conditions") or []:
        if c["type"] == type_ and c["status"] == "True":
            return dict(c)
    return None


async def running(env: TestEnv, n: int, name: str = "pi") -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]]:
        found = [p for p in await live_pods(env, f"batch.kubernetes.io/job-name={name}") if _pending_or_running(p)]
        return found if len(found) == n else []

    try:
        result: list[dict[str, Any]] = await env.eventually(check)
    except AssertionError:
        raise AssertionError(
            f"not {n} running pods: {await pods(env, f'batch.kubernetes.io/job-name={name}')}"
        ) from None
    return result


def _pending_or_running(pod: dict[str, Any]) -> bool:
    return pod.get("status", {}).get("phase") in ("Pending", "Running")


async def test_job_runs_to_completion_with_parallelism(env: TestEnv) -> None:
    created = await env.client.create(job(completions=3, parallelism=2))
    first = await running(env, 2)
    pod = first[0]
    assert pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "pi"
    assert pod["metadata"]["labels"]["batch.kubernetes.io/controller-uid"] == created["metadata"]["uid"]
    assert pod["metadata"]["finalizers"] == ["batch.kubernetes.io/job-tracking"]
    assert pod["metadata"]["generateName"] == "pi-"
    await run_pod(env, pod["metadata"]["name"])

    async def ready_one() -> bool:
        return (await status(env)).get("ready") == 1

    await env.eventually(ready_one)
    assert (await status(env))["active"] == 2 and "startTime" in await status(env)
    for p in first:
        await finish_pod(env, p["metadata"]["name"])
    last = await running(env, 1)
    assert last[0]["metadata"]["name"] not in {p["metadata"]["name"] for p in first}
    await finish_pod(env, last[0]["metadata"]["name"])

    async def complete() -> bool:
        return condition(await status(env), "Complete") is not None

    await env.eventually(complete)
    s = await status(env)
    assert (s["succeeded"], s["ready"]) == (3, 0) and "failed" not in s and "active" not in s  # omitempty
    assert s["uncountedTerminatedPods"] == {}
    assert condition(s, "SuccessCriteriaMet") is not None
    assert condition(s, "Complete")["reason"] == "CompletionsReached"  # type: ignore[index]
    assert s["completionTime"] >= s["startTime"]
    finished = await pods(env, "batch.kubernetes.io/job-name=pi")
    assert len(finished) == 3 and all(not p["metadata"].get("finalizers") for p in finished)
    notes = await recorded(env, "pi", ("Completed", "Job completed"))
    assert sum(1 for reason, _ in notes if reason == "SuccessfulCreate") == 3


async def test_backoff_limit_exceeded(env: TestEnv) -> None:
    await env.client.create(job(backoffLimit=1))
    (pod,) = await running(env, 1)
    await finish_pod(env, pod["metadata"]["name"], exit_code=1)
    (second,) = await running(env, 1)  # one failure is within the limit: a new pod (after the backoff)
    await finish_pod(env, second["metadata"]["name"], exit_code=1)

    async def failed() -> dict[str, Any] | None:
        return condition(await status(env), "Failed")

    cond = await env.eventually(failed, timeout=30)
    assert (cond["reason"], cond["message"]) == ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
    s = await status(env)
    assert s["failed"] == 2 and "succeeded" not in s and "active" not in s
    assert condition(s, "FailureTarget") is not None
    await recorded(env, "pi", ("BackoffLimitExceeded", "Job has reached the specified backoff limit"))


async def test_active_deadline_exceeded_deletes_pods(env: TestEnv) -> None:
    # A deadline long enough to see the pods running first on a loaded CI machine (with 1 s, they were
    # sometimes deleted before the test looked).
    await env.client.create(job(parallelism=2, completions=4, activeDeadlineSeconds=3))
    await running(env, 2)

    async def failed() -> dict[str, Any] | None:
        return condition(await status(env), "Failed")

    cond = await env.eventually(failed)
    assert cond["reason"] == "DeadlineExceeded"
    assert cond["message"] == "Job was active longer than specified deadline"
    assert await live_pods(env, "batch.kubernetes.io/job-name=pi") == []
    assert "active" not in await status(env)


async def test_indexed_job(env: TestEnv) -> None:
    await env.client.create(job(completions=3, parallelism=3, completionMode="Indexed"))
    found = await running(env, 3)
    by_index = {p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]: p for p in found}
    assert sorted(by_index) == ["0", "1", "2"]
    pod = by_index["1"]
    assert pod["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == "1"
    assert pod["metadata"]["name"].startswith("pi-1-")
    assert pod["spec"]["hostname"] == "pi-1"
    env_var = pod["spec"]["containers"][0]["env"][0]
    assert env_var["name"] == "JOB_COMPLETION_INDEX"
    assert (
        env_var["valueFrom"]["fieldRef"]["fieldPath"]
        == "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    )

    await finish_pod(env, by_index["0"]["metadata"]["name"])
    await finish_pod(env, by_index["2"]["metadata"]["name"])

    async def indexes(expected: str) -> bool:
        return (await status(env)).get("completedIndexes") == expected

    await env.eventually(lambda: indexes("0,2"))
    await finish_pod(env, by_index["1"]["metadata"]["name"], exit_code=1)
    (retry,) = await running(env, 1)
    assert retry["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] == "1"
    await finish_pod(env, retry["metadata"]["name"])
    await env.eventually(lambda: indexes("0-2"))

    async def complete() -> bool:
        return condition(await status(env), "Complete") is not None

    await env.eventually(complete)
    s = await status(env)
    assert (s["succeeded"], s["failed"]) == (3, 1)


async def test_suspend_and_resume(env: TestEnv) -> None:
    obj = await env.client.create(job(parallelism=2, completions=2))
    await running(env, 2)
    await env.client.patch(obj, MergePatch({"spec": {"suspend": True}}))

    async def suspended() -> bool:
        s = await status(env)
        return condition(s, "Suspended") is not None and not s.get("active")

    await env.eventually(suspended)
    assert await live_pods(env, "batch.kubernetes.io/job-name=pi") == []
    await env.client.patch(obj, MergePatch({"spec": {"suspend": False}}))
    await running(env, 2)


async def test_ttl_after_finished_deletes_the_job_and_its_pods(env: TestEnv) -> None:
    await env.run_controllers(["gc"])  # the Job is deleted in the foreground: its pods first
    jobs = ResourceRef("batch", "v1", "jobs")
    seen: list[dict[str, Any]] = []  # the Job as the watch saw it, each change

    async def record() -> None:
        async for event in env.rest.watch(jobs, "default", fieldSelector="metadata.name=pi"):
            if event.type in ("ADDED", "MODIFIED", "DELETED"):
                seen.append(event.object)

    watcher = asyncio.create_task(record())
    try:
        await env.client.create(job(ttlSecondsAfterFinished=2))
        (pod,) = await running(env, 1)
        await finish_pod(env, pod["metadata"]["name"])
        await env.eventually(lambda: gone(env, JOB, "pi"), timeout=15)
        assert await gone(env, "v1/Pod", pod["metadata"]["name"])
        await env.eventually(lambda: any(o["metadata"].get("deletionTimestamp") for o in seen))
    finally:
        watcher.cancel()
    # The server's own clock says when it finished and when the TTL controller deleted it (whole seconds).
    finished = {parse_time((o.get("status") or {}).get("completionTime")) for o in seen} - {None}
    deleted = {parse_time(o["metadata"].get("deletionTimestamp")) for o in seen} - {None}
    assert len(finished) == 1 and deleted
    (finished_at,) = finished
    assert min(d for d in deleted if d) - finished_at >= datetime.timedelta(seconds=2), "the job lives for its TTL"


async def test_pod_deleted_before_it_finished_counts_as_failed(env: TestEnv) -> None:
    await env.client.create(job(backoffLimit=3))
    (pod,) = await running(env, 1)
    await env.client.delete(pod)

    async def counted() -> bool:
        return (await status(env)).get("failed") == 1

    await env.eventually(counted)
    await env.eventually(lambda: gone(env, "v1/Pod", pod["metadata"]["name"]))
    (replacement,) = await running(env, 1)
    assert replacement["metadata"]["uid"] != pod["metadata"]["uid"]


async def test_a_finished_job_records_its_end_once(env: TestEnv) -> None:
    """The end is recorded after the status saying so is written: a sync from a stale cached Job (its write
    refused with a conflict) used to record "Completed" a second time (kubectl events: ``x2``)."""
    names = [f"once-{i}" for i in range(4)]
    for name in names:
        await env.client.create(job(name))
    for name in names:
        (pod,) = await running(env, 1, name)
        await finish_pod(env, pod["metadata"]["name"])
    for name in names:
        await recorded(env, name, ("Completed", "Job completed"))
    await asyncio.sleep(0.5)  # a second record would have been posted by now
    listing = await env.rest.list(EVENTS, "default")
    ends = [e for e in listing["items"] if e["reason"] == "Completed" and e["involvedObject"]["name"] in names]
    assert sorted(e["involvedObject"]["name"] for e in ends) == names
    assert [e.get("count") for e in ends] == [1] * len(names)
