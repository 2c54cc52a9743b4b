"""SQLiteStore specifics: recovery, group commit, crash safety, batched compaction."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from pinnace.storage import (
    Compacted,
    EventType,
    KeyExists,
    KeyNotFound,
    KeyValue,
    RevisionMismatch,
    SQLiteStore,
    StorageError,
    sqlite_lock,
)
from pinnace.storage.sqlite import prefix_end
from pinnace.storage.sqlite_lock import release_store_lock, take_store_lock

P = "/registry/test/things/"


@pytest.mark.parametrize("writer_process", [False, True], ids=["writer-thread", "writer-process"])
async def test_reopen_keeps_every_key_and_continues_revisions(tmp_path: Path, writer_process: bool) -> None:
    path = tmp_path / "db" / "store.db"
    store = await SQLiteStore.open(path, writer_process=writer_process)
    kvs = await asyncio.gather(*(store.create(f"{P}{i:03d}", b"v%d" % i) for i in range(100)))
    updated = await store.update(f"{P}000", b"changed", None)
    await store.delete(f"{P}001")
    await store.compact(50)
    last = await store.current_revision()
    assert last == 102
    await store.close()

    store = await SQLiteStore.open(path, writer_process=writer_process)
    try:
        assert await store.current_revision() == last
        assert await store.compacted_revision() == 50
        page = await store.range(P)
        assert len(page.items) == 99
        assert page.items[0] == updated
        assert {kv.key: kv for kv in page.items[1:]} == {kv.key: kv for kv in kvs[2:]}
        nxt = await store.create(P + "new", b"n")
        assert nxt.mod_revision == last + 1
        events = [e async for e in _take(store, 100, 4)]
        assert [e.revision for e in events] == [100, 101, 102, 103]
        assert events[1].prev is not None and events[1].prev.value == b"v0"
        assert events[2].type is EventType.DELETE and events[2].prev == kvs[1]
        with pytest.raises(Compacted):
            await store.get(f"{P}002", revision=49)
    finally:
        await store.close()


async def _take(store: SQLiteStore, from_revision: int, n: int):  # type: ignore[no-untyped-def]
    it = aiter(store.watch(P, from_revision))
    for _ in range(n):
        yield await asyncio.wait_for(anext(it), 5)


@pytest.mark.parametrize("writer_process", [False, True], ids=["writer-thread", "writer-process"])
async def test_group_commit_batches_concurrent_writers(tmp_path: Path, writer_process: bool) -> None:
    store = await SQLiteStore.open(tmp_path / "store.db", writer_process=writer_process)
    try:
        await asyncio.gather(*(store.create(f"{P}{i}", b"x") for i in range(200)))
        stats = store.stats()
        assert stats.writes == 200
        assert stats.commits * 4 < stats.writes, stats
        assert stats.largest_batch > 1
    finally:
        await store.close()


@pytest.mark.parametrize("writer_process", [False, True], ids=["writer-thread", "writer-process"])
async def test_failed_operation_does_not_fail_its_batch(tmp_path: Path, writer_process: bool) -> None:
    store = await SQLiteStore.open(tmp_path / "store.db", writer_process=writer_process)
    try:
        base = await store.create(P + "a", b"1")
        results = await asyncio.gather(
            store.create(P + "a", b"dup"),
            store.create(P + "b", b"2"),
            store.update(P + "a", b"x", base.mod_revision + 5),
            store.delete(P + "missing"),
            store.update(P + "a", b"3", base.mod_revision),
            return_exceptions=True,
        )
        assert isinstance(results[0], KeyExists)
        assert results[1] == KeyValue(P + "b", b"2", 2, 2)
        assert isinstance(results[2], RevisionMismatch)
        assert isinstance(results[3], KeyNotFound)
        assert results[4] == KeyValue(P + "a", b"3", 1, 3)
        assert await store.current_revision() == 3
    finally:
        await store.close()


@pytest.mark.parametrize("writer_process", [False, True], ids=["writer-thread", "writer-process"])
async def test_batched_compaction_keeps_exactly_the_needed_rows(tmp_path: Path, writer_process: bool) -> None:
    path = tmp_path / "store.db"
    store = await SQLiteStore.open(path, durable=False, writer_process=writer_process)
    try:
        keys = [f"{P}{i:02d}" for i in range(40)]
        await asyncio.gather(*(store.create(k, b"0") for k in keys))
        for round_ in range(1, 60):  # 40 * 60 = 2400 rows, several compaction batches
            await asyncio.gather(*(store.update(k, b"%d" % round_, None) for k in keys))
        await asyncio.gather(*(store.delete(k) for k in keys[:10]))
        target = await store.current_revision() - 5
        commits_before = store.stats().commits
        compaction = asyncio.create_task(store.compact(target))
        during = await asyncio.gather(*(store.update(k, b"during", None) for k in keys[10:20]))
        await compaction
        assert store.stats().commits - commits_before >= 3, "compaction runs as several short transactions"
        with sqlite3.connect(path) as db:
            below = db.execute("SELECT count(*) FROM log WHERE rev < ?", (target,)).fetchone()[0]
            above = db.execute("SELECT count(*) FROM log WHERE rev >= ?", (target,)).fetchone()[0]
        assert above == await store.current_revision() - target + 1
        # Per key, its latest row below the target unless that is a tombstone: the 30 live keys, plus
        # the 6 keys whose deletion is at or above the target (their last value is its ``prev``).
        assert below == 30 + 6
        state = {kv.key: kv.value for kv in (await store.range(P)).items}
        assert state == {k: (b"during" if k in keys[10:20] else b"59") for k in keys[10:]}
        assert all(kv.mod_revision > target for kv in during)
    finally:
        await store.close()


CRASH_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from pinnace.storage import SQLiteStore

    async def main() -> None:
        store = await SQLiteStore.open(sys.argv[1], writer_process=sys.argv[2] == "1")
        async def client(n: int) -> None:
            for i in range(1_000_000):
                key = f"/registry/crash/c{n}/k{i}"
                await store.create(key, ("value of " + key).encode())
                sys.stdout.write(key + "\\n")
                sys.stdout.flush()
        await asyncio.gather(*(client(n) for n in range(16)))

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("writer_process", [False, True], ids=["writer-thread", "writer-process"])
async def test_every_acknowledged_write_survives_sigkill(tmp_path: Path, writer_process: bool) -> None:
    path = tmp_path / "crash.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASH_SCRIPT, str(path), "1" if writer_process else "0"],
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    acknowledged: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            acknowledged.append(line.rstrip("\n"))
            if len(acknowledged) >= 1500:
                break
        proc.send_signal(signal.SIGKILL)
        acknowledged.extend(line.rstrip("\n") for line in proc.stdout if line.endswith("\n"))
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 1500

    store = await SQLiteStore.open(path)
    try:
        for key in acknowledged:
            kv = await store.get(key)
            assert kv is not None, f"acknowledged {key} was lost"
            assert kv.value == ("value of " + key).encode()
        revision = await store.current_revision()
        assert revision >= len(acknowledged)
        assert await store.count("/registry/crash/") == revision, "every revision is a create here"
        assert (await store.create("/registry/crash/after", b"x")).mod_revision == revision + 1
    finally:
        await store.close()


async def test_refuses_unknown_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    await (await SQLiteStore.open(path)).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = 99 WHERE name = 'schema_version'")
    with pytest.raises(StorageError, match="schema version 99"):
        await SQLiteStore.open(path)


async def test_a_file_that_is_no_database_or_is_damaged_is_a_storage_error(tmp_path: Path) -> None:
    """What ``pinnace up`` reports as "cannot open the store (...): <SQLite's reason>", not a traceback."""
    stranger = tmp_path / "stranger.db"
    stranger.write_bytes(b"not a database at all " * 1000)
    with pytest.raises(StorageError, match=r"^file is not a database$"):
        await SQLiteStore.open(stranger)

    damaged = tmp_path / "damaged.db"
    store = await SQLiteStore.open(damaged)
    for i in range(200):
        await store.create(f"/k/{i}", b"v" * 500)
    await store.close()
    data = bytearray(damaged.read_bytes())
    for page in range(4096, len(data), 4096):  # every page but the header's: b-tree pages scrambled
        data[page : page + 64] = b"\xde\xad" * 32
    damaged.write_bytes(bytes(data))
    with pytest.raises(StorageError, match="malformed"):
        await SQLiteStore.open(damaged)
    release_store_lock(await take_store_lock(damaged, wait=0))  # the failed open let its lock go


def test_prefix_end() -> None:
    assert prefix_end("/registry/pods/") == "/registry/pods0"
    assert prefix_end("a\U0010ffff") == "b"
    assert prefix_end("") == b"\xff"
    assert prefix_end("\U0010ffff") == b"\xff"
    assert prefix_end("a\ud7ff") == "a\ue000"


async def test_values_must_be_bytes(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "store.db")
    try:
        with pytest.raises(TypeError):
            await store.create(P + "a", "text")  # type: ignore[arg-type]
        assert await store.current_revision() == 0
    finally:
        await store.close()


async def test_abandoned_watch_unsubscribes(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "store.db", durable=False)
    try:
        it = store.watch(P, 1)
        pending = asyncio.ensure_future(anext(it))
        await store.create(P + "a", b"x")
        await asyncio.wait_for(pending, 5)
        assert len(store._broadcaster._subs) == 1
        await it.aclose()  # type: ignore[attr-defined]
        assert len(store._broadcaster._subs) == 0
    finally:
        await store.close()


async def test_a_dead_writer_process_is_replaced_and_loses_no_acknowledged_write(tmp_path: Path) -> None:
    """kill -9 of the writer process under write load: writes it had not answered fail as of unknown outcome, every
    acknowledged one is there, a watcher sees every committed revision once and in order, and writing goes on."""
    store = await SQLiteStore.open(tmp_path / "store.db", writer_process=True)
    acknowledged: dict[str, int] = {}
    unknown = 0
    try:
        seen: list[int] = []

        async def watch() -> None:
            async for event in store.watch(P, 1):
                seen.append(event.revision)

        watcher = asyncio.create_task(watch())

        async def client(n: int) -> None:
            nonlocal unknown
            for i in range(150):
                try:
                    kv = await store.create(f"{P}c{n}-{i}", b"v")
                except StorageError as exc:
                    assert "outcome of this write is unknown" in str(exc)
                    unknown += 1
                else:
                    acknowledged[kv.key] = kv.mod_revision

        async def kill_writer() -> None:
            while len(acknowledged) < 300:
                await asyncio.sleep(0.001)
            writer = store._process
            assert writer is not None
            writer.process.kill()

        await asyncio.gather(*(client(n) for n in range(8)), kill_writer())
        assert store._process is not None and store._process.process.poll() is None, "a new writer took over"
        after = await store.create(P + "after", b"x")
        revision = await store.current_revision()
        assert after.mod_revision == revision
        for key, rev in acknowledged.items():
            kv = await store.get(key)
            assert kv is not None and kv.mod_revision == rev, key
        assert len(acknowledged) + unknown == 8 * 150
        await asyncio.sleep(0.1)
        assert seen == list(range(1, revision + 1)), "every committed revision, once, in order"
        watcher.cancel()
    finally:
        await store.close()


HOLD_LOCK_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from pinnace.storage.sqlite_lock import take_store_lock

    asyncio.run(take_store_lock(Path(sys.argv[1])))
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    """
)


