"""Objects to stored bytes and back.

Stored values are the object's JSON without ``metadata.resourceVersion``: the
version is the store's revision, set on the way out (as upstream's etcd3 store
does), so it can never disagree with the store.
"""

from __future__ import annotations

from typing import Any

import orjson

from pinnace.storage import KeyValue


def encode_for_storage(obj: dict[str, Any]) -> bytes:
    """The bytes to store for an object (its resourceVersion left out)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "resourceVersion" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
    return orjson.dumps(obj)


def decode_from_storage(kv: KeyValue) -> dict[str, Any]:
    """The object stored at ``kv``, with resourceVersion = its revision."""
    obj: dict[str, Any] = orjson.loads(kv.value)
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    meta["resourceVersion"] = str(kv.mod_revision)
    return obj


def with_resource_version(obj: dict[str, Any], revision: int) -> dict[str, Any]:
    """A shallow copy of ``obj`` whose metadata carries ``revision``."""
    return {**obj, "metadata": {**(obj.get("metadata") or {}), "resourceVersion": str(revision)}}
