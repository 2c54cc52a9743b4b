"""The Job controller: runs pods until enough of them succeed, or the Job fails.

Upstream's ``job_controller`` semantics (v1.32), on the runtime SDK:

- pods get the template (whose ``batch.kubernetes.io/job-name`` and
  ``controller-uid`` labels the API server added), a controller reference and
  the ``batch.kubernetes.io/job-tracking`` finalizer; a finished pod is first
  recorded in ``status.uncountedTerminatedPods``, then its finalizer removed,
  then it is moved into ``succeeded``/``failed`` — so no pod is counted twice
  or lost, even when it is deleted at once;
- ``parallelism`` and ``completions`` decide how many pods run; ``Indexed``
  jobs give each pod its index (annotation and label
  ``batch.kubernetes.io/job-completion-index``, ``JOB_COMPLETION_INDEX``,
  hostname ``<job>-<index>``) and report ``completedIndexes``;
- failures: a failed (or deleted unfinished) pod counts; past
  ``backoffLimit`` (for ``OnFailure`` pods, container restarts count too) the
  Job fails with ``BackoffLimitExceeded``, past ``activeDeadlineSeconds`` with
  ``DeadlineExceeded``. New pods after failures wait an exponential backoff
  (10 s doubling, at most 6 min, as upstream; configurable);
- as in v1.32, the terminal condition comes in two steps: ``FailureTarget`` or
  ``SuccessCriteriaMet`` first, while remaining pods are deleted, then
  ``Failed`` or ``Complete`` (with ``completionTime``) once none is left;
- ``podFailurePolicy``: a failed pod meeting a ``FailJob`` rule fails the Job
  (reason ``PodFailurePolicy``, upstream's message), one meeting an ``Ignore``
  rule is replaced without counting towards ``backoffLimit``;
- ``backoffLimitPerIndex`` (Indexed jobs): each index retries on its own
  (its failures so far in ``batch.kubernetes.io/job-index-failure-count``, its
  own backoff) until it has failed past the limit; the index is then in
  ``failedIndexes``, and the Job fails past ``maxFailedIndexes``
  (MaxFailedIndexesExceeded) or once every index is done (FailedIndexes);
- ``successPolicy`` (Indexed jobs): once the succeeded indexes meet a rule the
  Job succeeds (reason ``SuccessPolicy``, "Matched rules at index N") and its
  remaining pods are deleted;
- ``suspend`` deletes the active pods and sets the ``Suspended`` condition.

Events: SuccessfulCreate, SuccessfulDelete, Completed, BackoffLimitExceeded,
DeadlineExceeded, PodFailurePolicy. The TTL-after-finished controller
(:mod:`.ttlafterfinished`) is added with this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pinnace.api import errors
from pinnace.api.patch import create_merge_patch
from pinnace.controllers._job_pods import (
    COMPLETION_INDEX,
    TRACKING_FINALIZER,
    IndexSet,
    completion_index,
    finished_at,
    is_failed,
    is_index_failed,
    last_failed_per_index,
    match_pod_failure_policy,
    match_success_policy,
    new_job_pod,
    next_index_failure_counts,
    restarts,
)
from pinnace.controllers._pod_control import PodControl
from pinnace.controllers._workload_pods import (
    Expectations,
    is_active,
    is_ready,
    is_terminating,
    owned_pods,
    parse_time,
    rfc3339,
    selector_string,
)
from pinnace.controllers.ttlafterfinished import add_ttl_after_finished_controller
from pinnace.runtime.builder import Builder
from pinnace.runtime.client import Client, MergePatch
from pinnace.runtime.clock import Clock
from pinnace.runtime.controller import Controller
from pinnace.runtime.controllerutil import get_or_none
from pinnace.runtime.events import NORMAL, WARNING, EventRecorder
from pinnace.runtime.manager import Manager
from pinnace.runtime.reconcile import Request, Result

__all__ = ["COMPLETION_INDEX", "JobReconciler", "add_job_controller", "finished"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

KIND = "batch/v1/Job"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
#: Upstream's DefaultJobPodFailureBackOff and MaxJobPodFailureBackOff.
DEFAULT_BACKOFF = 10.0
MAX_BACKOFF = 360.0

BACKOFF_MESSAGE = "Job has reached the specified backoff limit"
DEADLINE_MESSAGE = "Job was active longer than specified deadline"
COMPLETE_MESSAGE = "Reached expected number of succeeded pods"


async def add_job_controller(
    manager: Manager, *, workers: int = 2, pod_failure_backoff: float = DEFAULT_BACKOFF, ttl_workers: int = 1
) -> Controller:
    """Add the Job controller, and the TTL-after-finished controller that deletes finished Jobs, to ``manager``."""
    reconciler = JobReconciler(
        manager.client, manager.get_event_recorder("job-controller"), manager.clock, backoff=pod_failure_backoff
    )
    controller = await (
        Builder(manager)
        .named("job")
        .for_(KIND)
        .owns("v1/Pod")
        .with_options(max_concurrent_reconciles=workers)
        .complete(reconciler)
    )
    await add_ttl_after_finished_controller(manager, workers=ttl_workers)
    return controller


def _conditions(job: Obj) -> list[Obj]:
    return list((job.get("status") or {}).get("conditions") or [])


def _true(job: Obj, type_: str) -> Obj | None:
    for cond in _conditions(job):
        if cond.get("type") == type_ and cond.get("status") == "True":
            return cond
    return None


def finished(job: Obj) -> Obj | None:
    """The Job's Complete or Failed condition, if it has finished."""
    return _true(job, "Complete") or _true(job, "Failed")


