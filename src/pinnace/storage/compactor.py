"""Periodic compaction of a Store, as kube-apiserver does for etcd.

Every ``interval`` (5 minutes by default) the compactor compacts the store to
the revision it saw at the *previous* tick, then remembers the current
revision for the next one. So history is never trimmed closer than one interval
to the present: a watcher or a paginated list that is less than one interval
behind never sees ``Compacted``.

Time is injected (``sleep``), so tests drive ticks without a real clock.
Failures are logged with their traceback and the loop keeps going; a
compaction that fails is retried implicitly at the next tick.

Unlike kube-apiserver this does not coordinate several API servers through a
shared ``compact_rev_key``: with the embedded SQLite store there is one server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from pinnace.storage.interface import Store

__all__ = ["DEFAULT_INTERVAL", "Compactor"]

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 300.0
"""Seconds between compactions (kube-apiserver's ``--etcd-compaction-interval`` default)."""


class Compactor:
    """Compacts ``store`` every ``interval`` seconds to the revision seen one tick earlier."""

    def __init__(
        self,
        store: Store,
        interval: float = DEFAULT_INTERVAL,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"compaction interval must be positive, got {interval}")
        self._store = store
        self._interval = interval
        self._sleep = sleep
        self._seen: int | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the periodic task is running."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the periodic task on the running event loop (no-op if already running)."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="pinnace-compactor")

    async def stop(self) -> None:
        """Stop the periodic task and wait for it to end; idempotent."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if not task.cancelled():  # our caller was cancelled, not just the task
                raise

    async def tick(self) -> int | None:
        """One round: compact to the revision seen last round; return it, or None if nothing to do.

        Raises what the store raises; the periodic loop logs it and goes on.
        """
        target, self._seen = self._seen, await self._store.current_revision()
        if target is None or target <= await self._store.compacted_revision():
            return None
        await self._store.compact(target)
        return target

    async def _run(self) -> None:
        while True:
            await self._sleep(self._interval)
            try:
                revision = await self.tick()
            except Exception:
                log.exception("storage compaction failed; will retry in %.0f s", self._interval)
            else:
                if revision is not None:
                    log.info("storage compacted to revision %d", revision)
