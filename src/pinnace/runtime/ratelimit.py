"""Rate limiters for the workqueue, with controller-runtime's defaults.

A limiter answers "how long should this item wait before it is retried?"
(:meth:`RateLimiter.when`), counts failures per item, and forgets an item once
it succeeded. The default controller limiter is the larger of

- per-item exponential backoff: 5 ms, 10 ms, 20 ms, … capped at 1000 s;
- an overall token bucket: 10 retries per second, bursts of 100.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

from pinnace.runtime.clock import Clock, RealClock

__all__ = [
    "BucketRateLimiter",
    "ItemExponentialFailureRateLimiter",
    "MaxOfRateLimiter",
    "RateLimiter",
    "default_controller_rate_limiter",
]


class RateLimiter(Protocol):
    """Decides retry delays and remembers failures per item."""

    def when(self, item: Hashable) -> float:
        """Seconds the item should wait before its next try (counts one more failure)."""
        ...

    def forget(self, item: Hashable) -> None:
        """The item succeeded: start its backoff afresh next time."""
        ...

    def num_requeues(self, item: Hashable) -> int:
        """How many times the item failed since it was last forgotten."""
        ...


class ItemExponentialFailureRateLimiter:
    """``base * 2**failures``, capped at ``cap`` seconds, per item."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        self.base = base
        self.cap = cap
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        """The item's next backoff; doubles with each call."""
        exp = self._failures.get(item, 0)
        self._failures[item] = exp + 1
        if exp > 64:  # 2**64 * base overflows any sensible cap
            return self.cap
        return min(self.base * float(2**exp), self.cap)

    def forget(self, item: Hashable) -> None:
        """Reset the item's failure count."""
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        """The item's failure count."""
        return self._failures.get(item, 0)


class BucketRateLimiter:
    """A token bucket shared by all items: ``qps`` tokens a second, at most ``burst`` saved up.

    Each call reserves a token; when the bucket is empty the answer is how long
    until that reservation's token arrives (as Go's ``rate.Limiter.Reserve``).
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Clock | None = None) -> None:
        self.qps = qps
        self.burst = burst
        self._clock = clock or RealClock()
        self._tokens = float(burst)
        self._last = self._clock.now()

    def when(self, item: Hashable) -> float:
        """Delay until this reservation's token is available."""
        now = self._clock.now()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, item: Hashable) -> None:
        """Nothing is kept per item."""

    def num_requeues(self, item: Hashable) -> int:
        """Always 0: the bucket does not count per item."""
        return 0


class MaxOfRateLimiter:
    """The longest delay any of several limiters asks for."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        """The maximum of every limiter's delay (each counts the failure)."""
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        """Forget the item in every limiter."""
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        """The largest count any limiter keeps."""
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter(clock: Clock | None = None) -> RateLimiter:
    """controller-runtime's default: exponential 5 ms → 1000 s per item, and 10 qps / burst 100 overall."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(10.0, 100, clock),
    )
