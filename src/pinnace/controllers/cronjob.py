"""The CronJob controller: starts Jobs on a cron schedule.

Upstream's ``cronjob_controllerv2`` semantics (v1.32), on the runtime SDK:

- the schedule (:mod:`.cronschedule`) is read in ``spec.timeZone`` (or its
  ``CRON_TZ=`` prefix, else UTC); each sync finds the most recent missed
  start time since ``lastScheduleTime`` (or creation), no earlier than
  ``startingDeadlineSeconds`` ago, and warns ``TooManyMissedTimes`` past 100;
- the Job is named ``<cronjob>-<scheduled time in minutes since the epoch>``,
  from ``jobTemplate``, with the ``batch.kubernetes.io/cronjob-scheduled-timestamp``
  annotation, and is listed in ``status.active``; an unfinished Job it did not
  start (``kubectl create job --from=cronjob/…``) is not adopted: it gets an
  ``UnexpectedJob`` warning;
- ``concurrencyPolicy``: ``Allow``; ``Forbid`` (skip while one runs —
  the start happens later if still within the deadline); ``Replace`` (delete
  the running ones first); ``suspend`` starts nothing;
- finished Jobs leave ``status.active`` (``lastSuccessfulTime`` for completed
  ones) and are pruned to ``successfulJobsHistoryLimit`` /
  ``failedJobsHistoryLimit``;
- it looks again at the next start time — on an injectable clock, so tests
  move time instead of waiting.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pinnace.api import errors
from pinnace.controllers._workload_pods import controller_ref, controller_uid, parse_time, rfc3339
from pinnace.controllers.cronschedule import CronError, Schedule, parse
from pinnace.runtime.builder import Builder
from pinnace.runtime.client import Client, MergePatch
from pinnace.runtime.clock import Clock
from pinnace.runtime.controller import Controller
from pinnace.runtime.controllerutil import get_or_none
from pinnace.runtime.events import NORMAL, WARNING, EventRecorder
from pinnace.runtime.manager import Manager
from pinnace.runtime.reconcile import Request, Result

__all__ = ["CronJobReconciler", "add_cronjob_controller"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

KIND = "batch/v1/CronJob"
JOB_KIND = "batch/v1/Job"
SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
#: Upstream warns when more start times than this were missed.
MAX_MISSED = 100
#: Upstream adds this to the requeue delay so that the next sync lands after the start time.
_NUDGE = 0.1


async def add_cronjob_controller(manager: Manager, *, clock: Clock | None = None, workers: int = 1) -> Controller:
    """Add the CronJob controller to ``manager``.

    ``clock`` defaults to the manager's; its delays run on the manager's clock, so a test gives both the same fake.
    """
    reconciler = CronJobReconciler(
        manager.client, manager.get_event_recorder("cronjob-controller"), clock or manager.clock
    )
    return await (
        Builder(manager)
        .named("cronjob")
        .for_(KIND)
        .owns(JOB_KIND)
        .with_options(max_concurrent_reconciles=workers)
        .complete(reconciler)
    )


def _finished(job: Obj) -> str | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return str(cond["type"])
    return None


def _ref(job: Obj) -> Obj:
    meta = job["metadata"]
    return {
        "kind": "Job",
        "namespace": meta["namespace"],
        "name": meta["name"],
        "uid": meta["uid"],
        "apiVersion": "batch/v1",
        "resourceVersion": meta.get("resourceVersion", ""),
    }


class CronJobReconciler:
    """Starts, tracks and prunes one CronJob's Jobs."""

    def __init__(self, client: Client, recorder: EventRecorder, clock: Clock) -> None:
        self.client = client
        self.recorder = recorder
        self.clock = clock

    async def reconcile(self, request: Request) -> Result:
        """Sync one CronJob: its active list, history, and the start that is due."""
        cj = await get_or_none(self.client, KIND, request.name, request.namespace)
        if cj is None:
            return Result()
        if cj["metadata"].get("deletionTimestamp"):
            return Result()
        jobs = [
            j for j in await self.client.list(JOB_KIND, request.namespace) if controller_uid(j) == cj["metadata"]["uid"]
        ]
        status = dict(cj.get("status") or {})
        await self._sync_active(cj, jobs, status)
        await self._prune(cj, jobs)
        requeue = await self._schedule(cj, jobs, status)
        old = cj.get("status") or {}
        if {k: v for k, v in status.items() if v} != {k: v for k, v in old.items() if v}:
            patch = {k: status.get(k) for k in set(status) | set(old)}
            with contextlib.suppress(errors.NotFound):
                await self.client.status().patch(cj, MergePatch({"status": patch}))
        return Result(requeue_after=requeue) if requeue is not None else Result()

    async def _sync_active(self, cj: Obj, jobs: list[Obj], status: Obj) -> None:
        """Drop finished and vanished Jobs from ``status.active`` and note the latest success.

        An unfinished Job of ours that the list does not name is not adopted, as upstream: when
        the CronJob read now names it (the cached copy was older than our own write), that copy's
        list counts; otherwise it is a Job someone else made (``kubectl create job --from=cronjob/…``)
        and only gets an ``UnexpectedJob`` warning.
        """
        by_uid = {j["metadata"]["uid"]: j for j in jobs}

        def unlisted() -> list[Obj]:
            listed = {ref.get("uid") for ref in status.get("active") or []}
            return [j for j in jobs if j["metadata"]["uid"] not in listed and _finished(j) is None]

        if unlisted():
            with contextlib.suppress(errors.NotFound):
                fresh = await self.client.api_reader.get(KIND, cj["metadata"]["name"], cj["metadata"]["namespace"])
                status.clear()
                status.update(fresh.get("status") or {})
        for stranger in unlisted():
            self.recorder.event(
                cj,
                WARNING,
                "UnexpectedJob",
                f"Saw a job that the controller did not create or forgot: {stranger['metadata']['name']}",
            )
        active: list[Obj] = []
        for ref in status.get("active") or []:
            job = by_uid.get(ref.get("uid"))
            if job is None:
                self.recorder.event(cj, NORMAL, "MissingJob", f"Active job went missing: {ref.get('name')}")
            elif not _finished(job):
                active.append(ref)
        for job in jobs:
            outcome = _finished(job)
            in_status = any(ref.get("uid") == job["metadata"]["uid"] for ref in status.get("active") or [])
            if outcome and in_status:
                self.recorder.event(
                    cj, NORMAL, "SawCompletedJob", f"Saw completed job: {job['metadata']['name']}, condition: {outcome}"
                )
            if outcome == "Complete":
                done = parse_time((job.get("status") or {}).get("completionTime"))
                last = parse_time(status.get("lastSuccessfulTime"))
                if done is not None and (last is None or done > last):
                    status["lastSuccessfulTime"] = rfc3339(done)
        status["active"] = active or None

    async def _prune(self, cj: Obj, jobs: list[Obj]) -> None:
        spec = cj["spec"]
        for outcome, limit_key in (("Complete", "successfulJobsHistoryLimit"), ("Failed", "failedJobsHistoryLimit")):
            limit = spec.get(limit_key)
            if limit is None:
                continue
            done = [j for j in jobs if _finished(j) == outcome and not j["metadata"].get("deletionTimestamp")]
            done.sort(key=lambda j: (j.get("status") or {}).get("startTime") or j["metadata"]["creationTimestamp"])
            for job in done[: max(0, len(done) - int(limit))]:
                await self._delete_job(cj, job)

    async def _delete_job(self, cj: Obj, job: Obj) -> None:
        try:
            await self.client.delete(job, propagation_policy="Background")
        except errors.NotFound:
            return
        self.recorder.event(cj, NORMAL, "SuccessfulDelete", f"Deleted job {job['metadata']['name']}")

    def _zone(self, cj: Obj) -> tzinfo | None:
        name = cj["spec"].get("timeZone")
        if not name:
            return None
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            self.recorder.event(cj, WARNING, "UnknownTimeZone", f"invalid timeZone: {name!r}: {exc}")
            raise

    async def _schedule(self, cj: Obj, jobs: list[Obj], status: Obj) -> float | None:
        """Start the Job that is due, if any; returns when to look again (None: not until something changes)."""
        spec = cj["spec"]
        try:
            schedule = parse(spec.get("schedule") or "")
            zone = self._zone(cj)
        except CronError as exc:
            self.recorder.event(cj, WARNING, "InvalidSchedule", f"invalid schedule: {spec.get('schedule')} : {exc}")
            return None
        except (ZoneInfoNotFoundError, ValueError, OSError):
            return None
        if spec.get("suspend"):
            return None
        now = self.clock.wall()
        scheduled, missed = self._most_recent(cj, schedule, zone, now, status)
        if missed > MAX_MISSED:
            self.recorder.event(
                cj,
                WARNING,
                "TooManyMissedTimes",
                f"too many missed start times: {missed}. "
                "Set or decrease .spec.startingDeadlineSeconds or check clock skew",
            )
        requeue = self._until_next(schedule, zone, now)
        if scheduled is None:
            return requeue
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and scheduled + timedelta(seconds=int(deadline)) < now:
            stamp = scheduled.strftime("%a, %d %b %Y %H:%M:%S %z")
            self.recorder.event(cj, WARNING, "MissSchedule", f"Missed scheduled time to start a job: {stamp}")
            return requeue
        name = f"{cj['metadata']['name']}-{int(scheduled.timestamp()) // 60}"
        if any(ref.get("name") == name for ref in status.get("active") or []):
            return requeue
        policy = spec.get("concurrencyPolicy", "Allow")
        active = status.get("active") or []
        if policy == "Forbid" and active:
            self.recorder.event(
                cj,
                NORMAL,
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid",
            )
            return requeue
        if policy == "Replace" and active:
            by_uid = {j["metadata"]["uid"]: j for j in jobs}
            for ref in active:
                job = by_uid.get(ref.get("uid"))
                if job is not None:
                    await self._delete_job(cj, job)
            status["active"] = None
        job = self._job(cj, name, scheduled, zone)
        try:
            created = await self.client.create(job)
        except errors.AlreadyExists:
            existing = await self.client.api_reader.get(JOB_KIND, name, cj["metadata"]["namespace"])
            if controller_uid(existing) == cj["metadata"]["uid"] and not _finished(existing):
                status["active"] = [*(status.get("active") or []), _ref(existing)]
            status["lastScheduleTime"] = rfc3339(scheduled)
            return requeue
        except errors.StatusError as exc:
            self.recorder.event(cj, WARNING, "FailedCreate", f"Error creating job: {exc.message}")
            raise
        self.recorder.event(cj, NORMAL, "SuccessfulCreate", f"Created job {name}")
        status["active"] = [*(status.get("active") or []), _ref(created)]
        status["lastScheduleTime"] = rfc3339(scheduled)
        return requeue

    @staticmethod
    def _most_recent(
        cj: Obj, schedule: Schedule, zone: tzinfo | None, now: datetime, status: Obj
    ) -> tuple[datetime | None, int]:
        """The latest start time due by ``now`` that has not been started, and how many were missed."""
        earliest = parse_time(status.get("lastScheduleTime")) or parse_time(cj["metadata"].get("creationTimestamp"))
        if earliest is None:
            earliest = now
        deadline = cj["spec"].get("startingDeadlineSeconds")
        if deadline is not None:
            earliest = max(earliest, now - timedelta(seconds=int(deadline)))
        latest: datetime | None = None
        missed = 0
        t = schedule.next(earliest, zone)
        while t is not None and t <= now:
            latest, missed = t, missed + 1
            if missed > 10 * MAX_MISSED and schedule.every is None:
                # Far behind: step near ``now`` rather than through every start time in between.
                jump = schedule.next(now - timedelta(days=1), zone)
                if jump is not None and jump > t:
                    t = jump
                    continue
            t = schedule.next(t, zone)
        return latest, missed

    def _until_next(self, schedule: Schedule, zone: tzinfo | None, now: datetime) -> float | None:
        upcoming = schedule.next(now, zone)
        if upcoming is None:
            return None
        return (upcoming - now).total_seconds() + _NUDGE

    @staticmethod
    def _job(cj: Obj, name: str, scheduled: datetime, zone: tzinfo | None) -> Obj:
        template = cj["spec"].get("jobTemplate") or {}
        tmeta = template.get("metadata") or {}
        annotations = dict(tmeta.get("annotations") or {})
        local = scheduled.astimezone(zone) if zone is not None else scheduled
        annotations[SCHEDULED_ANNOTATION] = local.isoformat().replace("+00:00", "Z")
        meta: Obj = {
            "name": name,
            "namespace": cj["metadata"]["namespace"],
            "annotations": annotations,
            "ownerReferences": [controller_ref(cj)],
        }
        if tmeta.get("labels"):
            meta["labels"] = dict(tmeta["labels"])
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": template.get("spec") or {}}
