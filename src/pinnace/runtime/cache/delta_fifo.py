"""The delta FIFO: what happened to each object since the informer last looked.

The reflector feeds it (``add``/``update``/``delete`` from watch events,
``replace`` from a full list, ``resync`` on the resync period); the informer
pops one key at a time, with every change queued for that key in order, and
applies them to the indexer and its handlers. A key is queued once however
many deltas pile up behind it, so a slow consumer sees the latest state
without processing each stale one on its own.

After a relist (``replace``), keys the informer knows (``known_objects``, its
indexer) that the new list lacks get a ``Deleted`` delta carrying a
:class:`DeletedFinalStateUnknown`: the object was deleted while the watch was
down and its last state is only what was last seen.

``has_synced`` turns true once everything from the first ``replace`` has been
popped and processed (the consumer says so with :meth:`DeltaFIFO.processed`),
or at once if that list was empty; :attr:`DeltaFIFO.synced` is the same as an
event to wait on.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from pinnace.runtime.cache.indexer import object_key

__all__ = ["DeletedFinalStateUnknown", "Delta", "DeltaFIFO", "DeltaType", "FIFOClosed", "KnownObjects"]

Obj = dict[str, Any]


class DeltaType(enum.Enum):
    """What happened to an object."""

    ADDED = "Added"
    UPDATED = "Updated"
    DELETED = "Deleted"
    REPLACED = "Replaced"
    SYNC = "Sync"


@dataclass(frozen=True, slots=True)
class DeletedFinalStateUnknown:
    """An object deleted while nobody watched: ``obj`` is its last known state."""

    key: str
    obj: Obj


@dataclass(frozen=True, slots=True)
class Delta:
    """One change: its type and the object after it (or its last state, for deletions)."""

    type: DeltaType
    object: Obj | DeletedFinalStateUnknown


class KnownObjects(Protocol):
    """What the FIFO needs of the informer's store (the indexer has it)."""

    def list_keys(self) -> list[str]:
        """Every key the consumer holds."""
        ...

    def get(self, key: str) -> Obj | None:
        """The consumer's object under ``key``."""
        ...


class FIFOClosed(Exception):
    """The FIFO was closed: nothing more will be popped."""


class DeltaFIFO:
    """Queued deltas per key, popped one key at a time in first-queued order."""

    def __init__(self, known_objects: KnownObjects | None = None) -> None:
        self._known = known_objects
        self._items: dict[str, list[Delta]] = {}
        self._queue: deque[str] = deque()
        self._nonempty = asyncio.Event()
        self._populated = False
        self._initial_population_count = 0
        self._closed = False
        #: Set once the first full list has been popped and processed.
        self.synced = asyncio.Event()

    # ---- producers --------------------------------------------------------------
    def add(self, obj: Obj) -> None:
        """The object was added."""
        self._populated = True
        self._queue_delta(DeltaType.ADDED, obj)

    def update(self, obj: Obj) -> None:
        """The object changed."""
        self._populated = True
        self._queue_delta(DeltaType.UPDATED, obj)

    def delete(self, obj: Obj) -> None:
        """The object was deleted (ignored if neither queued nor known)."""
        key = object_key(obj)
        if key not in self._items and (self._known is None or self._known.get(key) is None):
            self._populated = True
            return
        self._populated = True
        self._queue_delta(DeltaType.DELETED, obj)

    def replace(self, objs: Iterable[Obj]) -> None:
        """A full list arrived: queue each object, and a deletion for every key it no longer has."""
        first = not self._populated
        self._populated = True
        fresh: set[str] = set()
        for obj in objs:
            fresh.add(object_key(obj))
            self._queue_delta(DeltaType.REPLACED, obj)
        candidates = set(self._items)
        if self._known is not None:
            candidates.update(self._known.list_keys())
        for key in sorted(candidates - fresh):
            queued = self._items.get(key)
            if queued and queued[-1].type is DeltaType.DELETED:
                continue
            last: Obj | None = None
            if queued:
                latest = queued[-1].object
                last = latest.obj if isinstance(latest, DeletedFinalStateUnknown) else latest
            elif self._known is not None:
                last = self._known.get(key)
            if last is None:
                continue
            self._queue_delta(DeltaType.DELETED, DeletedFinalStateUnknown(key, last), key=key)
        if first:
            self._initial_population_count = len(self._queue)
            if self._initial_population_count == 0:
                self.synced.set()

    def resync(self) -> None:
        """Queue a Sync for every known object that has nothing queued (periodic resync)."""
        if self._known is None:
            return
        for key in self._known.list_keys():
            if key in self._items:
                continue
            obj = self._known.get(key)
            if obj is not None:
                self._queue_delta(DeltaType.SYNC, obj, key=key)

    def _queue_delta(self, kind: DeltaType, obj: Obj | DeletedFinalStateUnknown, *, key: str | None = None) -> None:
        if self._closed:
            return
        if key is None:
            key = object_key(obj) if isinstance(obj, dict) else obj.key
        deltas = self._items.get(key)
        if deltas is None:
            deltas = self._items[key] = []
            self._queue.append(key)
        deltas.append(Delta(kind, obj))
        _dedup_deletions(deltas)
        self._nonempty.set()

    # ---- consumer ---------------------------------------------------------------
    async def pop(self) -> tuple[str, list[Delta]]:
        """The next key and all its queued deltas, oldest first; raises FIFOClosed."""
        while not self._queue:
            if self._closed:
                raise FIFOClosed()
            self._nonempty.clear()
            await self._nonempty.wait()
        key = self._queue.popleft()
        deltas = self._items.pop(key)
        if self._initial_population_count > 0:
            self._initial_population_count -= 1
        return key, deltas

    def processed(self) -> None:
        """The consumer finished what it popped; the FIFO may now count as synced."""
        if self.has_synced:
            self.synced.set()

    def requeue(self, key: str, deltas: list[Delta]) -> None:
        """Put back deltas whose processing failed, ahead of anything newer for the key."""
        current = self._items.get(key)
        if current is None:
            self._items[key] = list(deltas)
            self._queue.appendleft(key)
        else:
            self._items[key] = list(deltas) + current
        self._nonempty.set()

    @property
    def has_synced(self) -> bool:
        """Whether the first full list has been popped completely."""
        return self._populated and self._initial_population_count == 0

    def __len__(self) -> int:
        return len(self._queue)

    def list_keys(self) -> list[str]:
        """The keys with queued deltas, in queue order."""
        return list(self._queue)

    def close(self) -> None:
        """Stop: a waiting or later :meth:`pop` raises FIFOClosed once the queue is empty."""
        self._closed = True
        self._nonempty.set()


def _dedup_deletions(deltas: list[Delta]) -> None:
    """Two deletions in a row are one; keep the one that knows the real final state."""
    if len(deltas) < 2:
        return
    a, b = deltas[-2], deltas[-1]
    if a.type is DeltaType.DELETED and b.type is DeltaType.DELETED:
        keep = a if isinstance(b.object, DeletedFinalStateUnknown) else b
        deltas[-2:] = [keep]
