"""The controller SDK: controller-runtime's proven split, in asyncio Python.

What is here so far, bottom up:

- :mod:`~pinnace.runtime.clock` — the real clock and a fake one tests advance by hand;
- :mod:`~pinnace.runtime.ratelimit` — retry delays (per-item exponential backoff, token bucket);
- :mod:`~pinnace.runtime.workqueue` — deduplicated keys, one worker per key, delays, rate limits;
- :mod:`~pinnace.runtime.metrics` — the workqueue and reconcile metrics, named as upstream.

The cache (reflector → delta FIFO → indexer → informer), the client, the
controller, builder and manager build on these (issue: the controller SDK).
"""

from pinnace.runtime.clock import Clock, FakeClock, RealClock
from pinnace.runtime.ratelimit import RateLimiter, default_controller_rate_limiter
from pinnace.runtime.workqueue import ShutDown, WorkQueue

__all__ = [
    "Clock",
    "FakeClock",
    "RateLimiter",
    "RealClock",
    "ShutDown",
    "WorkQueue",
    "default_controller_rate_limiter",
]
