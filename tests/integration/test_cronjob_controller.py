"""The CronJob controller on a fake clock: Jobs start on schedule (named by the scheduled minute), finished
ones leave the active list, concurrency policies, suspend, history limits, deadlines, missed starts, time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pinnace.cluster.testenv import TestEnv
from pinnace.controllers.cronjob import add_cronjob_controller
from pinnace.controllers.cronschedule import parse
from pinnace.runtime.client import MergePatch
from pinnace.runtime.clock import FakeClock

from ._workloads import recorded, template

CJ = "batch/v1/CronJob"
JOB = "batch/v1/Job"


class Env:
    """The server, the CronJob controller on a fake clock, and helpers."""

    def __init__(self, env: TestEnv, clock: FakeClock) -> None:
        self.env = env
        self.clock = clock

    async def create(self, name: str = "tick", schedule: str = "*/1 * * * *", **spec: Any) -> dict[str, Any]:
        obj = {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "schedule": schedule,
                "jobTemplate": {
                    "metadata": {"labels": {"from": name}},
                    "spec": {"template": template({"app": name}, restart="Never")},
                },
                **spec,
            },
        }
        sleepers = self.clock.sleepers
        created: dict[str, Any] = await self.env.client.create(obj)
        if not spec.get("suspend"):
            # Wait until the controller has scheduled the next start on the fake clock: a test that advanced the
            # clock while the first reconcile was still in flight would have its requeue land an hour too late.
            await self.env.eventually(lambda: self._more_sleepers(sleepers))
        return created

    async def _more_sleepers(self, before: int) -> bool:
        return self.clock.sleepers > before

    async def jobs(self) -> list[str]:
        return sorted(
            j["metadata"]["name"]
            for j in await self.env.client.list(JOB, "default")
            if not j["metadata"].get("deletionTimestamp")
        )

    async def wait_jobs(self, expected: list[str]) -> None:
        async def check() -> bool:
            return await self.jobs() == expected

        try:
            await self.env.eventually(check)
        except AssertionError:
            raise AssertionError(f"jobs are {await self.jobs()}, not {expected}") from None

    async def status(self, name: str = "tick") -> dict[str, Any]:
        result: dict[str, Any] = (await self.env.client.get(CJ, name, "default")).get("status") or {}
        return result

    def job_name(self, cronjob: str, when: datetime) -> str:
        return f"{cronjob}-{int(when.timestamp()) // 60}"

    def next_minute(self, after: datetime | None = None) -> datetime:
        t = (after or self.clock.wall()).replace(second=0, microsecond=0) + timedelta(minutes=1)
        return t

    async def advance_to(self, when: datetime, extra: float = 1.0) -> None:
        await self.clock.advance((when - self.clock.wall()).total_seconds() + extra)

    async def finish(self, name: str, outcome: str = "Complete") -> None:
        now = self.clock.wall().strftime("%Y-%m-%dT%H:%M:%SZ")
        status: dict[str, Any] = {
            "conditions": [{"type": outcome, "status": "True", "lastTransitionTime": now}],
            "startTime": now,
        }
        if outcome == "Complete":
            status["conditions"].insert(0, {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now})
            status["completionTime"] = now
            status["succeeded"] = 1
        else:
            status["conditions"].insert(0, {"type": "FailureTarget", "status": "True", "lastTransitionTime": now})
            status["failed"] = 1
        job = await self.env.client.get(JOB, name, "default")
        await self.env.client.status().patch(job, MergePatch({"status": status}))


@pytest.fixture
async def cron(pinnace_env: TestEnv) -> Env:
    start = datetime.now(UTC).replace(microsecond=0)  # CronJobs are created (by the server's clock) after this
    clock = FakeClock(wall_start=start)
    manager = pinnace_env.manager(clock=clock)
    await add_cronjob_controller(manager, clock=clock)
    await pinnace_env.start(manager)
    return Env(pinnace_env, clock)


async def test_jobs_start_on_schedule_and_finish(cron: Env) -> None:
    await cron.create()
    await cron.env.eventually(lambda: cron.clock.sleepers > 0)
    assert await cron.jobs() == []
    first = cron.next_minute()
    await cron.advance_to(first)
    name = cron.job_name("tick", first)
    await cron.wait_jobs([name])
    job = await cron.env.client.get(JOB, name, "default")
    assert job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == first.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert job["metadata"]["labels"]["from"] == "tick"
    owner = job["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("CronJob", "tick", True)

    async def listed() -> bool:
        s = await cron.status()
        return [a["name"] for a in s.get("active") or []] == [name]

    await cron.env.eventually(listed)
    assert (await cron.status())["lastScheduleTime"] == first.strftime("%Y-%m-%dT%H:%M:%SZ")
    await cron.finish(name)

    async def done() -> bool:
        s = await cron.status()
        return not s.get("active") and bool(s.get("lastSuccessfulTime"))

    await cron.env.eventually(done)
    await recorded(
        cron.env,
        "tick",
        ("SuccessfulCreate", f"Created job {name}"),
        ("SawCompletedJob", f"Saw completed job: {name}, condition: Complete"),
    )
    second = cron.next_minute(first)
    await cron.advance_to(second)
    await cron.wait_jobs(sorted([name, cron.job_name("tick", second)]))


async def test_forbid_skips_while_a_job_runs(cron: Env) -> None:
    await cron.create(concurrencyPolicy="Forbid")
    first = cron.next_minute()
    await cron.advance_to(first)
    await cron.wait_jobs([cron.job_name("tick", first)])
    await cron.advance_to(cron.next_minute(first))
    await recorded(cron.env, "tick", lambda reason, _: reason == "JobAlreadyActive")
    assert await cron.jobs() == [cron.job_name("tick", first)]


async def test_replace_deletes_the_running_job(cron: Env) -> None:
    await cron.create(concurrencyPolicy="Replace")
    first = cron.next_minute()
    await cron.advance_to(first)
    await cron.wait_jobs([cron.job_name("tick", first)])
    second = cron.next_minute(first)
    await cron.advance_to(second)
    await cron.wait_jobs([cron.job_name("tick", second)])
    await recorded(cron.env, "tick", ("SuccessfulDelete", f"Deleted job {cron.job_name('tick', first)}"))


async def test_suspend_starts_nothing(cron: Env) -> None:
    await cron.create(suspend=True)
    await cron.advance_to(cron.next_minute() + timedelta(minutes=3))
    await cron.advance_to(cron.next_minute())
    assert await cron.jobs() == []


async def test_history_limits(cron: Env) -> None:
    await cron.create(successfulJobsHistoryLimit=1, failedJobsHistoryLimit=1)
    names = []
    t = cron.clock.wall()
    for outcome in ("Complete", "Complete", "Failed", "Failed"):
        t = cron.next_minute(t)
        await cron.advance_to(t)
        name = cron.job_name("tick", t)
        names.append(name)

        async def created(n: str = name) -> bool:
            return n in await cron.jobs()

        await cron.env.eventually(created)
        await cron.finish(name, outcome)
    await cron.advance_to(cron.next_minute(t))
    await cron.wait_jobs(sorted([names[1], names[3], cron.job_name("tick", cron.next_minute(t))]))


async def test_too_many_missed_start_times_runs_only_the_latest(cron: Env) -> None:
    obj = await cron.create(suspend=True)  # suspended: start times pass by, missed
    late = cron.next_minute() + timedelta(minutes=150)
    await cron.clock.advance((late - cron.clock.wall()).total_seconds() + 1)
    assert await cron.jobs() == []
    await cron.env.client.patch(obj, MergePatch({"spec": {"suspend": False}}))
    await cron.wait_jobs([cron.job_name("tick", late)])
    missed = "too many missed start times: 151"
    await recorded(cron.env, "tick", lambda reason, note: reason == "TooManyMissedTimes" and missed in note)


async def test_starting_deadline_bounds_how_late_a_start_may_be(cron: Env) -> None:
    await cron.create(schedule="0 * * * *", startingDeadlineSeconds=30, concurrencyPolicy="Forbid")
    first = parse("0 * * * *").next(cron.clock.wall())
    assert first is not None
    await cron.advance_to(first)
    await cron.wait_jobs([cron.job_name("tick", first)])
    # The next hour's start comes while the first Job still runs: Forbid skips it, and when the first Job
    # finishes two minutes later that start is past its 30 s deadline, so nothing starts until the hour after.
    second = first + timedelta(hours=1)
    await cron.advance_to(second)
    await cron.clock.advance(120)
    await cron.finish(cron.job_name("tick", first))
    await recorded(cron.env, "tick", lambda reason, _: reason == "SawCompletedJob")
    await cron.advance_to(second + timedelta(minutes=5))
    assert await cron.jobs() == [cron.job_name("tick", first)]
    third = second + timedelta(hours=1)
    await cron.advance_to(third)
    await cron.wait_jobs(sorted([cron.job_name("tick", first), cron.job_name("tick", third)]))


async def test_time_zone(cron: Env) -> None:
    await cron.create(schedule="30 9 * * *", timeZone="Asia/Kolkata")
    expected = datetime.fromisoformat("2000-01-01T04:00:00+00:00")  # 09:30 in Kolkata (UTC+05:30)
    when = parse("0 4 * * *").next(cron.clock.wall())
    assert when is not None and when.time() == expected.time()
    await cron.advance_to(when)
    name = cron.job_name("tick", when)
    await cron.wait_jobs([name])
    job = await cron.env.client.get(JOB, name, "default")
    assert job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"].endswith("T09:30:00+05:30")
