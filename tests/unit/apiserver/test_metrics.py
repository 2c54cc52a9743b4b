"""The API server's metric families in the Prometheus text format, as kube-apiserver names them."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from pinnace.apiserver.metrics import ServerMetrics

CREATE = ("CREATE", "", "v1", "configmaps", "")


def samples(metrics: ServerMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, parsed back by prometheus_client's own parser."""
    out = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for s in family.samples:
            out[s.name, tuple(sorted(s.labels.items()))] = s.value
    return out


def labels(**kv: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(kv.items()))


def test_requests_are_counted_by_verb_resource_and_code() -> None:
    metrics = ServerMetrics()
    for _ in range(3):
        metrics.observe_request(CREATE, 201, 0.001)
    metrics.observe_request(CREATE, 409, 0.001)
    metrics.observe_request(("WATCH", "", "v1", "pods", ""), 200, None)
    got = samples(metrics)
    create = {"verb": "CREATE", "group": "", "version": "v1", "resource": "configmaps", "subresource": ""}
    assert got["apiserver_request_total", labels(**create, code="201")] == 3
    assert got["apiserver_request_total", labels(**create, code="409")] == 1
    watch = labels(verb="WATCH", group="", version="v1", resource="pods", subresource="", code="200")
    assert got["apiserver_request_total", watch] == 1
    # A long-running request is counted, not timed.
    timed = {name for name, _ in got if name.startswith("apiserver_request_duration_seconds")}
    assert timed == {
        "apiserver_request_duration_seconds_bucket",
        "apiserver_request_duration_seconds_sum",
        "apiserver_request_duration_seconds_count",
    }
    assert not any(name.endswith("_count") and dict(lbl).get("verb") == "WATCH" for name, lbl in got)


def test_latency_buckets_are_cumulative_and_a_bound_is_inclusive() -> None:
    metrics = ServerMetrics()
    for seconds in (0.0001, 0.0005, 0.0007, 0.003, 100.0):
        metrics.observe_request(CREATE, 201, seconds)
    got = samples(metrics)
    base = {"verb": "CREATE", "group": "", "version": "v1", "resource": "configmaps", "subresource": ""}

    def bucket(le: str) -> float:
        return got["apiserver_request_duration_seconds_bucket", labels(**base, le=le)]

    assert bucket("0.0005") == 2  # 0.0005 itself falls in le="0.0005"
    assert bucket("0.001") == 3
    assert bucket("0.005") == 4
    assert bucket("60.0") == 4
    assert bucket("+Inf") == 5
    assert got["apiserver_request_duration_seconds_count", labels(**base)] == 5
    assert abs(got["apiserver_request_duration_seconds_sum", labels(**base)] - 100.0043) < 1e-9


def test_storage_latency_and_open_watches() -> None:
    metrics = ServerMetrics()
    metrics.storage_latency.labels("create").observe(0.002)
    metrics.longrunning.labels("WATCH", "", "v1", "pods").inc()
    got = samples(metrics)
    assert got["apiserver_storage_request_duration_seconds_count", labels(operation="create")] == 1
    assert got["apiserver_storage_request_duration_seconds_bucket", labels(operation="create", le="0.0025")] == 1
    assert got["apiserver_storage_request_duration_seconds_bucket", labels(operation="create", le="0.001")] == 0
    watches = labels(verb="WATCH", group="", version="v1", resource="pods")
    assert got["apiserver_longrunning_requests", watches] == 1
