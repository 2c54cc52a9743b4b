"""Process settings for Pinnace's long-running server processes: the event loop and the garbage collector.

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
the longest was 22 ms (young ones under 5 ms): more frequent, for about the same
total work (a survivor is scanned once per generation either way), and creates
cost no more CPU. The oldest generation is collected about as often as before
(every 100M net allocations; its threshold counts middle collections).
"""

from __future__ import annotations

import contextlib
import gc

__all__ = ["GC_THRESHOLDS", "install_event_loop", "tune_garbage_collector"]

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
