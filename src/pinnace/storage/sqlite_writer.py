"""The SQLite store's writer: batches of writes, each batch one transaction and one fsync (group commit).

``SQLiteStore`` hands it lists of operations and gets plain results back. It runs
either on a thread of the store's process or in a process of its own
(``python -S <this file> PATH DURABLE REVISION MAX_BATCH``, which ``pinnace up``
uses). In a process, the writer's Python work and its many GIL hand-overs (every
SQLite statement releases and retakes the GIL) stop competing with the API
server's event loop for one GIL. Measured with ``benchmarks/api.py``'s durable
creates on this 2-core machine: the loop thread went from ~80 % busy to ~90 %, and
creates/s rose by ~8 % (the process costs ~13 MB of RSS).

Stdlib only, and no import of ``pinnace``: the process starts in ~20 ms with no
site packages. The protocol on its stdin/stdout is length-prefixed (4 bytes,
little-endian) ``marshal`` messages: in, a list of operations; out,
``(messages answered, results, revision, commits, largest batch)``. Every
message it has read by the time it starts a batch joins that batch. EOF on stdin
ends it, after it has answered everything it read.

An operation is ``(kind, key, value, revision argument, compaction target)``; a
result is ``(status, payload)``: ``OK`` with the kind's payload (see
:meth:`Writer._apply`), or a refusal status with the arguments of the store's
matching exception. A refused operation fails alone; a failed commit fails its
whole batch (``FAILED``) and leaves the revision where it was.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import signal
import sqlite3
import sys
from typing import Any

CREATE, UPDATE, DELETE, COMPACT_BEGIN, COMPACT_STEP = range(5)
OK, KEY_EXISTS, KEY_NOT_FOUND, REVISION_MISMATCH, FUTURE_REVISION, FAILED = range(6)
COMPACT_BATCH = 1000  # log rows looked at per compaction step

SQL_META_GET = "SELECT value FROM meta WHERE name = ?"
SQL_META_SET = "UPDATE meta SET value = ? WHERE name = ?"
SQL_CURRENT_GET = """
SELECT c.rev, c.create_revision, l.value FROM current AS c JOIN log AS l ON l.rev = c.rev WHERE c.key = ?
"""
SQL_LOG_LAST = "SELECT rev, deleted FROM log WHERE key = ? ORDER BY prev_revision DESC LIMIT 1"
SQL_LOG_INSERT = """
INSERT INTO log (rev, key, created, deleted, create_revision, prev_revision, value)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""
SQL_CURRENT_INSERT = "INSERT INTO current (key, rev, create_revision) VALUES (?, ?, ?)"
SQL_CURRENT_UPDATE = "UPDATE current SET rev = ? WHERE key = ?"
SQL_CURRENT_DELETE = "DELETE FROM current WHERE key = ?"
SQL_COMPACT_WINDOW_END = """
SELECT max(rev) FROM (SELECT rev FROM log WHERE rev > ? AND rev < ? ORDER BY rev LIMIT ?)
"""
# A row below the target goes if it is a tombstone or a later row of its key (also below the target)
# supersedes it: what remains is, per key, the latest live row below the target plus everything newer.
SQL_COMPACT_DELETE = """
DELETE FROM log WHERE rev > ? AND rev <= ? AND (
    deleted = 1 OR EXISTS (SELECT 1 FROM log AS s
                           WHERE s.key = log.key AND s.prev_revision = log.rev AND s.rev < ?)
)
"""

#: One operation: (kind, key, value, revision argument, compaction target).
Op = tuple[int, str, bytes, "int | None", int]
#: One result: (status, payload).
Result = tuple[int, tuple[Any, ...]]


