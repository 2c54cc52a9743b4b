"""etcd member faults under write load: no acknowledged write is lost, watchers see every change in order.

A 3-member etcd cluster on loopback; an :class:`EtcdStore` opened with all
three endpoints writes new keys one after another and records every create
etcd acknowledged (key, value, revision, when). The member the store talks to
first is made the raft leader, then it is killed (SIGKILL) or paused (SIGSTOP,
then SIGCONT). Asserted, as issue 9 asks:

* writes continue: from the last acknowledged write before the fault on, no
  two consecutive acknowledged writes are more than 2 s apart;
* afterwards every acknowledged key is present with its value, read through
  a store on the other two members, and through member 0 alone once it is
  back (a killed member is restarted on its data dir and catches up);
* two watchers (the store's shared event window, and a store whose watch is an
  etcd watch of its own) saw every acknowledged create, in revision order,
  and nothing that was never attempted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.unit.storage.etcd_server import EtcdCluster

from pinnace.storage import Event, EventType, StorageError
from pinnace.storage.etcd import EtcdStore

pytestmark = pytest.mark.slow

PREFIX = "/faults/"
MAX_GAP = 2.0
"""Seconds writes may stall around a member fault (issue 9: "writes continue within 2 s")."""


@dataclass
class Writer:
    """Creates keys one after another until stopped; records what etcd acknowledged."""

    store: EtcdStore
    acked: list[tuple[str, bytes, int, float]] = field(default_factory=list)
    attempted: dict[str, bytes] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        i = 0
        while not self.stop.is_set():
            key, value = f"{PREFIX}k-{i:06d}", f"value-{i}".encode()
            self.attempted[key] = value
            try:
                kv = await self.store.create(key, value)
            except StorageError as e:  # not acknowledged: may or may not have been applied
                self.failures.append(f"{key}: {e}")
            else:
                self.acked.append((key, value, kv.mod_revision, loop.time()))
            i += 1

    def gap_around(self, fault_at: float) -> float:
        """The longest wait between consecutive acknowledged writes from the last one before ``fault_at`` on."""
        times = [t for *_, t in self.acked]
        first = max(i for i, t in enumerate(times) if t <= fault_at)
        return max(b - a for a, b in zip(times[first:], times[first + 1 :], strict=False))


async def _collect(store: EtcdStore, from_revision: int, events: list[Event]) -> None:
    async for event in store.watch(PREFIX, from_revision):
        events.append(event)


async def _caught_up(events: list[Event], revision: int) -> None:
    while not events or events[-1].revision < revision:
        await asyncio.sleep(0.05)


async def _read_all(endpoints: list[str]) -> dict[str, tuple[bytes, int]]:
    """Key → (value, revision) under the prefix, read through a store on ``endpoints`` only."""
    store = await EtcdStore.open(endpoints, watch_window=0)
    try:
        listed = await store.range(PREFIX)
    finally:
        await store.close()
    return {kv.key: (kv.value, kv.mod_revision) for kv in listed.items}


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[EtcdCluster]:
    """A started 3-member etcd cluster whose member 0 leads."""
    etcd = EtcdCluster(tmp_path / "etcd")
    try:
        await etcd.start()
        await etcd.make_leader(0)
        yield etcd
    finally:
        await etcd.stop()


async def _under_load(cluster: EtcdCluster, fault: str) -> None:
    """Write, hit member 0 (the leader, and the store's first endpoint) with ``fault``, write on, then check."""
    store = await EtcdStore.open(cluster.endpoints, request_timeout=1.0, retry_timeout=15.0)
    own_watch = await EtcdStore.open(cluster.endpoints, request_timeout=1.0, watch_window=0)
    writer = Writer(store)
    start = await store.current_revision() + 1
    seen: list[list[Event]] = [[], []]
    watchers = [asyncio.create_task(_collect(s, start, ev)) for s, ev in zip((store, own_watch), seen, strict=True)]
    writing = asyncio.create_task(writer.run())
    loop = asyncio.get_running_loop()
    try:
        await asyncio.sleep(1.0)
        fault_at = loop.time()
        if fault == "kill":
            await cluster.kill(0)
            await asyncio.sleep(3.0)
        else:
            cluster.pause(0)
            await asyncio.sleep(3.0)
            cluster.resume(0)
        await asyncio.sleep(1.0)
        writer.stop.set()
        await writing

        assert writer.acked and writer.acked[-1][3] > fault_at, writer.failures[-5:]
        gap = writer.gap_around(fault_at)
        print(f"{fault}: {len(writer.acked)} acknowledged creates; longest gap {gap:.3f} s; failed: {writer.failures}")
        assert gap <= MAX_GAP, f"writes stalled {gap:.3f} s around the {fault} (failures: {writer.failures[:3]})"

        # Every acknowledged create is there with its value (read through the other members).
        # A killed member is restarted first: it catches up and serves the same data on its own.
        if fault == "kill":
            await cluster.restart(0)
        for endpoints in (cluster.endpoints[1:], cluster.endpoints[:1]):
            present = await _read_all(endpoints)
            for key, value, revision, _ in writer.acked:
                assert present.get(key) == (value, revision)

        # The watchers saw every acknowledged create, in order, and nothing never attempted.
        await asyncio.wait_for(asyncio.gather(*(_caught_up(ev, writer.acked[-1][2]) for ev in seen)), 30)
        acked = [(key, value, revision) for key, value, revision, _ in writer.acked]
        for events in seen:
            revisions = [e.revision for e in events]
            assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions)
            assert all(e.type == EventType.PUT and writer.attempted[e.kv.key] == e.kv.value for e in events)
            delivered = {(e.kv.key, e.kv.value, e.revision) for e in events}
            assert [a for a in acked if a in delivered] == acked
    finally:
        writer.stop.set()
        for task in (writing, *watchers):
            task.cancel()
        await asyncio.gather(writing, *watchers, return_exceptions=True)
        await store.close()
        await own_watch.close()


async def test_kill_9_of_the_leader_under_write_load(cluster: EtcdCluster) -> None:
    await _under_load(cluster, "kill")


async def test_sigstop_then_sigcont_of_the_leader_under_write_load(cluster: EtcdCluster) -> None:
    await _under_load(cluster, "pause")
