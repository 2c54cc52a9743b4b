"""A window of recent events over one etcd watch, fanned out to the store's watches.

Why: etcd serves a watch that starts in the past from its "unsynced" set, which
its sync loop visits every 100 ms — every resumed watch would wait that long
for its first event, and every watch would cost a stream and a watcher in etcd.
So :class:`~pinnace.storage.etcd.EtcdStore` opens one watch over its whole
prefix when it opens (at the current revision, so etcd puts it straight into
its "synced" set), keeps the last ``size`` events, and serves every watch that
starts inside the window from memory, then live; a watch from before the window
falls back to its own etcd watch. kube-apiserver's watch cache does the same
one level up; here it makes the Store contract's "history then live, no gap"
cheap.

Fan-out: subscribers are found through a
:class:`~pinnace.storage.prefix_index.PrefixIndex`, so the cost per event does
not grow with the number of resources (and CRDs) the API server watches.

Ordering: the source is one etcd stream, in revision order; each subscriber is
seeded from the window and registered in the same event-loop step, then fed in
source order, so it sees no gap and no duplicate. A ``PROGRESS`` event from the
source (etcd's answer to a progress request) follows every earlier event in the
stream, so it is queued behind them. Subscriber queues are unbounded, as in the
SQLite store: a slow watcher must not stall the others. If the source fails
(the store closed, or etcd compacted past the point where a broken stream had
to resume), every subscriber gets the error and later watches fall back to
their own etcd watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from pinnace.storage.interface import Event, EventType, StorageError
from pinnace.storage.prefix_index import PrefixIndex

log = logging.getLogger(__name__)

_Item = Event | Callable[[], BaseException]


@dataclass(eq=False)
class _Subscriber:
    prefix: str
    from_revision: int
    progress: bool
    queue: asyncio.Queue[_Item] = field(default_factory=asyncio.Queue)


class EventWindow:
    """The last ``size`` events of ``source`` (which starts at revision ``start``) and their fan-out."""

    def __init__(self, source: AsyncIterator[Event], start: int, size: int) -> None:
        self._events: deque[Event] = deque()
        self._size = size
        self._start = start
        self._subscribers: set[_Subscriber] = set()
        self._index: PrefixIndex[_Subscriber] = PrefixIndex()
        self._failure: Callable[[], BaseException] | None = None
        #: The revision the window has seen every event up to.
        self.revision = start - 1
        self._task = asyncio.ensure_future(self._run(source))

    async def caught_up(self, revision: int, timeout: float) -> bool:
        """Wait (up to ``timeout`` s) until the window has seen every event up to ``revision``; whether it has.

        A compaction must not overtake the window's own etcd watch: etcd ends a watch still
        behind the compacted revision, which would end the window.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.revision < revision and self._failure is None:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return self.revision >= revision

    def covers(self, revision: int) -> bool:
        """Whether a watch from ``revision`` can be served from here (every later event is or will be here)."""
        return self._failure is None and revision >= self._start

    def subscribe(self, prefix: str, from_revision: int, progress: bool) -> AsyncIterator[Event]:
        """Events under ``prefix`` from ``from_revision`` on; call only when :meth:`covers` says so."""
        sub = _Subscriber(prefix, from_revision, progress)
        for event in self._events:
            if event.revision >= from_revision and event.kv.key.startswith(prefix):
                sub.queue.put_nowait(event)
        self._subscribers.add(sub)
        self._index.add(prefix, sub)
        return self._iterate(sub)

    async def _iterate(self, sub: _Subscriber) -> AsyncIterator[Event]:
        try:
            while True:
                item = await sub.queue.get()
                if not isinstance(item, Event):
                    raise item()
                yield item
        finally:
            self._subscribers.discard(sub)
            self._index.discard(sub.prefix, sub)

    async def _run(self, source: AsyncIterator[Event]) -> None:
        try:
            async for event in source:
                self.revision = max(self.revision, event.revision)
                if event.type is EventType.PROGRESS:
                    for sub in self._subscribers:
                        if sub.progress and event.revision >= sub.from_revision - 1:
                            sub.queue.put_nowait(event)
                    continue
                if len(self._events) >= self._size:
                    self._start = self._events.popleft().revision + 1
                self._events.append(event)
                for sub in self._index.matching(event.kv.key):
                    if event.revision >= sub.from_revision:
                        sub.queue.put_nowait(event)
        except StorageError as e:
            log.info("etcd event window ended: %s", e)
            ended = e  # ``e`` is unbound when the except block ends
            self._fail(lambda: _copy(ended))
        except asyncio.CancelledError:
            self._fail(lambda: StorageError("the etcd event window was stopped"))
            raise
        except Exception as e:
            log.exception("etcd event window failed")
            reason = repr(e)
            self._fail(lambda: StorageError(f"the etcd event window failed: {reason}"))

    def _fail(self, error: Callable[[], BaseException]) -> None:
        self._failure = error
        self._events.clear()
        for sub in self._subscribers:
            sub.queue.put_nowait(error)

    async def stop(self) -> None:
        """Stop reading the source (subscribers get an error); idempotent."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _copy(error: StorageError) -> StorageError:
    """A fresh copy of ``error`` for each subscriber (one exception object must not be raised in several tasks)."""
    copy = type(error).__new__(type(error))
    copy.__dict__.update(error.__dict__)
    copy.args = error.args
    return copy
