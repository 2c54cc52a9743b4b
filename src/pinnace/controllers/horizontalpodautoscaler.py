"""The HorizontalPodAutoscaler controller, for a cluster without a metrics API.

Upstream's ``horizontalpodautoscaling`` controller, every 15 seconds per
autoscaler: read the target's ``scale`` subresource (``AbleToScale``:
``SucceededGetScale``, or ``FailedGetScale`` and a warning); keep the replicas
within ``minReplicas``/``maxReplicas`` — a target outside them is rescaled at
once (``SuccessfulRescale``: "New size: N; reason: Current number of replicas
below Spec.MinReplicas"), a target at zero replicas means scaling is disabled —
and otherwise ask the metrics. Pinnace serves no ``metrics.k8s.io`` (nor the
custom and external metrics APIs), so every metric fails as it does upstream
when they are missing: a ``FailedGet…Metric`` warning per metric,
``ScalingActive`` False with the first failure, ``FailedComputeMetricsReplicas``,
and no scaling. The status carries ``currentReplicas``, ``desiredReplicas``
and ``lastScaleTime`` as upstream's, so ``kubectl get hpa`` and ``kubectl
describe hpa`` read what they would read there.
"""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime
from typing import Any

from pinnace.api import errors
from pinnace.api.gofmt import label_selector_text
from pinnace.client.rest import RestClient
from pinnace.client.restmapper import RESTMapper
from pinnace.runtime.builder import Builder
from pinnace.runtime.client import Client, MergePatch
from pinnace.runtime.conditions import set_status_condition
from pinnace.runtime.controller import Controller
from pinnace.runtime.controllerutil import get_or_none
from pinnace.runtime.events import NORMAL, WARNING, EventRecorder
from pinnace.runtime.manager import Manager
from pinnace.runtime.predicate import GENERATION_CHANGED
from pinnace.runtime.reconcile import Request, Result

__all__ = ["HorizontalPodAutoscalerReconciler", "add_horizontal_pod_autoscaler_controller", "metric_failure"]

Obj = dict[str, Any]

HPA_KIND = "autoscaling/v2/HorizontalPodAutoscaler"
#: Upstream's --horizontal-pod-autoscaler-sync-period.
SYNC_PERIOD = 15.0
#: What a metric without ``metrics`` in the spec means (upstream's v2 default).
DEFAULT_METRIC: Obj = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
}
_NO_RESOURCE_METRICS = (
    "unable to fetch metrics from resource metrics API: "
    "the server could not find the requested resource (get pods.metrics.k8s.io)"
)
_NO_CUSTOM_METRICS = (
    "unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered"
)
#: What the external metrics client reports when no external.metrics.k8s.io is served: a plain 404 on the metric.
_NO_EXTERNAL_METRIC = (
    "unable to fetch metrics from external metrics API: the server could not find the requested resource "
    "(get {name}.external.metrics.k8s.io)"
)


async def add_horizontal_pod_autoscaler_controller(manager: Manager, *, workers: int = 1) -> Controller:
    """Add the HorizontalPodAutoscaler controller to ``manager``."""
    recorder = EventRecorder(
        manager.rest, "horizontal-pod-autoscaler", manager.identity, clock=manager.clock, core=True
    )
    reconciler = HorizontalPodAutoscalerReconciler(manager.client, manager.rest, manager.mapper, recorder)
    return await (
        Builder(manager)
        .named("horizontalpodautoscaling")
        .for_(HPA_KIND, GENERATION_CHANGED)  # its own status writes do not count: the next look is SYNC_PERIOD away
        .with_options(max_concurrent_reconciles=workers)
        .complete(reconciler)
    )


def metric_failure(metric: Obj, namespace: str) -> tuple[str, str, str]:
    """How one metric fails without metrics APIs, in upstream's words (``computeReplicasForMetric``): the event
    reason, the message of the event and of the ScalingActive condition, and the error
    FailedComputeMetricsReplicas quotes."""
    kind = str(metric.get("type") or "")
    if kind in ("Resource", "ContainerResource"):
        source = metric.get("resource" if kind == "Resource" else "containerResource") or {}
        name = str(source.get("name") or "")
        usage = "usage" if (source.get("target") or {}).get("averageValue") is not None else "utilization"
        message = f"failed to get {name} {usage}: unable to get metrics for resource {name}: {_NO_RESOURCE_METRICS}"
        if kind == "Resource":
            return "FailedGetResourceMetric", message, f"failed to get {name} resource metric value: {message}"
        container = str(source.get("container") or "")
        return (
            "FailedGetContainerResourceMetric",
            message,
            f"failed to get {container} container metric value: {message}",
        )
    source = metric.get({"Pods": "pods", "Object": "object", "External": "external"}.get(kind, "")) or {}
    identifier = source.get("metric") or {}
    name = str(identifier.get("name") or "")
    target = source.get("target") or {}
    if kind == "Pods":
        message = f"unable to get metric {name}: {_NO_CUSTOM_METRICS}"
        return "FailedGetPodsMetric", message, f"failed to get pods metric value: {message}"
    if kind == "Object":
        described = source.get("describedObject") or {}
        # Upstream's format string names the object in this order: "<kind> on <namespace> <name>/<error>".
        message = (
            f"unable to get metric {name}: {described.get('kind') or ''} on {namespace} "
            f"{described.get('name') or ''}/{_NO_CUSTOM_METRICS}"
        )
        per_pod = not (target.get("type") == "Value" and target.get("value") is not None)
        error = f"failed to get {name} object metric: {message}" if per_pod else message
        return "FailedGetObjectMetric", message, f"failed to get object metric value: {error}"
    selector = identifier.get("selector")
    selector_text = label_selector_text(selector) if isinstance(selector, dict) else "nil"
    message = (
        f"unable to get external metric {namespace}/{name}/{selector_text}: {_NO_EXTERNAL_METRIC.format(name=name)}"
    )
    if target.get("averageValue") is not None:
        error = f"failed to get {name} external metric: {message}"
    else:
        error = f"failed to get external metric {name}: {message}"
    return "FailedGetExternalMetric", message, f"failed to get {name} external metric value: {error}"


