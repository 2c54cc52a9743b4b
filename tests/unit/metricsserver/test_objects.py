"""metrics.k8s.io objects as metrics-server writes them."""

from __future__ import annotations

from pinnace.metricsserver import objects
from pinnace.metricsserver.storage import Usage


def test_quantities_are_written_as_metrics_server_writes_them() -> None:
    assert objects.cpu_quantity(1_234_567) == "1234567n"
    assert objects.cpu_quantity(5_000_000) == "5m"
    assert objects.cpu_quantity(2_000_000_000) == "2"
    assert objects.cpu_quantity(0) == "0"
    assert objects.memory_quantity(1 << 20) == "1Mi"
    assert objects.memory_quantity(12345 * 1024) == "12345Ki"
    assert objects.memory_quantity(1000) == "1k"


def test_pod_metrics_shape() -> None:
    usage = {"b": Usage(1795860015.0, 15.011, 250_000_000, 64 << 20), "a": Usage(1795860015.0, 15.011, 0, 4096)}
    pm = objects.pod_metrics("ns", "web-1", {"app": "web"}, usage, 1795860020.0)
    assert pm["kind"] == "PodMetrics" and pm["apiVersion"] == "metrics.k8s.io/v1beta1"
    assert pm["metadata"] == {
        "name": "web-1",
        "namespace": "ns",
        "creationTimestamp": "2026-11-28T10:00:20Z",
        "labels": {"app": "web"},
    }
    assert pm["timestamp"] == "2026-11-28T10:00:15Z" and pm["window"] == "15.011s"
    assert pm["containers"] == [
        {"name": "a", "usage": {"cpu": "0", "memory": "4Ki"}},
        {"name": "b", "usage": {"cpu": "250m", "memory": "64Mi"}},
    ]
    table = objects.table([pm])
    assert table["rows"][0]["cells"] == ["web-1", "250m", "65540Ki", "15.011s"]
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "CPU", "Memory", "Window"]


def test_node_metrics_and_discovery() -> None:
    nm = objects.node_metrics("n1", {}, Usage(1795860015.0, 15.0, 1_500_000_000, 2 << 30), 1795860015.0)
    assert nm["usage"] == {"cpu": "1500m", "memory": "2Gi"} and "namespace" not in nm["metadata"]
    assert nm["window"] == "15s" and "labels" not in nm["metadata"]
    resources = {r["name"]: r for r in objects.api_resource_list()["resources"]}
    assert resources["pods"]["namespaced"] and not resources["nodes"]["namespaced"]
    assert resources["pods"]["verbs"] == ["get", "list"]
    assert objects.metrics_list("PodMetrics", [])["kind"] == "PodMetricsList"
