"""The SQLite store's live watch fan-out: committed events to every subscription whose prefix matches.

A subscriber gets an unbounded in-memory queue. Unbounded is deliberate: the
writer and the other watchers must never wait for a slow consumer, and the only
consumer upstairs is the API server's watch cache, which drains promptly; a
bounded queue would force dropping watchers, which the store contract has no
error for.
"""

from __future__ import annotations

import asyncio
from collections import deque

from pinnace.storage.interface import Event, EventType, KeyValue, StoreClosed


class Subscription:
    """One watcher's unbounded queue of live events (see the module docstring for why unbounded)."""

    __slots__ = ("_closed", "_events", "_waiter", "prefix", "progress")

    def __init__(self, prefix: str, progress: bool = False) -> None:
        self.prefix = prefix
        self.progress = progress
        self._events: deque[Event] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    def push(self, event: Event) -> None:
        self._events.append(event)
        self._wake()

    def close(self) -> None:
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> Event:
        """The next event; events queued before the store closed still come first."""
        while not self._events:
            if self._closed:
                raise StoreClosed("store is closed")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._events.popleft()


class Broadcaster:
    """Fans committed events out to the subscriptions whose prefix matches (event-loop thread only).

    Subscriptions whose prefix ends with "/" (every watch cache's) are found by
    looking up the key's own "/"-bounded prefixes in a dict — a handful of
    lookups per event however many resources are watched; any other prefix is
    tested with ``startswith``.
    """

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._by_prefix: dict[str, set[Subscription]] = {}
        self._irregular: set[Subscription] = set()

    def subscribe(self, prefix: str, progress: bool = False) -> Subscription:
        sub = Subscription(prefix, progress)
        self._subs.add(sub)
        if prefix.endswith("/"):
            self._by_prefix.setdefault(prefix, set()).add(sub)
        else:
            self._irregular.add(sub)
        return sub

    def progress(self, revision: int) -> None:
        marker = Event(EventType.PROGRESS, KeyValue("", b"", 0, revision), None)
        for sub in self._subs:
            if sub.progress:
                sub.push(marker)

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        self._irregular.discard(sub)
        subs = self._by_prefix.get(sub.prefix)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_prefix[sub.prefix]

    def publish(self, events: list[Event]) -> None:
        by_prefix, irregular = self._by_prefix, self._irregular
        for event in events:
            key = event.kv.key
            if by_prefix:
                end = key.find("/")
                while end >= 0:
                    subs = by_prefix.get(key[: end + 1])
                    if subs:
                        for sub in subs:
                            sub.push(event)
                    end = key.find("/", end + 1)
            for sub in irregular:
                if key.startswith(sub.prefix):
                    sub.push(event)

    def close(self) -> None:
        for sub in self._subs:
            sub.close()
        self._subs.clear()
        self._by_prefix.clear()
        self._irregular.clear()
