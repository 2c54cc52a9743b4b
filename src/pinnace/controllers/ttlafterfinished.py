"""The TTL-after-finished controller: deletes a finished Job ``ttlSecondsAfterFinished`` after it finished.

Upstream's ``ttlafterfinished`` controller: the finish time is the
``lastTransitionTime`` of the Job's Complete or Failed condition; when it
plus the TTL has passed, the Job is deleted in the foreground (its pods go
first), with a uid precondition so that a Job recreated under the same name
is never hit. Until then the Job is looked at again when its time comes —
on the manager's clock, so tests move time instead of waiting.
"""

from __future__ import annotations

import contextlib
from typing import Any

from pinnace.api import errors
from pinnace.controllers._workload_pods import parse_time
from pinnace.runtime.builder import Builder
from pinnace.runtime.client import Client
from pinnace.runtime.clock import Clock
from pinnace.runtime.controller import Controller
from pinnace.runtime.controllerutil import get_or_none
from pinnace.runtime.manager import Manager
from pinnace.runtime.predicate import new_predicate
from pinnace.runtime.reconcile import Request, Result

__all__ = ["TTLAfterFinishedReconciler", "add_ttl_after_finished_controller"]

Obj = dict[str, Any]

KIND = "batch/v1/Job"


def _finish_condition(job: Obj) -> Obj | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return dict(cond)
    return None


def _candidate(job: Obj) -> bool:
    return (job.get("spec") or {}).get("ttlSecondsAfterFinished") is not None and _finish_condition(job) is not None


async def add_ttl_after_finished_controller(manager: Manager, *, workers: int = 1) -> Controller:
    """Add the TTL-after-finished controller to ``manager``."""
    return await (
        Builder(manager)
        .named("ttl-after-finished")
        .for_(KIND, new_predicate(_candidate))
        .with_options(max_concurrent_reconciles=workers)
        .complete(TTLAfterFinishedReconciler(manager.client, manager.clock))
    )


class TTLAfterFinishedReconciler:
    """Deletes finished Jobs whose time to live has run out."""

    def __init__(self, client: Client, clock: Clock) -> None:
        self.client = client
        self.clock = clock

    async def reconcile(self, request: Request) -> Result:
        """Delete the Job if its TTL has expired, else look again when it will have."""
        job = await get_or_none(self.client, KIND, request.name, request.namespace)
        if job is None:
            return Result()
        left = self.time_left(job)
        if left is None or job["metadata"].get("deletionTimestamp"):
            return Result()
        if left > 0:
            return Result(requeue_after=left)
        fresh = await self.client.api_reader.get(KIND, request.name, request.namespace)
        left = self.time_left(fresh)
        if left is None:
            return Result()
        if left > 0:
            return Result(requeue_after=left)
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.client.delete(
                fresh, propagation_policy="Foreground", preconditions={"uid": fresh["metadata"]["uid"]}
            )
        return Result()

    def time_left(self, job: Obj) -> float | None:
        """Seconds until the Job expires (zero or less: expired); None if it has no TTL or has not finished."""
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        cond = _finish_condition(job)
        if ttl is None or cond is None:
            return None
        finished_at = parse_time(cond.get("lastTransitionTime"))
        if finished_at is None:
            return None
        return (finished_at - self.clock.wall()).total_seconds() + float(ttl)
