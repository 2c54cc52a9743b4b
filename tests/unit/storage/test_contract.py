"""The Store contract (``pinnace.storage.interface``), run against every backend."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator

import pytest

from pinnace.storage import (
    MAX_WRITE_BYTES,
    Compacted,
    Event,
    EventType,
    FutureRevision,
    KeyExists,
    KeyNotFound,
    KeyValue,
    RevisionMismatch,
    Store,
    StoreClosed,
    ValueTooLarge,
)

P = "/registry/test/things/"


async def take(it: AsyncIterator[Event], n: int, timeout: float = 5.0) -> list[Event]:
    """The next ``n`` events of a watch (fails the test instead of hanging)."""

    async def collect() -> list[Event]:
        return [await anext(it) for _ in range(n)]

    return await asyncio.wait_for(collect(), timeout)


async def no_event(it: AsyncIterator[Event], store: Store) -> None:
    """Assert ``it`` has nothing pending: the next event is a sentinel written now."""
    sentinel = await store.create(P + "zz-sentinel", b"s")
    (event,) = await take(it, 1)
    assert event.kv.key == P + "zz-sentinel" and event.revision == sentinel.mod_revision


# --- basics ------------------------------------------------------------------------------------


async def test_is_a_store(store: Store) -> None:
    assert isinstance(store, Store)


async def test_empty_store(store: Store) -> None:
    assert await store.current_revision() == 0
    assert await store.compacted_revision() == 0
    assert await store.get(P + "a") is None
    page = await store.range(P)
    assert page.items == [] and not page.more
    assert await store.count(P) == 0


async def test_create_get(store: Store) -> None:
    kv = await store.create(P + "a", b"one")
    assert kv == KeyValue(P + "a", b"one", 1, 1)
    assert await store.current_revision() == 1
    assert await store.get(P + "a") == kv
    kv2 = await store.create(P + "b", b"two")
    assert kv2.mod_revision == kv2.create_revision == 2


async def test_create_existing_raises_key_exists(store: Store) -> None:
    await store.create(P + "a", b"one")
    with pytest.raises(KeyExists) as err:
        await store.create(P + "a", b"again")
    assert err.value.key == P + "a"
    assert (await store.get(P + "a")) == KeyValue(P + "a", b"one", 1, 1)
    assert await store.current_revision() == 1, "a failed write takes no revision"


async def test_update_unconditional_and_cas(store: Store) -> None:
    a = await store.create(P + "a", b"1")
    b = await store.update(P + "a", b"2", None)
    assert b == KeyValue(P + "a", b"2", a.create_revision, 2)
    c = await store.update(P + "a", b"3", b.mod_revision)
    assert c == KeyValue(P + "a", b"3", a.create_revision, 3)
    with pytest.raises(RevisionMismatch) as err:
        await store.update(P + "a", b"4", b.mod_revision)
    assert (err.value.key, err.value.expected, err.value.actual) == (P + "a", 2, 3)
    assert await store.get(P + "a") == c
    assert await store.current_revision() == 3


async def test_update_missing_raises_key_not_found(store: Store) -> None:
    with pytest.raises(KeyNotFound):
        await store.update(P + "nope", b"x", None)
    with pytest.raises(KeyNotFound):
        await store.update(P + "nope", b"x", 1)


async def test_delete_returns_value_at_deletion_revision(store: Store) -> None:
    a = await store.create(P + "a", b"1")
    await store.create(P + "b", b"2")
    deleted = await store.delete(P + "a")
    assert deleted == KeyValue(P + "a", b"1", a.create_revision, 3)
    assert await store.current_revision() == 3
    assert await store.get(P + "a") is None
    assert await store.count(P) == 1
    with pytest.raises(KeyNotFound):
        await store.delete(P + "a")


async def test_delete_cas(store: Store) -> None:
    a = await store.create(P + "a", b"1")
    b = await store.update(P + "a", b"2", None)
    with pytest.raises(RevisionMismatch) as err:
        await store.delete(P + "a", a.mod_revision)
    assert err.value.actual == b.mod_revision
    assert await store.get(P + "a") == b
    deleted = await store.delete(P + "a", b.mod_revision)
    assert deleted.value == b"2" and deleted.mod_revision == 3


async def test_recreate_after_delete_is_a_new_incarnation(store: Store) -> None:
    await store.create(P + "a", b"1")
    await store.delete(P + "a")
    again = await store.create(P + "a", b"2")
    assert again == KeyValue(P + "a", b"2", 3, 3)
    assert await store.get(P + "a", revision=1) == KeyValue(P + "a", b"1", 1, 1)
    assert await store.get(P + "a", revision=2) is None


async def test_create_of_a_live_key_fails_and_recreate_works_after_compaction(store: Store) -> None:
    await store.create(P + "a", b"1")
    updated = await store.update(P + "a", b"2", None)
    with pytest.raises(KeyExists):
        await store.create(P + "a", b"dup")
    gone = await store.delete(P + "a")
    await store.compact(gone.mod_revision)
    again = await store.create(P + "a", b"3")
    assert again.create_revision == again.mod_revision > updated.mod_revision
    with pytest.raises(KeyExists):
        await store.create(P + "a", b"dup")
    assert (await store.get(P + "a")) == again


# --- reads at revisions -----------------------------------------------------------------------


async def test_a_write_larger_than_a_store_takes_is_value_too_large_and_nothing_is_written(store: Store) -> None:
    """etcd takes requests of at most 1.5 MiB by default (--max-request-bytes); every backend holds to the same."""
    fits = await store.create(P + "fits", b"x" * (MAX_WRITE_BYTES - 4096))
    too_large = b"x" * (MAX_WRITE_BYTES + 1)
    with pytest.raises(ValueTooLarge, match="request is too large"):
        await store.create(P + "big", too_large)
    with pytest.raises(ValueTooLarge, match="request is too large"):
        await store.update(P + "fits", too_large, fits.mod_revision)
    with pytest.raises(ValueTooLarge):
        await store.update(P + "fits", too_large, None)
    assert await store.get(P + "big") is None
    assert await store.get(P + "fits") == fits
    assert await store.current_revision() == fits.mod_revision
    assert (await store.update(P + "fits", b"small", fits.mod_revision)).value == b"small"  # the store goes on


async def test_get_at_old_revision(store: Store) -> None:
    await store.create(P + "a", b"v1")
    await store.create(P + "other", b"x")
    await store.update(P + "a", b"v2", None)
    await store.delete(P + "a")
    assert await store.get(P + "a", revision=1) == KeyValue(P + "a", b"v1", 1, 1)
    assert await store.get(P + "a", revision=2) == KeyValue(P + "a", b"v1", 1, 1)
    assert await store.get(P + "a", revision=3) == KeyValue(P + "a", b"v2", 1, 3)
    assert await store.get(P + "a", revision=4) is None
    assert await store.get(P + "other", revision=1) is None
    assert await store.get(P + "other", revision=4) == KeyValue(P + "other", b"x", 2, 2)


async def test_reads_beyond_current_raise_future_revision(store: Store) -> None:
    await store.create(P + "a", b"1")
    with pytest.raises(FutureRevision) as err:
        await store.get(P + "a", revision=2)
    assert (err.value.requested, err.value.current) == (2, 1)
    with pytest.raises(FutureRevision):
        await store.range(P, revision=5)


async def test_range_prefix_order_and_isolation(store: Store) -> None:
    names = ["b", "a", "c/x", "c"]
    for name in names:
        await store.create(P + name, name.encode())
    await store.create("/registry/test/thingsXX", b"not under the prefix")
    await store.create("/registry/test/thing", b"shorter")
    page = await store.range(P)
    assert [kv.key for kv in page.items] == [P + n for n in sorted(names)]
    assert [kv.value for kv in page.items] == [n.encode() for n in sorted(names)]
    assert page.revision == await store.current_revision() and not page.more
    everything = await store.range("")
    assert len(everything.items) == 6
    assert await store.count(P) == 4 and await store.count("") == 6


async def test_range_limit_and_start_after(store: Store) -> None:
    for i in range(10):
        await store.create(f"{P}{i:02d}", b"%d" % i)
    first = await store.range(P, limit=4)
    assert [kv.key[-2:] for kv in first.items] == ["00", "01", "02", "03"]
    assert first.more and first.remaining in (6, None)
    rest = await store.range(P, revision=first.revision, limit=10, start_after=first.items[-1].key)
    assert [kv.key[-2:] for kv in rest.items] == [f"{i:02d}" for i in range(4, 10)]
    assert not rest.more
    exact = await store.range(P, limit=10)
    assert len(exact.items) == 10 and not exact.more
    before_prefix = await store.range(P, start_after="/a", limit=1)
    assert before_prefix.items[0].key == P + "00"


async def test_range_at_old_revision(store: Store) -> None:
    await store.create(P + "a", b"a1")  # 1
    await store.create(P + "b", b"b1")  # 2
    await store.update(P + "a", b"a2", None)  # 3
    await store.delete(P + "b")  # 4
    await store.create(P + "c", b"c1")  # 5
    expected = {
        1: [(P + "a", b"a1")],
        2: [(P + "a", b"a1"), (P + "b", b"b1")],
        3: [(P + "a", b"a2"), (P + "b", b"b1")],
        4: [(P + "a", b"a2")],
        5: [(P + "a", b"a2"), (P + "c", b"c1")],
    }
    for rev, items in expected.items():
        page = await store.range(P, revision=rev)
        assert [(kv.key, kv.value) for kv in page.items] == items, rev
        assert page.revision == rev
    old = await store.range(P, revision=3)
    assert old.items[0] == KeyValue(P + "a", b"a2", 1, 3)


async def test_pagination_at_fixed_revision_while_writing(store: Store) -> None:
    for i in range(60):
        await store.create(f"{P}{i:03d}", b"v0-%d" % i)
    snapshot = {kv.key: kv for kv in (await store.range(P)).items}
    rng = random.Random(7)

    async def churn(n: int) -> None:
        """Random creates, updates and deletes over keys inside and past the paged range."""
        for _ in range(n):
            key = f"{P}{rng.randrange(80):03d}"
            with contextlib.suppress(KeyExists, KeyNotFound):
                roll = rng.random()
                if roll < 0.3:
                    await store.delete(key)
                elif roll < 0.6:
                    await store.create(key, b"new")
                else:
                    await store.update(key, b"upd", None)

    first = await store.range(P, limit=7)
    pages, items, page = 1, list(first.items), first
    while page.more:
        # Each page is read while writes are in flight, and after more writes have committed.
        page, _ = await asyncio.gather(
            store.range(P, revision=first.revision, limit=7, start_after=items[-1].key), churn(3)
        )
        assert page.revision == first.revision
        items.extend(page.items)
        pages += 1
    assert await store.current_revision() > first.revision + 10, "writes really happened meanwhile"
    assert [kv.key for kv in items] == sorted(snapshot), "every key once, in order"
    assert {kv.key: kv for kv in items} == snapshot, "the pages add up to the state when paging began"
    assert (await store.range(P, revision=first.revision)).items == items
    assert pages == 9


# --- concurrency -------------------------------------------------------------------------------


async def test_cas_race_exactly_one_wins(store: Store) -> None:
    base = await store.create(P + "counter", b"0")
    results = await asyncio.gather(
        *(store.update(P + "counter", b"%d" % i, base.mod_revision) for i in range(20)),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, KeyValue)]
    losers = [r for r in results if isinstance(r, RevisionMismatch)]
    assert len(winners) == 1 and len(losers) == 19
    assert await store.get(P + "counter") == winners[0]


async def test_create_race_exactly_one_wins(store: Store) -> None:
    attempts = (store.create(P + "x", b"%d" % i) for i in range(10))
    results = await asyncio.gather(*attempts, return_exceptions=True)
    assert sum(isinstance(r, KeyValue) for r in results) == 1
    assert sum(isinstance(r, KeyExists) for r in results) == 9


async def test_guaranteed_update_loop_loses_no_increment(store: Store) -> None:
    await store.create(P + "n", b"0")

    async def increment() -> None:
        while True:
            kv = await store.get(P + "n")
            assert kv is not None
            try:
                await store.update(P + "n", b"%d" % (int(kv.value) + 1), kv.mod_revision)
                return
            except RevisionMismatch:
                continue

    await asyncio.gather(*(increment() for _ in range(15)))
    final = await store.get(P + "n")
    assert final is not None and final.value == b"15"


async def test_revisions_are_unique_and_dense_under_concurrency(store: Store) -> None:
    kvs = await asyncio.gather(*(store.create(f"{P}{i}", b"x") for i in range(50)))
    assert sorted(kv.mod_revision for kv in kvs) == list(range(1, 51))


# --- watch -------------------------------------------------------------------------------------


async def test_watch_live_events_with_prev(store: Store) -> None:
    start = await store.current_revision() + 1
    it = aiter(store.watch(P, start))
    first = asyncio.ensure_future(take(it, 4))
    await asyncio.sleep(0)
    a = await store.create(P + "a", b"1")
    await store.create("/registry/elsewhere/x", b"ignored")
    b = await store.update(P + "a", b"2", a.mod_revision)
    d = await store.delete(P + "a")
    c = await store.create(P + "a", b"3")
    events = await first
    assert [e.type for e in events] == [EventType.PUT, EventType.PUT, EventType.DELETE, EventType.PUT]
    assert events[0].kv == a and events[0].prev is None and events[0].created
    assert events[1].kv == b and events[1].prev == a and not events[1].created
    assert events[2].kv.key == P + "a" and events[2].kv.value == b"" and events[2].revision == d.mod_revision
    assert events[2].prev == b
    assert events[3].kv == c and events[3].prev is None
    await it.aclose()  # type: ignore[attr-defined]


async def test_watch_from_old_revision_replays_history(store: Store) -> None:
    a = await store.create(P + "a", b"1")
    await store.create("/registry/elsewhere/x", b"ignored")
    b = await store.update(P + "a", b"2", None)
    await store.delete(P + "a")
    it = aiter(store.watch(P, a.mod_revision + 1))
    events = await take(it, 2)
    assert [e.revision for e in events] == [3, 4]
    assert events[0].kv == b and events[0].prev == a
    assert events[1].type is EventType.DELETE and events[1].prev == b
    live = await store.create(P + "b", b"live")
    (event,) = await take(it, 1)
    assert event.kv == live
    everything = await take(aiter(store.watch(P, 1)), 4)
    assert [e.revision for e in everything] == [1, 3, 4, 5]


async def test_watch_no_gap_no_duplicate_across_history_to_live_switch(store: Store) -> None:
    written: list[int] = []

    async def writer(n: int) -> None:
        for i in range(n):
            kv = await store.create(f"{P}w{i}", b"x")
            written.append(kv.mod_revision)
            if i % 3 == 0:
                written.append((await store.update(f"{P}w{i}", b"y", None)).mod_revision)
            await store.create(f"/registry/other/w{i}", b"noise")

    await writer(30)
    background = asyncio.create_task(_more(store, written))
    await asyncio.sleep(0)  # the background writer is mid-stream when the watch starts
    it = aiter(store.watch(P, 5))
    seen = await take(it, 1)
    assert not background.done(), "the switch must happen while writes are in flight"
    await background
    expected = sorted(r for r in written if r >= 5)
    seen += await take(it, len(expected) - 1)
    revs = [e.revision for e in seen]
    assert revs == sorted(set(revs)), "strictly increasing: no duplicate, no reordering"
    assert revs == expected, "no gap"
    await no_event(it, store)


async def _more(store: Store, written: list[int]) -> None:
    for i in range(30, 80):
        written.append((await store.create(f"{P}w{i}", b"x")).mod_revision)
        await store.create(f"/registry/other/w{i}", b"noise")


async def test_concurrent_watchers_all_see_the_same_stream(store: Store) -> None:
    its = [aiter(store.watch(P, 1)) for _ in range(5)]
    tasks = [asyncio.ensure_future(take(it, 40)) for it in its]
    await asyncio.gather(*(store.create(f"{P}{i}", b"x") for i in range(40)))
    streams = await asyncio.gather(*tasks)
    assert all([e.revision for e in s] == list(range(1, 41)) for s in streams)


async def test_watch_ends_with_store_closed(store: Store) -> None:
    it = aiter(store.watch(P, 1))
    pending = asyncio.ensure_future(anext(it))
    await asyncio.sleep(0)
    await store.close()
    with pytest.raises(StoreClosed):
        await asyncio.wait_for(pending, 5)


# --- compaction --------------------------------------------------------------------------------


async def test_compaction(store: Store) -> None:
    await store.create(P + "a", b"a1")  # 1
    await store.create(P + "b", b"b1")  # 2
    await store.update(P + "a", b"a2", None)  # 3
    await store.create(P + "gone", b"g")  # 4
    await store.delete(P + "gone")  # 5
    await store.update(P + "b", b"b2", None)  # 6
    await store.update(P + "a", b"a3", None)  # 7
    await store.compact(6)
    assert await store.compacted_revision() == 6
    for rev in (1, 5):
        with pytest.raises(Compacted) as err:
            await store.get(P + "a", revision=rev)
        assert (err.value.requested, err.value.compacted) == (rev, 6)
        with pytest.raises(Compacted):
            await store.range(P, revision=rev)
        with pytest.raises(Compacted):
            await anext(aiter(store.watch(P, rev)))
    at6 = await store.range(P, revision=6)
    assert [(kv.key, kv.value) for kv in at6.items] == [(P + "a", b"a2"), (P + "b", b"b2")]
    assert await store.get(P + "gone", revision=6) is None
    now = await store.range(P)
    assert [(kv.key, kv.value) for kv in now.items] == [(P + "a", b"a3"), (P + "b", b"b2")]
    events = await take(aiter(store.watch(P, 6)), 2)
    assert [(e.revision, e.prev.value if e.prev else None) for e in events] == [(6, b"b1"), (7, b"a2")]


async def test_compaction_keeps_live_values_and_later_history(store: Store) -> None:
    kvs = [await store.create(f"{P}{i}", b"v0") for i in range(5)]
    for round_ in range(1, 4):
        for kv in kvs:
            await store.update(kv.key, b"v%d" % round_, None)
    await store.delete(f"{P}0")
    current = await store.current_revision()
    await store.compact(current)
    page = await store.range(P)
    assert [(kv.key, kv.value, kv.create_revision) for kv in page.items] == [
        (f"{P}{i}", b"v3", i + 1) for i in range(1, 5)
    ]
    assert (await store.range(P, revision=current)).items == page.items
    updated = await store.update(f"{P}1", b"after", page.items[0].mod_revision)
    (event,) = await take(aiter(store.watch(P, updated.mod_revision)), 1)
    assert event.prev is not None and event.prev.value == b"v3"
    again = await store.create(f"{P}0", b"reborn")
    assert again.create_revision == again.mod_revision


async def test_compaction_noop_and_future(store: Store) -> None:
    for i in range(5):
        await store.create(f"{P}{i}", b"x")
    await store.compact(3)
    await store.compact(2)
    await store.compact(3)
    assert await store.compacted_revision() == 3
    with pytest.raises(FutureRevision):
        await store.compact(6)
    assert await store.compacted_revision() == 3
    assert await store.get(f"{P}0", revision=3) is not None


async def test_watch_from_compacted_revision_itself_works(store: Store) -> None:
    await store.create(P + "a", b"1")
    await store.update(P + "a", b"2", None)
    await store.delete(P + "a")  # 3
    await store.compact(3)
    (event,) = await take(aiter(store.watch(P, 3)), 1)
    assert event.type is EventType.DELETE and event.prev is not None and event.prev.value == b"2"


# --- lifecycle ---------------------------------------------------------------------------------


async def test_close_is_idempotent_and_fails_later_calls(store: Store) -> None:
    pending = [asyncio.ensure_future(store.create(f"{P}{i}", b"x")) for i in range(10)]
    await asyncio.sleep(0)
    await store.close()
    await store.close()
    results = await asyncio.gather(*pending, return_exceptions=True)
    assert all(isinstance(r, KeyValue | StoreClosed) for r in results)
    for call in (store.create(P + "late", b"x"), store.get(P + "0"), store.range(P), store.count(P)):
        with pytest.raises(StoreClosed):
            await call


async def test_slow_watcher_blocks_neither_writers_nor_other_watchers(store: Store) -> None:
    slow = aiter(store.watch(P, 1))
    first = await asyncio.wait_for(asyncio.ensure_future(_first_after_write(store, slow)), 5)
    assert first.revision == 1
    fast = aiter(store.watch(P, 2))
    fast_events = asyncio.ensure_future(take(fast, 300))
    await asyncio.wait_for(asyncio.gather(*(store.create(f"{P}{i}", b"x") for i in range(300))), 10)
    assert [e.revision for e in await fast_events] == list(range(2, 302))
    assert [e.revision for e in await take(slow, 300)] == list(range(2, 302)), "the slow one lost nothing"


async def _first_after_write(store: Store, it: AsyncIterator[Event]) -> Event:
    pending = asyncio.ensure_future(anext(it))
    await asyncio.sleep(0)
    await store.create(P + "first", b"x")
    return await pending


async def test_watch_from_a_future_revision_skips_earlier_events(store: Store) -> None:
    it = aiter(store.watch(P, 3))
    pending = asyncio.ensure_future(take(it, 1))
    await asyncio.sleep(0)
    for i in range(3):
        await store.create(f"{P}{i}", b"x")
    (event,) = await pending
    assert event.revision == 3 and event.kv.key == P + "2"


# --- progress notifications --------------------------------------------------------------------


async def test_progress_request_reaches_progress_watches_after_every_earlier_event(store: Store) -> None:
    await store.create(P + "a", b"1")
    it = aiter(store.watch(P, 1, progress=True))
    (first,) = await take(it, 1)
    assert first.type is EventType.PUT
    # Writes elsewhere move the revision on; the prefix's watcher hears of it only through progress.
    await store.create("/other/x", b"1")
    await store.create(P + "b", b"2")
    other = await store.create("/other/y", b"1")
    store.request_progress()
    events = await take(it, 2)
    assert events[0].type is EventType.PUT and events[0].kv.key == P + "b"
    assert events[1].type is EventType.PROGRESS
    assert events[1].revision == other.mod_revision == await store.current_revision()


async def test_plain_watches_get_no_progress_events(store: Store) -> None:
    it = aiter(store.watch(P, 1))
    store.request_progress()
    created = await store.create(P + "a", b"1")
    (event,) = await take(it, 1)
    assert event.type is EventType.PUT and event.revision == created.mod_revision