def _hold_store_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    """A process holding the store's lock for ``seconds`` (as a killed server's writer does while it drains)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK_SCRIPT, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
    return proc


async def test_a_store_open_elsewhere_is_waited_for_then_refused(tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "store.db"
    holder = _hold_store_lock(path, 0.5)
    try:
        started = time.monotonic()
        store = await SQLiteStore.open(path)  # waits until the holder has ended
        assert time.monotonic() - started >= 0.3
        assert holder.wait(5) == 0
    finally:
        holder.kill()
        holder.wait()
    try:
        monkeypatch.setattr(sqlite_lock, "LOCK_WAIT", 0.2)
        with pytest.raises(StorageError, match=r"is open in another process \(it holds .*store\.db\.lock\)"):
            await SQLiteStore.open(path)  # this process has it open: a second store may not write beside it
    finally:
        await store.close()
    await (await SQLiteStore.open(path)).close()  # closed: the lock is free again


async def test_the_writer_process_shares_the_lock(tmp_path: Path) -> None:
    # The writer process outlives a killed server while it commits what it had read: it holds the lock meanwhile.
    path = tmp_path / "store.db"
    store = await SQLiteStore.open(path, writer_process=True)
    try:
        await store.create(P + "a", b"1")
        writer = store._process
        assert writer is not None
        fds = Path(f"/proc/{writer.process.pid}/fd")
        assert str(sqlite_lock.lock_path(path)) in {os.readlink(fd) for fd in fds.iterdir()}
    finally:
        await store.close()
