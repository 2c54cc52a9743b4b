"""The HorizontalPodAutoscaler controller: upstream's ``horizontalpodautoscaling`` (autoscaling/v2).

Every sync period (15 seconds; :data:`SYNC_PERIOD`) per autoscaler, as
kube-controller-manager's ``reconcileAutoscaler``:

1. Read the target's ``scale`` subresource (``AbleToScale``:
   ``SucceededGetScale``, or ``FailedGetScale`` and a warning). A target at
   zero replicas means scaling is disabled (``ScalingActive`` False,
   ``ScalingDisabled``); one outside ``minReplicas``/``maxReplicas`` is
   rescaled to the bound at once ("Current number of replicas below
   Spec.MinReplicas").
2. Otherwise compute a proposal per metric from the pods the scale's
   ``status.selector`` picks (``InvalidSelector``, ``AmbiguousSelector`` when
   another autoscaler controls the same pods). Resource and ContainerResource
   metrics read the pods' usage from a ``ResourceMetricsSource``
   (:mod:`pinnace.controllers.hpa_metrics`; ``metrics.k8s.io`` by default) and
   go through the replica calculator (:mod:`pinnace.controllers.hpa_replicas`); Pods, Object
   and External metrics fail as upstream's do without the custom and external
   metrics APIs (:func:`metric_failure`). Each failure is a warning
   (``FailedGet…Metric``); the largest valid proposal wins (``ScalingActive``
   True, ``ValidMetricFound``). When every metric failed — or some did and the
   others would scale down — nothing is scaled: ``ScalingActive`` False with
   the first failure, and ``FailedComputeMetricsReplicas``.
3. Stabilize and bound the proposal (:mod:`pinnace.controllers.hpa_behavior`:
   recommendations and scale events kept in memory per autoscaler;
   ``AbleToScale`` ``ReadyForNewScale``/``Scale{Up,Down}Stabilized``,
   ``ScalingLimited`` with ``DesiredWithinRange``, ``TooFewReplicas``,
   ``TooManyReplicas``, ``ScaleUpLimit`` or ``ScaleDownLimit``), and update the
   scale if it changed (``SuccessfulRescale``: "New size: N; reason: cpu
   resource utilization (percentage of request) above target" / "All metrics
   below target"; or ``FailedRescale``).

The status carries ``currentReplicas``, ``desiredReplicas``, ``currentMetrics``
(``averageUtilization`` and ``averageValue`` as upstream fills them) and
``lastScaleTime``, so ``kubectl get hpa`` ("cpu: 80%/50%") and ``kubectl
describe hpa`` read what they would read there. Time comes from the manager's
clock: durations from ``now()``, timestamps and pod ages from ``wall()``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from pinnace.api import errors
from pinnace.api.gofmt import label_selector_text
from pinnace.api.podutil import milli_value
from pinnace.api.quantity import DECIMAL_SI, canonical
from pinnace.api.selectors import LabelSelector, parse_label_selector
from pinnace.client.rest import RestClient
from pinnace.client.restmapper import RESTMapper
from pinnace.controllers._workload_pods import rfc3339
from pinnace.controllers.hpa_behavior import Behavior, ScalingHistory
from pinnace.controllers.hpa_metrics import MetricsAPISource, MetricsUnavailable, ResourceMetricsSource
from pinnace.controllers.hpa_replicas import (
    CalculationError,
    CalculatorSettings,
    Sample,
    raw_resource_replicas,
    resource_replicas,
    resource_samples,
)
from pinnace.runtime.builder import Builder
from pinnace.runtime.client import Client, MergePatch
from pinnace.runtime.clock import Clock, RealClock
from pinnace.runtime.conditions import set_status_condition
from pinnace.runtime.controller import Controller
from pinnace.runtime.controllerutil import get_or_none
from pinnace.runtime.events import NORMAL, WARNING, EventRecorder
from pinnace.runtime.manager import Manager
from pinnace.runtime.predicate import GENERATION_CHANGED
from pinnace.runtime.reconcile import Request, Result

__all__ = [
    "DOWNSCALE_STABILIZATION",
    "SYNC_PERIOD",
    "HorizontalPodAutoscalerReconciler",
    "add_horizontal_pod_autoscaler_controller",
    "metric_failure",
]

Obj = dict[str, Any]

HPA_KIND = "autoscaling/v2/HorizontalPodAutoscaler"
#: Upstream's --horizontal-pod-autoscaler-sync-period.
SYNC_PERIOD = 15.0
#: Upstream's --horizontal-pod-autoscaler-downscale-stabilization (seconds).
DOWNSCALE_STABILIZATION = 300.0
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


async def add_horizontal_pod_autoscaler_controller(
    manager: Manager,
    *,
    workers: int = 1,
    sync_period: float = SYNC_PERIOD,
    tolerance: float = 0.1,
    downscale_stabilization: float = DOWNSCALE_STABILIZATION,
    cpu_initialization_period: float = 300.0,
    initial_readiness_delay: float = 30.0,
    metrics_source: ResourceMetricsSource | None = None,
) -> Controller:
    """Add the HorizontalPodAutoscaler controller to ``manager``.

    The settings are kube-controller-manager's ``--horizontal-pod-autoscaler-…`` flags (seconds);
    ``metrics_source`` defaults to the ``metrics.k8s.io`` API through ``manager.rest``.
    """
    recorder = EventRecorder(
        manager.rest, "horizontal-pod-autoscaler", manager.identity, clock=manager.clock, core=True
    )
    reconciler = HorizontalPodAutoscalerReconciler(
        manager.client,
        manager.rest,
        manager.mapper,
        recorder,
        metrics=metrics_source,
        clock=manager.clock,
        sync_period=sync_period,
        downscale_stabilization=downscale_stabilization,
        calculator=CalculatorSettings(tolerance, cpu_initialization_period, initial_readiness_delay),
    )
    return await (
        Builder(manager)
        .named("horizontalpodautoscaling")
        .for_(HPA_KIND, GENERATION_CHANGED)  # its own status writes do not count: the next look is a period away
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


class _MetricFailed(Exception):
    """One metric gave no proposal: the warning's reason, its message (also ScalingActive's) and the error
    FailedComputeMetricsReplicas quotes."""

    def __init__(self, reason: str, message: str, error: str) -> None:
        super().__init__(error)
        self.reason, self.message = reason, message


class _NoSelector(Exception):
    """The target's scale has no usable pod selector; ``str()`` is the error FailedComputeMetricsReplicas quotes."""


