"""Fixtures for the storage tests: one ``store`` per backend, same contract suite for all.

Adding a backend is one entry in ``BACKENDS``: a name and an async factory that
opens a fresh, empty store under a temporary directory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from pinnace.storage import SQLiteStore, Store


async def _open_sqlite(tmp_path: Path) -> Store:
    return await SQLiteStore.open(tmp_path / "store.db")


BACKENDS: dict[str, Callable[[Path], Awaitable[Store]]] = {
    "sqlite": _open_sqlite,
}


@pytest.fixture(params=sorted(BACKENDS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh, empty store of each backend; closed after the test."""
    opened = await BACKENDS[request.param](tmp_path)
    try:
        yield opened
    finally:
        await opened.close()
