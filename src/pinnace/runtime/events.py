"""The event recorder: events.k8s.io/v1 Events, so ``kubectl describe`` tells the story.

``recorder.event(obj, "Normal", "Created", "created pod web-1")`` returns at
once; the Event is written in the background (a failure is logged, never
raised into the reconciler). Repeats of the same event about the same object
within six minutes become one Event with a growing ``series`` (count and
last observed time), as client-go's events broadcaster does, instead of a
flood of objects.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from pinnace.api import errors
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.runtime.clock import Clock, RealClock

__all__ = ["CORE_EVENTS", "EVENTS", "NORMAL", "WARNING", "EventRecorder"]

log = logging.getLogger(__name__)

EVENTS = ResourceRef("events.k8s.io", "v1", "events")
#: core/v1 Events: what client-go's tools/record writes, and what ``kubectl describe`` reads.
CORE_EVENTS = ResourceRef("", "v1", "events")
NORMAL = "Normal"
WARNING = "Warning"

#: How long repeats of one event are folded into its series (client-go: 6 minutes).
SERIES_WINDOW = 360.0
_MAX_NOTE = 1024

Obj = dict[str, Any]


@dataclass
class _Seen:
    name: str
    namespace: str
    count: int
    first_seen: float


def _reference(obj: Obj) -> Obj:
    meta = obj.get("metadata") or {}
    ref = {
        "apiVersion": obj.get("apiVersion", ""),
        "kind": obj.get("kind", ""),
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "resourceVersion": meta.get("resourceVersion", ""),
    }
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    return {k: v for k, v in ref.items() if v}


class EventRecorder:
    """Records Events about objects on behalf of one controller."""

    def __init__(
        self, client: RestClient, controller: str, instance: str = "", *, clock: Clock | None = None, core: bool = False
    ) -> None:
        #: Write core/v1 Events (involvedObject, message, count) as kube-controller-manager's controllers do,
        #: instead of events.k8s.io/v1 ones: ``kubectl describe`` lists only those.
        self.core = core
        self.client = client
        self.controller = controller
        self.instance = instance or f"{controller}-{secrets.token_hex(4)}"
        self.clock: Clock = clock or RealClock()
        self._seen: dict[tuple[str, ...], _Seen] = {}
        #: One write at a time per event: a repeat recorded while the first is being created joins its series.
        self._writing: dict[tuple[str, ...], asyncio.Lock] = {}
        self._pending: set[asyncio.Task[None]] = set()

    def event(self, regarding: Obj, type_: str, reason: str, note: str, *, action: str | None = None) -> None:
        """Record an event about ``regarding`` (written in the background)."""
        if type_ not in (NORMAL, WARNING):
            raise ValueError(f"event type must be {NORMAL!r} or {WARNING!r}, not {type_!r}")
        task = asyncio.get_running_loop().create_task(self._write(regarding, type_, reason, note, action or reason))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def flush(self) -> None:
        """Wait until every event recorded so far has been written (or failed)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def _write(self, regarding: Obj, type_: str, reason: str, note: str, action: str) -> None:
        ref = _reference(regarding)
        namespace = ref.get("namespace") or "default"
        note = note[:_MAX_NOTE]
        key = (ref.get("uid") or f"{namespace}/{ref.get('name')}", type_, reason, action, note)
        lock = self._writing.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                await self._write_one(ref, namespace, key, type_, reason, note, action)
        finally:
            if not lock.locked():
                self._writing.pop(key, None)

    async def _write_one(
        self, ref: Obj, namespace: str, key: tuple[str, ...], type_: str, reason: str, note: str, action: str
    ) -> None:
        now = self.clock.now()
        event_time = self.clock.wall().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        try:
            seen = self._seen.get(key)
            if seen is not None and now - seen.first_seen < SERIES_WINDOW:
                seen.count += 1
                series = {"count": seen.count, "lastObservedTime": event_time}
                try:
                    if self.core:
                        repeat = {"count": seen.count, "lastTimestamp": event_time[:19] + "Z"}
                        await self.client.patch(CORE_EVENTS, seen.name, repeat, seen.namespace)
                    else:
                        await self.client.patch(EVENTS, seen.name, {"series": series}, seen.namespace)
                    return
                except errors.NotFound:
                    pass  # the event was deleted (TTL): start a new one
            name = f"{ref.get('name', 'event')}.{secrets.token_hex(8)}"
            event = {
                "apiVersion": "events.k8s.io/v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "eventTime": event_time,
                "reportingController": self.controller,
                "reportingInstance": self.instance,
                "action": action,
                "reason": reason,
                "note": note,
                "type": type_,
                "regarding": ref,
            }
            if self.core:
                await self.client.create(CORE_EVENTS, _core_event(event, event_time[:19] + "Z"), namespace)
            else:
                await self.client.create(EVENTS, event, namespace)
            self._forget_expired(now)
            self._seen.pop(key, None)  # re-inserted at the end: the table stays ordered by first_seen
            self._seen[key] = _Seen(name, namespace, 1, now)
        except Exception as exc:
            # As client-go's recorder: an event refused because its namespace is being deleted is expected.
            level = logging.DEBUG if errors.namespace_terminating(exc) else logging.WARNING
            log.log(
                level, "could not record event %s %s about %s/%s: %r", type_, reason, namespace, ref.get("name"), exc
            )

    def _forget_expired(self, now: float) -> None:
        """Drop the series whose window has passed (the oldest come first), so the table does not grow forever."""
        seen = self._seen
        while seen:
            oldest = next(iter(seen))
            if now - seen[oldest].first_seen < SERIES_WINDOW:
                return
            del seen[oldest]


def _core_event(event: Obj, timestamp: str) -> Obj:
    """The core/v1 form of an events.k8s.io/v1 Event (as client-go's tools/record writes it)."""
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": event["metadata"],
        "involvedObject": event["regarding"],
        "reason": event["reason"],
        "message": event["note"],
        "type": event["type"],
        "source": {"component": event["reportingController"]},
        "firstTimestamp": timestamp,
        "lastTimestamp": timestamp,
        "count": 1,
        "reportingComponent": event["reportingController"],
        "reportingInstance": event["reportingInstance"],
    }
