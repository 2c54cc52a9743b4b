"""The watch cache's fan-out to idle plain-JSON watchers: every event once, in order, joined once per flush."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from pinnace.apiserver.codec import decode_from_storage
from pinnace.apiserver.watch_cache import ResourceCache
from pinnace.storage.sqlite import SQLiteStore

PREFIX = "/registry/configmaps/"


async def test_idle_watchers_get_each_event_once_in_order_from_one_shared_payload(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "db", durable=False)
    cache = ResourceCache(store, PREFIX, decode_from_storage)
    await cache.start()
    writes: list[list[bytes]] = [[], [], []]
    watchers = [cache.watch(None, None, after_revision=cache.revision) for _ in writes]
    for watcher, sink in zip(watchers, writes, strict=True):
        watcher.sink = lambda data, sink=sink: sink.append(data) is None  # an idle client, keeping up
    idle = [asyncio.create_task(w.wait(None)) for w in watchers]  # their requests wait: the cache writes
    try:
        for i in range(20):
            await store.create(f"{PREFIX}ns/cm{i}", orjson.dumps({"metadata": {"name": f"cm{i}", "namespace": "ns"}}))

        async def delivered() -> None:
            while b"".join(writes[0]).count(b"\n") < 20:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(delivered(), 10)
        await asyncio.sleep(0.05)  # and nothing more comes
        names = [orjson.loads(line)["object"]["metadata"]["name"] for line in b"".join(writes[0]).splitlines()]
        assert names == [f"cm{i}" for i in range(20)]
        assert all(orjson.loads(line)["type"] == "ADDED" for line in b"".join(writes[0]).splitlines())
        # every watcher was written the same payload object in each flush: joined once, not once per watcher
        assert len(writes[1]) == len(writes[2]) == len(writes[0])
        assert all(a is b is c for a, b, c in zip(*writes, strict=True))
        assert not any(task.done() for task in idle)  # nobody's request task had to wake for it
    finally:
        for task in idle:
            task.cancel()
        await cache.stop()
        await store.close()


async def test_caught_up_is_what_wait_for_answers_at_once(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "db", durable=False)
    cache = ResourceCache(store, PREFIX, decode_from_storage)
    assert not cache.caught_up(0)  # not listed yet: a read must wait for it
    await cache.start()
    try:
        kv = await store.create(f"{PREFIX}ns/a", orjson.dumps({"metadata": {"name": "a", "namespace": "ns"}}))
        assert await cache.wait_for(kv.mod_revision)
        assert cache.caught_up(kv.mod_revision) and not cache.caught_up(kv.mod_revision + 1)
    finally:
        await cache.stop()
        await store.close()
