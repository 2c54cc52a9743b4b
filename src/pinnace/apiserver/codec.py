"""Objects to stored bytes and back.

Stored values are the object's JSON without ``metadata.resourceVersion``: the
version is the store's revision, set on the way out (as upstream's etcd3 store
does), so it can never disagree with the store.
"""

from __future__ import annotations

from typing import Any

import orjson

from pinnace.storage import CorruptValue, KeyValue


def encode_for_storage(obj: dict[str, Any]) -> bytes:
    """The bytes to store for an object (its resourceVersion left out)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "resourceVersion" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
    return orjson.dumps(obj)


def decode_from_storage(kv: KeyValue) -> dict[str, Any]:
    """The object stored at ``kv``, with resourceVersion = its revision (:class:`CorruptValue` if it is none)."""
    try:
        obj: dict[str, Any] = orjson.loads(kv.value)
    except orjson.JSONDecodeError as exc:
        raise CorruptValue(kv.key, f"the stored value of {kv.key} is not an object: {exc}") from None
    if not isinstance(obj, dict):
        raise CorruptValue(kv.key, f"the stored value of {kv.key} is not an object")
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    meta["resourceVersion"] = str(kv.mod_revision)
    return obj


def with_resource_version(obj: dict[str, Any], revision: int) -> dict[str, Any]:
    """A shallow copy of ``obj`` whose metadata carries ``revision``."""
    return {**obj, "metadata": {**(obj.get("metadata") or {}), "resourceVersion": str(revision)}}


class DecodeHints:
    """Objects the server has just written, by their stored bytes, so watch caches need not decode them again.

    A write offers the object it encoded (:meth:`offer`) and withdraws it if
    the write fails; the watch cache that sees the write's event takes it
    (:meth:`decode`) instead of parsing the bytes it was made from. Equal bytes
    mean an equal object, so a hint can never give a cache the wrong content.
    At most ``limit`` hints are kept (the oldest go first): a write no cache
    follows leaves nothing behind for long.

    The object offered must not change after it was encoded, except for its
    ``metadata.resourceVersion``; the cache gets its own top-level and
    metadata dicts, and shares the rest, which nobody mutates.
    """

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._objects: dict[bytes, dict[str, Any]] = {}

    def offer(self, value: bytes, obj: dict[str, Any]) -> None:
        """Remember that ``value`` encodes ``obj``."""
        objects = self._objects
        if len(objects) >= self.limit:
            del objects[next(iter(objects))]
        objects[value] = obj

    def withdraw(self, value: bytes) -> None:
        """Forget ``value`` (its write failed)."""
        self._objects.pop(value, None)

    def decode(self, kv: KeyValue) -> dict[str, Any]:
        """The object at ``kv``: the hinted one (copied where it differs) if any, else decoded."""
        obj = self._objects.pop(kv.value, None)
        if obj is None:
            return decode_from_storage(kv)
        return {**obj, "metadata": {**(obj.get("metadata") or {}), "resourceVersion": str(kv.mod_revision)}}
