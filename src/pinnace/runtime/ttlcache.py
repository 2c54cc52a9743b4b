"""Answers kept for a while each: the review caches of the kubelet API and of extension API servers."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

from pinnace.runtime.clock import Clock

__all__ = ["TTLCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    """Answers kept for a time each (the kubelet's webhook caches), bounded in size; times from an injected clock."""

    def __init__(self, clock: Clock, max_entries: int = 4096) -> None:
        self.clock = clock
        self.max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        """The cached answer, or None when there is none or it expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self.clock.now():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: K, value: V, ttl: float) -> None:
        """Keep ``value`` for ``ttl`` seconds (when full, expired entries go first, then the oldest)."""
        if len(self._entries) >= self.max_entries and key not in self._entries:
            now = self.clock.now()
            for stale in [k for k, (expires, _) in self._entries.items() if expires <= now]:
                del self._entries[stale]
            if len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]
        self._entries[key] = (self.clock.now() + ttl, value)
