"""The embedded, durable Store: SQLite in WAL mode with group commit.

Model (kine's, our own SQL): ``log`` is an append-only table with one row per
revision (``rev`` is the global revision). Each row names the key's previous row
(``prev_revision``); ``UNIQUE(key, prev_revision)`` turns a racing double write
into a constraint error instead of silent corruption. ``current`` mirrors the
live revision of every key (written in the same transaction as the log), so
reads of the current state never scan history: they walk ``current`` in key
order and fetch each value from its log row by primary key. ``current`` holds
no value on purpose (measured): in a WITHOUT ROWID table a ~1 KB value already
spills to overflow pages, which made a 10,000-key range 2-3x slower (~45 ms vs
~15-20 ms) and doubled the bytes written per commit. Compaction never deletes a
log row that ``current`` points at (it is the latest row of a live key).
``meta`` holds the compacted revision and the schema version.

Writes: one writer (``sqlite_writer``) owns the write connection: a thread of
this process, or a process of its own (``writer_process=True``, what ``pinnace up``
runs, so the writer does not compete with the event loop for the GIL). The loop
hands it what was submitted in one loop iteration as one item (one wake-up, or
one message). It takes every pending operation, applies them in arrival order in
one transaction (each does its own existence / compare-and-swap check; a failed
check fails only that operation), commits once (one fsync with
``synchronous=FULL``), then hands the results back to the event loop: the
in-memory revision advances, watchers get the events in revision order, and only
then are the callers' futures resolved. A write is therefore acknowledged only
once durable, and N concurrent writers share far fewer than N fsyncs. A writer
process that dies is replaced: the writes it had not answered fail as of unknown
outcome (as an etcd client's timed-out request), and the events of what it did
commit are read back from the file and published, so no watcher misses one.

Reads: ``get``/``count`` and watch history run on the event-loop thread on
their own read connection (a point lookup costs ~10 µs, cheaper than a thread
hop); ``range`` runs in a small reader thread pool, because a 10,000-object list
takes ~30 ms of SQLite work that should not stall the loop. WAL readers never
block the writer. Revisioned reads check the compacted and current revisions
inside the same read snapshot as the data.

Watch: history is read from the log; live events come from ``sqlite_fanout``.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pinnace.storage.interface import (
    MAX_WRITE_BYTES,
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
    StoreClosed,
    ValueTooLarge,
)
from pinnace.storage.sqlite_fanout import Broadcaster
from pinnace.storage.sqlite_lock import release_store_lock, take_store_lock
from pinnace.storage.sqlite_process import WriterProcess
from pinnace.storage.sqlite_writer import (
    COMPACT_BEGIN,
    COMPACT_STEP,
    CREATE,
    DELETE,
    FAILED,
    FUTURE_REVISION,
    KEY_EXISTS,
    KEY_NOT_FOUND,
    OK,
    REVISION_MISMATCH,
    SQL_CURRENT_GET,
    SQL_META_GET,
    UPDATE,
    Result,
    Writer,
    open_connection,
)

__all__ = ["CommitStats", "SQLiteStore"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

# --- schema --------------------------------------------------------------------------------------
SQL_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    rev             INTEGER PRIMARY KEY AUTOINCREMENT,
    key             TEXT    NOT NULL,
    created         INTEGER NOT NULL,
    deleted         INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision   INTEGER NOT NULL,
    value           BLOB    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS log_key_prev ON log (key, prev_revision);
CREATE TABLE IF NOT EXISTS current (
    key             TEXT    PRIMARY KEY,
    rev             INTEGER NOT NULL,
    create_revision INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('schema_version', 1), ('compact_rev', 0);
"""
SQL_MAX_REV = """
SELECT max(coalesce((SELECT max(rev) FROM log), 0),
           coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'log'), 0))
"""
SQL_CURRENT_MAX_REV = "SELECT coalesce(max(rev), 0) FROM current"
# The snapshot header of a revisioned read: (current revision, compacted revision).
SQL_SNAPSHOT = """
SELECT coalesce((SELECT max(rev) FROM log), 0), (SELECT value FROM meta WHERE name = 'compact_rev')
"""

