"""Waiting for an informer's sync gives way to a cancellation, even one that arrives as the sync completes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pinnace.runtime.cache.informer import Informer


async def test_a_cancellation_arriving_with_the_sync_is_not_lost() -> None:
    informer = Informer(lister_watcher=Any)  # never started: the test sets its sync by hand
    for turns in range(4):  # cancel at each point of the sync's completion, including the racy one
        informer.fifo.synced.clear()
        waiter = asyncio.create_task(informer.wait_for_sync(5.0))
        await asyncio.sleep(0)  # the waiter is waiting now
        informer.fifo.synced.set()
        for _ in range(turns):
            await asyncio.sleep(0)
        if waiter.done():
            continue
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter


async def test_a_timeout_says_not_synced() -> None:
    informer = Informer(lister_watcher=Any)
    assert await informer.wait_for_sync(0.01) is False
    informer.fifo.synced.set()
    assert await informer.wait_for_sync(0.01) is True
