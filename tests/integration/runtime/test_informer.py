"""The informer against a real in-process API server: sync, events, relist after 410 loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from pinnace.apiserver.server import APIServer
from pinnace.client.rest import ResourceRef, RestClient, WatchEvent
from pinnace.runtime.cache.delta_fifo import DeletedFinalStateUnknown
from pinnace.runtime.cache.informer import EventHandler, Informer
from pinnace.runtime.cache.reflector import RestListerWatcher

CONFIGMAPS = ResourceRef("", "v1", "configmaps")
Obj = dict[str, Any]


def cm(name: str, value: str = "0", **labels: str) -> Obj:
    return {"metadata": {"name": name, "labels": labels}, "data": {"v": value}}


class Recorder:
    """An event handler that records what it is told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any]] = []
        self.handler = EventHandler(on_add=self.added, on_update=self.updated, on_delete=self.deleted)

    def added(self, obj: Obj, initial: bool) -> None:
        self.events.append(("add", obj["metadata"]["name"], initial))

    def updated(self, old: Obj, new: Obj) -> None:
        self.events.append(("update", new["metadata"]["name"], new["data"]["v"]))

    def deleted(self, obj: Obj | DeletedFinalStateUnknown) -> None:
        name = obj.obj["metadata"]["name"] if isinstance(obj, DeletedFinalStateUnknown) else obj["metadata"]["name"]
        self.events.append(("delete", name, isinstance(obj, DeletedFinalStateUnknown)))


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(informer: Informer) -> AsyncIterator[Informer]:
    task = asyncio.create_task(informer.run())
    try:
        assert await informer.wait_for_sync(5), "informer did not sync"
        yield informer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_informer_syncs_then_follows_changes(client: RestClient) -> None:
    for i in range(3):
        await client.create(CONFIGMAPS, cm(f"pre-{i}"), namespace="default")
    rec = Recorder()
    informer = Informer(RestListerWatcher(client, CONFIGMAPS, namespace="default"))
    informer.add_event_handler(rec.handler)
    async with running(informer):
        assert sorted(informer.indexer.list_keys()) == ["default/pre-0", "default/pre-1", "default/pre-2"]
        assert all(e[0] == "add" and e[2] is True for e in rec.events)
        await client.create(CONFIGMAPS, cm("new"), namespace="default")
        await client.patch(CONFIGMAPS, "pre-0", {"data": {"v": "1"}}, namespace="default")
        await client.delete(CONFIGMAPS, "pre-1", namespace="default")
        await eventually(lambda: len(rec.events) == 6)
        assert rec.events[3:] == [("add", "new", False), ("update", "pre-0", "1"), ("delete", "pre-1", False)]
        assert informer.indexer.get("default/pre-0")["data"]["v"] == "1"  # type: ignore[index]
        # A handler added late is told about what is already there.
        late = Recorder()
        informer.add_event_handler(late.handler)
        assert sorted(e[1] for e in late.events) == ["new", "pre-0", "pre-2"]


async def test_label_selector_scopes_the_informer(client: RestClient) -> None:
    await client.create(CONFIGMAPS, cm("mine", app="x"), namespace="default")
    await client.create(CONFIGMAPS, cm("other", app="y"), namespace="default")
    informer = Informer(RestListerWatcher(client, CONFIGMAPS, label_selector="app=x"))
    async with running(informer):
        assert informer.indexer.list_keys() == ["default/mine"]
        await client.patch(CONFIGMAPS, "other", {"metadata": {"labels": {"app": "x"}}}, namespace="default")
        await eventually(lambda: "default/other" in informer.indexer)