# --- reads ---------------------------------------------------------------------------------------
SQL_COUNT = "SELECT count(*) FROM current WHERE key >= ? AND key < ?"
SQL_RANGE_CURRENT = """
SELECT c.key, c.create_revision, c.rev, l.value FROM current AS c JOIN log AS l ON l.rev = c.rev
WHERE c.key >= ? AND c.key < ? ORDER BY c.key LIMIT ?
"""
# Latest row of the key at or below a revision (the unique index orders a key's rows by revision).
SQL_GET_AT = (
    "SELECT rev, deleted, create_revision, value FROM log "
    "WHERE key = ? AND +rev <= ? ORDER BY prev_revision DESC LIMIT 1"
)
# Streams in key order over the (key, prev_revision) index, so LIMIT stops the scan early.
# The rows of the keys live in [?, ?) at revision ?: each key's last row at or below it, if not a tombstone.
_LIVE_AT = """
FROM log AS l
WHERE l.key >= ? AND l.key < ? AND l.deleted = 0
  AND l.rev = (SELECT s.rev FROM log AS s WHERE s.key = l.key AND +s.rev <= ?
               ORDER BY s.prev_revision DESC LIMIT 1)
"""
SQL_RANGE_AT = f"SELECT l.key, l.create_revision, l.rev, l.value {_LIVE_AT} ORDER BY l.key LIMIT ?"
SQL_COUNT_AT = f"SELECT count(*) {_LIVE_AT}"
# Watch history: rows in revision order with the previous live row joined in (none for creates).
# Scans a window of revisions (not the key index), so every window costs a bounded amount.
SQL_HISTORY = """
SELECT l.rev, l.key, l.deleted, l.create_revision, l.value, p.rev, p.create_revision, p.value
FROM log AS l LEFT JOIN log AS p ON p.rev = l.prev_revision AND l.created = 0
WHERE l.rev >= ? AND l.rev <= ? AND +l.key >= ? AND +l.key < ?
ORDER BY l.rev
"""

_STOP = -1  # the thread writer's last queue item
_HISTORY_WINDOW = 2048  # revisions read per history query (bounds loop stalls and memory)


@dataclass(frozen=True, slots=True)
class CommitStats:
    """Counters of the writer: how many operations shared how many commits (fsyncs)."""

    writes: int
    commits: int
    largest_batch: int


# An operation as submitted: the writer's (kind, key, value, revision argument, compaction target), and the future.
_Op = tuple[int, str, bytes, "int | None", int, "asyncio.Future[Any] | None"]


