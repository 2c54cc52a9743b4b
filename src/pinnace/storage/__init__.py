"""Revisioned key-value storage: the Store contract and its backends.

``interface`` states the contract (etcd's model: global revisions, CAS by
revision, watch from a revision with previous values, compaction). ``sqlite``
is the embedded, durable default (``SQLiteStore``); ``compactor`` trims history
periodically as kube-apiserver does. Nothing here knows about Kubernetes objects.
"""

from pinnace.storage.compactor import Compactor
from pinnace.storage.interface import (
    MAX_WRITE_BYTES,
    Compacted,
    CorruptValue,
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
    ValueTooLarge,
)
from pinnace.storage.sqlite import CommitStats, SQLiteStore

__all__ = [
    "MAX_WRITE_BYTES",
    "CommitStats",
    "Compacted",
    "Compactor",
    "CorruptValue",
    "Event",
    "EventType",
    "FutureRevision",
    "KeyExists",
    "KeyNotFound",
    "KeyValue",
    "RangeResult",
    "RevisionMismatch",
    "SQLiteStore",
    "StorageError",
    "Store",
    "StoreClosed",
    "ValueTooLarge",
]