class JobReconciler:
    """Makes a Job's pods match its spec and counts how they end."""

    def __init__(self, client: Client, recorder: EventRecorder, clock: Clock, *, backoff: float = DEFAULT_BACKOFF):
        self.client = client
        self.recorder = recorder
        self.clock = clock
        self.backoff = backoff
        self.expectations = Expectations()
        self.pods = PodControl(client, recorder, clock, self.expectations)
        self.backoffs: dict[str, _Backoff] = {}
        #: Per Job uid: pods whose finalizer this controller removed, until the cache shows it gone.
        self.released: dict[str, set[str]] = {}

    async def reconcile(self, request: Request) -> Result:
        """Sync one Job: count finished pods, decide whether it is done, else run the pods it needs."""
        key = str(request)
        job = await get_or_none(self.client, KIND, request.name, request.namespace)
        if job is None:
            self.expectations.forget(key)
            gone = {uid for uid, b in self.backoffs.items() if b.key == key}
            self.backoffs = {uid: b for uid, b in self.backoffs.items() if uid not in gone}
            self.released = {uid: r for uid, r in self.released.items() if uid not in gone}
            await self._release_orphans(request)
            return Result()
        selector = selector_string(job["spec"].get("selector"))
        pods = owned_pods(await self.client.list("v1/Pod", request.namespace, label_selector=selector), job)
        self.backoffs.setdefault(str(job["metadata"]["uid"]), _Backoff(key))
        if finished(job) or job["metadata"].get("deletionTimestamp"):
            await self._remove_finalizers(job, [p for p in pods if TRACKING_FINALIZER in _finalizers(p)])
            return Result()
        status = _Status(job, self.clock.wall())
        try:
            await self._track_finished(job, pods, status)
            requeue = await self._sync(job, pods, status, key)
            await status.write(self.client, job)
        except errors.Conflict:
            return Result(requeue=True)  # the cached Job was stale: again, from a fresher one
        if status.finished_event is not None:  # once the finished condition is written, as upstream records it
            self.recorder.event(job, *status.finished_event)
        return Result(requeue_after=requeue) if requeue else Result()

    # ---- counting ---------------------------------------------------------------
    async def _track_finished(self, job: Obj, pods: list[Obj], status: _Status) -> None:
        """Record finished pods as uncounted, drop their finalizers, then count them."""
        uncounted = status.uncounted
        indexed = job["spec"].get("completionMode") == "Indexed"
        completions = int(job["spec"].get("completions") or 0)
        new = False
        ignored: list[Obj] = []
        released = self.released.setdefault(str(job["metadata"]["uid"]), set())
        for pod in pods:
            uid = pod["metadata"]["uid"]
            if TRACKING_FINALIZER not in _finalizers(pod):
                released.discard(uid)
                continue
            if uid in released or uid in uncounted["succeeded"] + uncounted["failed"]:
                continue  # counted already; the cache has not seen its finalizer go yet
            phase = (pod.get("status") or {}).get("phase")
            if phase == "Succeeded":
                uncounted["succeeded"].append(uid)
                index = completion_index(pod)
                if indexed and index is not None and index < completions:
                    status.completed.add(index)  # recorded with the uncounted pod, as upstream does
                new = True
            elif is_failed(pod, job):
                if match_pod_failure_policy(job, pod)[1]:
                    uncounted["failed"].append(uid)
                    new = True
                else:  # an Ignore rule: replaced, not counted
                    ignored.append(pod)
        if new:
            await status.write(self.client, job)
        if ignored:
            await self._remove_finalizers(job, ignored)
            released |= {p["metadata"]["uid"] for p in ignored}
            self._count_failures(job, len(ignored))
        pending = set(uncounted["succeeded"] + uncounted["failed"])
        if not pending:
            return
        holding = [p for p in pods if p["metadata"]["uid"] in pending and TRACKING_FINALIZER in _finalizers(p)]
        await self._remove_finalizers(job, holding)
        released |= {p["metadata"]["uid"] for p in holding}
        if job["spec"].get("completionMode") != "Indexed":
            status.succeeded += len(uncounted["succeeded"])
        status.failed += len(uncounted["failed"])
        if uncounted["failed"]:
            self._count_failures(job, len(uncounted["failed"]))
        elif uncounted["succeeded"]:
            self.backoffs.setdefault(str(job["metadata"]["uid"]), _Backoff()).failures = 0
        uncounted["succeeded"], uncounted["failed"] = [], []

    def _count_failures(self, job: Obj, failed: int) -> None:
        """New pod failures delay the next pods (upstream's backoff record counts ignored failures too)."""
        record = self.backoffs.setdefault(str(job["metadata"]["uid"]), _Backoff())
        record.failures += failed
        record.last_failure = self.clock.now()

    async def _remove_finalizers(self, job: Obj, pods: list[Obj]) -> None:
        async def remove(pod: Obj) -> None:
            finalizers = [f for f in _finalizers(pod) if f != TRACKING_FINALIZER]
            patch = {
                "metadata": {"finalizers": finalizers or None, "resourceVersion": pod["metadata"]["resourceVersion"]}
            }
            try:
                await self.client.patch(pod, MergePatch(patch))
            except errors.NotFound:
                pass
            except errors.Conflict:
                fresh = await self.client.api_reader.get(
                    "v1/Pod", pod["metadata"]["name"], pod["metadata"]["namespace"]
                )
                await remove(fresh)

        await asyncio.gather(*(remove(p) for p in pods))

    async def _release_orphans(self, request: Request) -> None:
        """Free the pods of a Job that is gone from the tracking finalizer (nothing will count them now)."""
        pods = await self.client.list("v1/Pod", request.namespace, label_selector=f"{JOB_NAME_LABEL}={request.name}")
        await self._remove_finalizers({}, [p for p in pods if TRACKING_FINALIZER in _finalizers(p)])

    # ---- deciding -----------------------------------------------------------------
    async def _sync(self, job: Obj, pods: list[Obj], status: _Status, key: str) -> float:
        spec = job["spec"]
        active = [p for p in pods if is_active(p)]
        terminating = [p for p in pods if is_terminating(p) and (p.get("status") or {}).get("phase") not in _DONE]
        status.active = len(active)
        status.ready = sum(1 for p in active if is_ready(p))
        status.terminating = len(terminating)
        target = _true(job, "FailureTarget") or _true(job, "SuccessCriteriaMet")
        if target is None:
            target = self._failure(job, pods, status) or self._index_failure(job, pods, status)
            target = target or self._success(job, status)
            if target is not None:
                status.set_condition(target["type"], target["reason"], target["message"])
        if target is not None:
            await self._delete(job, active, key)
            if not active and not terminating:
                self._finish(job, target, status)
            return 0.0
        if spec.get("suspend"):
            await self._delete(job, active, key, uncounted=True)
            status.set_condition("Suspended", "JobSuspended", "Job suspended")
            status.start_time = None
            return 0.0
        if status.has_condition("Suspended"):
            status.set_condition("Suspended", "JobResumed", "Job resumed", "False")
        if status.start_time is None:
            status.start_time = status.now
        if not self.expectations.satisfied(key, pods, self.clock.now()):
            return 0.0
        wait = await self._manage(job, pods, active, terminating, status, key)
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None:
            left = float(deadline) - (status.now - status.start_time).total_seconds()
            wait = min(wait, left) if wait else left
        return max(wait, 0.01) if wait else 0.0

    def _failure(self, job: Obj, pods: list[Obj], status: _Status) -> Obj | None:
        spec = job["spec"]
        if spec.get("podFailurePolicy"):
            for pod in pods:
                message = match_pod_failure_policy(job, pod)[0] if is_failed(pod, job) else None
                if message is not None:
                    return {"type": "FailureTarget", "reason": "PodFailurePolicy", "message": message}
        limit = int(spec.get("backoffLimit", 6))
        on_failure = (spec.get("template") or {}).get("spec", {}).get("restartPolicy") == "OnFailure"
        past = status.failed > limit
        if on_failure and not past:
            total = sum(restarts(p) for p in pods if is_active(p))
            past = total > 0 if limit == 0 else total >= limit
        if past:
            return {"type": "FailureTarget", "reason": "BackoffLimitExceeded", "message": BACKOFF_MESSAGE}
        deadline = spec.get("activeDeadlineSeconds")
        started = status.start_time
        if deadline is not None and started is not None and (status.now - started).total_seconds() >= float(deadline):
            return {"type": "FailureTarget", "reason": "DeadlineExceeded", "message": DEADLINE_MESSAGE}
        return None

    @staticmethod
    def _index_failure(job: Obj, pods: list[Obj], status: _Status) -> Obj | None:
        """With ``backoffLimitPerIndex``: record the indexes failed for good; fail the Job past
        ``maxFailedIndexes``, or once every index has succeeded or failed (upstream's messages)."""
        spec = job["spec"]
        if spec.get("completionMode") != "Indexed" or spec.get("backoffLimitPerIndex") is None:
            return None
        completions = int(spec.get("completions") or 0)
        for pod in pods:
            index = completion_index(pod)
            if index is not None and index < completions and is_index_failed(job, pod):
                status.failed_indexes.add(index)
        failed = len(status.failed_indexes)
        if spec.get("maxFailedIndexes") is not None and failed > int(spec["maxFailedIndexes"]):
            message = "Job has exceeded the specified maximal number of failed indexes"
            return {"type": "FailureTarget", "reason": "MaxFailedIndexesExceeded", "message": message}
        if failed and failed + len(status.completed) >= completions:
            return {"type": "FailureTarget", "reason": "FailedIndexes", "message": "Job has failed indexes"}
        return None

    @staticmethod
    def _success(job: Obj, status: _Status) -> Obj | None:
        spec = job["spec"]
        completions = spec.get("completions")
        if spec.get("completionMode") == "Indexed":
            matched = match_success_policy(job, status.completed)
            if matched is not None:
                return {"type": "SuccessCriteriaMet", "reason": "SuccessPolicy", "message": matched}
            done = len(status.completed) >= int(completions or 0)
        elif completions is None:
            done = status.succeeded > 0 and status.active == 0
        else:
            done = status.succeeded >= int(completions)
        if done:
            return {"type": "SuccessCriteriaMet", "reason": "CompletionsReached", "message": COMPLETE_MESSAGE}
        return None

    def _finish(self, job: Obj, target: Obj, status: _Status) -> None:
        if target["type"] == "SuccessCriteriaMet":
            status.set_condition("Complete", target["reason"], target["message"])
            status.completion_time = status.now
            status.finished_event = (NORMAL, "Completed", "Job completed")
        else:
            status.set_condition("Failed", target["reason"], target["message"])
            status.finished_event = (WARNING, target["reason"], target["message"])

    # ---- pods -------------------------------------------------------------------
    async def _create_per_index(self, job: Obj, wanted: list[int], pods: list[Obj], status: _Status, key: str) -> float:
        """Start the wanted indexes whose own backoff is over (``backoffLimitPerIndex``: each index counts its
        failures on its pods, and waits 10 s doubling per failure); returns the shortest wait left otherwise."""
        last_failed = last_failed_per_index(job, pods)
        now, ready, waits = status.now, [], []
        for index in wanted:
            failed = last_failed.get(index)
            counts = next_index_failure_counts(job, failed)
            if failed is not None and self.backoff > 0:
                delay = min(self.backoff * 2 ** (sum(counts) - 1), MAX_BACKOFF)
                ended = parse_time(finished_at(failed)) or now
                left = delay - (now - ended).total_seconds()
                if left > 0:
                    waits.append(left)
                    continue
            ready.append((index, counts))
        if not ready:
            return min(waits, default=0.0)
        await asyncio.gather(*(self.pods.create(job, new_job_pod(job, i, counts), key) for i, counts in ready))
        return 0.0

    async def _manage(
        self, job: Obj, pods: list[Obj], active: list[Obj], terminating: list[Obj], status: _Status, key: str
    ) -> float:
        """Create or delete pods towards what the Job wants running; returns a backoff to wait, if any."""
        spec = job["spec"]
        parallelism = int(spec.get("parallelism", 1))
        replace_failed_only = spec.get("podReplacementPolicy") == "Failed"
        busy = len(active) + (len(terminating) if replace_failed_only else 0)
        if spec.get("completionMode") == "Indexed":
            completions = int(spec.get("completions") or 0)
            by_index: dict[int, list[Obj]] = {}
            extra = []
            for pod in active:
                index = completion_index(pod)
                if index is None or index >= completions or index in status.completed | status.failed_indexes:
                    extra.append(pod)
                else:
                    by_index.setdefault(index, []).append(pod)
            for dupes in by_index.values():
                extra.extend(sorted(dupes, key=lambda p: p["metadata"]["creationTimestamp"])[1:])
            await self._delete(job, extra, key, uncounted=True)
            busy_indexes = set(by_index) | (
                {i for p in terminating if (i := completion_index(p)) is not None} if replace_failed_only else set()
            )
            done = status.completed | status.failed_indexes
            free = [i for i in range(completions) if i not in done and i not in busy_indexes]
            wanted: list[int | None] = list(free[: max(0, parallelism - len(by_index))])
            if spec.get("backoffLimitPerIndex") is not None:
                return await self._create_per_index(job, [i for i in wanted if i is not None], pods, status, key)
        else:
            completions = spec.get("completions")
            if completions is None:
                want = len(active) if status.succeeded > 0 else parallelism
            else:
                want = max(0, min(parallelism, int(completions) - status.succeeded))
            if len(active) > want:
                ranked = sorted(active, key=lambda p: (is_ready(p), p["metadata"]["creationTimestamp"]))
                await self._delete(job, ranked[: len(active) - want], key, uncounted=True)
                return 0.0
            wanted = [None] * max(0, want - busy)
        if not wanted:
            return 0.0
        wait = self._backoff_left(job)
        if wait > 0:
            return wait
        await asyncio.gather(*(self._create(job, index, key) for index in wanted))
        return 0.0

    def _backoff_left(self, job: Obj) -> float:
        """Seconds until the next pod may start after failures (upstream's pod failure backoff)."""
        record = self.backoffs.get(str(job["metadata"]["uid"]))
        if record is None or record.failures == 0 or self.backoff <= 0:
            return 0.0
        delay = min(self.backoff * 2 ** (record.failures - 1), MAX_BACKOFF)
        return float(delay) - (self.clock.now() - record.last_failure)

    async def _create(self, job: Obj, index: int | None, key: str) -> None:
        await self.pods.create(job, new_job_pod(job, index), key)

    async def _delete(self, job: Obj, pods: list[Obj], key: str, *, uncounted: bool = False) -> None:
        """Delete pods; ``uncounted`` ones (suspended, or more than the Job wants) are first released from the
        tracking finalizer, so their end is no failure (upstream's ``deleteJobPods``); the pods of a finished
        Job are not: each counts as failed (``deleteActivePods``)."""
        if uncounted and pods:
            holding = [p for p in pods if TRACKING_FINALIZER in _finalizers(p)]
            await self._remove_finalizers(job, holding)
            self.released.setdefault(str(job["metadata"]["uid"]), set()).update(p["metadata"]["uid"] for p in holding)
        await self.pods.delete(job, pods, key)


