"""The scheduling queue on a fake clock: priority order, backoff, unschedulable pods and cluster events."""

from __future__ import annotations

from tests.unit.scheduler.helpers import pod

from pinnace.runtime.clock import FakeClock
from pinnace.scheduler.queue import SchedulingQueue


async def test_higher_priority_first_then_oldest() -> None:
    clock = FakeClock()
    queue = SchedulingQueue(clock=clock)
    queue.add(pod("low", priority=1))
    await clock.advance(1)
    queue.add(pod("high-late", priority=10))
    queue.add(pod("low-late", priority=1))
    order = [(await queue.pop()).info.name for _ in range(3)]
    assert order == ["high-late", "low", "low-late"]


async def test_unschedulable_waits_for_a_cluster_event_then_backoff() -> None:
    clock = FakeClock()
    queue = SchedulingQueue(clock=clock, initial_backoff=1, max_backoff=10)
    queue.add(pod("p"))
    entry = await queue.pop()
    queue.unschedulable(entry)
    assert queue.where("default/p") == "unschedulable" and queue.pop_nowait() is None
    queue.move_all()  # within the backoff: it waits there
    assert queue.where("default/p") == "backoff" and queue.pop_nowait() is None
    await clock.advance(1.5)
    queue.flush()
    assert queue.pop_nowait() is entry and entry.attempts == 2
    queue.unschedulable(entry)
    await clock.advance(5)
    queue.move_all()  # backoff (2 s for the second attempt) is over: straight to active
    assert queue.pop_nowait() is entry


async def test_event_during_an_attempt_sends_the_pod_to_backoff_not_unschedulable() -> None:
    clock = FakeClock()
    queue = SchedulingQueue(clock=clock)
    queue.add(pod("p"))
    entry = await queue.pop()
    queue.move_all()  # a node was added while the pod was being tried
    queue.unschedulable(entry)
    assert queue.where("default/p") == "backoff"


async def test_status_only_updates_do_not_requeue_and_stale_unschedulable_pods_are_flushed() -> None:
    clock = FakeClock()
    queue = SchedulingQueue(clock=clock, max_unschedulable=300)
    queue.add(pod("p"))
    entry = await queue.pop()
    queue.unschedulable(entry)
    queue.add(pod("p"), changed=False)
    assert queue.where("default/p") == "unschedulable"
    await clock.advance(301)
    queue.flush()
    assert queue.pop_nowait() is entry


async def test_deleted_pods_are_not_popped() -> None:
    queue = SchedulingQueue(clock=FakeClock())
    queue.add(pod("gone"))
    queue.add(pod("kept"))
    queue.delete("default/gone")
    assert (await queue.pop()).info.name == "kept"
    assert queue.pop_nowait() is None
