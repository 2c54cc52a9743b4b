"""Rate limiters: controller-runtime's default backoff and token bucket, on a fake clock."""

from __future__ import annotations

import pytest

from pinnace.runtime.clock import FakeClock
from pinnace.runtime.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    default_controller_rate_limiter,
)


def test_exponential_backoff_doubles_from_5ms_and_caps_at_1000s() -> None:
    limiter = ItemExponentialFailureRateLimiter()
    delays = [limiter.when("a") for _ in range(20)]
    assert delays[:4] == pytest.approx([0.005, 0.01, 0.02, 0.04])
    assert delays[-1] == 1000.0
    assert limiter.num_requeues("a") == 20
    assert limiter.when("b") == pytest.approx(0.005)  # per item
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == pytest.approx(0.005)


def test_exponential_backoff_survives_huge_failure_counts() -> None:
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    for _ in range(200):
        delay = limiter.when("x")
    assert delay == 1000.0


def test_bucket_allows_a_burst_then_paces_at_qps() -> None:
    clock = FakeClock()
    bucket = BucketRateLimiter(qps=10, burst=100, clock=clock)
    assert all(bucket.when(i) == 0.0 for i in range(100))
    assert bucket.when("next") == pytest.approx(0.1)
    assert bucket.when("after") == pytest.approx(0.2)


async def test_bucket_refills_with_time() -> None:
    clock = FakeClock()
    bucket = BucketRateLimiter(qps=10, burst=5, clock=clock)
    for i in range(5):
        assert bucket.when(i) == 0.0
    await clock.advance(0.5)  # five tokens back
    assert [bucket.when(i) for i in range(5)] == [0.0] * 5
    assert bucket.when("x") == pytest.approx(0.1)


def test_default_limiter_is_the_max_of_both() -> None:
    clock = FakeClock()
    limiter = default_controller_rate_limiter(clock)
    assert isinstance(limiter, MaxOfRateLimiter)
    assert limiter.when("k") == pytest.approx(0.005)
    assert limiter.when("k") == pytest.approx(0.01)
    assert limiter.num_requeues("k") == 2
    # 98 other items drain the rest of the burst; then the bucket's pacing dominates.
    for i in range(98):
        limiter.when(i)
    assert limiter.when("fresh") == pytest.approx(0.1)
    limiter.forget("k")
    assert limiter.num_requeues("k") == 0


def test_max_of_needs_a_limiter() -> None:
    with pytest.raises(ValueError):
        MaxOfRateLimiter()
