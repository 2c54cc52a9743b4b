"""What the admission tests share: a TLS webhook server, and an in-process API server with chosen plugins."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.integration.admission.webhook_server import WebhookServer
from tests.integration.conftest import listening

from pinnace.apiserver.server import APIServer
from pinnace.client.rest import RestClient
from pinnace.storage.sqlite import SQLiteStore


@pytest.fixture
async def hooks(tmp_path: Path) -> AsyncIterator[WebhookServer]:
    """A webhook server whose certificate also names ``hooks.default.svc`` (for service references)."""
    server = WebhookServer(tmp_path, dns_names=("hooks.default.svc",))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def serving(directory: Path, plugins: tuple[str, ...]) -> AsyncIterator[RestClient]:
    """A client of an in-process API server (its store in ``directory``) running the admission ``plugins``."""
    store = await SQLiteStore.open(directory / "store.db")
    try:
        async with listening(APIServer(store, admission_plugins=plugins)) as c:
            yield c
    finally:
        await store.close()
