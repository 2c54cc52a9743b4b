"""The indexer: the informer's local copy of objects, looked up by key or by index.

Objects are stored under their key (``namespace/name``, or ``name`` for
cluster-scoped ones, see :func:`object_key`). An index is a named function
from an object to the values it is filed under; ``by_index(name, value)``
returns every object filed under ``value``. The ``namespace`` index is always
present. Indexes may be added while objects are stored (they are built then).

The event loop is the only thread that touches it, so no lock is needed; the
methods that replace the whole content do so in one step, never half-way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["NAMESPACE_INDEX", "IndexFunc", "Indexer", "object_key"]

Obj = dict[str, Any]
#: Maps an object to the index values it is filed under.
IndexFunc = Callable[[Obj], list[str]]

#: The name of the built-in index by namespace.
NAMESPACE_INDEX = "namespace"


def object_key(obj: Mapping[str, Any]) -> str:
    """``namespace/name`` (or ``name`` for cluster-scoped objects): the key of an object."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    name = meta.get("name") or ""
    return f"{namespace}/{name}" if namespace else str(name)


def _by_namespace(obj: Obj) -> list[str]:
    namespace = (obj.get("metadata") or {}).get("namespace")
    return [namespace] if namespace else []


class Indexer:
    """Objects by key, with any number of named indexes."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, Obj] = {}
        self._funcs: dict[str, IndexFunc] = {NAMESPACE_INDEX: _by_namespace}
        # index name -> value -> keys
        self._indexes: dict[str, dict[str, set[str]]] = {NAMESPACE_INDEX: {}}
        if indexers:
            self.add_indexers(indexers)

    # ---- writes -----------------------------------------------------------------
    def add(self, obj: Obj) -> None:
        """Store (or replace) an object."""
        key = object_key(obj)
        old = self._items.get(key)
        self._items[key] = obj
        self._reindex(key, old, obj)

    update = add

    def delete(self, obj: Obj) -> None:
        """Remove the object with this object's key (if stored)."""
        self.delete_key(object_key(obj))

    def delete_key(self, key: str) -> None:
        """Remove the object stored under ``key`` (if any)."""
        old = self._items.pop(key, None)
        if old is not None:
            self._reindex(key, old, None)

    def replace(self, objs: Iterable[Obj]) -> None:
        """Make the content exactly ``objs``, rebuilding every index."""
        self._items = {object_key(o): o for o in objs}
        self._indexes = {name: {} for name in self._funcs}
        for key, obj in self._items.items():
            self._reindex(key, None, obj)

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Add named indexes (built now for the stored objects); a name may not be reused."""
        for name, func in indexers.items():
            if name in self._funcs:
                raise ValueError(f"indexer {name!r} already exists")
            self._funcs[name] = func
            values: dict[str, set[str]] = {}
            self._indexes[name] = values
            for key, obj in self._items.items():
                for value in func(obj):
                    values.setdefault(value, set()).add(key)

    def _reindex(self, key: str, old: Obj | None, new: Obj | None) -> None:
        for name, func in self._funcs.items():
            values = self._indexes[name]
            before = func(old) if old is not None else []
            after = func(new) if new is not None else []
            if before == after:
                continue
            for value in before:
                keys = values.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del values[value]
            for value in after:
                values.setdefault(value, set()).add(key)

    # ---- reads ------------------------------------------------------------------
    def get(self, key: str) -> Obj | None:
        """The object stored under ``key``."""
        return self._items.get(key)

    def get_by_object(self, obj: Mapping[str, Any]) -> Obj | None:
        """The stored object with the same key as ``obj``."""
        return self._items.get(object_key(obj))

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def objects(self) -> list[Obj]:
        """Every stored object."""
        return list(self._items.values())

    def list_keys(self) -> list[str]:
        """Every stored key."""
        return list(self._items)

    def index_names(self) -> list[str]:
        """The names of the indexes."""
        return list(self._funcs)

    def by_index(self, index: str, value: str) -> list[Obj]:
        """The objects filed under ``value`` in ``index``."""
        return [self._items[k] for k in self.index_keys(index, value)]

    def index_keys(self, index: str, value: str) -> list[str]:
        """The keys filed under ``value`` in ``index`` (sorted)."""
        if index not in self._indexes:
            raise KeyError(f"no index named {index!r}")
        return sorted(self._indexes[index].get(value, ()))

    def index_values(self, index: str) -> list[str]:
        """Every value ``index`` currently files objects under."""
        if index not in self._indexes:
            raise KeyError(f"no index named {index!r}")
        return list(self._indexes[index])

    def matching(self, index: str, obj: Obj) -> list[Obj]:
        """The objects that share any ``index`` value with ``obj``."""
        keys: set[str] = set()
        for value in self._funcs[index](obj):
            keys.update(self._indexes[index].get(value, ()))
        return [self._items[k] for k in sorted(keys)]
