"""The server's watch caches: one per storage prefix, started on first use, sharing one set of decode hints.

Resources stored together (core and events.k8s.io Events) share a prefix and
so share a cache. Writes through :class:`~pinnace.apiserver.rest.RestStore`
offer the objects they encode to :attr:`CacheSet.hints`, which the caches take
instead of decoding the same bytes again.
"""

from __future__ import annotations

import asyncio

from pinnace.api.registry import ResourceInfo
from pinnace.apiserver.background import cancel
from pinnace.apiserver.codec import DecodeHints
from pinnace.apiserver.watch_cache import ResourceCache
from pinnace.storage import Store

__all__ = ["EXPIRE_INTERVAL", "CacheSet"]

#: How often every cache's window lets go of its old events (:meth:`ResourceCache.expire_window`), written to
#: or not.
EXPIRE_INTERVAL = 30.0


class CacheSet:
    """One watch cache per storage prefix, started on first use."""

    def __init__(self, store: Store) -> None:
        self.store = store
        #: Objects just written through this server, for its caches to take instead of decoding.
        self.hints = DecodeHints()
        self._caches: dict[str, ResourceCache] = {}
        self._starting: dict[str, asyncio.Future[ResourceCache]] = {}
        self._expiry: asyncio.Task[None] | None = None

    def started(self, info: ResourceInfo) -> ResourceCache | None:
        """The cache of a resource if it has started (no await: the common case of every read and write)."""
        return self._caches.get(info.storage_prefix)

    async def get(self, info: ResourceInfo) -> ResourceCache:
        """The (started) cache of a resource."""
        prefix = info.storage_prefix
        cache = self._caches.get(prefix)
        if cache is not None:
            return cache
        pending = self._starting.get(prefix)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[ResourceCache] = asyncio.get_running_loop().create_future()
        self._starting[prefix] = fut
        try:
            cache = ResourceCache(self.store, prefix, self.hints.decode)
            await cache.start()
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved here; the waiters re-raise it
            raise
        finally:
            self._starting.pop(prefix, None)
        self._caches[prefix] = cache
        fut.set_result(cache)
        if self._expiry is None:
            self._expiry = asyncio.create_task(self._expire_windows(), name="watch-window-expiry")
        return cache

    async def _expire_windows(self) -> None:
        while True:
            await asyncio.sleep(EXPIRE_INTERVAL)
            for cache in list(self._caches.values()):
                cache.expire_window()

    def all(self) -> list[ResourceCache]:
        """Every started cache."""
        return list(self._caches.values())

    async def stop(self) -> None:
        """Stop every cache."""
        await cancel(self._expiry)
        self._expiry = None
        for cache in list(self._caches.values()):
            await cache.stop()
        self._caches.clear()