_DONE = ("Succeeded", "Failed")


def _finalizers(pod: Obj) -> list[str]:
    return list(pod["metadata"].get("finalizers") or [])


class _Status:
    """The Job's status as this sync computes it, written once at the end (and when pods are recorded)."""

    def __init__(self, job: Obj, now: datetime) -> None:
        old = job.get("status") or {}
        self.now = now
        self.old = old
        self.resource_version = job["metadata"].get("resourceVersion")
        self.active = int(old.get("active") or 0)
        self.ready = int(old.get("ready") or 0)
        self.terminating = int(old.get("terminating") or 0)
        self.succeeded = int(old.get("succeeded") or 0)
        self.failed = int(old.get("failed") or 0)
        self.completed = IndexSet.parse(old.get("completedIndexes") or "")
        self.failed_indexes = IndexSet.parse(old.get("failedIndexes") or "")
        uncounted = old.get("uncountedTerminatedPods") or {}
        self.uncounted: dict[str, list[str]] = {
            "succeeded": list(uncounted.get("succeeded") or []),
            "failed": list(uncounted.get("failed") or []),
        }
        self.start_time = parse_time(old.get("startTime"))
        self.completion_time = parse_time(old.get("completionTime"))
        self.conditions: list[Obj] = [dict(c) for c in old.get("conditions") or []]
        #: The event of the Job's end (type, reason, message), recorded only after the status saying so is
        #: written: a sync from a stale cached Job, refused with a conflict, must not record it a second time.
        self.finished_event: tuple[str, str, str] | None = None

    def has_condition(self, type_: str) -> bool:
        return any(c.get("type") == type_ and c.get("status") == "True" for c in self.conditions)

    def set_condition(self, type_: str, reason: str, message: str, value: str = "True") -> None:
        stamp = rfc3339(self.now)
        for cond in self.conditions:
            if cond.get("type") == type_:
                if cond.get("status") != value:
                    cond["lastTransitionTime"] = stamp
                cond.update(status=value, reason=reason, message=message, lastProbeTime=stamp)
                return
        self.conditions.append(
            {
                "type": type_,
                "status": value,
                "lastProbeTime": stamp,
                "lastTransitionTime": stamp,
                "reason": reason,
                "message": message,
            }
        )

    def render(self, job: Obj) -> Obj:
        out: Obj = {
            "active": self.active,
            "ready": self.ready,
            "terminating": self.terminating,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "uncountedTerminatedPods": {k: v for k, v in self.uncounted.items() if v},
        }
        if job["spec"].get("completionMode") == "Indexed":
            out["completedIndexes"] = str(self.completed)
            out["succeeded"] = len(self.completed)
            if job["spec"].get("backoffLimitPerIndex") is not None:
                out["failedIndexes"] = str(self.failed_indexes)  # a pointer upstream: "" is written
        for name in ("active", "succeeded", "failed", "completedIndexes"):
            if not out.get(name, 1):
                del out[name]  # omitempty upstream (ready and terminating are pointers: their 0 is written)
        if self.start_time is not None:
            out["startTime"] = rfc3339(self.start_time)
        if self.completion_time is not None:
            out["completionTime"] = rfc3339(self.completion_time)
        if self.conditions:
            out["conditions"] = self.conditions
        return out

    async def write(self, client: Client, job: Obj) -> None:
        """Patch the status with what changed since it was read (or last written)."""
        patch = create_merge_patch(self.old, self.render(job))
        if not patch:
            return
        # Optimistic lock: a status computed from a stale cached Job must not overwrite counts (409, retried).
        body = {"metadata": {"resourceVersion": self.resource_version}, "status": patch}
        with contextlib.suppress(errors.NotFound):
            written = await client.status().patch(job, MergePatch(body))
            self.old = written.get("status") or {}
            self.resource_version = written["metadata"]["resourceVersion"]


@dataclass
class _Backoff:
    """Failures since the last success of one Job, and when the last one was counted (upstream's backoff record)."""

    key: str = ""
    failures: int = 0
    last_failure: float = 0.0
