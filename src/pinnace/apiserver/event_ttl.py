"""Events live an hour after their last write, as on kube-apiserver (``--event-ttl``, 1h by default).

Upstream stores each Event with an etcd lease of that length, renewed by every
write, so an Event nobody updates disappears an hour later and watchers see
it deleted. Without it a cluster left running gathers Events for ever: each
pod start alone records four or five, and ``kubectl get events`` lists them all.

:class:`EventExpiry` keeps that promise on any store: it follows the Events'
watch cache, notes when each was last written (by this server's clock), and
deletes those whose time is up, on the condition that they are still the
version it saw (a write meanwhile renews them, as it renews a lease). What it
knows lives in memory: after a restart every Event gets a full hour again, so
an Event lives at least its TTL, never less. Several API servers on one etcd
each expire them; the conditional delete makes that harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from pinnace.apiserver.background import cancel
from pinnace.apiserver.watch_cache import CacheEvent, ResourceCache, Watcher
from pinnace.storage import KeyNotFound, RevisionMismatch, StorageError

__all__ = ["DEFAULT_EVENT_TTL", "EventExpiry"]

log = logging.getLogger(__name__)

DEFAULT_EVENT_TTL = 3600.0
"""Seconds an Event lives after its last write (upstream's ``--event-ttl`` default, 1h)."""


class EventExpiry:
    """Deletes each Event of ``cache`` once ``ttl`` seconds have passed since its last write, looking every
    ``interval`` seconds. ``clock``: monotonic seconds (tests pass their own)."""

    def __init__(
        self,
        cache: ResourceCache,
        *,
        ttl: float = DEFAULT_EVENT_TTL,
        interval: float | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.cache = cache
        self.ttl = ttl
        self.interval = interval if interval is not None else min(60.0, max(ttl / 10, 0.05))
        self.clock = clock or asyncio.get_running_loop().time
        #: Storage key -> (the revision last seen, when it expires).
        self.expiries: dict[str, tuple[int, float]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Follow the cache and expire Events until :meth:`stop`."""
        self._task = asyncio.create_task(self._run(), name="event-expiry")

    async def stop(self) -> None:
        """Stop following and expiring."""
        await cancel(self._task)
        self._task = None

    async def _run(self) -> None:
        next_sweep = self.clock() + self.interval
        watcher: Watcher | None = None
        try:
            while True:
                if watcher is None or watcher.closed:  # (again) from every current Event: each gets a full TTL
                    watcher = self.cache.watch(None, None, after_revision=None)
                await watcher.wait(max(0.0, next_sweep - self.clock()))
                self.note(watcher.drain())
                if self.clock() >= next_sweep:
                    try:
                        await self.sweep()
                    except Exception:  # a bug here must not end expiry for the life of the server
                        log.exception("expiring events failed; trying again in %.0f s", self.interval)
                    next_sweep = self.clock() + self.interval
        finally:
            if watcher is not None:
                watcher.terminate()

    def note(self, events: list[CacheEvent]) -> None:
        """Record the writes in ``events`` (cache events): a written Event expires ``ttl`` from now."""
        expires = self.clock() + self.ttl
        for event in events:
            key = event.object.key
            if event.type == "DELETED":
                self.expiries.pop(key, None)
            else:
                self.expiries[key] = (event.object.revision, expires)

    async def sweep(self) -> int:
        """Delete the Events whose time is up (each only if still the version last seen); how many went."""
        now = self.clock()
        due = [(key, revision) for key, (revision, expires) in self.expiries.items() if expires <= now]
        deleted = 0
        for key, revision in due:
            try:
                await self.cache.store.delete(key, expected_revision=revision)
            except (KeyNotFound, RevisionMismatch):
                pass  # gone already, or written again: the watch tells
            except StorageError as exc:
                log.warning("could not expire the event %s: %s", key, exc)
                continue
            else:
                deleted += 1
            self.expiries.pop(key, None)
        if deleted:
            log.debug("expired %d events", deleted)
        return deleted
