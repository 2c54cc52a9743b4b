"""Revisioned key-value storage: the Store contract and its backends.

``interface`` states the contract (etcd's model: global revisions, CAS by
revision, watch from a revision with previous values, compaction). ``sqlite``
is the embedded, durable default. Nothing here knows about Kubernetes objects.
"""

from pinnace.storage.interface import (
    Compacted,
    Event,
    EventType,
    FutureRevision,
    KeyExists,
    KeyNotFound,
    KeyValue,
    RangeResult,
    RevisionMismatch,
    StorageError,
    Store,
    StoreClosed,
)

__all__ = [
    "Compacted",
    "Event",
    "EventType",
    "FutureRevision",
    "KeyExists",
    "KeyNotFound",
    "KeyValue",
    "RangeResult",
    "RevisionMismatch",
    "StorageError",
    "Store",
    "StoreClosed",
]
