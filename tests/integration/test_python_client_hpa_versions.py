"""HorizontalPodAutoscalers at autoscaling/v1 and autoscaling/v2 through the official ``kubernetes`` client:
one stored object, each version reading the other's writes, v2-only fields kept across a v1 round trip."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, watch
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

NS = "default"
METRICS = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR = "autoscaling.alpha.kubernetes.io/behavior"


def _ref() -> client.V1CrossVersionObjectReference:
    return client.V1CrossVersionObjectReference(api_version="apps/v1", kind="Deployment", name="web")


def test_a_v1_hpa_is_read_at_v2_with_its_cpu_target_and_the_implied_one_when_it_names_none(
    k8s_client: ApiClient,
) -> None:
    v1, v2 = client.AutoscalingV1Api(k8s_client), client.AutoscalingV2Api(k8s_client)
    spec = client.V1HorizontalPodAutoscalerSpec(
        scale_target_ref=_ref(), max_replicas=5, target_cpu_utilization_percentage=50
    )
    created = v1.create_namespaced_horizontal_pod_autoscaler(
        NS, client.V1HorizontalPodAutoscaler(metadata=client.V1ObjectMeta(name="web"), spec=spec)
    )
    assert created.api_version == "autoscaling/v1"
    assert created.spec.min_replicas == 1  # v1's default
    assert created.spec.target_cpu_utilization_percentage == 50
    assert created.status.current_replicas == 0 and created.status.desired_replicas == 0

    seen = v2.read_namespaced_horizontal_pod_autoscaler("web", NS)
    assert seen.api_version == "autoscaling/v2"
    assert [
        (m.type, m.resource.name, m.resource.target.type, m.resource.target.average_utilization)
        for m in seen.spec.metrics
    ] == [("Resource", "cpu", "Utilization", 50)]
    assert seen.spec.max_replicas == 5 and seen.spec.scale_target_ref.name == "web"
    assert seen.metadata.resource_version == created.metadata.resource_version

    implied = v1.create_namespaced_horizontal_pod_autoscaler(
        NS,
        client.V1HorizontalPodAutoscaler(
            metadata=client.V1ObjectMeta(name="implied"),
            spec=client.V1HorizontalPodAutoscalerSpec(scale_target_ref=_ref(), max_replicas=2),
        ),
    )
    assert implied.spec.target_cpu_utilization_percentage == 80  # stored as v2's explicit 80% CPU target
    metric = v2.read_namespaced_horizontal_pod_autoscaler("implied", NS).spec.metrics[0]
    assert metric.resource.name == "cpu" and metric.resource.target.average_utilization == 80

    # Lists and watches at v1 see v1 objects; a v2 write shows up in a v1 watch, converted.
    listed = v1.list_namespaced_horizontal_pod_autoscaler(NS)
    assert listed.api_version == "autoscaling/v1" and {i.metadata.name for i in listed.items} == {"web", "implied"}
    assert all(i.api_version == "autoscaling/v1" for i in listed.items)
    v2.patch_namespaced_horizontal_pod_autoscaler("web", NS, {"spec": {"maxReplicas": 7}})
    stream = watch.Watch().stream(
        v1.list_namespaced_horizontal_pod_autoscaler,
        NS,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=5,
    )
    for event in stream:
        obj = event["object"]
        assert obj.api_version == "autoscaling/v1"
        if event["type"] == "MODIFIED" and obj.metadata.name == "web":
            assert obj.spec.max_replicas == 7 and obj.spec.target_cpu_utilization_percentage == 50
            break
    else:
        pytest.fail("the v2 patch never reached the v1 watch")


def test_what_v1_cannot_say_survives_a_v1_read_and_replace_in_annotations_that_v2_never_shows(
    k8s_client: ApiClient,
) -> None:
    v1, v2 = client.AutoscalingV1Api(k8s_client), client.AutoscalingV2Api(k8s_client)
    pods_metric = client.V2MetricSpec(
        type="Pods",
        pods=client.V2PodsMetricSource(
            metric=client.V2MetricIdentifier(name="requests_per_second"),
            target=client.V2MetricTarget(type="AverageValue", average_value="1k"),
        ),
    )
    cpu_metric = client.V2MetricSpec(
        type="Resource",
        resource=client.V2ResourceMetricSource(
            name="cpu", target=client.V2MetricTarget(type="Utilization", average_utilization=60)
        ),
    )
    behavior = client.V2HorizontalPodAutoscalerBehavior(
        scale_down=client.V2HPAScalingRules(
            stabilization_window_seconds=120,
            policies=[client.V2HPAScalingPolicy(type="Percent", value=10, period_seconds=60)],
        )
    )
    v2.create_namespaced_horizontal_pod_autoscaler(
        NS,
        client.V2HorizontalPodAutoscaler(
            metadata=client.V1ObjectMeta(name="rich", annotations={"team": "shop"}),
            spec=client.V2HorizontalPodAutoscalerSpec(
                scale_target_ref=client.V2CrossVersionObjectReference(
                    api_version="apps/v1", kind="Deployment", name="web"
                ),
                min_replicas=2,
                max_replicas=9,
                metrics=[cpu_metric, pods_metric],
                behavior=behavior,
            ),
        ),
    )
    v2.patch_namespaced_horizontal_pod_autoscaler_status(
        "rich",
        NS,
        {
            "status": {
                "currentReplicas": 3,
                "desiredReplicas": 4,
                "currentMetrics": [
                    {
                        "type": "Resource",
                        "resource": {"name": "cpu", "current": {"averageUtilization": 72, "averageValue": "350m"}},
                    }
                ],
                "conditions": [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"}],
            }
        },
    )

    old = v1.read_namespaced_horizontal_pod_autoscaler("rich", NS)
    assert old.spec.target_cpu_utilization_percentage == 60
    assert old.status.current_cpu_utilization_percentage == 72 and old.status.desired_replicas == 4
    notes = old.metadata.annotations
    assert notes["team"] == "shop"
    assert json.loads(notes[METRICS]) == [
        {"type": "Pods", "pods": {"metricName": "requests_per_second", "targetAverageValue": "1k"}}
    ]
    assert json.loads(notes[CURRENT]) == [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "currentAverageUtilization": 72, "currentAverageValue": "350m"},
        }
    ]
    assert json.loads(notes[CONDITIONS]) == [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale"}]
    assert json.loads(notes[BEHAVIOR])["ScaleDown"]["StabilizationWindowSeconds"] == 120  # upstream's Go names

    # A v1 client changes what it knows and writes the whole object back, annotations and all.
    old.spec.target_cpu_utilization_percentage = 65
    old.spec.max_replicas = 11
    v1.replace_namespaced_horizontal_pod_autoscaler("rich", NS, old)

    now = v2.read_namespaced_horizontal_pod_autoscaler("rich", NS)
    assert now.metadata.annotations == {"team": "shop"}  # the round-trip annotations are v1's alone
    assert now.spec.max_replicas == 11 and now.spec.min_replicas == 2
    kinds = [
        (m.type, m.pods.metric.name if m.pods else m.resource.target.average_utilization) for m in now.spec.metrics
    ]
    assert kinds == [("Pods", "requests_per_second"), ("Resource", 65)]  # upstream puts the v1 CPU target last
    assert now.spec.metrics[0].pods.target.average_value == "1k"
    assert now.spec.behavior.scale_down.stabilization_window_seconds == 120
    assert now.spec.behavior.scale_down.policies[0].value == 10
    assert now.status.current_metrics[0].resource.current.average_value == "350m"  # the status is not v1's to change
    assert now.status.conditions[0].reason == "ReadyForNewScale"


def test_a_v2_write_drops_the_annotations_only_v1_may_carry(k8s_client: ApiClient) -> None:
    v2 = client.AutoscalingV2Api(k8s_client)
    stale = {METRICS: "[]", CURRENT: "[]", CONDITIONS: "[]", BEHAVIOR: "{}"}
    created = v2.create_namespaced_horizontal_pod_autoscaler(
        NS,
        client.V2HorizontalPodAutoscaler(
            metadata=client.V1ObjectMeta(name="stale", annotations={**stale, "team": "shop"}),
            spec=client.V2HorizontalPodAutoscalerSpec(
                scale_target_ref=client.V2CrossVersionObjectReference(kind="Deployment", name="web"), max_replicas=2
            ),
        ),
    )
    assert created.metadata.annotations == {"team": "shop"}
    assert created.spec.min_replicas == 1 and created.spec.metrics[0].resource.target.average_utilization == 80
    patched = v2.patch_namespaced_horizontal_pod_autoscaler(
        "stale", NS, {"metadata": {"annotations": {BEHAVIOR: "{}"}}}
    )
    assert patched.metadata.annotations == {"team": "shop"}


def test_a_broken_round_trip_annotation_is_a_400_that_writes_nothing(k8s_client: ApiClient) -> None:
    v1 = client.AutoscalingV1Api(k8s_client)
    body = client.V1HorizontalPodAutoscaler(
        metadata=client.V1ObjectMeta(name="broken", annotations={METRICS: "[{not json"}),
        spec=client.V1HorizontalPodAutoscalerSpec(scale_target_ref=_ref(), max_replicas=3),
    )
    with pytest.raises(ApiException) as caught:
        v1.create_namespaced_horizontal_pod_autoscaler(NS, body)
    assert caught.value.status == 400
    status = json.loads(caught.value.body)
    assert status["kind"] == "Status" and METRICS in status["message"]
    with pytest.raises(ApiException) as missing:
        v1.read_namespaced_horizontal_pod_autoscaler("broken", NS)
    assert missing.value.status == 404
