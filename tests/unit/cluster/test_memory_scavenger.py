"""The memory scavenger: it trims only after the process grew by its threshold, and glibc's trim really gives
freed heap memory back (the API server's RSS stayed high after bursts of TLS connections without it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from pinnace.cluster.runtime_tuning import SCAVENGE_MAX_SKIP, MemoryScavenger, malloc_trim, resident_bytes

MB = 2**20


def test_it_trims_once_the_process_has_grown_by_the_threshold() -> None:
    sizes = iter([100 * MB, 120 * MB, 140 * MB, 60 * MB, 80 * MB, 95 * MB, 70 * MB])
    trims: list[int] = []
    scavenger = MemoryScavenger(lambda: trims.append(1), lambda: next(sizes), growth=32 * MB)
    assert scavenger.baseline == 100 * MB
    assert not scavenger.check()  # 120: +20
    assert scavenger.check()  # 140: +40, trimmed down to 60
    assert trims == [1] and scavenger.baseline == 60 * MB
    assert not scavenger.check()  # 80: +20 from the new baseline
    assert scavenger.check()  # 95: +35


class Heap:
    """A process's heap as the scavenger sees it: resident bytes, of which ``live`` are in use; a trim gives
    back the rest."""

    def __init__(self, resident: int) -> None:
        self.resident = self.live = resident
        self.trims = 0

    def trim(self) -> None:
        self.trims += 1
        self.resident = self.live


def test_memory_freed_without_growth_is_given_back_and_futile_trims_back_off() -> None:
    heap = Heap(100 * MB)
    scavenger = MemoryScavenger(heap.trim, lambda: heap.resident, growth=32 * MB)
    heap.resident = heap.live = 400 * MB  # large objects come in: trimmed for the growth, nothing to give back
    assert scavenger.check() and heap.resident == 400 * MB
    heap.live = 110 * MB  # ... and go: the heap keeps their memory, without growing
    assert scavenger.check() and heap.resident == 110 * MB  # 300 MB above the floor (100): given back
    assert (heap.trims, scavenger.floor) == (2, 100 * MB)
    assert not scavenger.check()  # 10 MB above the floor: nothing to do

    heap.resident = heap.live = 300 * MB  # now it is all in use: each look finds nothing, so looks wait longer
    assert scavenger.check()  # the growth
    looks_between = []
    for _ in range(8):
        before = heap.trims
        looks = 1
        while not scavenger.check():
            looks += 1
        assert heap.trims == before + 1
        looks_between.append(looks)
    assert looks_between == [1, 3, 5, 9, 9, 9, 9, 9]  # after a trim that found nothing: 2, 4, 8 skipped, then 8
    assert max(looks_between) == SCAVENGE_MAX_SKIP + 1
    heap.live = 120 * MB  # freed at last: the next trim gives it back, and the waits start over
    while not scavenger.check():
        pass
    assert heap.resident == 120 * MB
    heap.resident = heap.live = 200 * MB
    assert scavenger.check()  # growth: at once
    heap.live = 100 * MB
    assert scavenger.check() and heap.resident == 100 * MB  # above the floor, trims not futile lately: at once


def test_malloc_trim_returns_freed_heap_memory() -> None:
    """Fragment the heap with many mid-sized blocks, free them, keep one small block per 64 KB alive: RSS stays
    up until the trim (in a fresh interpreter, so the test process's own heap does not blur it)."""
    assert malloc_trim() is not None, "this is a glibc system: malloc_trim must be found"
    assert resident_bytes() > 0
    script = textwrap.dedent(
        """
        from pinnace.cluster.runtime_tuning import malloc_trim, resident_bytes
        blocks = [bytearray(30_000) for _ in range(8_000)]
        keep = [bytes(16) for i in range(4_000)]
        del blocks
        before = resident_bytes()
        malloc_trim()()
        print(before, resident_bytes())
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    before, after = map(int, out.split())
    assert before - after > 100 * MB, (before // MB, after // MB)
