"""The memory scavenger: it trims only after the process grew by its threshold, and glibc's trim really gives
freed heap memory back (the API server's RSS stayed high after bursts of TLS connections without it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from pinnace.cluster.runtime_tuning import MemoryScavenger, malloc_trim, resident_bytes

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
