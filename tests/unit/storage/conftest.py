"""Fixtures for the storage tests: one ``store`` per backend, same contract suite for all.

Adding a backend is one entry in ``BACKENDS``: a name and an async factory that
opens a fresh, empty store under a temporary directory (and pushes the teardown
of anything it started, such as an etcd server, onto the given exit stack).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from tests.unit.storage.etcd_server import EtcdServer

from pinnace.storage import SQLiteStore, Store
from pinnace.storage.etcd import EtcdStore


async def _open_sqlite(tmp_path: Path, cleanup: contextlib.AsyncExitStack) -> Store:
    return await SQLiteStore.open(tmp_path / "store.db")


async def _open_sqlite_writer_process(tmp_path: Path, cleanup: contextlib.AsyncExitStack) -> Store:
    """SQLite with its writer in a process of its own (as ``pinnace up`` opens it)."""
    return await SQLiteStore.open(tmp_path / "store.db", writer_process=True)


async def _open_etcd(tmp_path: Path, cleanup: contextlib.AsyncExitStack) -> Store:
    """A fresh single-member etcd (the contract starts from an empty store), killed after the test."""
    server = EtcdServer(tmp_path / "etcd")
    cleanup.push_async_callback(server.stop)
    await server.start()
    return await EtcdStore.open([server.endpoint])


BACKENDS: dict[str, Callable[[Path, contextlib.AsyncExitStack], Awaitable[Store]]] = {
    "sqlite": _open_sqlite,
    "sqlite-writer-process": _open_sqlite_writer_process,
    "etcd": _open_etcd,
}


@pytest.fixture(params=sorted(BACKENDS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh, empty store of each backend; closed (and its server stopped) after the test."""
    async with contextlib.AsyncExitStack() as cleanup:
        opened = await BACKENDS[request.param](tmp_path, cleanup)
        try:
            yield opened
        finally:
            await opened.close()
