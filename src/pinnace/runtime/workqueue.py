"""The workqueue: deduplicated keys, never processed twice at once, with delays and rate limits.

The contract is client-go's:

- :meth:`WorkQueue.add` puts a key in the queue unless it is already waiting
  (a "dirty" key is queued once, however often it is added);
- :meth:`WorkQueue.get` hands a key to one worker and marks it processing; a
  key added while it is processing is *not* handed to a second worker — it is
  queued again when the first calls :meth:`WorkQueue.done`;
- :meth:`WorkQueue.add_after` adds a key once a delay has passed (a shorter
  later delay for the same key wins), on the queue's :class:`Clock`;
- :meth:`WorkQueue.add_rate_limited` asks the rate limiter how long the key
  should wait (backoff grows with each failure) and :meth:`WorkQueue.forget`
  resets that once the key was processed successfully;
- :meth:`WorkQueue.shut_down` wakes every waiting :meth:`get` with
  :class:`ShutDown`; :meth:`WorkQueue.shut_down_with_drain` also waits for the
  keys in flight to be done.

Metrics (depth, adds, queue and work durations, retries) are recorded under
the queue's name in :mod:`pinnace.runtime.metrics`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from pinnace.runtime import metrics
from pinnace.runtime.clock import Clock, RealClock
from pinnace.runtime.ratelimit import RateLimiter, default_controller_rate_limiter

__all__ = ["ShutDown", "WorkQueue"]

T = TypeVar("T", bound=Hashable)


class ShutDown(Exception):
    """The queue was shut down: no more keys will come."""


class WorkQueue(Generic[T]):
    """A rate-limited, delaying, deduplicating queue of keys for N workers."""

    def __init__(
        self,
        name: str = "",
        *,
        rate_limiter: RateLimiter | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.clock: Clock = clock or RealClock()
        self.rate_limiter = rate_limiter or default_controller_rate_limiter(self.clock)
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        self._added_at: dict[T, float] = {}
        self._started_at: dict[T, float] = {}
        self._nonempty = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._shutting_down = False
        # Delayed keys: a heap of (ready_at, seq, key), and each key's earliest ready time.
        self._waiting: list[tuple[float, int, T]] = []
        self._ready_at: dict[T, float] = {}
        self._seq = itertools.count()
        self._delay_wakeup = asyncio.Event()
        self._delay_task: asyncio.Task[None] | None = None
        # This queue's metric children, looked up once: a labels() lookup costs more than the update itself.
        self._adds = metrics.WORKQUEUE_ADDS.labels(name)
        self._depth = metrics.WORKQUEUE_DEPTH.labels(name)
        self._queue_duration = metrics.WORKQUEUE_QUEUE_DURATION.labels(name)
        self._work_duration = metrics.WORKQUEUE_WORK_DURATION.labels(name)
        self._retries = metrics.WORKQUEUE_RETRIES.labels(name)

    # ---- plain queue ----------------------------------------------------------
    def __len__(self) -> int:
        """Keys waiting to be handed out (not counting delayed or processing ones)."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        """Whether :meth:`shut_down` was called."""
        return self._shutting_down

    def add(self, key: T) -> None:
        """Queue ``key`` unless it is already waiting; ignored after shutdown."""
        if self._shutting_down or key in self._dirty:
            return
        self._adds.inc()
        self._dirty.add(key)
        if key in self._processing:
            return  # queued again by done()
        self._enqueue(key)

    def _enqueue(self, key: T) -> None:
        self._queue.append(key)
        self._added_at.setdefault(key, self.clock.now())
        self._depth.set(len(self._queue))
        self._nonempty.set()

    async def get(self) -> T:
        """The next key to process (marked processing until :meth:`done`); raises ShutDown."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown()
            self._nonempty.clear()
            await self._nonempty.wait()
        key = self._queue.popleft()
        now = self.clock.now()
        self._depth.set(len(self._queue))
        added = self._added_at.pop(key, None)
        if added is not None:
            self._queue_duration.observe(max(0.0, now - added))
        self._started_at[key] = now
        self._processing.add(key)
        self._idle.clear()
        self._dirty.discard(key)
        return key

    def done(self, key: T) -> None:
        """The worker finished ``key``; if it was added meanwhile, it is queued again now."""
        self._processing.discard(key)
        started = self._started_at.pop(key, None)
        if started is not None:
            self._work_duration.observe(max(0.0, self.clock.now() - started))
        if key in self._dirty:
            self._enqueue(key)
        if not self._processing:
            self._idle.set()

    def is_processing(self, key: T) -> bool:
        """Whether a worker holds ``key`` right now."""
        return key in self._processing

    # ---- delays -----------------------------------------------------------------
    def add_after(self, key: T, delay: float) -> None:
        """Add ``key`` once ``delay`` seconds have passed on the queue's clock."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        ready_at = self.clock.now() + delay
        current = self._ready_at.get(key)
        if current is not None and current <= ready_at:
            return  # an earlier add_after already covers this one
        self._ready_at[key] = ready_at
        heapq.heappush(self._waiting, (ready_at, next(self._seq), key))
        self._delay_wakeup.set()
        if self._delay_task is None or self._delay_task.done():
            self._delay_task = asyncio.get_running_loop().create_task(
                self._release_delayed(), name=f"workqueue-delays-{self.name}"
            )

    async def _release_delayed(self) -> None:
        while not self._shutting_down:
            now = self.clock.now()
            while self._waiting and self._waiting[0][0] <= now:
                ready_at, _, key = heapq.heappop(self._waiting)
                if self._ready_at.get(key) == ready_at:
                    del self._ready_at[key]
                    self.add(key)
            if not self._waiting:
                self._delay_wakeup.clear()
                await self._delay_wakeup.wait()
                continue
            self._delay_wakeup.clear()
            sleeper = asyncio.ensure_future(self.clock.sleep(self._waiting[0][0] - now))
            woken = asyncio.ensure_future(self._delay_wakeup.wait())
            try:
                await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for fut in (sleeper, woken):
                    fut.cancel()

    @property
    def delayed(self) -> int:
        """Keys waiting for their delay to pass."""
        return len(self._ready_at)

    # ---- rate limiting ----------------------------------------------------------
    def add_rate_limited(self, key: T) -> None:
        """Add ``key`` after the rate limiter's delay (it failed; back off)."""
        self._retries.inc()
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: T) -> None:
        """``key`` succeeded: its next failure backs off from the start."""
        self.rate_limiter.forget(key)

    def num_requeues(self, key: T) -> int:
        """How often ``key`` was rate-limited since it was last forgotten."""
        return self.rate_limiter.num_requeues(key)

    # ---- shutdown ---------------------------------------------------------------
    def shut_down(self) -> None:
        """Stop handing out keys: every waiting :meth:`get` raises ShutDown."""
        self._shutting_down = True
        self._delay_wakeup.set()
        if self._delay_task is not None:
            self._delay_task.cancel()
        self._nonempty.set()

    async def shut_down_with_drain(self, timeout: float | None = None) -> bool:
        """Shut down, then wait until no key is processing; False if ``timeout`` passed first."""
        self.shut_down()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True
