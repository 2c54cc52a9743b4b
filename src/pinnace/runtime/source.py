"""Sources: where a controller's events come from.

- :class:`Kind` — a kind's shared informer from the cache, through a handler;
- :class:`InformerSource` — any informer the caller runs;
- :class:`Channel` — objects a program pushes itself (generic events, e.g. from
  an external system), each mapped through a handler.

A source is started with the controller's queue and says when it has synced;
a controller starts its workers only once all its sources have.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, Protocol

from pinnace.client.restmapper import KindRef
from pinnace.runtime.cache.cache import Cache
from pinnace.runtime.cache.informer import Informer
from pinnace.runtime.handler import Handler, bind
from pinnace.runtime.predicate import Predicate
from pinnace.runtime.reconcile import Request
from pinnace.runtime.workqueue import WorkQueue

__all__ = ["Channel", "InformerSource", "Kind", "Source"]

Obj = dict[str, Any]


class Source(Protocol):
    """Feeds a controller's queue."""

    async def start(self, queue: WorkQueue[Request]) -> None:
        """Begin enqueueing requests."""
        ...

    async def wait_for_sync(self, timeout: float | None) -> bool:
        """Whether the source has delivered its initial state (False on timeout)."""
        ...

    async def stop(self) -> None:
        """Stop enqueueing."""
        ...


class InformerSource:
    """Events of an informer (started by whoever owns it), through a handler and predicates."""

    def __init__(self, informer: Informer, handler: Handler, predicates: Sequence[Predicate] = ()) -> None:
        self.informer = informer
        self.handler = handler
        self.predicates = tuple(predicates)
        self._registration: Any = None

    async def start(self, queue: WorkQueue[Request]) -> None:
        """Register the handler on the informer."""
        self._registration = self.informer.add_event_handler(bind(queue, self.handler, self.predicates))

    async def wait_for_sync(self, timeout: float | None) -> bool:
        """The informer's sync."""
        return await self.informer.wait_for_sync(timeout)

    async def stop(self) -> None:
        """Unregister the handler."""
        if self._registration is not None:
            self.informer.remove_event_handler(self._registration)
            self._registration = None


class Kind:
    """A kind's shared informer from the cache."""

    def __init__(self, cache: Cache, kind: KindRef, handler: Handler, predicates: Sequence[Predicate] = ()) -> None:
        self.cache = cache
        self.kind = kind
        self.handler = handler
        self.predicates = tuple(predicates)
        self._inner: InformerSource | None = None

    async def start(self, queue: WorkQueue[Request]) -> None:
        """Get (and start) the kind's informer and register the handler."""
        informer = await self.cache.informer_for(self.kind, wait=False)
        self._inner = InformerSource(informer, self.handler, self.predicates)
        await self._inner.start(queue)

    async def wait_for_sync(self, timeout: float | None) -> bool:
        """The informer's sync."""
        return self._inner is not None and await self._inner.wait_for_sync(timeout)

    async def stop(self) -> None:
        """Unregister the handler."""
        if self._inner is not None:
            await self._inner.stop()


class Channel:
    """Objects pushed with :meth:`push`, mapped through a handler into requests."""

    def __init__(self, handler: Handler, predicates: Sequence[Predicate] = ()) -> None:
        self.handler = handler
        self.predicates = tuple(predicates)
        self._pending: asyncio.Queue[Obj] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def push(self, obj: Obj) -> None:
        """A generic event about ``obj``."""
        self._pending.put_nowait(obj)

    async def start(self, queue: WorkQueue[Request]) -> None:
        """Forward pushed objects to the queue until stopped."""

        async def forward() -> None:
            while True:
                obj = await self._pending.get()
                if all(p.generic(obj) for p in self.predicates):
                    for req in self.handler.requests(obj):
                        queue.add(req)

        self._task = asyncio.create_task(forward(), name="channel source")

    async def wait_for_sync(self, timeout: float | None) -> bool:
        """A channel has no initial state."""
        return True

    async def stop(self) -> None:
        """Stop forwarding."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
