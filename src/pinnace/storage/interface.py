"""The Store contract: a revisioned key-value store with watch and compaction.

Every backend (``sqlite.py``, later ``etcd.py``) implements :class:`Store` and
passes the same contract suite (``tests/unit/storage``). The model is etcd's:

* One global revision (int64, starts at 1 for the first write, strictly
  increasing). Every successful write (create, update, delete) takes exactly one
  new revision; ``resourceVersion`` upstairs is its decimal string.
* A key's :class:`KeyValue` carries ``create_revision`` (the revision that
  created this incarnation of the key) and ``mod_revision`` (its last write).
* ``watch(prefix, from_revision)`` yields every event whose revision is
  ``>= from_revision``, in revision order, first the ones already in the log and
  then live ones, with no gap and no duplicate. Each event carries the previous
  value of the key (``prev``), as etcd's ``prev_kv``.
* ``watch(..., progress=True)`` also yields ``PROGRESS`` events (as etcd's
  progress notifications): after :meth:`Store.request_progress`, each such watch
  gets one ``PROGRESS`` event at the store's current revision, after every event
  up to that revision. It tells a watcher "you have seen everything up to here",
  which a cache of one prefix needs when writes elsewhere moved the revision on.
* ``compact(revision)`` drops history older than ``revision``: afterwards a read
  at a revision ``< revision`` or a watch from a revision ``< revision`` raises
  :class:`Compacted` (HTTP 410 Gone upstairs). The current value of every live
  key is always kept.
* A write returns only once it is durable.

Errors are :class:`StorageError` subclasses; the store knows nothing of
Kubernetes objects: keys are strings, values are bytes.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class StorageError(Exception):
    """Base of every error a store raises."""


class KeyExists(StorageError):
    """``create`` found the key already present."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key already exists: {key}")
        self.key = key


class KeyNotFound(StorageError):
    """``update``/``delete`` found no live value at the key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key not found: {key}")
        self.key = key


class RevisionMismatch(StorageError):
    """A compare-and-swap saw a different ``mod_revision`` than expected."""

    def __init__(self, key: str, expected: int, actual: int) -> None:
        super().__init__(f"revision mismatch on {key}: expected {expected}, found {actual}")
        self.key = key
        self.expected = expected
        self.actual = actual


class Compacted(StorageError):
    """The requested revision is older than the compacted revision."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(f"revision {requested} has been compacted (compacted revision is {compacted})")
        self.requested = requested
        self.compacted = compacted


class FutureRevision(StorageError):
    """A read asked for a revision newer than the store's current one."""

    def __init__(self, requested: int, current: int) -> None:
        super().__init__(f"revision {requested} is newer than the current revision {current}")
        self.requested = requested
        self.current = current


class StoreClosed(StorageError):
    """The store was closed while the operation was pending."""