@dataclass(frozen=True, slots=True)
class _Proposal:
    """What the metrics propose: the replicas (None: nothing can be scaled), the metric that proposed them, the
    metrics' statuses (None: none computed) and the error of the metrics that failed ("" for none)."""

    replicas: int | None
    metric: str = ""
    statuses: list[Obj] | None = None
    error: str = ""


def _milli_quantity(milli: int) -> str:
    """``resource.NewMilliQuantity(milli, DecimalSI).String()``."""
    return canonical(Fraction(milli, 1000), DECIMAL_SI)


class HorizontalPodAutoscalerReconciler:
    """Reconciles one HorizontalPodAutoscaler: the target's scale from its metrics, within bounds, and the status."""

    def __init__(
        self,
        client: Client,
        rest: RestClient,
        mapper: RESTMapper,
        recorder: EventRecorder,
        *,
        metrics: ResourceMetricsSource | None = None,
        clock: Clock | None = None,
        sync_period: float = SYNC_PERIOD,
        downscale_stabilization: float = DOWNSCALE_STABILIZATION,
        calculator: CalculatorSettings | None = None,
    ) -> None:
        self.client = client
        self.rest = rest
        self.mapper = mapper
        self.recorder = recorder
        self.metrics: ResourceMetricsSource = metrics if metrics is not None else MetricsAPISource(rest)
        self.clock: Clock = clock or RealClock()
        self.sync_period = sync_period
        self.downscale_stabilization = downscale_stabilization
        self.calculator = calculator or CalculatorSettings()
        #: Recommendations and scale events per autoscaler (``namespace/name``), as upstream keeps them in memory.
        self.history = ScalingHistory()
        #: The pod selector each autoscaler had at its last sync: two that select the same pods are ambiguous.
        self._selectors: dict[str, tuple[str, LabelSelector]] = {}

    async def reconcile(self, request: Request) -> Result:
        """Sync one autoscaler and look at it again in a sync period."""
        key = f"{request.namespace}/{request.name}"
        hpa = await get_or_none(self.client, HPA_KIND, request.name, request.namespace)
        if hpa is None or hpa["metadata"].get("deletionTimestamp"):
            self.history.forget(key)
            self._selectors.pop(key, None)
            return Result()
        status: Obj = copy.deepcopy(hpa.get("status") or {})
        conditions: list[Obj] = status.setdefault("conditions", [])
        await self._sync(hpa, key, status, conditions)
        await self._write_status(hpa, status)
        return Result(requeue_after=self.sync_period)

    def _condition(self, conditions: list[Obj], type_: str, status: str, reason: str, message: str) -> None:
        set_status_condition(conditions, type_, status, reason, message, now=self.clock.wall())

    async def _sync(self, hpa: Obj, key: str, status: Obj, conditions: list[Obj]) -> None:
        """One pass of upstream's ``reconcileAutoscaler`` (``status`` and ``conditions`` are updated in place)."""
        got = await self._get_scale(hpa, conditions)
        if got is None:
            return
        path, scale = got
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        self.history.record_initial(key, current, self.clock.now())
        decided = await self._desired(hpa, key, scale, current, status, conditions)
        if decided is None:
            return
        desired, reason, statuses = decided
        if desired == current:
            self._set_status(status, current, current, statuses)
            return
        try:
            await self.rest.request(
                "PUT", path, body={**scale, "spec": {**(scale.get("spec") or {}), "replicas": desired}}
            )
        except errors.StatusError as exc:
            self.recorder.event(
                hpa, WARNING, "FailedRescale", f"New size: {desired}; reason: {reason}; error: {exc.message}"
            )
            self._condition(
                conditions,
                "AbleToScale",
                "False",
                "FailedUpdateScale",
                f"the HPA controller was unable to update the target scale: {exc.message}",
            )
            self._set_status(status, current, None, statuses)
            return
        self._condition(
            conditions,
            "AbleToScale",
            "True",
            "SucceededRescale",
            f"the HPA controller was able to update the target scale to {desired}",
        )
        self.recorder.event(hpa, NORMAL, "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
        behavior = Behavior.from_spec((hpa.get("spec") or {}).get("behavior"), self.downscale_stabilization)
        self.history.record_scale(key, behavior, current, desired, self.clock.now())
        self._set_status(status, current, desired, statuses)
        status["lastScaleTime"] = rfc3339(self.clock.wall())

    async def _get_scale(self, hpa: Obj, conditions: list[Obj]) -> tuple[str, Obj] | None:
        """The path of the target's scale subresource and the scale; None after reporting that it cannot be read."""
        target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        try:
            ref = await self.mapper.ref(f"{target.get('apiVersion') or ''}/{target.get('kind') or ''}")
            path = ref.path(hpa["metadata"]["namespace"], str(target.get("name") or ""), "scale")
            scale = await self.rest.request("GET", path)
        except (errors.StatusError, ValueError) as exc:
            message = exc.message if isinstance(exc, errors.StatusError) else str(exc)
            self.recorder.event(hpa, WARNING, "FailedGetScale", message)
            self._condition(
                conditions,
                "AbleToScale",
                "False",
                "FailedGetScale",
                f"the HPA controller was unable to get the target's current scale: {message}",
            )
            return None
        self._condition(
            conditions,
            "AbleToScale",
            "True",
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
        )
        return path, scale

    async def _desired(
        self, hpa: Obj, key: str, scale: Obj, current: int, status: Obj, conditions: list[Obj]
    ) -> tuple[int, str, list[Obj] | None] | None:
        """(replicas wanted, the rescale's reason, the metrics' statuses); None when the metrics gave nothing (the
        status and the FailedComputeMetricsReplicas warning already done)."""
        spec = hpa.get("spec") or {}
        minimum = int(spec["minReplicas"]) if spec.get("minReplicas") is not None else 1
        maximum = int(spec.get("maxReplicas") or 0)
        if current == 0 and minimum != 0:
            self._condition(
                conditions,
                "ScalingActive",
                "False",
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
            )
            return 0, "", None
        if current > maximum:
            return maximum, "Current number of replicas above Spec.MaxReplicas", None
        if current < minimum:
            return minimum, "Current number of replicas below Spec.MinReplicas", None
        proposal = await self._replicas_for_metrics(hpa, scale, spec, conditions)
        if proposal.replicas is None:
            self._set_status(status, current, None, proposal.statuses)
            self.recorder.event(hpa, WARNING, "FailedComputeMetricsReplicas", proposal.error)
            return None
        desired, reason = max(proposal.replicas, 0), ""
        if desired > current:
            reason = f"{proposal.metric} above target"
        elif desired < current:
            reason = "All metrics below target"
        behavior = Behavior.from_spec(spec.get("behavior"), self.downscale_stabilization)
        normalized = self.history.normalize(
            key, current, desired, minimum, maximum, behavior, self.downscale_stabilization, self.clock.now()
        )
        self._condition(conditions, "AbleToScale", "True", *normalized.able_to_scale)
        self._condition(conditions, "ScalingLimited", *normalized.limited)
        return normalized.replicas, reason, proposal.statuses

    @staticmethod
    def _set_status(status: Obj, current: int, desired: int | None, statuses: list[Obj] | None) -> None:
        """Upstream's ``setStatus``: the replicas (``desired`` None keeps the last desired count) and the metrics."""
        status["currentReplicas"] = current
        if desired is not None:
            status["desiredReplicas"] = desired
        if statuses is None:
            status.pop("currentMetrics", None)
        else:
            status["currentMetrics"] = statuses

    async def _pod_selector(self, hpa: Obj, scale: Obj, conditions: list[Obj]) -> tuple[str, list[Obj]]:
        """The scale's pod selector and the pods it picks (``validateAndParseSelector``); _NoSelector after
        reporting a missing, malformed or ambiguous one."""
        text = str((scale.get("status") or {}).get("selector") or "")
        if not text:
            self.recorder.event(hpa, WARNING, "SelectorRequired", "selector is required")
            self._condition(
                conditions, "ScalingActive", "False", "InvalidSelector", "the HPA target's scale is missing a selector"
            )
            raise _NoSelector("selector is required")
        meta = hpa["metadata"]
        try:
            selector = parse_label_selector(text)
        except errors.BadRequest as exc:
            message = f"couldn't convert selector into a corresponding internal selector object: {exc.message}"
            self.recorder.event(hpa, WARNING, "InvalidSelector", message)
            self._condition(conditions, "ScalingActive", "False", "InvalidSelector", message)
            raise _NoSelector(message) from None
        self._selectors[f"{meta['namespace']}/{meta['name']}"] = (meta["namespace"], selector)
        pods: list[Obj] = await self.client.list("v1/Pod", meta["namespace"], label_selector=text)
        controlling = sorted(
            other
            for other, (namespace, theirs) in self._selectors.items()
            if namespace == meta["namespace"]
            and any(theirs.matches((p.get("metadata") or {}).get("labels") or {}) for p in pods)
        )
        if len(controlling) > 1:
            message = f"pods by selector {text} are controlled by multiple HPAs: [{' '.join(controlling)}]"
            self.recorder.event(hpa, WARNING, "AmbiguousSelector", message)
            self._condition(conditions, "ScalingActive", "False", "AmbiguousSelector", message)
            raise _NoSelector(message)
        return text, pods

    async def _replicas_for_metrics(self, hpa: Obj, scale: Obj, spec: Obj, conditions: list[Obj]) -> _Proposal:
        """The largest proposal of the metrics (``computeReplicasForMetrics``), with their statuses."""
        try:
            selector, pods = await self._pod_selector(hpa, scale, conditions)
        except _NoSelector as exc:
            return _Proposal(None, error=str(exc))
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        metrics = [m for m in spec.get("metrics") or [] if isinstance(m, dict)] or [DEFAULT_METRIC]
        statuses: list[Obj] = [{"type": ""} for _ in metrics]  # a failed metric's status stays empty, as upstream's
        replicas, metric_name = 0, ""
        failures: list[_MetricFailed] = []
        for i, metric in enumerate(metrics):
            try:
                proposed, name, statuses[i] = await self._replicas_for_metric(hpa, metric, current, selector, pods)
            except _MetricFailed as failure:
                self.recorder.event(hpa, WARNING, failure.reason, failure.message)
                failures.append(failure)
                continue
            if replicas == 0 or proposed > replicas:
                replicas, metric_name = proposed, name
        error = ""
        if failures:
            error = f"invalid metrics ({len(failures)} invalid out of {len(metrics)}), first error is: {failures[0]}"
        if len(failures) >= len(metrics) or (failures and replicas < current):
            first = failures[0]
            self._condition(
                conditions,
                "ScalingActive",
                "False",
                first.reason,
                f"the HPA was unable to compute the replica count: {first.message}",
            )
            return _Proposal(None, statuses=statuses, error=error)
        self._condition(
            conditions,
            "ScalingActive",
            "True",
            "ValidMetricFound",
            f"the HPA was able to successfully calculate a replica count from {metric_name}",
        )
        return _Proposal(replicas, metric_name, statuses, error)

    async def _replicas_for_metric(
        self, hpa: Obj, metric: Obj, current: int, selector: str, pods: list[Obj]
    ) -> tuple[int, str, Obj]:
        """(proposal, metric description, status) of one metric (``computeReplicasForMetric``); _MetricFailed."""
        kind = str(metric.get("type") or "")
        if kind not in ("Resource", "ContainerResource"):
            if kind in ("Pods", "Object", "External"):
                raise _MetricFailed(*metric_failure(metric, hpa["metadata"]["namespace"]))
            message = f'unknown metric source type "{kind}"'
            raise _MetricFailed("InvalidMetricSourceType", message, message)
        key = "resource" if kind == "Resource" else "containerResource"
        source = metric.get(key) or {}
        name, container = str(source.get("name") or ""), str(source.get("container") or "")
        try:
            replicas, current_value, description = await self._resource_proposal(
                source.get("target") or {}, name, container, hpa["metadata"]["namespace"], current, selector, pods
            )
        except CalculationError as exc:
            if kind == "Resource":
                raise _MetricFailed(
                    "FailedGetResourceMetric", str(exc), f"failed to get {name} resource metric value: {exc}"
                ) from None
            raise _MetricFailed(
                "FailedGetContainerResourceMetric", str(exc), f"failed to get {container} container metric value: {exc}"
            ) from None
        measured: Obj = {"name": name, "current": current_value}
        if kind == "ContainerResource":
            measured["container"] = container
        return replicas, description, {"type": kind, key: measured}

    async def _resource_proposal(
        self, target: Obj, resource: str, container: str, namespace: str, current: int, selector: str, pods: list[Obj]
    ) -> tuple[int, Obj, str]:
        """(proposal, current value status, description) of a resource metric
        (``computeStatusForResourceMetricGeneric``); CalculationError in upstream's words."""
        now = self.clock.wall().timestamp()
        if target.get("averageValue") is not None:
            try:
                samples = await self._samples(namespace, selector, resource, container)
                replicas, usage = raw_resource_replicas(
                    current, milli_value(target["averageValue"]), resource, pods, samples, now, self.calculator
                )
            except CalculationError as exc:
                raise CalculationError(f"failed to get {resource} usage: {exc}") from None
            return replicas, {"averageValue": _milli_quantity(usage)}, f"{resource} resource"
        utilization_target = target.get("averageUtilization")
        if utilization_target is None:
            raise CalculationError(
                "invalid resource metric source: neither an average utilization target nor an average value (usage) "
                "target was set"
            )
        try:
            samples = await self._samples(namespace, selector, resource, container)
            replicas, utilization, average = resource_replicas(
                current, int(utilization_target), resource, pods, samples, now, self.calculator, container
            )
        except CalculationError as exc:
            raise CalculationError(f"failed to get {resource} utilization: {exc}") from None
        value = {"averageUtilization": utilization, "averageValue": _milli_quantity(average)}
        scope = "container resource" if container else "resource"
        return replicas, value, f"{resource} {scope} utilization (percentage of request)"

    async def _samples(self, namespace: str, selector: str, resource: str, container: str) -> dict[str, Sample]:
        """The pods' usage of ``resource`` from the metrics source (``GetResourceMetric``); CalculationError."""
        prefix = f"unable to get metrics for resource {resource}"
        try:
            pod_metrics = await self.metrics.pod_metrics(namespace, selector)
        except MetricsUnavailable as exc:
            raise CalculationError(f"{prefix}: unable to fetch metrics from resource metrics API: {exc}") from None
        if not pod_metrics:
            raise CalculationError(f"{prefix}: no metrics returned from resource metrics API")
        try:
            return resource_samples(pod_metrics, resource, namespace, container)
        except CalculationError as exc:
            raise CalculationError(f"{prefix}: {exc}") from None

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
