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
"""

from __future__ import annotations

import contextlib
import gc

__all__ = ["GC_THRESHOLDS", "install_event_loop", "tune_garbage_collector"]

#: Young-generation allocations between collections, then how many young and
#: middle collections before the next older one (CPython's defaults: 700, 10, 10).
GC_THRESHOLDS = (50_000, 20, 100)


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
