"""The watch cache's fan-out to idle plain-JSON watchers: every event once, in order, joined once per flush."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from pinnace.api.registry import builtin_registry
from pinnace.apiserver import cacheset
from pinnace.apiserver.cacheset import CacheSet
from pinnace.apiserver.codec import decode_from_storage
from pinnace.apiserver.watch_cache import FELL_BEHIND, FLUSH_SLICE, CacheEvent, ResourceCache
from pinnace.storage import Compacted, CorruptValue, Event, EventType, KeyValue
from pinnace.storage.sqlite import SQLiteStore

PREFIX = "/registry/configmaps/"


def configmap(name: str, size: int) -> bytes:
    """A stored ConfigMap in namespace "ns" with ``size`` bytes of data."""
    return orjson.dumps({"metadata": {"name": name, "namespace": "ns"}, "data": {"v": "x" * size}})


async def test_idle_watchers_get_each_event_once_in_order_from_one_shared_payload(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "db", durable=False)
    cache = ResourceCache(store, PREFIX, decode_from_storage)
    await cache.start()
    writes: list[list[bytes]] = [[], [], []]
    watchers = [cache.watch(None, None, after_revision=cache.revision) for _ in writes]
    for watcher, sink in zip(watchers, writes, strict=True):
        watcher.stream_to(lambda data, sink=sink: sink.append(data) is None)  # an idle client, keeping up
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
        watcher.stream_to(sink_of(i))
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


def _put(key: str, namespace: str, name: str, revision: int, create: bool = True) -> Event:
    kv = KeyValue(key, _configmap(namespace, name), revision, revision)
    return Event(EventType.PUT, kv, None if create else kv)


def _lines(chunks: list[bytes]) -> list[str]:
    return [orjson.loads(line)["object"]["metadata"]["name"] for line in b"".join(chunks).splitlines()]


async def test_lanes_join_without_a_duplicate_or_a_gap_and_keep_namespaces_and_slow_clients_apart(
    tmp_path: Path,
) -> None:
    """Watchers with no selector share their namespace's lane: an event is queued once for all of them.
    One that joins while the lane holds events it already had (from its window replay) gets each once."""
    store = await SQLiteStore.open(tmp_path / "db", durable=False)
    cache = ResourceCache(store, PREFIX, decode_from_storage)
    await cache.start()
    base = cache.revision
    try:
        first = cache.watch(None, None, after_revision=base)
        first_writes: list[bytes] = []
        first.stream_to(lambda data: first_writes.append(data) is None)
        in_b = cache.watch("b", None, after_revision=base)
        b_writes: list[bytes] = []
        in_b.stream_to(lambda data: b_writes.append(data) is None)
        assert first.lane is not None and in_b.lane is not None and first.lane is not in_b.lane
        # A selector keeps a watcher on the per-watcher path (it filters each event itself).
        selective = cache.watch(None, lambda o: o.name.startswith("x"), after_revision=base)
        selective.stream_to(lambda data: True)
        assert selective.lane is None

        # Applied straight (not through the store), with the next flush paced a little later, so that every
        # request below is idle (waiting) when it runs.
        cache._next_flush = time.monotonic() + 0.02
        cache._apply(_put(f"{PREFIX}a/one", "a", "one", base + 1))
        late = cache.watch(None, None, after_revision=base)  # replays "one" from the window
        assert [ev.object.name for ev in late.drain()] == ["one"]  # as serve_watch sends it first
        late_writes: list[bytes] = []
        late.stream_to(lambda data: late_writes.append(data) is None)
        assert late.lane is first.lane and cache.watcher_count == 4
        cache._apply(_put(f"{PREFIX}b/two", "b", "two", base + 2))

        slow = cache.watch(None, None, after_revision=base + 2)
        slow.stream_to(lambda data: False)  # its socket is full: its request writes instead
        cache._apply(_put(f"{PREFIX}a/three", "a", "three", base + 3))

        idle = [asyncio.create_task(w.wait(None)) for w in (first, in_b, late, slow)]
        await asyncio.sleep(0.05)  # the flush runs
        assert _lines(first_writes) == ["one", "two", "three"]
        assert _lines(late_writes) == ["two", "three"]  # "one" it had already: not twice
        assert _lines(b_writes) == ["two"]
        assert idle[3].done() and [ev.object.name for ev in slow.drain()] == ["three"]
        assert not any(task.done() for task in idle[:3])
        for task in idle:
            task.cancel()
        for watcher in (first, late, in_b, slow, selective):
            watcher.terminate()
        assert cache.watcher_count == 0 and not cache._lanes
    finally:
        await cache.stop()
        await store.close()


async def test_a_lane_member_not_reached_yet_takes_an_event_that_arrives_during_the_flush(tmp_path: Path) -> None:
    """A flush of a lane goes in slices and lets the store's events in between: the members it has not
    reached take such an event in the same write; those it had written get it in the next flush. Each
    member gets every event once, in order, and the lane keeps nothing once all have had it."""
    store = await SQLiteStore.open(tmp_path / "db", durable=False)
    cache = ResourceCache(store, PREFIX, decode_from_storage)
    await cache.start()
    base = cache.revision
    loop = asyncio.get_running_loop()
    count = 2 * FLUSH_SLICE + 3
    writes: list[list[bytes]] = [[] for _ in range(count)]
    watchers = [cache.watch("a", None, after_revision=base) for _ in range(count)]

    def sink_of(i: int) -> Callable[[bytes], bool]:
        def sink(data: bytes) -> bool:
            if i == 0 and not writes[0]:  # the flush has begun: an event arrives before its next slice
                loop.call_soon(cache._apply, _put(f"{PREFIX}a/two", "a", "two", base + 2))
            writes[i].append(data)
            return True

        return sink

    for i, watcher in enumerate(watchers):
        watcher.stream_to(sink_of(i))
    lane = watchers[0].lane
    assert lane is not None and all(w.lane is lane for w in watchers)
    idle = [asyncio.create_task(w.wait(None)) for w in watchers]
    try:
        await asyncio.sleep(0)
        cache._apply(_put(f"{PREFIX}a/one", "a", "one", base + 1))
        await asyncio.sleep(0.1)  # both flushes run
        for i, chunks in enumerate(writes):
            assert _lines(chunks) == ["one", "two"], i
        reached_first = writes[:FLUSH_SLICE]
        assert all(len(chunks) == 2 for chunks in reached_first)  # "one", then "two" in the next flush
        late = writes[FLUSH_SLICE:]
        assert all(len(chunks) == 1 for chunks in late)  # "one" and "two" in one write, in the first flush
        assert all(chunks[0] is late[0][0] for chunks in late)  # joined once for all of them
        assert not lane.events and not any(task.done() for task in idle)
    finally:
        for task in idle:
            task.cancel()
        await cache.stop()
        await store.close()


def test_a_stored_value_that_is_no_object_is_a_corrupt_value() -> None:
    for junk in (b"\x8f\x02garbage", b"[1, 2]", b""):
        with pytest.raises(CorruptValue, match=f"the stored value of {PREFIX}ns/x is not an object"):
            decode_from_storage(KeyValue(f"{PREFIX}ns/x", junk, 1, 1))


async def test_a_corrupt_value_makes_the_cache_relist_with_backoff_and_it_recovers_once_readable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = await SQLiteStore.open(tmp_path / "db", durable=False)
    cache = ResourceCache(store, PREFIX, decode_from_storage)
    await cache.start()
    try:
        bad = await store.create(f"{PREFIX}ns/bad", b"\x8f not json")
        await asyncio.sleep(1.0)
        assert not cache.healthy
        failures = [r for r in caplog.records if "not an object" in r.getMessage()]
        # the first retry waits 0.1 s, then 0.2, 0.4, 0.8: a handful of tries in a second, not one every 0.1 s
        assert 2 <= len(failures) <= 8, [r.getMessage() for r in failures]
        assert all(r.exc_info is None for r in failures)  # the message says it all: no traceback

        await store.update(
            f"{PREFIX}ns/bad", orjson.dumps({"metadata": {"name": "bad", "namespace": "ns"}}), bad.mod_revision
        )
        deadline = time.monotonic() + 10
        while not (cache.healthy and f"{PREFIX}ns/bad" in cache.objects):
            assert time.monotonic() < deadline, "the cache did not recover"
            await asyncio.sleep(0.05)
    finally:
        await cache.stop()
        await store.close()


async def test_the_event_window_holds_a_bounded_size_of_objects_and_a_watch_from_before_it_is_told_so(
    tmp_path: Path,
) -> None:
    """Large objects written and deleted leave the window once it holds more than its byte budget (the count
    alone let a stream of them fill gigabytes); a watch from a revision the window no longer has is Compacted
    (410 to a client), one from inside it replays the events after its revision."""
    store = await SQLiteStore.open(tmp_path / "db", durable=False)
    cache = ResourceCache(store, PREFIX, decode_from_storage, window=1000, window_bytes=100_000)
    await cache.start()
    try:
        start = cache.revision
        await store.create(f"{PREFIX}ns/big", configmap("big", 60_000))
        gone = await store.delete(f"{PREFIX}ns/big")
        await cache.wait_for(gone.mod_revision)
        assert [(e.type, e.object.name) for e in cache.window] == [("DELETED", "big")]  # both weigh 60 kB: over
        small = [await store.create(f"{PREFIX}ns/s{i}", configmap(f"s{i}", 100)) for i in range(20)]
        grown = await store.update(f"{PREFIX}ns/s0", configmap("s0", 60_000), None)
        await cache.wait_for(grown.mod_revision)
        assert [e.object.name for e in cache.window] == [f"s{i}" for i in range(20)] + ["s0"]
        assert cache.window_start == gone.mod_revision
        with pytest.raises(Compacted):
            cache.watch(None, None, after_revision=start)
        replay = cache.watch(None, None, after_revision=small[9].mod_revision)
        assert [e.object.name for e in replay.pending] == [f"s{i}" for i in range(10, 20)] + ["s0"]

        huge = await store.create(f"{PREFIX}ns/huge", configmap("huge", 150_000))  # alone over the budget
        await cache.wait_for(huge.mod_revision)
        assert [e.object.name for e in cache.window] == ["huge"]  # the newest event always stays
        assert cache.window_start == grown.mod_revision
        assert [e.object.name for e in cache.watch(None, None, after_revision=grown.mod_revision).pending] == ["huge"]
        for i in range(5):  # the next event pushes it out
            await store.update(f"{PREFIX}ns/s{i}", configmap(f"s{i}", 200), None)
        await cache.wait_for(await store.current_revision())
        assert [e.object.name for e in cache.window] == [f"s{i}" for i in range(5)]
        assert cache.window_start == huge.mod_revision
    finally:
        await cache.stop()
        await store.close()


async def test_a_watcher_whose_client_does_not_read_is_closed_before_it_holds_too_much(tmp_path: Path) -> None:
    """Events pending for a watcher whose request never takes them are bounded in count and in weight: past
    either, it is closed with an error that says to watch again, and what it held is let go."""
    store = await SQLiteStore.open(tmp_path / "db", durable=False)
    cache = ResourceCache(store, PREFIX, decode_from_storage, max_pending=50, max_pending_bytes=100_000)
    await cache.start()
    try:
        by_count = cache.watch(None, None, after_revision=cache.revision)
        by_count.max_pending_bytes = 10**9  # this one is closed by the count alone
        by_weight = cache.watch("ns", lambda obj: True, after_revision=cache.revision)  # a selector: its own queue
        reading = cache.watch(None, None, after_revision=cache.revision)
        told: list[str] = []  # whom the cache told to cut their client (their requests do)
        by_count.on_fell_behind = lambda: told.append("by_count")
        by_weight.on_fell_behind = lambda: told.append("by_weight")
        reading.on_fell_behind = lambda: told.append("reading")
        got: list[CacheEvent] = []
        for i in range(45):
            await store.create(f"{PREFIX}ns/s{i}", configmap(f"s{i}", 10))
        await cache.wait_for(await store.current_revision())
        got += reading.drain()
        assert not by_count.closed and not by_weight.closed and len(by_count.pending) == 45
        for i in range(3):  # 3 x 40 kB: past the weight bound, not the count (the reader takes each as it comes)
            await cache.wait_for((await store.create(f"{PREFIX}ns/big{i}", configmap(f"big{i}", 40_000))).mod_revision)
            got += reading.drain()
        assert by_weight.closed and by_weight.error == FELL_BEHIND and not by_count.closed
        for i in range(5):
            await store.create(f"{PREFIX}ns/t{i}", configmap(f"t{i}", 10))
        await cache.wait_for(await store.current_revision())
        got += reading.drain()
        assert by_count.closed and by_count.error == FELL_BEHIND
        assert not reading.closed and len(got) == 53  # a watcher that keeps up is not touched
        assert by_count not in cache._all_watchers() and by_weight not in cache._all_watchers()
        assert not by_count.pending and not by_weight.pending and told == ["by_weight", "by_count"]
    finally:
        await cache.stop()
        await store.close()


async def test_events_past_the_window_age_leave_it_but_the_newest_stay(tmp_path: Path) -> None:
    """As kube-apiserver's watch cache keeps its recent events (75 s) and at least 100: old events go at the next
    write, or at the regular sweep of an idle cache (expire_window); a watch from before them is told 410."""
    store = await SQLiteStore.open(tmp_path / "db", durable=False)
    cache = ResourceCache(store, PREFIX, decode_from_storage, window_age=0.2, window_min=10)
    await cache.start()
    try:
        start = cache.revision
        for i in range(30):
            await store.create(f"{PREFIX}ns/o{i}", configmap(f"o{i}", 10))
        await cache.wait_for(await store.current_revision())
        assert len(cache.window) == 30 and cache.expire_window() == 0  # young: all kept
        cache.watch(None, None, after_revision=start).terminate()
        assert cache.expire_window(time.monotonic() + 1) == 20  # an idle cache's sweep: the newest 10 stay
        assert [e.object.name for e in cache.window] == [f"o{i}" for i in range(20, 30)]
        with pytest.raises(Compacted):
            cache.watch(None, None, after_revision=start)
        replay = cache.watch(None, None, after_revision=cache.window_start)
        assert [e.object.name for e in replay.drain()] == [f"o{i}" for i in range(20, 30)]
        replay.terminate()

        await asyncio.sleep(0.3)  # the 10 age; a write lets them go, but for the newest 10
        last = None
        for i in range(5):
            last = await store.create(f"{PREFIX}ns/n{i}", configmap(f"n{i}", 10))
        assert last is not None
        await cache.wait_for(last.mod_revision)
        assert [e.object.name for e in cache.window] == [
            *(f"o{i}" for i in range(25, 30)),
            *(f"n{i}" for i in range(5)),
        ]
    finally:
        await cache.stop()
        await store.close()


async def test_the_cache_set_sweeps_idle_windows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An idle resource gets no write to trim its window at: the server's caches are swept regularly."""
    monkeypatch.setattr(cacheset, "EXPIRE_INTERVAL", 0.05)
    store = await SQLiteStore.open(tmp_path / "db", durable=False)
    caches = CacheSet(store)
    try:
        info = builtin_registry().get("", "v1", "configmaps")
        assert info is not None
        cache = await caches.get(info)
        cache.window_age, cache.window_min = 0.1, 3
        for i in range(8):
            await store.create(f"{info.storage_prefix}ns/o{i}", configmap(f"o{i}", 10))
        await cache.wait_for(await store.current_revision())
        assert len(cache.window) == 8
        for _ in range(100):
            if len(cache.window) == 3:
                break
            await asyncio.sleep(0.02)
        assert [e.object.name for e in cache.window] == ["o5", "o6", "o7"]
    finally:
        await caches.stop()
        await store.close()
