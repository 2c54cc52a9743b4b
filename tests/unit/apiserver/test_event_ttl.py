"""Event expiry on a clock of the test's: an Event goes its TTL after its last write, not before, and a write
meanwhile renews it."""

from __future__ import annotations

from pathlib import Path

import orjson

from pinnace.apiserver.codec import decode_from_storage
from pinnace.apiserver.event_ttl import EventExpiry
from pinnace.apiserver.watch_cache import ResourceCache
from pinnace.storage.sqlite import SQLiteStore

PREFIX = "/registry/events/"


def event(name: str, count: int = 1) -> bytes:
    return orjson.dumps({"metadata": {"name": name, "namespace": "ns"}, "reason": "Tested", "count": count})


async def test_an_event_goes_its_ttl_after_its_last_write(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "db", durable=False)
    await store.create(f"{PREFIX}ns/before", event("before"))  # there when the server starts
    cache = ResourceCache(store, PREFIX, decode_from_storage)
    await cache.start()
    now = [1000.0]
    expiry = EventExpiry(cache, ttl=60, clock=lambda: now[0])
    watcher = cache.watch(None, None, after_revision=None)  # what the expiry's own loop follows
    try:
        expiry.note(watcher.drain())  # a server that starts gives every Event it finds a full TTL
        now[0] += 30
        written = await store.create(f"{PREFIX}ns/later", event("later"))
        await cache.wait_for(written.mod_revision)
        expiry.note(watcher.drain())
        now[0] += 29.9
        assert await expiry.sweep() == 0  # 59.9 s: not yet
        now[0] += 0.1
        assert await expiry.sweep() == 1  # 60 s since start: "before" goes
        assert await store.get(f"{PREFIX}ns/before") is None
        renewed = await store.update(f"{PREFIX}ns/later", event("later", 2), None)  # 30 s after its create
        await cache.wait_for(renewed.mod_revision)
        now[0] += 30
        assert await expiry.sweep() == 0  # a write meanwhile that the sweep has not seen yet: not deleted
        assert (await store.get(f"{PREFIX}ns/later")) == renewed
        expiry.note(watcher.drain())  # ... and now the renewal is known: 60 s from here
        now[0] += 59
        assert await expiry.sweep() == 0
        now[0] += 1
        assert await expiry.sweep() == 1
        assert await store.get(f"{PREFIX}ns/later") is None and expiry.expiries == {}
        await cache.wait_for(await store.current_revision())
        assert [(e.type, e.object.name) for e in watcher.drain()] == [("DELETED", "later")]  # watchers are told
    finally:
        watcher.terminate()
        await cache.stop()
        await store.close()
