"""autoscaling/v1 <-> autoscaling/v2 HorizontalPodAutoscaler conversion, as upstream's v1 conversion does it."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from pinnace.api import errors
from pinnace.api.hpaconversion import ROUND_TRIP_ANNOTATIONS, to_v1, to_v2

REF = {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}
SELECTOR = {"matchLabels": {"app": "web"}}

#: One metric of every source type, at v2, with the v1 form upstream writes for it in the annotation.
SPEC_METRICS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (
        {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Gi"}}},
        {"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "1Gi"}},
    ),
    (
        {
            "type": "ContainerResource",
            "containerResource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 40},
                "container": "app",
            },
        },
        {
            "type": "ContainerResource",
            "containerResource": {"name": "cpu", "targetAverageUtilization": 40, "container": "app"},
        },
    ),
    (
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "rps", "selector": SELECTOR},
                "target": {"type": "AverageValue", "averageValue": "100"},
            },
        },
        {"type": "Pods", "pods": {"metricName": "rps", "targetAverageValue": "100", "selector": SELECTOR}},
    ),
    (
        {
            "type": "Object",
            "object": {
                "describedObject": {"kind": "Ingress", "name": "main", "apiVersion": "networking.k8s.io/v1"},
                "target": {"type": "Value", "value": "10k"},
                "metric": {"name": "hits"},
            },
        },
        {
            "type": "Object",
            "object": {
                "target": {"kind": "Ingress", "name": "main", "apiVersion": "networking.k8s.io/v1"},
                "metricName": "hits",
                "targetValue": "10k",
            },
        },
    ),
    (
        {
            "type": "External",
            "external": {
                "metric": {"name": "queue", "selector": SELECTOR},
                "target": {"type": "AverageValue", "averageValue": "30"},
            },
        },
        {
            "type": "External",
            "external": {"metricName": "queue", "metricSelector": SELECTOR, "targetAverageValue": "30"},
        },
    ),
]
STATUS_METRICS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (
        {
            "type": "Resource",
            "resource": {"name": "cpu", "current": {"averageValue": "250m", "averageUtilization": 55}},
        },
        {
            "type": "Resource",
            "resource": {"name": "cpu", "currentAverageUtilization": 55, "currentAverageValue": "250m"},
        },
    ),
    (
        {"type": "Pods", "pods": {"metric": {"name": "rps"}, "current": {"averageValue": "90"}}},
        {"type": "Pods", "pods": {"metricName": "rps", "currentAverageValue": "90"}},
    ),
    (
        {
            "type": "Object",
            "object": {
                "metric": {"name": "hits"},
                "current": {"value": "9k"},
                "describedObject": {"kind": "Ingress", "name": "main"},
            },
        },
        {
            "type": "Object",
            "object": {"target": {"kind": "Ingress", "name": "main"}, "metricName": "hits", "currentValue": "9k"},
        },
    ),
    (
        {"type": "External", "external": {"metric": {"name": "queue"}, "current": {"value": "12"}}},
        {"type": "External", "external": {"metricName": "queue", "currentValue": "12"}},
    ),
]
CPU = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}
CONDITION = {"type": "ScalingActive", "status": "True", "lastTransitionTime": "2026-01-02T03:04:05Z", "reason": "Ok"}


def _v2(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default", "annotations": {"keep": "me"}},
        "spec": {"scaleTargetRef": REF, "minReplicas": 2, "maxReplicas": 10, **spec},
        "status": {
            "currentReplicas": 3,
            "desiredReplicas": 4,
            "currentMetrics": [v2 for v2, _ in STATUS_METRICS],
            "conditions": [CONDITION],
        },
    }


def test_v2_to_v1_keeps_the_cpu_target_in_the_field_and_the_rest_in_v1_shaped_annotations() -> None:
    behavior = {"scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max"}}
    stored = _v2(metrics=[CPU] + [v2 for v2, _ in SPEC_METRICS], behavior=behavior)
    before = copy.deepcopy(stored)
    v1 = to_v1(stored)
    assert stored == before  # pure
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"] == {
        "scaleTargetRef": REF,
        "minReplicas": 2,
        "maxReplicas": 10,
        "targetCPUUtilizationPercentage": 60,
    }
    assert v1["status"] == {"currentReplicas": 3, "desiredReplicas": 4, "currentCPUUtilizationPercentage": 55}
    notes = v1["metadata"]["annotations"]
    assert notes["keep"] == "me"
    assert orjson.loads(notes["autoscaling.alpha.kubernetes.io/metrics"]) == [v1m for _, v1m in SPEC_METRICS]
    assert orjson.loads(notes["autoscaling.alpha.kubernetes.io/current-metrics"]) == [v1m for _, v1m in STATUS_METRICS]
    assert orjson.loads(notes["autoscaling.alpha.kubernetes.io/conditions"]) == [CONDITION]
    assert orjson.loads(notes["autoscaling.alpha.kubernetes.io/behavior"]) == {
        "ScaleUp": {"StabilizationWindowSeconds": 0, "SelectPolicy": "Max", "Policies": None},
        "ScaleDown": None,
    }


def test_v1_round_trip_gives_back_the_v2_object_with_the_cpu_target_last() -> None:
    behavior = {
        "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max"},
        "scaleDown": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]},
    }
    stored = _v2(metrics=[CPU] + [v2 for v2, _ in SPEC_METRICS], behavior=behavior)
    back = to_v2(to_v1(stored))
    expected = copy.deepcopy(stored)
    expected["spec"]["metrics"] = [v2 for v2, _ in SPEC_METRICS] + [CPU]  # upstream appends v1's CPU target
    assert back == expected


def test_v1_without_a_cpu_target_or_other_metrics_means_80_percent_cpu() -> None:
    v1 = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": REF, "maxReplicas": 3},
    }
    stored = to_v2(v1)
    assert stored["spec"]["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}
    ]
    assert "status" not in stored and "annotations" not in stored["metadata"]
    # ...but other metrics in the annotation are enough: no implied CPU target then.
    v1["metadata"]["annotations"] = {
        "autoscaling.alpha.kubernetes.io/metrics": orjson.dumps([SPEC_METRICS[2][1]]).decode()
    }
    assert to_v2(v1)["spec"]["metrics"] == [SPEC_METRICS[2][0]]


def test_v1_status_cpu_becomes_a_current_metric_unless_the_annotation_has_them_all() -> None:
    v1 = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": REF, "maxReplicas": 3, "targetCPUUtilizationPercentage": 50},
        "status": {"currentReplicas": 1, "desiredReplicas": 2, "currentCPUUtilizationPercentage": 33},
    }
    assert to_v2(v1)["status"]["currentMetrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 33}}}
    ]
    v1["metadata"]["annotations"] = {
        "autoscaling.alpha.kubernetes.io/current-metrics": orjson.dumps([STATUS_METRICS[1][1]]).decode()
    }
    assert to_v2(v1)["status"]["currentMetrics"] == [STATUS_METRICS[1][0]]


def test_behavior_annotation_is_read_ignoring_case_as_gos_decoder_does() -> None:
    encoded = '{"scaleup":{"selectpolicy":"Min","POLICIES":[{"type":"Pods","Value":2,"periodseconds":30}]}}'
    v1 = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "annotations": {"autoscaling.alpha.kubernetes.io/behavior": encoded}},
        "spec": {"scaleTargetRef": REF, "maxReplicas": 3},
    }
    assert to_v2(v1)["spec"]["behavior"] == {
        "scaleUp": {"selectPolicy": "Min", "policies": [{"type": "Pods", "value": 2, "periodSeconds": 30}]}
    }


def test_stale_round_trip_annotations_never_reach_either_side() -> None:
    stale = {key: "[]" for key in ROUND_TRIP_ANNOTATIONS} | {"keep": "me"}
    stored = _v2(metrics=[CPU])
    stored["metadata"]["annotations"] = dict(stale)
    stored["status"] = {"currentReplicas": 0, "desiredReplicas": 0}
    assert to_v1(stored)["metadata"]["annotations"] == {"keep": "me"}  # nothing to carry: none written
    v1 = to_v1(_v2(metrics=[CPU]))
    assert to_v2(v1)["metadata"]["annotations"] == {"keep": "me"}


@pytest.mark.parametrize("key", ROUND_TRIP_ANNOTATIONS)
def test_an_annotation_that_is_not_json_is_a_bad_request(key: str) -> None:
    v1 = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "annotations": {key: "{oops"}},
        "spec": {"scaleTargetRef": REF, "maxReplicas": 3},
    }
    with pytest.raises(errors.BadRequest, match=key):
        to_v2(v1)