class SQLiteStore:
    """A :class:`~pinnace.storage.interface.Store` on one SQLite file.

    Create it with :meth:`open`; it belongs to the event loop that opened it.
    """

    #: One process writes the file: this server's own writes are all there is.
    shared = False

    def __init__(
        self,
        path: Path,
        writer: sqlite3.Connection,
        *,
        durable: bool,
        read_threads: int,
        max_batch: int,
        revision: int,
        compacted: int,
        writer_process: bool,
        lock: int,
    ) -> None:
        """Internal: use :meth:`open`."""
        self._path = path
        #: The store's lock (sqlite_lock), held until the writer has ended; a writer process shares it.
        self._lock = lock
        self._durable = durable
        self._loop = asyncio.get_running_loop()
        self._wconn = writer
        self._rconn = self._connect()
        self._rev = revision  # acknowledged revision (event loop)
        self._compacted = compacted
        self._max_batch = max_batch
        #: Batches of operations for the writer: what the loop submitted in one iteration goes as one item,
        #: so a burst of writes wakes the writer thread once, not once per write (each wake is a syscall
        #: and a GIL hand-over).
        self._queue: queue.SimpleQueue[list[_Op]] = queue.SimpleQueue()
        self._submitted: list[_Op] = []
        self._broadcaster = Broadcaster()
        self._compact_lock = asyncio.Lock()
        self._closing = False
        self._closed: asyncio.Future[None] | None = None
        self._writes = self._commits = self._largest = 0
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._local = threading.local()
        self._readers = ThreadPoolExecutor(read_threads, thread_name_prefix="pinnace-sqlite-read")
        self._writer_exited: asyncio.Future[None] = self._loop.create_future()
        #: The writer process (None: the writer is a thread).
        self._process: WriterProcess | None = None
        self._writer: threading.Thread | None = None
        if writer_process:
            writer.close()  # this process only reads; the writer process opens its own connection
            self._start_process(revision)
        else:
            self._writer = threading.Thread(
                target=self._writer_main, args=(revision,), name="pinnace-sqlite-writer", daemon=True
            )
            self._writer.start()

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        durable: bool = True,
        read_threads: int = 2,
        max_batch: int = 1024,
        writer_process: bool = False,
    ) -> SQLiteStore:
        """Open (creating file and schema if needed) or recover the store at ``path``.

        ``durable=True`` fsyncs every group commit (``synchronous=FULL``): an
        acknowledged write survives power loss. ``durable=False`` uses
        ``synchronous=NORMAL``: writes survive a process crash but the last ones
        may be lost on power loss (for throwaway and simulated clusters).
        ``max_batch`` caps how many writes share one transaction.
        ``writer_process=True`` runs the writer in a process of its own (see
        :mod:`~pinnace.storage.sqlite_writer`): what ``pinnace up`` does, so the
        writer does not compete with the event loop for the GIL; else a thread.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = await take_store_lock(path)  # before the revision is read: no other writer may move it
        try:
            try:
                conn = open_connection(str(path), durable)
            except sqlite3.DatabaseError as e:  # not a database, unreadable
                raise StorageError(str(e)) from e
            try:
                revision, compacted = _prepare(conn)
            except sqlite3.DatabaseError as e:  # a damaged file ("database disk image is malformed")
                conn.close()
                raise StorageError(str(e)) from e
            except BaseException:
                conn.close()
                raise
            return cls(
                path,
                conn,
                durable=durable,
                read_threads=read_threads,
                max_batch=max_batch,
                revision=revision,
                compacted=compacted,
                writer_process=writer_process,
                lock=lock,
            )
        except BaseException:
            release_store_lock(lock)
            raise

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    def stats(self) -> CommitStats:
        """How many writes went into how many commits so far (group-commit efficiency)."""
        return CommitStats(self._writes, self._commits, self._largest)

    # --- reads -----------------------------------------------------------------------------------
    async def get(self, key: str, revision: int | None = None) -> KeyValue | None:
        """The key's value as of ``revision`` (default: current), or None if absent."""
        self._check_open()
        if revision is None:
            row = self._rconn.execute(SQL_CURRENT_GET, (key,)).fetchone()
            return None if row is None else KeyValue(key, row[2], row[1], row[0])
        conn = self._rconn
        conn.execute("BEGIN")
        try:
            current = _check_revision(conn, revision)
            if revision == current:
                row = conn.execute(SQL_CURRENT_GET, (key,)).fetchone()
                return None if row is None else KeyValue(key, row[2], row[1], row[0])
            row = conn.execute(SQL_GET_AT, (key, revision)).fetchone()
        finally:
            conn.execute("COMMIT")
        if row is None or row[1]:
            return None
        return KeyValue(key, row[3], row[2], row[0])

    async def range(
        self,
        prefix: str,
        revision: int | None = None,
        limit: int | None = None,
        start_after: str | None = None,
    ) -> RangeResult:
        """Live keys starting with ``prefix``, in key order, as of ``revision``."""
        self._check_open()
        # The smallest key after ``start_after`` is ``start_after + NUL``.
        lo = prefix if start_after is None or start_after < prefix else start_after + "\0"
        hi = prefix_end(prefix)
        n = -1 if not limit or limit < 0 else limit + 1
        try:
            return await self._loop.run_in_executor(self._readers, self._range_sync, lo, hi, revision, n)
        except RuntimeError as e:  # the pool was shut down by close()
            raise StoreClosed("store is closed") from e

    def _range_sync(self, lo: str, hi: str | bytes, revision: int | None, n: int) -> RangeResult:
        conn = self._reader_conn()
        conn.execute("BEGIN")
        try:
            current = _check_revision(conn, revision)
            if revision is None or revision == current:
                rows = conn.execute(SQL_RANGE_CURRENT, (lo, hi, n)).fetchall()
                at = current
            else:
                rows = conn.execute(SQL_RANGE_AT, (lo, hi, revision, n)).fetchall()
                at = revision
            more = 0 < n <= len(rows)
            remaining = None
            if more:
                del rows[n - 1 :]
                if at == current:
                    counted = conn.execute(SQL_COUNT, (lo, hi))
                else:  # a later page of a paged list reads its first page's snapshot: count at that revision
                    counted = conn.execute(SQL_COUNT_AT, (lo, hi, at))
                remaining = counted.fetchone()[0] - len(rows)
        finally:
            conn.execute("COMMIT")
        items = [KeyValue(r[0], r[3], r[1], r[2]) for r in rows]
        return RangeResult(items, at, more, remaining if more else 0)

    async def count(self, prefix: str) -> int:
        """How many live keys start with ``prefix`` now."""
        self._check_open()
        return int(self._rconn.execute(SQL_COUNT, (prefix, prefix_end(prefix))).fetchone()[0])

    async def current_revision(self) -> int:
        """The revision of the latest acknowledged write (0 for an empty store)."""
        return self._rev

    async def compacted_revision(self) -> int:
        """The revision of the last compaction (0 if never compacted)."""
        return self._compacted

    # --- writes ----------------------------------------------------------------------------------
    async def create(self, key: str, value: bytes) -> KeyValue:
        """Write a new key; :class:`KeyExists` if it is live already."""
        _check_write(key, value)
        return await self._submit(CREATE, key, value, None)  # type: ignore[no-any-return]

    async def update(self, key: str, value: bytes, expected_revision: int | None) -> KeyValue:
        """Replace a live key's value, compare-and-swap on ``expected_revision`` if given."""
        _check_write(key, value)
        return await self._submit(UPDATE, key, value, expected_revision)  # type: ignore[no-any-return]

    async def delete(self, key: str, expected_revision: int | None = None) -> KeyValue:
        """Delete a live key; returns the deleted value with the deletion's revision."""
        return await self._submit(DELETE, key, b"", expected_revision)  # type: ignore[no-any-return]

    async def compact(self, revision: int) -> None:
        """Drop history older than ``revision``, in batches that interleave with writes.

        The compacted revision is recorded (and enforced on reads) before any
        row is deleted. Rows kept: every row at or above ``revision`` and, per
        key, the latest live row below it (the state at ``revision`` and the
        ``prev`` of the events from ``revision`` on).
        """
        async with self._compact_lock:
            if not await self._submit(COMPACT_BEGIN, "", b"", revision):
                return
            self._compacted = max(self._compacted, revision)
            cursor: int | None = 0
            while cursor is not None:
                cursor = await self._submit(COMPACT_STEP, "", b"", cursor, revision)

    def _submit(self, kind: int, key: str, value: bytes, arg: int | None, target: int = 0) -> asyncio.Future[Any]:
        self._check_open()
        fut: asyncio.Future[Any] = self._loop.create_future()
        if not self._submitted:
            self._loop.call_soon(self._hand_over)
        self._submitted.append((kind, key, value, arg, target, fut))
        return fut

    def _hand_over(self) -> None:
        """Give the writer everything submitted in this loop iteration, in submission order."""
        ops, self._submitted = self._submitted, []
        if not ops:
            return
        if self._process is None:
            self._queue.put(ops)
        else:
            self._process.send(ops)

    # --- watch -----------------------------------------------------------------------------------
    def watch(self, prefix: str, from_revision: int, *, progress: bool = False) -> AsyncIterator[Event]:
        """Events under ``prefix`` with revision ``>= from_revision``: history, then live."""
        return self._watch(prefix, from_revision, progress)

    def request_progress(self) -> None:
        """Send a PROGRESS event at the current revision to every progress-enabled watch.

        Events are published on the loop in the same step that advances the
        revision, so every event up to it is already queued ahead of the marker.
        """
        if self._closed is None:
            self._broadcaster.progress(self._rev)

    async def _watch(self, prefix: str, from_revision: int, progress: bool) -> AsyncIterator[Event]:
        self._check_open()
        # Subscribe first: every event above ``start`` reaches the subscription, every event at or
        # below it is in the database; the log read fills [from_revision, start] and the buffered
        # live events continue after the last revision yielded.
        sub = self._broadcaster.subscribe(prefix, progress)
        try:
            start, last, hi = self._rev, from_revision - 1, prefix_end(prefix)
            while last < start:
                self._check_open()
                if last + 1 < self._compacted:
                    raise Compacted(last + 1, self._compacted)
                upper = min(start, last + _HISTORY_WINDOW)
                rows = self._rconn.execute(SQL_HISTORY, (last + 1, upper, prefix, hi)).fetchall()
                last = upper
                for row in rows:
                    yield _event_from_row(row)
                await asyncio.sleep(0)  # a long replay must not monopolize the loop
            while True:
                event = await sub.get()
                if event.type is EventType.PROGRESS:
                    if event.revision >= last:
                        last = event.revision
                        yield event
                elif event.revision > last:
                    last = event.revision
                    yield event
        finally:
            self._broadcaster.unsubscribe(sub)

    # --- lifecycle -------------------------------------------------------------------------------
    async def close(self) -> None:
        """Commit pending writes, stop the writer, end every watch with StoreClosed; idempotent."""
        if self._closed is not None:
            await asyncio.shield(self._closed)
            return
        self._closed = self._loop.create_future()
        self._closing = True
        try:
            self._hand_over()
            if self._process is None:
                self._queue.put([(_STOP, "", b"", None, 0, None)])
            else:
                self._process.close()
            await self._writer_exited
            await self._loop.run_in_executor(None, self._shutdown_threads)
            self._rconn.close()
            self._broadcaster.close()
            release_store_lock(self._lock)
        finally:
            self._closed.set_result(None)

    def _shutdown_threads(self) -> None:
        if self._writer is not None:
            self._writer.join()
            self._wconn.close()
        self._readers.shutdown(wait=True)
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()

    def _check_open(self) -> None:
        if self._closing:
            raise StoreClosed("store is closed")

    def _connect(self) -> sqlite3.Connection:
        return open_connection(str(self._path), self._durable)

    def _reader_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            with self._reader_lock:
                self._reader_conns.append(conn)
        return conn

    # --- the writer: a thread of this process, or a process of its own ---------------------------
    def _writer_main(self, revision: int) -> None:
        """The writer thread: one transaction (one fsync) per batch of queued operations."""
        writer = Writer(self._wconn, revision, self._max_batch)
        stop = False
        while not stop:
            batch = self._queue.get()
            while len(batch) < self._max_batch:
                try:
                    batch += self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch[-1][0] == _STOP:
                stop = True
                batch.pop()
            if batch:
                results, commits, largest = writer.run([op[:5] for op in batch])
                self._post(self._finish, batch, results, writer.revision, commits, largest)
        self._post(self._writer_exited.set_result, None)

    def _start_process(self, revision: int) -> None:
        """Start the writer process (see sqlite_process), writing from ``revision`` on."""
        self._process = WriterProcess(
            self._path,
            durable=self._durable,
            revision=revision,
            max_batch=self._max_batch,
            on_results=self._finish,
            on_exit=self._writer_process_ended,
            inherit_fd=self._lock,
        )

    def _writer_process_ended(self, lost: list[_Op]) -> None:
        """The writer process ended: after a close, or it died (then a new one takes over)."""
        proc, self._process = self._process, None
        if self._closing and not lost:
            self._writer_exited.set_result(None)
            return
        # It died. What it committed before dying is in the file: publish those events now (watchers must not
        # miss a revision), and tell the callers it had not answered that their writes' outcome is unknown.
        revision = int(self._rconn.execute(SQL_MAX_REV).fetchone()[0])
        log.error(
            "sqlite store: the writer process exited (code %s) with %d writes unanswered; the file is at revision "
            "%d; starting a new writer",
            proc.process.poll() if proc is not None else None, len(lost), revision,
        )  # fmt: skip
        if revision > self._rev:
            rows = self._rconn.execute(SQL_HISTORY, (self._rev + 1, revision, "", prefix_end(""))).fetchall()
            self._broadcaster.publish([_event_from_row(row) for row in rows])
            self._rev = revision
        unknown = StorageError("the store's writer process exited: the outcome of this write is unknown")
        self._complete([(op[5], None, unknown) for op in lost], [], self._rev)
        if self._closing:
            self._writer_exited.set_result(None)
        else:
            self._start_process(revision)

    def _finish(self, ops: list[_Op], results: list[Result], revision: int, commits: int, largest: int) -> None:
        """On the loop: turn the writer's plain results into values, errors and events, and complete them."""
        outcomes: list[tuple[asyncio.Future[Any] | None, Any, BaseException | None]] = []
        events: list[Event] = []
        for (kind, key, value, _, _, fut), (status, payload) in zip(ops, results, strict=True):
            if status != OK:
                outcomes.append((fut, None, _refusal(status, payload)))
                continue
            result: Any
            if kind == CREATE:
                result = KeyValue(key, value, payload[0], payload[0])
                events.append(Event(EventType.PUT, result, None))
            elif kind in (UPDATE, DELETE):
                rev, create_revision, mod_revision, prev_value = payload
                prev = KeyValue(key, prev_value, create_revision, mod_revision)
                if kind == UPDATE:
                    result = KeyValue(key, value, create_revision, rev)
                    events.append(Event(EventType.PUT, result, prev))
                else:
                    result = KeyValue(key, prev_value, create_revision, rev)
                    events.append(Event(EventType.DELETE, KeyValue(key, b"", create_revision, rev), prev))
            else:
                result = payload[0]
            outcomes.append((fut, result, None))
        self._commits += commits
        self._writes += len(events)
        self._largest = max(self._largest, largest)
        self._complete(outcomes, events, revision)

    def _complete(
        self,
        results: list[tuple[asyncio.Future[Any] | None, Any, BaseException | None]],
        events: list[Event],
        revision: int,
    ) -> None:
        """On the loop: publish the batch's revision and events, then acknowledge the callers."""
        self._rev = revision
        if events:
            self._broadcaster.publish(events)
        for fut, result, err in results:
            if fut is None or fut.done():
                continue
            if err is not None:
                fut.set_exception(err)
            else:
                fut.set_result(result)

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is gone; nobody is waiting any more
            log.warning("sqlite store: event loop closed before results were delivered")