class CorruptValue(StorageError):
    """A stored value that cannot be read back: it does not decrypt with any configured key, or it is no object.

    The API server answers a request that needs it with a 500 saying which key it is (as kube-apiserver does:
    a broken encryption configuration should be loud), and serves every other resource as before."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class ValueTooLarge(StorageError):
    """The store refused a write as larger than it takes (etcd's ``--max-request-bytes``, 1.5 MiB by default).
    The message says what the store answered."""


MAX_WRITE_BYTES = 1536 * 1024
"""The largest write (key and value) a store takes: etcd's default ``--max-request-bytes``. The embedded
store holds itself to it too, so an object one backend stores every backend stores (``pinnace migrate`` moves
any of them), and no object grows the API server's caches without bound."""


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One version of one key."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int


class EventType(enum.Enum):
    """What happened to a key."""

    PUT = "PUT"
    DELETE = "DELETE"
    PROGRESS = "PROGRESS"


@dataclass(frozen=True, slots=True)
class Event:
    """One change in the log.

    For ``PUT`` the ``kv`` is the new value. For ``DELETE`` the ``kv`` has the
    deleted key, an empty value and ``mod_revision`` equal to the deletion's
    revision; ``prev`` holds the value that was deleted. ``prev`` is ``None``
    for a ``PUT`` that created the key. A ``PROGRESS`` event has an empty key
    and value; its ``mod_revision`` is the revision the watcher has caught up to.
    """

    type: EventType
    kv: KeyValue
    prev: KeyValue | None

    @property
    def revision(self) -> int:
        """The revision this event was written at."""
        return self.kv.mod_revision

    @property
    def created(self) -> bool:
        """True for a PUT that created the key (no previous live value)."""
        return self.type is EventType.PUT and self.prev is None


@dataclass(frozen=True, slots=True)
class RangeResult:
    """A page of keys under a prefix as of one revision.

    ``revision`` is the snapshot revision the page was read at (pass it back as
    ``revision`` for the next page to stay on the same snapshot). ``more`` says
    whether keys remain after the last one returned; ``remaining`` counts them
    when the backend can tell cheaply, else ``None``.
    """

    items: list[KeyValue]
    revision: int
    more: bool
    remaining: int | None = None


@runtime_checkable
class Store(Protocol):
    """A revisioned key-value store (see the module docstring for the contract)."""

    #: Whether other servers may write to the same store (etcd): a consistent read must then first
    #: learn the store's current revision, not rely on this server's own writes.
    shared: bool

    async def get(self, key: str, revision: int | None = None) -> KeyValue | None:
        """The key's value as of ``revision`` (default: current), or None if absent."""
        ...

    async def range(
        self,
        prefix: str,
        revision: int | None = None,
        limit: int | None = None,
        start_after: str | None = None,
    ) -> RangeResult:
        """Live keys starting with ``prefix``, in key order, as of ``revision``.

        ``start_after`` resumes after that key (exclusive); ``limit`` caps the page.
        ``revision=None`` reads the current state.
        """
        ...

    async def count(self, prefix: str) -> int:
        """How many live keys start with ``prefix`` now."""
        ...

    async def create(self, key: str, value: bytes) -> KeyValue:
        """Write a new key; :class:`KeyExists` if it is live already."""
        ...

    async def update(self, key: str, value: bytes, expected_revision: int | None) -> KeyValue:
        """Replace a live key's value.

        With ``expected_revision`` set this is a compare-and-swap on the key's
        ``mod_revision`` (:class:`RevisionMismatch` if it differs).
        :class:`KeyNotFound` if the key is absent.
        """
        ...

    async def delete(self, key: str, expected_revision: int | None = None) -> KeyValue:
        """Delete a live key.

        Returns the value that was deleted, with ``mod_revision`` set to the
        revision of the deletion itself (as etcd's DeleteRange header revision).
        :class:`KeyNotFound` / :class:`RevisionMismatch` as for update; with
        ``expected_revision`` the deleted value's revision must match it.
        """
        ...

    def watch(self, prefix: str, from_revision: int, *, progress: bool = False) -> AsyncIterator[Event]:
        """Events under ``prefix`` with revision ``>= from_revision``, then live.

        Raises :class:`Compacted` (on first iteration) if ``from_revision`` is
        below the compacted revision. The iterator ends only when the store
        closes (then it raises :class:`StoreClosed`) or the consumer stops.
        With ``progress``, ``PROGRESS`` events answer :meth:`request_progress`.
        """
        ...

    def request_progress(self) -> None:
        """Ask every watch opened with ``progress=True`` for a ``PROGRESS`` event at the current revision."""
        ...

    async def compact(self, revision: int) -> None:
        """Drop history older than ``revision`` (see module docstring)."""
        ...

    async def current_revision(self) -> int:
        """The revision of the latest write (0 for an empty store)."""
        ...

    async def compacted_revision(self) -> int:
        """The revision of the last compaction (0 if never compacted)."""
        ...

    async def close(self) -> None:
        """Flush pending writes and release resources; idempotent."""
        ...
