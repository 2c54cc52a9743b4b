"""The proxy's sync pacing on a fake clock: at once first, then at most once per second, at least every 30 s."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from pinnace.proxy.proxier import SyncRunner
from pinnace.runtime.clock import FakeClock, settle


class Recorder:
    """The sync under test: records when it ran and whether only because the period passed."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[tuple[float, bool]] = []
        #: How many of the next syncs fail.
        self.failures = 0

    async def __call__(self, periodic: bool) -> None:
        self.calls.append((self.clock.now(), periodic))
        if self.failures:
            self.failures -= 1
            raise OSError("iptables-restore: resource busy")


@pytest.fixture
async def running() -> AsyncIterator[tuple[SyncRunner, Recorder, FakeClock]]:
    clock = FakeClock()
    runner = SyncRunner(1.0, 30.0, clock=clock)
    recorder = Recorder(clock)
    task = asyncio.create_task(runner.run(recorder))
    await settle()
    try:
        yield runner, recorder, clock
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_first_sync_runs_at_once_and_a_burst_of_changes_makes_one_sync_a_second_later(
    running: tuple[SyncRunner, Recorder, FakeClock],
) -> None:
    runner, recorder, clock = running
    assert recorder.calls == [(0.0, False)]
    for _ in range(5):
        runner.request()
    await clock.advance(0.5)
    assert recorder.calls == [(0.0, False)]  # not before min_interval has passed since the last sync
    await clock.advance(0.5)
    assert recorder.calls == [(0.0, False), (1.0, False)]
    await clock.advance(5)
    runner.request()  # long after the last sync: runs at once
    await settle()
    assert recorder.calls[-1] == (6.0, False)


async def test_without_changes_it_syncs_every_period(running: tuple[SyncRunner, Recorder, FakeClock]) -> None:
    _, recorder, clock = running
    await clock.advance(29.9)
    assert len(recorder.calls) == 1
    await clock.advance(0.1)
    assert recorder.calls[-1] == (30.0, True)
    await clock.advance(30)
    assert recorder.calls[-1] == (60.0, True)


async def test_a_failed_sync_is_retried_with_a_growing_pause_until_one_succeeds(
    running: tuple[SyncRunner, Recorder, FakeClock],
) -> None:
    runner, recorder, clock = running
    recorder.failures = 3
    runner.request()
    await clock.advance(1.0)  # fails at 1
    for _ in range(7):
        await clock.advance(1.0)
    # Retried 1 s, then 2 s, then 4 s later; the third retry succeeds and the runner is quiet again.
    assert [t for t, _ in recorder.calls] == [0.0, 1.0, 2.0, 4.0, 8.0]
    runner.request()
    await clock.advance(1.0)
    assert recorder.calls[-1] == (9.0, False)
