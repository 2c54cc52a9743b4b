"""The periodic compactor, driven by a fake clock (no real sleeping)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pinnace.storage import Compacted, Compactor, SQLiteStore, StorageError, Store


class FakeClock:
    """An injectable ``sleep``: sleepers wake only when the test advances time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.requested: list[float] = []
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self._asleep = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.requested.append(seconds)
        fut = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, fut))
        self._asleep.set()
        await fut

    async def wait_asleep(self) -> None:
        """Wait until somebody is sleeping (i.e. the compactor finished its round)."""
        await asyncio.wait_for(self._asleep.wait(), 5)

    async def advance(self, seconds: float) -> None:
        """Move time forward, wake the due sleepers, and wait until they sleep again."""
        self.now += seconds
        due = [(t, f) for t, f in self._sleepers if t <= self.now]
        if not due:
            return
        self._sleepers = [(t, f) for t, f in self._sleepers if t > self.now]
        self._asleep.clear()
        for _, fut in due:
            fut.set_result(None)
        await self.wait_asleep()


class FailingStore:
    """A store whose compaction always fails (everything else delegates)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.shared = inner.shared
        self.attempts = 0

    async def current_revision(self) -> int:
        return await self.inner.current_revision()

    async def compacted_revision(self) -> int:
        return await self.inner.compacted_revision()

    async def compact(self, revision: int) -> None:
        self.attempts += 1
        raise StorageError(f"disk on fire at {revision}")


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = await SQLiteStore.open(tmp_path / "store.db", durable=False)
    yield store
    await store.close()


async def write(store: Store, n: int) -> int:
    for _ in range(n):
        await store.create(f"/registry/k/{await store.current_revision()}", b"x")
    return await store.current_revision()


async def test_compacts_to_the_revision_seen_one_interval_earlier(sqlite_store: SQLiteStore) -> None:
    clock = FakeClock()
    compactor = Compactor(sqlite_store, sleep=clock.sleep)
    compactor.start()
    await clock.wait_asleep()
    assert clock.requested == [300.0]

    seen = await write(sqlite_store, 10)
    await clock.advance(299)
    await clock.advance(1)  # first tick: remembers revision 10, compacts nothing
    assert await sqlite_store.compacted_revision() == 0

    await write(sqlite_store, 10)
    await clock.advance(300)  # second tick: compacts to what the first tick saw
    assert await sqlite_store.compacted_revision() == seen
    with pytest.raises(Compacted):
        await sqlite_store.get("/registry/k/0", revision=seen - 1)
    assert await sqlite_store.get("/registry/k/15", revision=seen) is None  # readable at seen: absent then

    await clock.advance(300)  # third tick: compacts to the 20 seen at the second
    assert await sqlite_store.compacted_revision() == 20
    await clock.advance(300)  # no writes since: nothing newer to compact to
    assert await sqlite_store.compacted_revision() == 20
    assert clock.requested == [300.0] * 5
    await compactor.stop()
    assert not compactor.running


async def test_failures_are_logged_and_the_loop_goes_on(
    sqlite_store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    await write(sqlite_store, 3)
    failing = FailingStore(sqlite_store)
    clock = FakeClock()
    compactor = Compactor(failing, 60, sleep=clock.sleep)  # type: ignore[arg-type]
    compactor.start()
    await clock.wait_asleep()
    with caplog.at_level(logging.ERROR, logger="pinnace.storage.compactor"):
        for _ in range(3):
            await write(sqlite_store, 1)
            await clock.advance(60)
    assert failing.attempts == 2
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert errors[0].exc_info is not None and "disk on fire" in str(errors[0].exc_info[1])
    assert compactor.running
    await compactor.stop()


async def test_tick_directly(sqlite_store: SQLiteStore) -> None:
    compactor = Compactor(sqlite_store)
    assert await compactor.tick() is None  # nothing seen yet
    first = await write(sqlite_store, 5)
    assert await compactor.tick() is None  # the previous round saw revision 0
    await write(sqlite_store, 5)
    assert await compactor.tick() == first
    assert await sqlite_store.compacted_revision() == first


async def test_start_stop_are_idempotent(sqlite_store: SQLiteStore) -> None:
    clock = FakeClock()
    compactor = Compactor(sqlite_store, sleep=clock.sleep)
    await compactor.stop()
    compactor.start()
    compactor.start()
    await clock.wait_asleep()
    assert compactor.running and len(clock.requested) == 1
    await compactor.stop()
    await compactor.stop()
    assert not compactor.running


def test_rejects_non_positive_interval(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Compactor(object(), 0)  # type: ignore[arg-type]
