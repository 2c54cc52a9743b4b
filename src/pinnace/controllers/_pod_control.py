"""Creating and deleting an owner's pods, with events and expectations (upstream's PodControl).

Every workload controller that manages pods one by one does the same around
each write: record the expectation (so a lagging cache does not make it create
or delete again), and tell the story in an Event on the owner —
SuccessfulCreate / FailedCreate, SuccessfulDelete. A delete carries the pod's
uid as a precondition, so a pod replaced under the same name is never the one
removed; a pod already gone counts as deleted by someone else.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pinnace.api import errors
from pinnace.controllers._workload_pods import Expectations
from pinnace.runtime.client import Client
from pinnace.runtime.clock import Clock
from pinnace.runtime.events import NORMAL, WARNING, EventRecorder

__all__ = ["PodControl"]

Obj = dict[str, Any]


class PodControl:
    """Writes an owner's pods and keeps its expectations and events."""

    def __init__(self, client: Client, recorder: EventRecorder, clock: Clock, expectations: Expectations) -> None:
        self.client = client
        self.recorder = recorder
        self.clock = clock
        self.expectations = expectations

    async def create(self, owner: Obj, pod: Obj, key: str) -> Obj:
        """Create ``pod`` for ``owner`` (expectation key ``key``); a failure is an event, then raised."""
        try:
            created: Obj = await self.client.create(pod)
        except errors.StatusError as exc:
            self.recorder.event(owner, WARNING, "FailedCreate", f"Error creating: {exc.message}")
            raise
        self.expectations.expect_create(key, created["metadata"]["name"], self.clock.now())
        self.recorder.event(owner, NORMAL, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")
        return created

    async def delete(self, owner: Obj, pods: list[Obj], key: str) -> None:
        """Delete ``pods`` of ``owner`` concurrently (each only if it is still the same pod)."""

        async def delete_one(pod: Obj) -> None:
            name = pod["metadata"]["name"]
            try:
                await self.client.delete(pod, preconditions={"uid": pod["metadata"]["uid"]})
            except (errors.NotFound, errors.Conflict):
                return
            self.expectations.expect_delete(key, name, self.clock.now())
            self.recorder.event(owner, NORMAL, "SuccessfulDelete", f"Deleted pod: {name}")

        await asyncio.gather(*(delete_one(p) for p in pods))
