"""Process settings for Pinnace's long-running server processes: the event loop, the garbage collector, and
returning freed heap memory to the operating system.

The API server and the controller manager keep many long-lived, acyclic
objects (a watch cache, informer caches: JSON as dicts and lists) and allocate
heavily per request. CPython's cyclic collector, at its defaults (a young
collection every 700 net allocations), spends a large share of their CPU
re-scanning those objects: about a quarter of the API server's CPU per write
in ``benchmarks/validation.py``. Reference counting frees almost everything
here; cycles are rare. So after start-up the objects made so far are frozen
out of collection (``gc.freeze``) and the thresholds are raised: cycles are
still collected, just much less often.

The middle generation is kept small, because a pause stalls every request and
watcher of the loop: a collection of it scans everything that survived the
young collections since the last one. With 50k young allocations and 20 young
collections per middle one, ``benchmarks/api.py`` measured a 286 ms middle
collection in its watch fan-out phase (after its ~60k creates). At 20k and 2,
the longest was 22 ms (young ones under 5 ms; on a later, about twice slower machine,
middle collections in create bursts took 30-62 ms): more frequent, for about the same
total work (a survivor is scanned once per generation either way), and creates
cost no more CPU. The oldest generation is collected about as often as before
(every 100M net allocations; its threshold counts middle collections).

Freed memory: every TLS connection holds OpenSSL buffers (about 33 KB) that
C's ``malloc`` serves. When many connections are open at once (a burst of
clients, a thousand watchers) and then close, glibc's allocator keeps the freed
memory, and the heap is so fragmented that the next burst reuses only part of
it: an API server that had 21,000 idle connections open once stayed at 1.3 GB,
and each further burst of 5,000 added 150 MB more, with nothing open. Go's
runtime (kube-apiserver's) hands freed memory back with its background
scavenger; :class:`MemoryScavenger` does the same with glibc's
``malloc_trim``: 330 MB back in 55 ms, and 0.3 ms when nothing is to be had.

Memory freed without the process growing is handed back too: after large
objects pass through the caches (created, deleted, pushed out of the event
windows), the heap stays as large as it grew, full of freed blocks. An API
server that had 30 objects of 1.4 MB through it stayed at 820 MB resident with
15 MB of live Python objects; a trim brought it to 260 MB. So the scavenger also
trims while the process stays well above the least it was after a trim, backing
off while those trims find nothing (memory that is really in use).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import Callable

__all__ = [
    "GC_THRESHOLDS",
    "SCAVENGE_GROWTH",
    "SCAVENGE_INTERVAL",
    "SCAVENGE_MAX_SKIP",
    "MemoryScavenger",
    "install_event_loop",
    "malloc_trim",
    "prepare_server_process",
    "raise_open_files_limit",
    "resident_bytes",
    "tune_garbage_collector",
]

log = logging.getLogger(__name__)

#: Young-generation allocations between collections, then how many young and
#: middle collections before the next older one (CPython's defaults: 700, 10, 10).
GC_THRESHOLDS = (20_000, 2, 2_500)


def tune_garbage_collector() -> None:
    """Freeze what exists now (start-up's modules, schemas, tables) and collect cycles less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def install_event_loop() -> None:
    """Use uvloop for asyncio when it is installed (it is a dependency; the fallback is asyncio's own loop)."""
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()


def raise_open_files_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit, as Go's runtime does for kube-apiserver
    and the kubelet; the soft limit now. Distributions start processes with a soft limit of 1024 (and a hard one
    of 500,000 or more): an API server with a thousand watchers, or a node agent with many pods, would run out
    of descriptors and refuse connections."""
    import resource  # here: not every process of the package needs it

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft >= hard:
        return soft
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


def prepare_server_process() -> None:
    """What every long-running Pinnace process (API server, controller manager, node agent) sets up first: the
    event loop, and as many open files as the system allows it."""
    install_event_loop()
    raise_open_files_limit()


#: How often the scavenger looks, and how much the resident size must have grown since it last trimmed (or
#: started) before a trim is worth its pause.
SCAVENGE_INTERVAL = 30.0
SCAVENGE_GROWTH = 32 * 1024 * 1024
#: While trims for staying above the floor give little back, the looks skipped before the next one double up
#: to this many (30 s each: four minutes). Memory in use one minute is often freed the next (the watch caches
#: let old events go after a few minutes): a quarter of an hour kept 130 MB of it resident that long.
SCAVENGE_MAX_SKIP = 8


def malloc_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)`` (give every free page of the heap back), or None where the C library has
    none (musl, macOS)."""
    import ctypes  # here: the processes that only tune their loop do not pay for it

    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


def resident_bytes(pid: int | None = None) -> int:
    """The resident set size of this process (or of ``pid``), in bytes (0 where ``/proc`` does not tell, or once
    the process is gone)."""
    try:
        with open(f"/proc/{pid or 'self'}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class MemoryScavenger:
    """Hands the heap's freed memory back to the operating system: once the process has grown by ``growth``
    since the last trim, and while it stays ``growth`` above the least it was after one (``floor``), trying
    ever less often while such trims give little back.

    ``trim`` and ``resident`` are :func:`malloc_trim`'s and :func:`resident_bytes` (tests pass their own).
    """

    def __init__(
        self, trim: Callable[[], object], resident: Callable[[], int] = resident_bytes, growth: int = SCAVENGE_GROWTH
    ) -> None:
        self.trim = trim
        self.resident = resident
        self.growth = growth
        self.baseline = resident()  # resident after the last trim (or at start)
        self.floor = self.baseline  # the least resident after a trim (or at start)
        self._skip = 1  # looks to let pass before the next trim for staying above the floor
        self._waiting = 0

    def check(self) -> bool:
        """Trim if the process has grown by ``growth`` since the last trim, or has stayed that far above the
        floor for long enough; whether it trimmed."""
        before = self.resident()
        grew = before - self.baseline >= self.growth
        if not grew:
            if before - self.floor < self.growth:
                self._skip, self._waiting = 1, 0
                return False
            if self._waiting > 0:
                self._waiting -= 1
                return False
        self.trim()
        self.baseline = self.resident()
        self.floor = min(self.floor, self.baseline)
        returned = before - self.baseline
        if not grew and returned < self.growth // 4:  # what is resident is in use: look again later
            self._skip = min(self._skip * 2, SCAVENGE_MAX_SKIP)
            self._waiting = self._skip
        elif returned >= self.growth // 4:
            self._skip, self._waiting = 1, 0
        log.debug("returned %d MB of freed memory", returned // 2**20)
        return True

    @classmethod
    async def run_forever(cls, interval: float = SCAVENGE_INTERVAL) -> None:
        """Check every ``interval`` seconds, for the life of the process (nothing to do without glibc)."""
        trim = malloc_trim()
        if trim is None:
            return
        scavenger = cls(trim)
        while True:
            await asyncio.sleep(interval)
            scavenger.check()
