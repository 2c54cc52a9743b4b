"""Compiled forms of schema dicts, made once per schema and found again by identity.

Pruning, defaulting and validation of custom resources each turn a schema
into a tree of their own node objects before walking objects with it. A
:class:`SchemaCache` keeps those trees per schema dict (by ``id``, holding the
dict so the id cannot be reused while its entry lives); a schema must not be
changed after it was compiled. At most ``limit`` are kept: beyond that the
cache starts again, which only costs recompiling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["SchemaCache"]

T = TypeVar("T")


class SchemaCache(Generic[T]):
    """``cache(schema)``: the compiled form of ``schema``, built by ``build`` the first time."""

    def __init__(self, build: Callable[[dict[str, Any]], T], limit: int = 512) -> None:
        self.build = build
        self.limit = limit
        self._entries: dict[int, tuple[dict[str, Any], T]] = {}

    def __call__(self, schema: dict[str, Any]) -> T:
        hit = self._entries.get(id(schema))
        if hit is not None and hit[0] is schema:
            return hit[1]
        compiled = self.build(schema)
        if len(self._entries) >= self.limit:
            self._entries.clear()
        self._entries[id(schema)] = (schema, compiled)
        return compiled
