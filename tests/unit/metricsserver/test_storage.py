"""The metrics server's readings → usage: rates from two readings, new containers, restarts, lost nodes."""

from __future__ import annotations

from pinnace.metricsserver.samples import NodeScrape, Point, parse_summary
from pinnace.metricsserver.storage import MetricsStorage

SECOND = 1_000_000_000


def scrape(node: str, at: float, node_cpu: int, pods: dict[tuple[str, str], dict[str, Point]]) -> NodeScrape:
    return NodeScrape(node, at, Point(at, node_cpu, 1 << 30, 0.0), pods)


def test_a_rate_needs_two_readings() -> None:
    storage = MetricsStorage()
    storage.store([scrape("n1", 100.0, 50 * SECOND, {("ns", "p"): {"c": Point(100.0, 10 * SECOND, 1000, 10.0)}})])
    assert storage.node("n1") is None
    assert storage.pod(("ns", "p")) is None
    storage.store([scrape("n1", 115.0, 65 * SECOND, {("ns", "p"): {"c": Point(115.0, 13 * SECOND, 2048, 10.0)}})])
    node = storage.node("n1")
    assert node is not None and node.cpu_nanocores == SECOND and node.window == 15.0
    usage = storage.pod(("ns", "p"))
    assert usage is not None
    assert usage["c"].cpu_nanocores == 200_000_000  # 3 s of CPU over 15 s: 0.2 cores
    assert usage["c"].memory_bytes == 2048 and usage["c"].timestamp == 115.0


def test_a_container_started_since_the_last_scrape_counts_from_its_start() -> None:
    storage = MetricsStorage()
    storage.store([scrape("n1", 100.0, 0, {})])
    storage.store([scrape("n1", 115.0, 0, {("ns", "new"): {"c": Point(115.0, 5 * SECOND, 10, 105.0)}})])
    usage = storage.pod(("ns", "new"))
    assert usage is not None and usage["c"].cpu_nanocores == SECOND // 2 and usage["c"].window == 10.0


def test_a_container_that_was_there_before_waits_for_a_second_reading() -> None:
    storage = MetricsStorage()  # first round ever: no earlier scrape of the node, so no start-time shortcut
    storage.store([scrape("n1", 115.0, 0, {("ns", "old"): {"c": Point(115.0, 5 * SECOND, 10, 105.0)}})])
    assert storage.pod(("ns", "old")) is None


def test_a_restarted_container_starts_over() -> None:
    storage = MetricsStorage()
    storage.store([scrape("n1", 100.0, 0, {("ns", "p"): {"c": Point(100.0, 50 * SECOND, 10, 10.0)}})])
    storage.store([scrape("n1", 115.0, 0, {("ns", "p"): {"c": Point(115.0, 1 * SECOND, 10, 112.0)}})])
    usage = storage.pod(("ns", "p"))  # counter went back, restarted at 112: counted from its start
    assert usage is not None and usage["c"].cpu_nanocores == SECOND // 3


def test_a_pod_is_reported_only_when_every_container_has_a_usage() -> None:
    storage = MetricsStorage()
    storage.store([scrape("n1", 100.0, 0, {("ns", "p"): {"a": Point(100.0, 0, 1, 1.0)}})])
    pods = {("ns", "p"): {"a": Point(115.0, SECOND, 1, 1.0), "b": Point(115.0, SECOND, 1, 1.0)}}
    storage.store([scrape("n1", 115.0, 0, pods)])
    assert storage.pod(("ns", "p")) is None  # b is new but started before the previous scrape: no rate yet


def test_a_node_that_fails_keeps_its_readings_for_a_round_then_they_go() -> None:
    storage = MetricsStorage()
    pods = {("ns", "p"): {"c": Point(100.0, 0, 1, 1.0)}}
    storage.store([scrape("n1", 100.0, 0, pods)])
    storage.store([scrape("n1", 115.0, 15 * SECOND, {("ns", "p"): {"c": Point(115.0, SECOND, 1, 1.0)}})])
    storage.store([], failed=frozenset({"n1"}))
    assert storage.node("n1") is not None and storage.pod(("ns", "p")) is not None
    storage.store([])
    assert storage.node("n1") is None and storage.pod(("ns", "p")) is None
    assert storage.pod_keys() == []


def test_parse_summary_keeps_running_containers_with_readings() -> None:
    summary = {
        "node": {"nodeName": "n1", "cpu": {"usageCoreNanoSeconds": 7}, "memory": {"workingSetBytes": 9}},
        "pods": [
            {
                "podRef": {"name": "p", "namespace": "ns", "uid": "u"},
                "containers": [
                    {"name": "a", "startTime": "2026-11-28T10:00:00Z", "cpu": {"usageCoreNanoSeconds": 5},
                     "memory": {"workingSetBytes": 4}},
                    {"name": "b", "startTime": "2026-11-28T10:00:00Z"},
                ],
            },
            {"podRef": {"name": "q", "namespace": "ns"}, "containers": []},
        ],
    }  # fmt: skip
    parsed = parse_summary("n1", summary, 1234.5)
    assert parsed.point == Point(1234.5, 7, 9, 0.0)
    assert list(parsed.pods) == [("ns", "p")]
    a = parsed.pods[("ns", "p")]["a"]
    assert (a.cpu, a.memory, a.timestamp) == (5, 4, 1234.5)
    assert a.start == 1795860000.0
