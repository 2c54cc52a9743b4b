"""One writer per SQLite store: an exclusive ``flock`` on ``<database>.lock`` for as long as a store has it open.

Two writers on one file would hand out the same revisions. That can happen without two servers being started by
hand: when ``pinnace up`` is killed (SIGKILL), its writer process (``sqlite_writer``) lives on until it has
committed what it had already read, and a store opened again at once would start counting from a revision that
writer is about to take. The store's process takes the lock before it reads the revision, and the writer process
inherits the same open file (``pass_fds``), so the lock is held until both have ended; a second opener waits for it
(briefly, as for a dying writer's last batch), then says who holds the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from pathlib import Path

from pinnace.storage.interface import StorageError

__all__ = ["LOCK_WAIT", "lock_path", "release_store_lock", "take_store_lock"]

#: How long an opener waits for the store's lock: long enough for a killed server's writer to finish its batch.
LOCK_WAIT = 10.0
_POLL = 0.02


def lock_path(database: Path) -> Path:
    """The lock file of the store at ``database``."""
    return database.with_name(database.name + ".lock")


async def take_store_lock(database: Path, wait: float | None = None) -> int:
    """The file descriptor holding ``database``'s exclusive lock (close it with :func:`release_store_lock`);
    StorageError if another process keeps the store open for ``wait`` seconds (default :data:`LOCK_WAIT`)."""
    path = lock_path(database)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + (LOCK_WAIT if wait is None else wait)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StorageError(
                        f"the store {database} is open in another process (it holds {path}); stop that server "
                        "first, or open another data directory"
                    ) from None
                await asyncio.sleep(_POLL)
    except BaseException:
        os.close(fd)
        raise


def release_store_lock(fd: int) -> None:
    """Give the lock up (it stays held while a process that inherited the descriptor lives)."""
    with contextlib.suppress(OSError):
        os.close(fd)
