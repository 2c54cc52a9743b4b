"""The shared informer: one reflector and one indexer per resource, fanned out to many handlers.

:meth:`Informer.run` starts the reflector and pops the delta FIFO: each delta
is applied to the indexer first, then given to every registered handler —
``on_add(obj, is_in_initial_list)``, ``on_update(old, new)`` and
``on_delete(obj)`` (where ``obj`` may be a
:class:`~pinnace.runtime.cache.delta_fifo.DeletedFinalStateUnknown`). A
periodic resync (``resync_period`` > 0) replays every object as an update with
``old is new``, so level-based controllers re-check their world.

A handler added after the informer started first gets ``on_add`` for every
object already known, so it misses nothing. Handlers run on the event loop and
must be quick (they normally just enqueue a key); one that raises is logged
with the object it failed on and does not stop the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pinnace.runtime.cache.delta_fifo import DeletedFinalStateUnknown, DeltaFIFO, DeltaType, FIFOClosed
from pinnace.runtime.cache.indexer import Indexer, IndexFunc, object_key
from pinnace.runtime.cache.reflector import ListerWatcher, Reflector
from pinnace.runtime.clock import Clock, RealClock

__all__ = ["EventHandler", "Informer"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]


@dataclass
class EventHandler:
    """Callbacks for the changes an informer sees; any may be left out."""

    on_add: Callable[[Obj, bool], None] | None = None
    on_update: Callable[[Obj, Obj], None] | None = None
    on_delete: Callable[[Obj | DeletedFinalStateUnknown], None] | None = None


class Informer:
    """Keeps an indexer in step with one resource and tells handlers about every change."""

    def __init__(
        self,
        lister_watcher: ListerWatcher,
        *,
        resync_period: float = 0.0,
        indexers: Mapping[str, IndexFunc] | None = None,
        clock: Clock | None = None,
        transform: Callable[[Obj], Obj] | None = None,
    ) -> None:
        self.clock: Clock = clock or RealClock()
        #: Applied to each object before it is stored and handed to handlers (client-go's TransformFunc).
        self.transform = transform
        self.indexer = Indexer(indexers)
        self.fifo = DeltaFIFO(self.indexer)
        self.reflector = Reflector(lister_watcher, self.fifo, clock=self.clock)
        self.resync_period = resync_period
        self._handlers: list[EventHandler] = []
        self._started = False
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def description(self) -> str:
        """What this informer watches, for logs and errors."""
        return self.reflector.description

    # ---- handlers ---------------------------------------------------------------
    def add_event_handler(self, handler: EventHandler) -> EventHandler:
        """Register ``handler``; if already running, replay the known objects to it as adds."""
        self._handlers.append(handler)
        if self._started and handler.on_add is not None:
            for obj in self.indexer.objects():
                self._call(handler.on_add, obj, False)
        return handler

    def remove_event_handler(self, handler: EventHandler) -> None:
        """Stop telling ``handler`` about changes."""
        with contextlib.suppress(ValueError):
            self._handlers.remove(handler)

    # ---- running ----------------------------------------------------------------
    async def run(self) -> None:
        """Reflect and dispatch until cancelled."""
        if self._started:
            raise RuntimeError(f"informer for {self.description} is already running")
        self._started = True
        self._tasks = [asyncio.create_task(self.reflector.run(), name=f"reflector {self.description}")]
        if self.resync_period > 0:
            self._tasks.append(asyncio.create_task(self._resync_loop(), name=f"resync {self.description}"))
        try:
            await self._process_loop()
        finally:
            self.fifo.close()
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    @property
    def has_synced(self) -> bool:
        """Whether the first full list has reached the indexer and the handlers."""
        return self.fifo.synced.is_set()

    @property
    def healthy(self) -> bool:
        """Synced, and its list/watch working (False while a broken watch is being re-established)."""
        return self.has_synced and self.reflector.healthy

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        """Wait until synced; False if ``timeout`` seconds passed first.

        (``asyncio.timeout``, not ``wait_for``: on Python 3.11 ``wait_for`` loses a cancellation that arrives as
        the sync completes, and a controller stopped while it starts would then never stop.)"""
        try:
            async with asyncio.timeout(timeout):
                await self.fifo.synced.wait()
        except TimeoutError:
            return False
        return True

    async def _resync_loop(self) -> None:
        while True:
            await self.clock.sleep(self.resync_period)
            self.fifo.resync()

    async def _process_loop(self) -> None:
        while True:
            try:
                _, deltas = await self.fifo.pop()
            except FIFOClosed:
                return
            for delta in deltas:
                self._apply(delta.type, delta.object)
            self.fifo.processed()

    def _apply(self, kind: DeltaType, obj: Obj | DeletedFinalStateUnknown) -> None:
        if kind is DeltaType.DELETED:
            key = obj.key if isinstance(obj, DeletedFinalStateUnknown) else object_key(obj)
            self.indexer.delete_key(key)
            for h in list(self._handlers):
                if h.on_delete is not None:
                    self._call(h.on_delete, obj)
            return
        assert isinstance(obj, dict)
        if self.transform is not None:
            obj = self.transform(obj)
        old = self.indexer.get_by_object(obj)
        self.indexer.update(obj)
        if old is None:
            initial = kind is DeltaType.REPLACED and not self.fifo.synced.is_set()
            for h in list(self._handlers):
                if h.on_add is not None:
                    self._call(h.on_add, obj, initial)
            return
        if kind is DeltaType.SYNC:
            old = obj
        for h in list(self._handlers):
            if h.on_update is not None:
                self._call(h.on_update, old, obj)

    def _call(self, func: Callable[..., None], *args: Any) -> None:
        started = time.perf_counter()
        try:
            func(*args)
        except Exception:
            subject = args[-1]
            key = subject.key if isinstance(subject, DeletedFinalStateUnknown) else object_key(subject)
            log.exception("%s: event handler %r failed on %s", self.description, func, key)
        elapsed = time.perf_counter() - started
        if elapsed > 0.1:
            log.warning("%s: event handler %r took %.3fs; handlers must not block", self.description, func, elapsed)
