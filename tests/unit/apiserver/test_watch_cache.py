"""The watch cache's fan-out to idle plain-JSON watchers: every event once, in order, joined once per flush."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import orjson

from pinnace.apiserver.codec import decode_from_storage
from pinnace.apiserver.watch_cache import FLUSH_SLICE, ResourceCache
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


async def test_a_large_flush_goes_in_slices_that_let_the_loop_run_and_one_broken_stream_ends_alone(
    tmp_path: Path,
) -> None:
    store = await SQLiteStore.open(tmp_path / "db", durable=False)
    cache = ResourceCache(store, PREFIX, decode_from_storage)
    await cache.start()
    loop = asyncio.get_running_loop()
    count = 3 * FLUSH_SLICE + 5
    writes: list[list[bytes]] = [[] for _ in range(count)]
    order: list[str] = []  # what ran, in order: "w<i>" for a first write to watcher i, "loop" for other work
    watchers = [cache.watch(None, None, after_revision=cache.revision) for _ in writes]
    broken = watchers[FLUSH_SLICE // 2]

    def sink_of(i: int) -> Callable[[bytes], bool]:
        def sink(data: bytes) -> bool:
            if watchers[i] is broken:
                raise ConnectionResetError("peer went away")
            if not writes[i]:
                order.append(f"w{i}")
                if len(order) == 1:  # other work arrives while the flush is under way
                    loop.call_soon(order.append, "loop")
            writes[i].append(data)
            return True

        return sink

    for i, watcher in enumerate(watchers):
        watcher.sink = sink_of(i)
    idle = [asyncio.create_task(w.wait(None)) for w in watchers]
    try:
        for i in range(10):
            await store.create(f"{PREFIX}ns/cm{i}", orjson.dumps({"metadata": {"name": f"cm{i}", "namespace": "ns"}}))

        async def delivered() -> None:
            while b"".join(writes[-1]).count(b"\n") < 10:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(delivered(), 10)
        await asyncio.sleep(0.05)
        # the callback queued during the first slice ran right after that slice, not after all the writes
        assert order.index("loop") <= FLUSH_SLICE and len(order) == count  # (the broken one wrote nothing)
        for i, data in enumerate(writes):
            if watchers[i] is broken:
                continue
            names = [orjson.loads(line)["object"]["metadata"]["name"] for line in b"".join(data).splitlines()]
            assert names == [f"cm{n}" for n in range(10)], i  # every event once, in order, slices or not
        assert broken.closed and broken.error and not writes[FLUSH_SLICE // 2]
        assert not any(task.done() for task, w in zip(idle, watchers, strict=True) if w is not broken)
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


def _configmap(namespace: str, name: str) -> bytes:
    return orjson.dumps({"metadata": {"name": name, "namespace": namespace}})


async def test_a_namespace_lists_and_watches_its_own_objects_through_writes_deletes_and_a_relist(
    tmp_path: Path,
) -> None:
    store = await SQLiteStore.open(tmp_path / "db", durable=False)
    for ns in ("a", "b", "ab"):  # "a" must not take "ab"'s objects (a prefix of another namespace)
        for name in ("y", "x"):
            await store.create(f"{PREFIX}{ns}/{name}", _configmap(ns, name))
    cache = ResourceCache(store, PREFIX, decode_from_storage)
    await cache.start()  # listed: the index is built from the list
    try:

        def names(namespace: str | None) -> list[str]:
            return [c.key.removeprefix(PREFIX) for c in cache.list(namespace)]

        assert names("a") == ["a/x", "a/y"] and names("ab") == ["ab/x", "ab/y"] and names("none") == []
        assert names(None) == ["a/x", "a/y", "ab/x", "ab/y", "b/x", "b/y"]
        # Followed writes and deletes keep it; an emptied namespace lists nothing.
        await store.create(f"{PREFIX}a/z", _configmap("a", "z"))
        await store.delete(f"{PREFIX}b/x")
        last = await store.delete(f"{PREFIX}b/y")
        assert await cache.wait_for(last.mod_revision)
        assert names("a") == ["a/x", "a/y", "a/z"] and names("b") == []
        # A watch from now starts with its namespace's objects only.
        watcher = cache.watch("ab", None, after_revision=None)
        assert [ev.object.key.removeprefix(PREFIX) for ev in watcher.drain()] == ["ab/x", "ab/y"]
        watcher.terminate()
        # A relist (as after compaction) rebuilds it.
        await cache._relist()
        assert names("a") == ["a/x", "a/y", "a/z"] and names("b") == [] and names("ab") == ["ab/x", "ab/y"]
    finally:
        await cache.stop()
        await store.close()
