"""Which watchers want an event: subscribers indexed by key prefix.

A store fans each event out to the watches whose prefix the key starts with.
The API server keeps one watch per resource, on a prefix ending in ``/``
(``/registry/<group>/<resource>/``), so testing every watch per event costs
as many ``startswith`` as resources (and CRDs) are watched. :class:`PrefixIndex`
keeps the ``/``-terminated prefixes in a dict and finds an event's watchers
by looking up the key's own ``/``-terminated prefixes (a handful per key);
any other prefix (``""``, or one that stops inside a name) is tested one by one.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

__all__ = ["PrefixIndex"]

T = TypeVar("T", bound=Hashable)


class PrefixIndex(Generic[T]):
    """Items registered under key prefixes; :meth:`matching` yields those whose prefix a key starts with."""

    def __init__(self) -> None:
        self._by_prefix: dict[str, set[T]] = {}
        self._irregular: dict[T, str] = {}

    def add(self, prefix: str, item: T) -> None:
        """Register ``item`` under ``prefix``."""
        if prefix.endswith("/"):
            self._by_prefix.setdefault(prefix, set()).add(item)
        else:
            self._irregular[item] = prefix

    def discard(self, prefix: str, item: T) -> None:
        """Forget ``item`` (registered under ``prefix``); nothing if it is not there."""
        self._irregular.pop(item, None)
        items = self._by_prefix.get(prefix)
        if items is not None:
            items.discard(item)
            if not items:
                del self._by_prefix[prefix]

    def matching(self, key: str) -> Iterator[T]:
        """Every item whose prefix ``key`` starts with (each once)."""
        by_prefix = self._by_prefix
        if by_prefix:
            end = key.find("/")
            while end >= 0:
                items = by_prefix.get(key[: end + 1])
                if items:
                    yield from items
                end = key.find("/", end + 1)
        for item, prefix in self._irregular.items():
            if key.startswith(prefix):
                yield item
