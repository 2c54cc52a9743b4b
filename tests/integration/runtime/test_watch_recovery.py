"""A broken watch never goes quiet: it is logged, the manager reports unready, and it comes back."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pinnace.apiserver.server import APIServer
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.runtime.cache.informer import Informer
from pinnace.runtime.cache.reflector import RestListerWatcher
from pinnace.runtime.manager import Manager, ManagerOptions
from pinnace.storage.sqlite import SQLiteStore

CONFIGMAPS = ResourceRef("", "v1", "configmaps")


async def until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def readyz(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url + "/readyz?verbose") as resp:
        return resp.status, await resp.text()


async def test_server_restart_is_logged_reported_unready_and_recovered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = await SQLiteStore.open(tmp_path / "store.db")
    server = APIServer(store)
    await server.listen("127.0.0.1", 0)
    port = server.port
    rest = RestClient(server.url)
    manager = Manager(rest, ManagerOptions(health_probe_bind_address="127.0.0.1:0"))
    task = asyncio.create_task(manager.run())
    try:
        informer = await manager.cache.informer_for("v1/ConfigMap")
        informer.reflector.initial_backoff = 0.05
        await until(lambda: "probes" in manager.bound)
        host, probe_port = manager.bound["probes"]
        probe = f"http://{host}:{probe_port}"
        assert (await readyz(probe))[0] == 200

        caplog.set_level(logging.INFO, logger="pinnace.runtime.cache.reflector")
        await server.stop()  # the API server goes away: every watch breaks
        await until(lambda: not informer.reflector.healthy)
        status, text = await readyz(probe)
        assert status == 500 and "watch broken" in text and "ConfigMap" in text
        assert any(r.levelno == logging.WARNING and "list/watch failed" in r.getMessage() for r in caplog.records), (
            "the broken watch must be logged"
        )

        server = APIServer(store)  # back, on the same port and data
        await server.listen("127.0.0.1", port)
        await rest.create(CONFIGMAPS, {"metadata": {"name": "after-restart"}}, "default")
        await until(lambda: "default/after-restart" in informer.indexer, timeout=15)
        await until(lambda: informer.reflector.healthy)
        assert (await readyz(probe))[0] == 200
        assert any("re-established" in r.getMessage() for r in caplog.records)
    finally:
        manager.stop()
        await asyncio.wait_for(task, 10)
        await rest.close()
        await server.stop()
        await store.close()


async def test_a_silent_dead_connection_is_noticed_by_the_idle_timeout(
    client: RestClient, api_server: APIServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A watch that receives nothing (not even bookmarks) for the idle timeout is treated as dead and redone."""
    informer = Informer(RestListerWatcher(client, CONFIGMAPS, namespace="default"))
    informer.reflector.watch_idle_timeout = 0.3  # far below the server's bookmark interval: it must time out
    informer.reflector.initial_backoff = 0.01
    errors_seen: list[BaseException] = []
    task = asyncio.create_task(informer.run())
    try:
        assert await informer.wait_for_sync(5)

        def timed_out() -> bool:
            if informer.reflector.last_error is not None:
                errors_seen.append(informer.reflector.last_error)
            return any(isinstance(e, TimeoutError) for e in errors_seen)

        await until(timed_out)
        assert any("list/watch failed" in r.getMessage() for r in caplog.records)
        # It keeps working: a change made now is still seen.
        await client.create(CONFIGMAPS, {"metadata": {"name": "still-seen"}}, "default")
        await until(lambda: "default/still-seen" in informer.indexer)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
