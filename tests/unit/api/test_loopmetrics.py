"""The loop metric families expose what prometheus_client's own would, for the same updates."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pinnace.api.loopmetrics import LoopCounter, LoopGauge, LoopHistogram

BUCKETS = (0.001, 0.01, 0.1, 1.0)


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            if not s.name.endswith("_created"):  # prometheus_client's creation time: the loop families have none
                out[s.name, tuple(sorted(s.labels.items()))] = s.value
    return out


def test_same_samples_as_prometheus_client_for_the_same_updates() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    counters = LoopCounter("jobs", "Jobs.", ["queue"], ours), Counter("jobs", "Jobs.", ["queue"], registry=theirs)
    gauges = LoopGauge("depth", "Depth.", ["queue"], ours), Gauge("depth", "Depth.", ["queue"], registry=theirs)
    histograms = (
        LoopHistogram("wait_seconds", "Wait.", ["queue"], BUCKETS, ours),
        Histogram("wait_seconds", "Wait.", ["queue"], buckets=BUCKETS, registry=theirs),
    )
    for counter, gauge, histogram in zip(counters, gauges, histograms, strict=True):
        for queue, n in (("a", 3), ("b", 1)):
            for i in range(n):
                counter.labels(queue).inc()
                histogram.labels(queue).observe(0.01 * i)  # 0.01 lands in the 0.01 bucket: le is inclusive
        counter.labels("a").inc(2.5)
        histogram.labels("b").observe(5.0)  # only +Inf
        gauge.labels("a").set(7)
        gauge.labels("a").inc()
        gauge.labels("a").dec(3)
        gauge.labels("b").inc(0.5)
    assert samples(ours) == samples(theirs)
    assert samples(ours)["depth", (("queue", "a"),)] == 5.0
    assert samples(ours)["wait_seconds_bucket", (("le", "0.01"), ("queue", "a"))] == 2.0
