"""Parsing the metrics.k8s.io/v1beta1 PodMetricsList the HPA reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pinnace.controllers.hpa_metrics import PodMetrics, parse_pod_metrics_list

LISTING = {
    "kind": "PodMetricsList",
    "apiVersion": "metrics.k8s.io/v1beta1",
    "metadata": {},
    "items": [
        {
            "metadata": {"name": "web-1", "namespace": "default", "creationTimestamp": "2026-01-01T00:00:20Z"},
            "timestamp": "2026-01-01T00:00:15Z",
            "window": "15.123s",
            "containers": [
                {"name": "app", "usage": {"cpu": "12345678n", "memory": "1024Ki"}},
                {"name": "proxy", "usage": {"cpu": "250m", "memory": "12Mi"}},
            ],
        },
        {
            "metadata": {"name": "web-2", "namespace": "default"},
            "timestamp": "2026-01-01T00:01:00Z",
            "window": "1m0s",
            "containers": [],
        },
    ],
}


def test_parses_usage_in_millicores_and_bytes() -> None:
    at = datetime(2026, 1, 1, 0, 0, 15, tzinfo=UTC).timestamp()
    assert parse_pod_metrics_list(LISTING) == [
        PodMetrics(
            "web-1",
            at,
            15.123,
            {"app": {"cpu": 13, "memory": 1024 * 1024}, "proxy": {"cpu": 250, "memory": 12 * 2**20}},
        ),
        PodMetrics("web-2", at + 45, 60.0, {}),
    ]


def test_an_empty_list_has_no_samples_and_nonsense_is_refused() -> None:
    assert parse_pod_metrics_list({"kind": "PodMetricsList", "items": None}) == []
    with pytest.raises(ValueError, match="invalid duration"):
        parse_pod_metrics_list({"items": [{"metadata": {"name": "x"}, "window": "soon"}]})
