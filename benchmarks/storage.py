"""Storage benchmark: does group commit beat one fsync per insert?

Measures, on the same disk and both durable (WAL, ``synchronous=FULL``):

(a) raw SQLite: a plain table, each insert its own transaction (one commit, one
    fsync), sequential — SQLite serializes writers anyway, so this is the best a
    one-write-one-commit design can do;
(b) ``SQLiteStore.create`` driven by 32 concurrent asyncio clients.

Prints both rates in creates/s and their ratio (store / raw); the project's
target is >= 1.0x. ``benchmarks/api.py`` imports the two measurement functions.

Run: ``python benchmarks/storage.py [--dir DIR] [--total N] [--clients N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from pinnace.storage.sqlite import SQLiteStore

VALUE = os.urandom(1024)  # a typical small Kubernetes object's JSON size
DEFAULT_TOTAL = 20000
TIME_LIMIT = 3.0  # seconds per measurement, whichever of total / time limit comes first


def raw_sqlite_inserts_per_second(directory: str | Path, total: int = DEFAULT_TOTAL) -> float:
    """Inserts/s of one-insert-one-commit-one-fsync on a plain WAL table in ``directory``."""
    path = Path(directory) / "raw.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE IF NOT EXISTS kv (id INTEGER PRIMARY KEY, key TEXT UNIQUE, value BLOB)")
        done = 0
        start = time.perf_counter()
        deadline = start + TIME_LIMIT
        while done < total and time.perf_counter() < deadline:
            conn.execute("BEGIN")
            conn.execute("INSERT INTO kv (key, value) VALUES (?, ?)", (f"/raw/{done}", VALUE))
            conn.execute("COMMIT")
            done += 1
        return done / (time.perf_counter() - start)
    finally:
        conn.close()


async def store_creates_per_second(directory: str | Path, clients: int = 32, total: int = DEFAULT_TOTAL) -> float:
    """Creates/s of a durable :class:`SQLiteStore` in ``directory`` under ``clients`` concurrent writers."""
    store = await SQLiteStore.open(Path(directory) / "store.db", durable=True)
    try:
        counter = iter(range(total))
        deadline = time.perf_counter() + TIME_LIMIT
        done = 0

        async def client(n: int) -> None:
            nonlocal done
            for i in counter:
                if time.perf_counter() > deadline:
                    return
                await store.create(f"/registry/bench/c{n}/k{i}", VALUE)
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(client(n) for n in range(clients)))
        return done / (time.perf_counter() - start)
    finally:
        await store.close()


def main() -> None:
    """Run both measurements once and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", help="directory on the disk to measure (default: a temporary one in cwd)")
    parser.add_argument("--total", type=int, default=DEFAULT_TOTAL)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir or ".", prefix="pinnace-bench-") as directory:
        raw = raw_sqlite_inserts_per_second(directory, args.total)
        store = asyncio.run(store_creates_per_second(directory, args.clients, args.total))
    print(f"raw sqlite, 1 insert = 1 commit = 1 fsync : {raw:10.0f} inserts/s")
    print(f"SQLiteStore.create, {args.clients} clients, group commit: {store:10.0f} creates/s")
    print(f"ratio store/raw: {store / raw:.2f}x (target >= 1.0x)")


if __name__ == "__main__":
    main()
