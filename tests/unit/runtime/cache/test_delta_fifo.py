"""The delta FIFO: per-key accumulation, relist deletions, resync, initial sync."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pinnace.runtime.cache.delta_fifo import DeletedFinalStateUnknown, DeltaFIFO, DeltaType, FIFOClosed
from pinnace.runtime.cache.indexer import Indexer


def cm(name: str, value: str = "") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}, "data": {"v": value}}


async def test_deltas_for_one_key_accumulate_in_order_and_the_key_is_queued_once() -> None:
    fifo = DeltaFIFO()
    fifo.add(cm("a", "1"))
    fifo.add(cm("b"))
    fifo.update(cm("a", "2"))
    fifo.delete(cm("a", "2"))
    assert fifo.list_keys() == ["ns/a", "ns/b"]
    key, deltas = await fifo.pop()
    assert key == "ns/a"
    assert [d.type for d in deltas] == [DeltaType.ADDED, DeltaType.UPDATED, DeltaType.DELETED]
    key, deltas = await fifo.pop()
    assert key == "ns/b" and len(fifo) == 0


async def test_a_delete_of_an_unknown_object_is_dropped() -> None:
    fifo = DeltaFIFO(Indexer())
    fifo.delete(cm("ghost"))
    assert len(fifo) == 0


async def test_replace_queues_deletions_for_known_objects_missing_from_the_list() -> None:
    known = Indexer()
    known.add(cm("stays"))
    known.add(cm("gone", "last"))
    fifo = DeltaFIFO(known)
    fifo.replace([cm("stays", "new"), cm("fresh")])
    popped = dict([await fifo.pop() for _ in range(3)])
    assert [d.type for d in popped["ns/stays"]] == [DeltaType.REPLACED]
    assert [d.type for d in popped["ns/fresh"]] == [DeltaType.REPLACED]
    (deletion,) = popped["ns/gone"]
    assert deletion.type is DeltaType.DELETED
    assert isinstance(deletion.object, DeletedFinalStateUnknown)
    assert deletion.object.obj["data"]["v"] == "last"


async def test_has_synced_once_the_first_list_was_popped() -> None:
    fifo = DeltaFIFO(Indexer())
    assert not fifo.has_synced
    fifo.replace([cm("a"), cm("b")])
    assert not fifo.has_synced
    await fifo.pop()
    assert not fifo.has_synced
    fifo.add(cm("c"))  # later events don't hold sync back
    await fifo.pop()
    assert fifo.has_synced


async def test_an_empty_first_list_is_synced_at_once() -> None:
    fifo = DeltaFIFO(Indexer())
    fifo.replace([])
    assert fifo.has_synced and fifo.synced.is_set()


async def test_synced_is_signalled_only_after_the_consumer_processed_the_first_list() -> None:
    fifo = DeltaFIFO(Indexer())
    fifo.replace([cm("a")])
    await fifo.pop()
    assert fifo.has_synced and not fifo.synced.is_set()
    fifo.processed()
    assert fifo.synced.is_set()


async def test_two_deletions_collapse_keeping_the_real_final_state() -> None:
    known = Indexer()
    known.add(cm("a", "old"))
    fifo = DeltaFIFO(known)
    fifo.delete(cm("a", "final"))
    fifo.replace([])  # a relist that also misses it: no second deletion
    _, deltas = await fifo.pop()
    assert [d.type for d in deltas] == [DeltaType.DELETED]
    assert deltas[0].object == cm("a", "final")


async def test_resync_queues_sync_for_known_objects_without_pending_deltas() -> None:
    known = Indexer()
    known.add(cm("a"))
    known.add(cm("b"))
    fifo = DeltaFIFO(known)
    fifo.update(cm("a", "2"))
    fifo.resync()
    popped = dict([await fifo.pop() for _ in range(2)])
    assert [d.type for d in popped["ns/a"]] == [DeltaType.UPDATED]
    assert [d.type for d in popped["ns/b"]] == [DeltaType.SYNC]


async def test_requeue_puts_failed_deltas_back_first() -> None:
    fifo = DeltaFIFO()
    fifo.add(cm("a", "1"))
    key, deltas = await fifo.pop()
    fifo.update(cm("a", "2"))
    fifo.requeue(key, deltas)
    _, again = await fifo.pop()
    assert [d.type for d in again] == [DeltaType.ADDED, DeltaType.UPDATED]


async def test_close_wakes_a_waiting_pop() -> None:
    fifo = DeltaFIFO()
    waiter = asyncio.create_task(fifo.pop())
    await asyncio.sleep(0)
    fifo.close()
    with pytest.raises(FIFOClosed):
        await waiter
