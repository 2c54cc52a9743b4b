"""The reflector's loop against a scripted lister-watcher: paging, 410 relist, backoff on a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from pinnace.api import errors
from pinnace.client.rest import WatchEvent
from pinnace.runtime.cache.delta_fifo import DeltaFIFO
from pinnace.runtime.cache.reflector import Reflector
from pinnace.runtime.clock import FakeClock, settle

Obj = dict[str, Any]


def cm(name: str, rv: int) -> Obj:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv)}}


class Scripted:
    """Answers lists from ``pages`` and watches from ``watches`` (an exception is raised)."""

    description = "configmaps.core/v1 (scripted)"

    def __init__(self, pages: list[Obj | Exception], watches: list[list[WatchEvent] | Exception]) -> None:
        self.pages = pages
        self.watches = watches
        self.list_calls: list[dict[str, str]] = []
        self.watch_calls: list[str] = []
        self.idle = asyncio.Event()

    async def list(self, params: dict[str, str]) -> Obj:
        self.list_calls.append(params)
        page = self.pages.pop(0)
        if isinstance(page, Exception):
            raise page
        return page

    async def watch(self, resource_version: str, timeout_seconds: int, **_: Any) -> AsyncIterator[WatchEvent]:
        self.watch_calls.append(resource_version)
        if not self.watches:
            self.idle.set()
            await asyncio.Event().wait()  # hang like an idle stream
        script = self.watches.pop(0)
        if isinstance(script, Exception):
            raise script
        for ev in script:
            yield ev


async def run_until_idle(reflector: Reflector, lw: Scripted, clock: FakeClock | None = None) -> None:
    task = asyncio.create_task(reflector.run())
    for _ in range(50):
        await settle()
        if lw.idle.is_set():
            break
        if clock is not None:
            await clock.advance(60)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert lw.idle.is_set(), "the reflector did not reach a steady watch"


async def test_lists_in_pages_then_watches_from_the_list_version() -> None:
    lw = Scripted(
        pages=[
            {"metadata": {"continue": "t1", "resourceVersion": "10"}, "items": [cm("a", 3)]},
            {"metadata": {"resourceVersion": "10"}, "items": [cm("b", 4)]},
        ],
        watches=[[WatchEvent("ADDED", cm("c", 11)), WatchEvent("BOOKMARK", {"metadata": {"resourceVersion": "15"}})]],
    )
    fifo = DeltaFIFO()
    reflector = Reflector(lw, fifo, page_size=1)
    await run_until_idle(reflector, lw)
    assert lw.list_calls == [{"limit": "1"}, {"limit": "1", "continue": "t1"}]
    assert lw.watch_calls == ["10", "15"]  # rewatched from the bookmark's version
    assert fifo.list_keys() == ["ns/a", "ns/b", "ns/c"]


async def test_410_on_watch_relists() -> None:
    gone = errors.Gone("too old resource version: 10 (12)")
    lw = Scripted(
        pages=[
            {"metadata": {"resourceVersion": "10"}, "items": []},
            {"metadata": {"resourceVersion": "20"}, "items": []},
        ],
        watches=[gone],
    )
    reflector = Reflector(lw, DeltaFIFO())
    await run_until_idle(reflector, lw)
    assert len(lw.list_calls) == 2 and reflector.lists == 2
    assert lw.watch_calls == ["10", "20"]


async def test_expired_continue_token_restarts_the_list_in_one_request() -> None:
    lw = Scripted(
        pages=[
            {"metadata": {"continue": "t1", "resourceVersion": "10"}, "items": [cm("a", 3)]},
            errors.Gone("The provided continue parameter is too old"),
            {"metadata": {"resourceVersion": "12"}, "items": [cm("a", 3), cm("b", 12)]},
        ],
        watches=[],
    )
    fifo = DeltaFIFO()
    reflector = Reflector(lw, fifo, page_size=1)
    await run_until_idle(reflector, lw)
    assert lw.list_calls[-1] == {}
    assert sorted(fifo.list_keys()) == ["ns/a", "ns/b"]
    assert lw.watch_calls == ["12"]


async def test_errors_back_off_exponentially_on_the_clock() -> None:
    clock = FakeClock()
    failures: list[Obj | Exception] = [ConnectionRefusedError("no server")] * 3
    lw = Scripted(pages=[*failures, {"metadata": {"resourceVersion": "5"}, "items": []}], watches=[])
    reflector = Reflector(lw, DeltaFIFO(), clock=clock, initial_backoff=1.0, max_backoff=3.0)
    task = asyncio.create_task(reflector.run())
    await settle()
    assert len(lw.list_calls) == 1 and isinstance(reflector.last_error, ConnectionRefusedError)
    await clock.advance(0.99)
    assert len(lw.list_calls) == 1
    await clock.advance(0.02)  # 1 s backoff
    assert len(lw.list_calls) == 2
    await clock.advance(2.0)  # 2 s
    assert len(lw.list_calls) == 3
    await clock.advance(3.0)  # capped at 3 s
    assert len(lw.list_calls) == 4
    await settle()
    assert lw.watch_calls == ["5"]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