def _refusal(status: int, args: tuple[Any, ...]) -> StorageError:
    """The store's exception for a writer's refusal."""
    if status == KEY_EXISTS:
        return KeyExists(*args)
    if status == KEY_NOT_FOUND:
        return KeyNotFound(*args)
    if status == REVISION_MISMATCH:
        return RevisionMismatch(*args)
    if status == FUTURE_REVISION:
        return FutureRevision(*args)
    assert status == FAILED, status
    return StorageError(*args)


def prefix_end(prefix: str) -> str | bytes:
    """The exclusive upper bound of the keys starting with ``prefix``.

    The prefix with its last character incremented; for the empty prefix a BLOB,
    which SQLite orders after every TEXT value, so ``key < ?`` keeps the index.
    """
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            bumped = last + 1 if not 0xD800 <= last + 1 <= 0xDFFF else 0xE000
            return prefix[:-1] + chr(bumped)
        prefix = prefix[:-1]
    return b"\xff"


def _prepare(conn: sqlite3.Connection) -> tuple[int, int]:
    """Create or check the schema; return (current revision, compacted revision).

    Cheap by design (startup budget): the log's max revision and a check that
    the current view is not ahead of the log, no full integrity scan.
    """
    conn.executescript(f"BEGIN IMMEDIATE; {SQL_SCHEMA} COMMIT;")
    version = conn.execute(SQL_META_GET, ("schema_version",)).fetchone()[0]
    if version != SCHEMA_VERSION:
        raise StorageError(f"unsupported schema version {version} (this build knows {SCHEMA_VERSION})")
    revision = int(conn.execute(SQL_MAX_REV).fetchone()[0])
    compacted = int(conn.execute(SQL_META_GET, ("compact_rev",)).fetchone()[0])
    view = int(conn.execute(SQL_CURRENT_MAX_REV).fetchone()[0])
    if view > revision or compacted > revision:
        raise StorageError(
            f"inconsistent database: log revision {revision}, current view {view}, compacted {compacted}"
        )
    return revision, compacted