class CuttableWatch(RestListerWatcher):
    """A lister-watcher whose watch the test can cut, and hold down until told to resume."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cut = asyncio.Event()
        self.resume = asyncio.Event()
        self.watches = 0

    async def watch(  # type: ignore[override]
        self, resource_version: str, timeout_seconds: int, **options: Any
    ) -> AsyncIterator[WatchEvent]:
        self.watches += 1
        if self.watches > 1:
            await self.resume.wait()
        stream = super().watch(resource_version, timeout_seconds, **options)
        events: asyncio.Queue[WatchEvent | Exception | None] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for ev in stream:
                    await events.put(ev)
            except Exception as exc:  # handed to the reflector, as the real stream would raise it
                await events.put(exc)
            await events.put(None)

        pumper = asyncio.create_task(pump())
        cutter = asyncio.create_task(self.cut.wait())
        try:
            while True:
                getter = asyncio.create_task(events.get())
                done, _ = await asyncio.wait({getter, cutter}, return_when=asyncio.FIRST_COMPLETED)
                if cutter in done:
                    getter.cancel()
                    self.cut.clear()
                    return
                ev = getter.result()
                if ev is None:
                    return
                if isinstance(ev, Exception):
                    raise ev
                yield ev
        finally:
            cutter.cancel()
            pumper.cancel()


async def test_relist_after_410_loses_no_object(api_server: APIServer, client: RestClient) -> None:
    for i in range(5):
        await client.create(CONFIGMAPS, cm(f"cm-{i}"), namespace="default")
    lw = CuttableWatch(client, CONFIGMAPS, namespace="default")
    informer = Informer(lw)
    informer.reflector.page_size = 2  # small pages exercise continue tokens
    rec = Recorder()
    informer.add_event_handler(rec.handler)
    async with running(informer):
        assert len(informer.indexer) == 5
        lw.cut.set()  # the watch drops; meanwhile the world changes and history is compacted
        await eventually(lambda: lw.watches == 2)
        # The server's watch cache keeps a window of recent events; make it short, so that
        # the informer's resourceVersion falls out of it and the server answers 410.
        info = api_server.registry.get("", "v1", "configmaps")
        assert info is not None
        (await api_server.rest.caches.get(info)).window_size = 2
        await client.delete(CONFIGMAPS, "cm-0", namespace="default")
        await client.patch(CONFIGMAPS, "cm-1", {"data": {"v": "changed"}}, namespace="default")
        created = await client.create(CONFIGMAPS, cm("born-while-away"), namespace="default")
        await api_server.store.compact(int(created["metadata"]["resourceVersion"]))
        lw.resume.set()
        await eventually(lambda: informer.reflector.lists == 2)
        server_view = await client.list(CONFIGMAPS, namespace="default")
        await eventually(lambda: len(informer.indexer) == len(server_view["items"]))
        for obj in server_view["items"]:
            local = informer.indexer.get_by_object(obj)
            assert local is not None and local["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]
        assert "default/cm-0" not in informer.indexer
        assert ("delete", "cm-0", True) in rec.events  # told, with its last known state
        assert ("add", "born-while-away", False) in rec.events
        assert ("update", "cm-1", "changed") in rec.events
        # And it keeps following changes after the relist.
        await client.create(CONFIGMAPS, cm("after"), namespace="default")
        await eventually(lambda: "default/after" in informer.indexer)


async def test_resync_replays_objects_as_updates(client: RestClient) -> None:
    from pinnace.runtime.clock import FakeClock

    await client.create(CONFIGMAPS, cm("a"), namespace="default")
    clock = FakeClock()
    informer = Informer(RestListerWatcher(client, CONFIGMAPS, namespace="default"), resync_period=30, clock=clock)
    rec = Recorder()
    informer.add_event_handler(rec.handler)
    async with running(informer):
        await eventually(lambda: clock.sleepers >= 1)
        await clock.advance(30)
        await eventually(lambda: ("update", "a", "0") in rec.events)


@pytest.mark.parametrize("page_size", [0, 1])
async def test_paged_and_unpaged_lists_agree(client: RestClient, page_size: int) -> None:
    for i in range(4):
        await client.create(CONFIGMAPS, cm(f"p-{i}"), namespace="default")
    informer = Informer(RestListerWatcher(client, CONFIGMAPS, namespace="default"))
    informer.reflector.page_size = page_size
    async with running(informer):
        assert sorted(informer.indexer.list_keys()) == [f"default/p-{i}" for i in range(4)]