def open_connection(path: str, durable: bool) -> sqlite3.Connection:
    """A connection to the store's file as every part of the store opens it (WAL; FULL fsyncs if durable)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=64)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


class _Refused(Exception):
    """One operation refused (its status and the arguments of the store's exception)."""

    def __init__(self, status: int, *args: Any) -> None:
        super().__init__(*args)
        self.status = status


class Writer:
    """Applies operations to the open connection, ``max_batch`` of them per transaction."""

    def __init__(self, conn: sqlite3.Connection, revision: int, max_batch: int) -> None:
        self.conn = conn
        #: The revision of the last committed write.
        self.revision = revision
        self.max_batch = max_batch

    def run(self, ops: list[Op]) -> tuple[list[Result], int, int]:
        """Apply ``ops`` in order: (their results, commits made, largest batch)."""
        results: list[Result] = []
        commits = largest = 0
        for start in range(0, len(ops), self.max_batch):
            batch = ops[start : start + self.max_batch]
            results += self._run_batch(batch)
            commits += 1
            largest = max(largest, len(batch))
        return results, commits, largest

    def _run_batch(self, batch: list[Op]) -> list[Result]:
        conn, start = self.conn, self.revision
        results: list[Result] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in batch:
                try:
                    results.append((OK, self._apply(op)))
                except _Refused as refused:
                    results.append((refused.status, refused.args))
            conn.execute("COMMIT")
        except Exception as e:  # keep the writer alive whatever happens: fail this batch, loudly
            with contextlib.suppress(OSError):  # its stderr is the log, maybe on the disk that is full
                print(f"pinnace sqlite writer: commit of {len(batch)} operations failed: {e!r}", file=sys.stderr)
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            self.revision = start
            return [(FAILED, (f"the store could not commit the write: {e}",))] * len(batch)
        return results

    def _apply(self, op: Op) -> tuple[Any, ...]:
        """One operation inside the open transaction; its payload:

        - create: ``(revision,)``;
        - update and delete: ``(revision, previous create revision, previous revision, previous value)``;
        - compaction start: ``(recorded,)`` (False if already compacted that far); step: ``(next cursor or None,)``.
        """
        kind, key, value, arg, target = op
        conn = self.conn
        if kind == COMPACT_BEGIN:
            return (self._compact_begin(arg or 0),)
        if kind == COMPACT_STEP:
            return (self._compact_step(target, arg or 0),)
        rev = self.revision + 1
        if kind == CREATE:
            # One lookup serves both needs: a key is live iff its last log row is not a tombstone
            # (the current table mirrors exactly that), and that row is the new row's predecessor.
            last = conn.execute(SQL_LOG_LAST, (key,)).fetchone()
            if last is not None and not last[1]:
                raise _Refused(KEY_EXISTS, key)
            self._insert_log((rev, key, 1, 0, rev, 0 if last is None else last[0], value))
            conn.execute(SQL_CURRENT_INSERT, (key, rev, rev))
            return (rev,)
        row = conn.execute(SQL_CURRENT_GET, (key,)).fetchone()
        if row is None:
            raise _Refused(KEY_NOT_FOUND, key)
        mod_revision, create_revision, prev_value = row
        if arg is not None and arg != mod_revision:
            raise _Refused(REVISION_MISMATCH, key, arg, mod_revision)
        if kind == UPDATE:
            self._insert_log((rev, key, 0, 0, create_revision, mod_revision, value))
            conn.execute(SQL_CURRENT_UPDATE, (rev, key))
        else:
            self._insert_log((rev, key, 0, 1, create_revision, mod_revision, b""))
            conn.execute(SQL_CURRENT_DELETE, (key,))
        return (rev, create_revision, mod_revision, prev_value)

    def _insert_log(self, row: tuple[Any, ...]) -> None:
        try:
            self.conn.execute(SQL_LOG_INSERT, row)
        except sqlite3.IntegrityError as e:  # a second writer on the file, or a bug: never overwrite
            raise _Refused(FAILED, f"conflicting write to {row[1]} at revision {row[0]}: {e}") from e
        self.revision = row[0]

    def _compact_begin(self, revision: int) -> bool:
        if revision > self.revision:
            raise _Refused(FUTURE_REVISION, revision, self.revision)
        if revision <= self.conn.execute(SQL_META_GET, ("compact_rev",)).fetchone()[0]:
            return False
        self.conn.execute(SQL_META_SET, (revision, "compact_rev"))
        return True

    def _compact_step(self, target: int, cursor: int) -> int | None:
        """Delete superseded rows among the next batch above ``cursor``; the new cursor, None when done."""
        end = self.conn.execute(SQL_COMPACT_WINDOW_END, (cursor, target, COMPACT_BATCH)).fetchone()[0]
        if end is None:
            return None
        self.conn.execute(SQL_COMPACT_DELETE, (cursor, end, target))
        return int(end)


def frame(message: Any) -> bytes:
    """A message on the wire: its length, then its ``marshal`` form."""
    data = marshal.dumps(message)
    return len(data).to_bytes(4, "little") + data


def unframe(buffer: bytearray) -> list[Any]:
    """The whole messages at the start of ``buffer`` (removed from it); a partial one stays."""
    messages = []
    while len(buffer) >= 4:
        size = int.from_bytes(buffer[:4], "little")
        if len(buffer) < 4 + size:
            break
        messages.append(marshal.loads(bytes(buffer[4 : 4 + size])))
        del buffer[: 4 + size]
    return messages


def serve(writer: Writer, rfd: int, wfd: int) -> None:
    """Answer operations read from ``rfd`` on ``wfd`` until EOF."""
    buffer = bytearray()
    while True:
        data = os.read(rfd, 1 << 20)
        if not data:
            return
        buffer += data
        messages = unframe(buffer)
        if not messages:
            continue
        results, commits, largest = writer.run([op for message in messages for op in message])
        out = memoryview(frame((len(messages), results, writer.revision, commits, largest)))
        while out:
            out = out[os.write(wfd, out) :]


def main(argv: list[str]) -> None:
    """Entry point of the writer process: ``PATH DURABLE(0|1) REVISION MAX_BATCH``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the store ends it (EOF), after its last answers
    path, durable, revision, max_batch = argv
    conn = open_connection(path, durable == "1")
    try:
        serve(Writer(conn, int(revision), int(max_batch)), sys.stdin.fileno(), sys.stdout.fileno())
    finally:
        conn.close()


if __name__ == "__main__":
    main(sys.argv[1:])
