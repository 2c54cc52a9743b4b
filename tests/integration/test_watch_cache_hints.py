"""Watch caches take the objects the server just wrote instead of decoding them again — with the same result."""

from __future__ import annotations

import asyncio

import pytest

from pinnace.api import errors
from pinnace.apiserver.server import APIServer
from pinnace.apiserver.watch_cache import FLUSH_SLICE
from pinnace.client.rest import ResourceRef, RestClient

CONFIGMAPS = ResourceRef("", "v1", "configmaps")


async def test_watchers_and_cached_reads_see_what_was_written(api_server: APIServer, client: RestClient) -> None:
    seen: list[tuple[str, dict]] = []  # type: ignore[type-arg]
    listed = await client.list(CONFIGMAPS, "default")
    rv = listed["metadata"]["resourceVersion"]

    async def watch() -> None:
        async for event in client.watch(CONFIGMAPS, "default", resource_version=rv):
            seen.append((event.type, event.object))
            if len(seen) == 4:
                return

    watcher = asyncio.create_task(watch())
    created = await client.create(CONFIGMAPS, {"metadata": {"name": "a"}, "data": {"k": "v"}}, "default")
    updated = await client.update(CONFIGMAPS, {**created, "data": {"k": "w"}})
    stale = {**created, "data": {"k": "lost"}}  # the old resourceVersion: a conflict, nothing written
    with pytest.raises(errors.Conflict, match="modified"):
        await client.update(CONFIGMAPS, stale)
    other = await client.create(CONFIGMAPS, {"metadata": {"name": "b"}, "data": {"x": "1"}}, "default")
    await client.delete(CONFIGMAPS, "a", "default")
    await asyncio.wait_for(watcher, 10)

    assert [t for t, _ in seen] == ["ADDED", "MODIFIED", "ADDED", "DELETED"]
    assert seen[0][1] == created and seen[1][1] == updated and seen[2][1] == other
    assert seen[3][1]["data"] == {"k": "w"} and int(seen[3][1]["metadata"]["resourceVersion"]) > int(
        other["metadata"]["resourceVersion"]
    )
    # A cached read (resourceVersion=0) serves the same object as the write returned.
    assert await client.request("GET", CONFIGMAPS.path("default", "b"), params={"resourceVersion": "0"}) == other
    # Every hint was taken by the cache (or withdrawn with its failed write): none is left behind.
    assert api_server.rest.caches.hints._objects == {}


async def test_many_watchers_get_every_event_once_in_order_while_writes_land_during_their_flushes(
    client: RestClient,
) -> None:
    """More watchers than one flush slice writes, so a flush spans several loop iterations and creates can land
    between its slices (test_watch_cache.py forces that case): through the SDK's client, each watcher, a plain
    stream of its own, gets every ADDED once, in revision order."""
    watchers, creates = 3 * FLUSH_SLICE + 5, 150
    rv = (await client.list(CONFIGMAPS, "default"))["metadata"]["resourceVersion"]
    opened = 0
    all_open = asyncio.Event()

    def on_open() -> None:
        nonlocal opened
        opened += 1
        if opened == watchers:
            all_open.set()

    async def watch() -> list[tuple[int, str]]:
        seen: list[tuple[int, str]] = []
        async for event in client.watch(CONFIGMAPS, "default", resource_version=rv, on_open=on_open):
            if event.type == "ADDED":
                meta = event.object["metadata"]
                seen.append((int(meta["resourceVersion"]), meta["name"]))
                if len(seen) == creates:
                    break
        return seen

    streams = [asyncio.create_task(watch()) for _ in range(watchers)]
    await asyncio.wait_for(all_open.wait(), 30)
    names = iter(f"fan-{i}" for i in range(creates))

    async def create_some() -> None:
        for name in names:
            await client.create(CONFIGMAPS, {"metadata": {"name": name}}, "default")

    await asyncio.gather(*(create_some() for _ in range(10)))
    results = await asyncio.wait_for(asyncio.gather(*streams), 60)

    expected = sorted(results[0])
    assert sorted(name for _, name in expected) == sorted(f"fan-{i}" for i in range(creates))
    for seen in results:
        assert seen == expected  # every event once, in revision order, the same for every watcher
