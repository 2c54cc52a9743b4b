"""A whole cluster in one process: SQLite store, API server, compactor, controllers.

This is what ``pinnace up`` runs. The controllers reach the API server over
HTTP on loopback exactly as they would reach a remote one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

from pinnace.apiserver.server import APIServer
from pinnace.client.rest import RestClient
from pinnace.controllers import DEFAULT_CONTROLLERS, add_controllers
from pinnace.runtime.manager import Manager, ManagerOptions
from pinnace.storage.compactor import Compactor
from pinnace.storage.sqlite import SQLiteStore

log = logging.getLogger(__name__)

STORE_FILE = "store.db"


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """How to run a local cluster."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 6443
    compaction_interval: float = 300.0
    controllers: tuple[str, ...] = DEFAULT_CONTROLLERS


class LocalCluster:
    """Starts and stops every part of a local cluster, in order."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.store: SQLiteStore | None = None
        self.server: APIServer | None = None
        self.compactor: Compactor | None = None
        self.client: RestClient | None = None
        self.manager: Manager | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Open the store, serve the API, and start the controllers."""
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = await SQLiteStore.open(self.config.data_dir / STORE_FILE)
        self.server = APIServer(self.store)
        await self.server.listen(self.config.host, self.config.port)
        self.compactor = Compactor(self.store, interval=self.config.compaction_interval)
        self.compactor.start()
        self.client = RestClient(self.server.url)
        if self.config.controllers:
            # The controller manager: the built-in controllers on the runtime SDK, over HTTP like any client.
            self.manager = Manager(self.client, ManagerOptions())
            await add_controllers(self.manager, self.config.controllers)
            self._tasks.append(asyncio.create_task(self.manager.run(), name="controller-manager"))

    @property
    def url(self) -> str:
        """The API server's URL."""
        assert self.server is not None
        return self.server.url

    async def stop(self) -> None:
        """Stop controllers, then the server, then the store (flushing it)."""
        if self.manager is not None:
            self.manager.stop()
            await asyncio.wait(self._tasks, timeout=10)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.client is not None:
            await self.client.close()
        if self.compactor is not None:
            await self.compactor.stop()
        if self.server is not None:
            await self.server.stop()
        if self.store is not None:
            await self.store.close()
