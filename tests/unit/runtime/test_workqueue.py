"""The workqueue contract: dedup, one worker per key, delays and backoff on a fake clock, drain."""

from __future__ import annotations

import asyncio

import pytest

from pinnace.runtime.clock import FakeClock, settle
from pinnace.runtime.ratelimit import ItemExponentialFailureRateLimiter
from pinnace.runtime.workqueue import ShutDown, WorkQueue


async def test_a_key_added_twice_is_queued_once() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    q.add("a")
    q.add("b")
    q.add("a")
    assert len(q) == 2
    assert await q.get() == "a"
    assert await q.get() == "b"


async def test_a_key_added_while_processing_waits_for_done() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    q.add("a")
    key = await q.get()
    q.add("a")  # changed again while a worker holds it
    assert len(q) == 0, "must not be handed to a second worker"
    assert q.is_processing("a")
    q.done(key)
    assert len(q) == 1
    assert await q.get() == "a"


async def test_no_key_is_processed_by_two_workers_at_once() -> None:
    q: WorkQueue[int] = WorkQueue("t")
    active: set[int] = set()
    overlaps: list[int] = []
    processed = 0

    async def worker() -> None:
        nonlocal processed
        while True:
            try:
                key = await q.get()
            except ShutDown:
                return
            if key in active:
                overlaps.append(key)
            active.add(key)
            await asyncio.sleep(0)
            if processed < 300:
                q.add(key)  # re-added while processing
            await asyncio.sleep(0)
            active.discard(key)
            processed += 1
            q.done(key)

    for key in range(5):
        q.add(key)
    workers = [asyncio.create_task(worker()) for _ in range(8)]
    while processed < 300 or len(q):
        await asyncio.sleep(0)
    await q.shut_down_with_drain(timeout=1)
    await asyncio.gather(*workers)
    assert overlaps == []


async def test_add_after_waits_on_the_clock_and_the_earliest_delay_wins() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue("t", clock=clock)
    q.add_after("a", 10)
    q.add_after("a", 5)
    q.add_after("a", 20)
    q.add_after("b", 7)
    await settle()
    assert len(q) == 0 and q.delayed == 2
    await clock.advance(4.9)
    assert len(q) == 0
    await clock.advance(0.2)
    assert list(q._queue) == ["a"]
    await clock.advance(2)
    assert list(q._queue) == ["a", "b"]
    assert q.delayed == 0


async def test_rate_limited_adds_back_off_exponentially_until_forgotten() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue("t", clock=clock, rate_limiter=ItemExponentialFailureRateLimiter(1.0, 100.0))
    for expected_delay in (1.0, 2.0, 4.0):
        q.add_rate_limited("k")
        await clock.advance(expected_delay - 0.01)
        assert len(q) == 0
        await clock.advance(0.02)
        assert len(q) == 1
        q.done(await q.get())
    assert q.num_requeues("k") == 3
    q.forget("k")
    assert q.num_requeues("k") == 0


async def test_shutdown_wakes_waiting_workers() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    getter = asyncio.create_task(q.get())
    await settle()
    q.shut_down()
    with pytest.raises(ShutDown):
        await getter
    q.add("ignored")
    assert len(q) == 0


async def test_drain_waits_for_work_in_flight() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    q.add("a")
    key = await q.get()
    drain = asyncio.create_task(q.shut_down_with_drain(timeout=5))
    await settle()
    assert not drain.done()
    q.done(key)
    assert await drain is True


async def test_drain_times_out_when_a_worker_hangs() -> None:
    q: WorkQueue[str] = WorkQueue("t")
    q.add("a")
    await q.get()
    assert await q.shut_down_with_drain(timeout=0.01) is False