def _check_revision(conn: sqlite3.Connection, revision: int | None) -> int:
    """Inside a read transaction: the snapshot's revision, after checking ``revision`` against it."""
    current, compacted = conn.execute(SQL_SNAPSHOT).fetchone()
    if revision is not None:
        if revision > current:
            raise FutureRevision(revision, current)
        if revision < compacted:
            raise Compacted(revision, compacted)
    return int(current)


def _check_write(key: str, value: bytes) -> None:
    """Refuse a value that is not bytes, or a write larger than any store takes (:data:`MAX_WRITE_BYTES`)."""
    if not isinstance(value, bytes):  # a str would be stored as TEXT and come back as str
        raise TypeError(f"store values are bytes, got {type(value).__name__}")
    size = len(value) + len(key)
    if size > MAX_WRITE_BYTES:
        raise ValueTooLarge(f"request is too large ({size} bytes; the store takes at most {MAX_WRITE_BYTES})")


def _event_from_row(row: tuple[Any, ...]) -> Event:
    rev, key, deleted, create_revision, value, prev_rev, prev_create, prev_value = row
    prev = None if prev_rev is None else KeyValue(key, prev_value, prev_create, prev_rev)
    if deleted:
        return Event(EventType.DELETE, KeyValue(key, b"", create_revision, rev), prev)
    return Event(EventType.PUT, KeyValue(key, value, create_revision, rev), prev)
