"""An in-process API server on loopback (SQLite in a temp dir), and clients for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pinnace.apiserver.server import APIServer
from pinnace.client.rest import RestClient
from pinnace.storage.sqlite import SQLiteStore


@pytest.fixture
async def api_server(tmp_path: Path) -> AsyncIterator[APIServer]:
    """A started API server listening on a free loopback port."""
    store = await SQLiteStore.open(tmp_path / "store.db")
    server = APIServer(store)
    await server.listen("127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.stop()
        await store.close()


@pytest.fixture
async def client(api_server: APIServer) -> AsyncIterator[RestClient]:
    """Pinnace's own REST client, pointed at the server."""
    async with RestClient(api_server.url) as c:
        yield c
