"""The HorizontalPodAutoscaler controller scaling a Deployment on CPU utilization.

A real API server, the deployment, replicaset and scheduler controllers, a simulated node that runs the pods,
and the HPA controller with a short sync period and a metrics source the test sets the pods' usage on. Read back
as users read it: the official Python client and ``kubectl get``/``describe hpa``.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import kubernetes.client
import pytest
from tests.integration._workloads import live_pods, recorded

from pinnace.api.podutil import is_pod_ready
from pinnace.client.rest import ResourceRef
from pinnace.cluster.testenv import TestEnv
from pinnace.controllers.horizontalpodautoscaler import add_horizontal_pod_autoscaler_controller
from pinnace.controllers.hpa_metrics import METRICS_GROUP_VERSION, MetricsAPISource, MetricsUnavailable, PodMetrics

pytestmark = pytest.mark.pinnace_env(controllers=["deployment", "replicaset", "scheduler"])

DEPLOY = ResourceRef("apps", "v1", "deployments")
HPA = ResourceRef("autoscaling", "v2", "horizontalpodautoscalers")
Obj = dict[str, Any]
SYNC = 0.3
DOWN_WINDOW = 2


class SetUsage:
    """A ResourceMetricsSource that reports, for every Running pod the selector picks, the CPU the test set."""

    def __init__(self, env: TestEnv, millicores: int) -> None:
        self.env = env
        self.millicores = millicores
        self.selectors: list[str] = []

    async def pod_metrics(self, namespace: str, selector: str) -> list[PodMetrics]:
        self.selectors.append(selector)
        pods = await live_pods(self.env, selector, namespace)
        now = time.time()
        return [
            PodMetrics(p["metadata"]["name"], now, 0.5, {"app": {"cpu": self.millicores, "memory": 10 * 2**20}})
            for p in pods
            if (p.get("status") or {}).get("phase") == "Running"
        ]


def deployment(replicas: int) -> Obj:
    labels = {"app": "web"}
    container = {"name": "app", "image": "busybox", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def autoscaler(max_replicas: int, **spec: Any) -> Obj:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                }
            ],
            **spec,
        },
    }


async def ready_pods(env: TestEnv, count: int) -> bool:
    pods = await live_pods(env, "app=web")
    return len(pods) == count and all(is_pod_ready(p) for p in pods)


async def replicas(env: TestEnv) -> int:
    return int((await env.rest.get(DEPLOY, "web", "default"))["spec"]["replicas"])


def conditions(hpa: Obj) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in hpa["status"]["conditions"]}


async def kubectl(env: TestEnv, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "kubectl",
        f"--server={env.url}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "KUBECONFIG": os.devnull},
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def start_autoscaler(env: TestEnv, source: SetUsage) -> None:
    await env.run_sim_nodes(1)
    manager = env.manager()
    await add_horizontal_pod_autoscaler_controller(
        manager, sync_period=SYNC, downscale_stabilization=DOWN_WINDOW, metrics_source=source
    )
    await env.start(manager)


async def test_scales_a_deployment_up_on_cpu_and_down_after_the_stabilization_window(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    source = SetUsage(env, 80)  # 80m of 100m requested: 80 % against a 50 % target
    await start_autoscaler(env, source)
    await env.rest.create(DEPLOY, deployment(2), "default")
    await env.eventually(lambda: ready_pods(env, 2), timeout=15)
    await env.rest.create(HPA, autoscaler(4), "default")

    # 80 % of 50 % on 2 pods: ceil(1.6 * 2) = 4.
    up = ("SuccessfulRescale", "New size: 4; reason: cpu resource utilization (percentage of request) above target")
    await recorded(env, "web", up)
    assert await replicas(env) == 4
    assert source.selectors[-1] == "app=web"
    await env.eventually(lambda: ready_pods(env, 4), timeout=15)

    async def limited() -> Obj | None:
        hpa = await env.rest.get(HPA, "web", "default")
        return hpa if conditions(hpa).get("ScalingLimited", ("", "", ""))[0] == "True" else None

    # Every pod now at 80 %: 7 wanted, 4 allowed.
    hpa = await env.eventually(limited, timeout=15)
    status = hpa["status"]
    assert status["currentReplicas"] == 4 and status["desiredReplicas"] == 4
    assert status["currentMetrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 80, "averageValue": "80m"}}}
    ]
    assert status["lastScaleTime"]
    found = conditions(hpa)
    assert found["AbleToScale"] == ("True", "ReadyForNewScale", "recommended size matches current size")
    assert found["ScalingActive"] == (
        "True",
        "ValidMetricFound",
        "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of "
        "request)",
    )
    assert found["ScalingLimited"] == (
        "True",
        "TooManyReplicas",
        "the desired replica count is more than the maximum replica count",
    )

    # What users read: the official client, kubectl get (TARGETS) and kubectl describe.
    def read_status() -> Any:
        with kubernetes.client.ApiClient(kubernetes.client.Configuration(host=env.url)) as api:
            return kubernetes.client.AutoscalingV2Api(api).read_namespaced_horizontal_pod_autoscaler_status(
                "web", "default"
            )

    official = await asyncio.to_thread(read_status)
    assert official.status.current_metrics[0].resource.current.average_utilization == 80
    assert official.status.current_metrics[0].resource.current.average_value == "80m"
    assert official.status.desired_replicas == 4
    table = await kubectl(env, "get", "hpa", "web", "-n", "default")
    assert table.splitlines()[1].split()[:6] == ["web", "Deployment/web", "cpu:", "80%/50%", "1", "4"]
    described = await kubectl(env, "describe", "hpa", "web", "-n", "default")
    assert "resource cpu on pods  (as a percentage of request):  80% (80m) / 50%" in described
    assert "Deployment pods:                                       4 current / 4 desired" in described
    assert "New size: 4; reason: cpu resource utilization (percentage of request) above target" in described

    # The load drops to 10 %: the recommendations of the last DOWN_WINDOW seconds hold the size, then it goes.
    source.millicores = 10
    dropped = time.monotonic()

    async def stabilized() -> bool:
        hpa = await env.rest.get(HPA, "web", "default")
        return conditions(hpa)["AbleToScale"][1] == "ScaleDownStabilized"

    await env.eventually(stabilized, timeout=10)
    assert await replicas(env) == 4
    await recorded(env, "web", ("SuccessfulRescale", "New size: 1; reason: All metrics below target"))
    assert time.monotonic() - dropped >= DOWN_WINDOW - SYNC
    assert await replicas(env) == 1


async def test_scale_up_is_rate_limited_by_the_behavior_policies(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    source = SetUsage(env, 100)  # 200 % of the 50 % target: every step wants double
    await start_autoscaler(env, source)
    await env.rest.create(DEPLOY, deployment(1), "default")
    await env.eventually(lambda: ready_pods(env, 1), timeout=15)
    behavior = {"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}
    await env.rest.create(HPA, autoscaler(10, behavior=behavior), "default")

    async def limited_at_two() -> Obj | None:
        hpa = await env.rest.get(HPA, "web", "default")
        return (
            hpa
            if conditions(hpa).get("ScalingLimited", ("", "", ""))[1] == "ScaleUpLimit"
            and hpa["status"].get("currentReplicas") == 2
            else None
        )

    await recorded(
        env,
        "web",
        ("SuccessfulRescale", "New size: 2; reason: cpu resource utilization (percentage of request) above target"),
    )
    hpa = await env.eventually(limited_at_two, timeout=15)
    assert conditions(hpa)["ScalingLimited"] == (
        "True",
        "ScaleUpLimit",
        "the desired replica count is increasing faster than the maximum scale rate",
    )
    await asyncio.sleep(5 * SYNC)  # one pod per minute: no second step within the period
    assert await replicas(env) == 2


async def test_a_missing_metrics_api_is_reported_in_upstreams_words(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    await env.run_sim_nodes(1)
    manager = env.manager()
    await add_horizontal_pod_autoscaler_controller(manager, sync_period=SYNC)  # the real metrics.k8s.io client
    await env.start(manager)
    await env.rest.create(DEPLOY, deployment(1), "default")
    await env.eventually(lambda: ready_pods(env, 1), timeout=15)

    with pytest.raises(MetricsUnavailable) as caught:
        await MetricsAPISource(env.rest).pod_metrics("default", "app=web")
    assert str(caught.value) == "the server could not find the requested resource (get pods.metrics.k8s.io)"
    assert METRICS_GROUP_VERSION == "metrics.k8s.io/v1beta1"

    await env.rest.create(HPA, autoscaler(3), "default")
    message = (
        "failed to get cpu utilization: unable to get metrics for resource cpu: unable to fetch metrics from resource "
        "metrics API: the server could not find the requested resource (get pods.metrics.k8s.io)"
    )
    await recorded(
        env,
        "web",
        ("FailedGetResourceMetric", message),
        (
            "FailedComputeMetricsReplicas",
            f"invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric value: {message}",
        ),
    )
    hpa = await env.rest.get(HPA, "web", "default")
    assert conditions(hpa)["ScalingActive"] == (
        "False",
        "FailedGetResourceMetric",
        f"the HPA was unable to compute the replica count: {message}",
    )
    assert hpa["status"]["currentMetrics"] == [{"type": ""}]
    assert await replicas(env) == 1


async def test_the_largest_proposal_of_several_metrics_wins(pinnace_env: TestEnv) -> None:
    env = pinnace_env
    source = SetUsage(env, 30)  # cpu 30 % of 50 %: 2 pods would do; memory 10Mi of 4Mi per pod: 5 wanted
    await start_autoscaler(env, source)
    await env.rest.create(DEPLOY, deployment(2), "default")
    await env.eventually(lambda: ready_pods(env, 2), timeout=15)
    memory = {
        "type": "Resource",
        "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "4Mi"}},
    }
    hpa = autoscaler(3)
    hpa["spec"]["metrics"].append(memory)
    await env.rest.create(HPA, hpa, "default")

    await recorded(env, "web", ("SuccessfulRescale", "New size: 3; reason: memory resource above target"))
    assert await replicas(env) == 3

    async def measured() -> Obj | None:
        hpa = await env.rest.get(HPA, "web", "default")
        return hpa if len(hpa["status"].get("currentMetrics") or []) == 2 else None

    status = (await env.eventually(measured))["status"]
    assert status["currentMetrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 30, "averageValue": "30m"}}},
        {"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "10485760"}}},
    ]
    assert conditions(await env.rest.get(HPA, "web", "default"))["ScalingActive"][2] == (
        "the HPA was able to successfully calculate a replica count from memory resource"
    )
    table = await kubectl(env, "get", "hpa", "web", "-n", "default", "--no-headers")
    assert "cpu: 30%/50%, memory: 10485760/4Mi" in table
