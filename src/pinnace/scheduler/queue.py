"""The scheduling queue: active, backoff and unschedulable pods, as upstream's PriorityQueue.

* **active** — pods ready to be tried, highest priority first, then oldest;
* **backoff** — pods that failed recently wait ``initial * 2**(attempts-1)``
  seconds (1 s up to 10 s by default) before they are tried again;
* **unschedulable** — pods no node could take. They stay until the cluster
  changes in a way that may help (:meth:`SchedulingQueue.move_all`: a node
  added or changed, a pod deleted) and then go to active, or to backoff if
  their backoff has not expired; and at the latest after
  ``max_unschedulable`` seconds (upstream: 5 minutes).

A pod that fails while a cluster event happened during its attempt goes to
backoff rather than unschedulable, so the event is not missed (upstream's
move request cycle). Time comes from an injected clock.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass

from pinnace.runtime.clock import Clock, RealClock
from pinnace.scheduler.types import PodInfo

__all__ = ["QueuedPod", "SchedulingQueue"]

ACTIVE, BACKOFF, UNSCHEDULABLE, IN_FLIGHT = "active", "backoff", "unschedulable", "in-flight"


@dataclass(slots=True)
class QueuedPod:
    """A pod waiting to be scheduled and its history in the queue."""

    info: PodInfo
    added: float
    attempts: int = 0
    where: str = ACTIVE
    seq: int = 0
    backoff_until: float = 0.0
    cycle: int = 0
    unschedulable_since: float = 0.0


class SchedulingQueue:
    """Pods to schedule, in upstream's three queues."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        initial_backoff: float = 1.0,
        max_backoff: float = 10.0,
        max_unschedulable: float = 300.0,
    ) -> None:
        self.clock: Clock = clock or RealClock()
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable = max_unschedulable
        self._entries: dict[str, QueuedPod] = {}
        self._active: list[tuple[int, float, int, str]] = []
        self._backoff: list[tuple[float, int, str]] = []
        self._unschedulable: dict[str, QueuedPod] = {}
        self._seq = itertools.count()
        self._ready = asyncio.Event()
        self.cycle = 0
        self._move_cycle = -1

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def where(self, key: str) -> str | None:
        """Which queue holds the pod (or in-flight), None if it is not queued."""
        entry = self._entries.get(key)
        return entry.where if entry is not None else None

    # ---- adding and removing -----------------------------------------------------
    def add(self, info: PodInfo, *, changed: bool = True) -> None:
        """A new or updated pod to schedule; an unschedulable pod whose spec ``changed`` is tried again."""
        entry = self._entries.get(info.key)
        if entry is None:
            entry = self._entries[info.key] = QueuedPod(info, self.clock.now())
            self._push_active(entry)
            return
        entry.info = info
        if entry.where == UNSCHEDULABLE:
            if changed:
                self._requeue(entry)
        elif entry.where == ACTIVE:
            self._push_active(entry)  # its priority may have changed; the old heap entry is stale

    def delete(self, key: str) -> None:
        """The pod is gone or bound: stop tracking it."""
        self._entries.pop(key, None)
        self._unschedulable.pop(key, None)

    # ---- popping ------------------------------------------------------------------
    async def pop(self) -> QueuedPod:
        """The next pod to try (waits for one); it is in flight until requeued or deleted."""
        while True:
            entry = self._pop_ready()
            if entry is not None:
                return entry
            self._ready.clear()
            await self._ready.wait()

    def pop_nowait(self) -> QueuedPod | None:
        """The next pod to try, or None if no pod is active."""
        return self._pop_ready()

    def _pop_ready(self) -> QueuedPod | None:
        while self._active:
            _, _, seq, key = heapq.heappop(self._active)
            entry = self._entries.get(key)
            if entry is None or entry.seq != seq or entry.where != ACTIVE:
                continue
            entry.where = IN_FLIGHT
            entry.attempts += 1
            self.cycle += 1
            entry.cycle = self.cycle
            return entry
        return None

    # ---- after an attempt -----------------------------------------------------------
    def backoff_for(self, entry: QueuedPod) -> float:
        """How long a pod waits after its attempts so far."""
        return min(self.max_backoff, self.initial_backoff * 2.0 ** max(0, entry.attempts - 1))

    def unschedulable(self, entry: QueuedPod) -> None:
        """No node could take the pod: park it until the cluster changes (backoff if it already did)."""
        if self._entries.get(entry.info.key) is not entry:
            return
        now = self.clock.now()
        entry.backoff_until = now + self.backoff_for(entry)
        if self._move_cycle >= entry.cycle:
            self._push_backoff(entry)
            return
        entry.where = UNSCHEDULABLE
        entry.unschedulable_since = now
        self._unschedulable[entry.info.key] = entry

    @property
    def unschedulable_count(self) -> int:
        """How many pods wait for the cluster to change."""
        return len(self._unschedulable)

    def retry(self, entry: QueuedPod) -> None:
        """The attempt failed for another reason (an API error): try again after the backoff."""
        if self._entries.get(entry.info.key) is not entry:
            return
        entry.backoff_until = self.clock.now() + self.backoff_for(entry)
        self._push_backoff(entry)

    def move_all(self) -> None:
        """The cluster changed in a way that may help: unschedulable pods go back to active (or backoff)."""
        self._move_cycle = self.cycle
        for entry in list(self._unschedulable.values()):
            self._requeue(entry)

    def flush(self) -> None:
        """Move pods whose backoff expired to active, and pods unschedulable for too long."""
        now = self.clock.now()
        while self._backoff and self._backoff[0][0] <= now:
            _, seq, key = heapq.heappop(self._backoff)
            entry = self._entries.get(key)
            if entry is not None and entry.seq == seq and entry.where == BACKOFF:
                self._push_active(entry)
        for entry in list(self._unschedulable.values()):
            if now - entry.unschedulable_since >= self.max_unschedulable:
                self._requeue(entry)

    def next_wakeup(self) -> float | None:
        """Seconds until the earliest backoff expires (None if nothing waits)."""
        if not self._backoff:
            return None
        return max(0.0, self._backoff[0][0] - self.clock.now())

    async def run(self, interval: float = 1.0) -> None:
        """Flush periodically (backoff expiry, stale unschedulable pods) until cancelled."""
        while True:
            wait = self.next_wakeup()
            await self.clock.sleep(interval if wait is None else min(interval, max(wait, 0.01)))
            self.flush()

    # ---- internals ----------------------------------------------------------------
    def _requeue(self, entry: QueuedPod) -> None:
        self._unschedulable.pop(entry.info.key, None)
        if entry.backoff_until > self.clock.now():
            self._push_backoff(entry)
        else:
            self._push_active(entry)

    def _push_active(self, entry: QueuedPod) -> None:
        entry.where = ACTIVE
        entry.seq = next(self._seq)
        heapq.heappush(self._active, (-entry.info.priority, entry.added, entry.seq, entry.info.key))
        self._ready.set()

    def _push_backoff(self, entry: QueuedPod) -> None:
        entry.where = BACKOFF
        entry.seq = next(self._seq)
        heapq.heappush(self._backoff, (entry.backoff_until, entry.seq, entry.info.key))