class HorizontalPodAutoscalerReconciler:
    """Reconciles one HorizontalPodAutoscaler: the target's scale within bounds, and the status."""

    def __init__(self, client: Client, rest: RestClient, mapper: RESTMapper, recorder: EventRecorder) -> None:
        self.client = client
        self.rest = rest
        self.mapper = mapper
        self.recorder = recorder

    async def reconcile(self, request: Request) -> Result:
        """Sync one autoscaler and look at it again in SYNC_PERIOD seconds."""
        hpa = await get_or_none(self.client, HPA_KIND, request.name, request.namespace)
        if hpa is None or hpa["metadata"].get("deletionTimestamp"):
            return Result()
        status: Obj = copy.deepcopy(hpa.get("status") or {})
        conditions: list[Obj] = status.setdefault("conditions", [])
        await self._sync(hpa, status, conditions)
        await self._write_status(hpa, status)
        return Result(requeue_after=SYNC_PERIOD)

    async def _sync(self, hpa: Obj, status: Obj, conditions: list[Obj]) -> None:
        spec = hpa.get("spec") or {}
        target = spec.get("scaleTargetRef") or {}
        namespace = hpa["metadata"]["namespace"]
        try:
            ref = await self.mapper.ref(f"{target.get('apiVersion') or ''}/{target.get('kind') or ''}")
            path = ref.path(namespace, str(target.get("name") or ""), "scale")
            scale = await self.rest.request("GET", path)
        except (errors.StatusError, ValueError) as exc:
            message = exc.message if isinstance(exc, errors.StatusError) else str(exc)
            self.recorder.event(hpa, WARNING, "FailedGetScale", message)
            set_status_condition(
                conditions,
                "AbleToScale",
                "False",
                "FailedGetScale",
                f"the HPA controller was unable to get the target's current scale: {message}",
            )
            return
        set_status_condition(
            conditions,
            "AbleToScale",
            "True",
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
        )
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        minimum = int(spec["minReplicas"]) if spec.get("minReplicas") is not None else 1
        maximum = int(spec.get("maxReplicas") or 0)
        status["currentReplicas"] = current
        if current == 0 and minimum != 0:
            status["desiredReplicas"] = 0
            set_status_condition(
                conditions,
                "ScalingActive",
                "False",
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
            )
            return
        if current > maximum:
            desired, reason = maximum, "Current number of replicas above Spec.MaxReplicas"
        elif current < minimum:
            desired, reason = minimum, "Current number of replicas below Spec.MinReplicas"
        else:
            # As upstream: one (empty, for a metric that failed) status per metric, however many failed.
            status["currentMetrics"] = [{"type": ""} for _ in self._metrics_fail(hpa, spec, conditions)]
            return
        status.pop("currentMetrics", None)  # a rescale to the bounds computes no metric
        try:
            await self.rest.request(
                "PUT", path, body={**scale, "spec": {**(scale.get("spec") or {}), "replicas": desired}}
            )
        except errors.StatusError as exc:
            self.recorder.event(
                hpa, WARNING, "FailedRescale", f"New size: {desired}; reason: {reason}; error: {exc.message}"
            )
            set_status_condition(
                conditions,
                "AbleToScale",
                "False",
                "FailedUpdateScale",
                f"the HPA controller was unable to update the target scale: {exc.message}",
            )
            return
        set_status_condition(
            conditions,
            "AbleToScale",
            "True",
            "SucceededRescale",
            f"the HPA controller was able to update the target scale to {desired}",
        )
        self.recorder.event(hpa, NORMAL, "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
        status["desiredReplicas"] = desired
        status["lastScaleTime"] = datetime.fromtimestamp(time.time(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _metrics_fail(self, hpa: Obj, spec: Obj, conditions: list[Obj]) -> list[Obj]:
        """Every metric fails (no metrics API): warnings, ScalingActive False, no scaling; returns the metrics."""
        metrics = [m for m in spec.get("metrics") or [] if isinstance(m, dict)] or [DEFAULT_METRIC]
        failures = [metric_failure(m, hpa["metadata"]["namespace"]) for m in metrics]
        for reason, message, _ in failures:
            self.recorder.event(hpa, WARNING, reason, message)
        reason, message, wrapped = failures[0]
        set_status_condition(
            conditions, "ScalingActive", "False", reason, f"the HPA was unable to compute the replica count: {message}"
        )
        self.recorder.event(
            hpa,
            WARNING,
            "FailedComputeMetricsReplicas",
            f"invalid metrics ({len(failures)} invalid out of {len(metrics)}), first error is: {wrapped}",
        )
        return metrics

    async def _write_status(self, hpa: Obj, status: Obj) -> None:
        old = hpa.get("status") or {}
        status.setdefault("desiredReplicas", 0)
        if status == old:
            return
        patch = {k: status.get(k) for k in set(status) | set(old)}
        try:
            await self.client.status().patch(hpa, MergePatch({"status": patch}))
        except (errors.NotFound, errors.Conflict):
            return
