"""The HorizontalPodAutoscaler's replica calculator (upstream's ``replica_calculator.go``), as pure functions.

Given the pods a target's scale selects, their usage samples and a target,
propose a replica count. Usage and requests are in thousandths of the
resource's unit (millicores for CPU, milli-bytes for memory), as upstream
counts them (``MilliValue``).

- A Utilization target compares the summed usage with the summed requests of
  the same pods (a pod container without a request for the resource is an
  error); an AverageValue target compares the mean usage with the target.
- Pods being deleted or Failed are ignored. Pending pods — and, for CPU, pods
  not Ready, or still in their CPU initialization period without a sample
  taken a whole window after they became Ready — are *unready*. Running pods
  without a sample are *missing*.
- The ratio of usage to target decides. Within the tolerance, nothing
  changes. With no unready pods (or a scale down) and no missing pods, the
  proposal is ``ceil(ratio * ready pods)``. Otherwise the ratio is computed
  again with missing pods at 100 % of their request (the target, if it is
  higher) on a scale down or 0 % on a scale up, and unready pods at 0 % on a
  scale up; if that reverses the direction, or lands within the tolerance,
  nothing changes.

Errors are :class:`CalculationError` with upstream's messages, which the
controller quotes in its events and conditions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pinnace.api.podutil import condition, milli_value
from pinnace.controllers._workload_pods import parse_time
from pinnace.controllers.hpa_metrics import PodMetrics

__all__ = [
    "CalculationError",
    "CalculatorSettings",
    "PodGroups",
    "Sample",
    "group_pods",
    "metric_usage_ratio",
    "pod_requests",
    "raw_resource_replicas",
    "resource_replicas",
    "resource_samples",
    "resource_utilization_ratio",
]

Obj = dict[str, Any]


class CalculationError(Exception):
    """No replica count could be proposed; ``str()`` is upstream's message."""


@dataclass(frozen=True, slots=True)
class CalculatorSettings:
    """kube-controller-manager's ``--horizontal-pod-autoscaler-tolerance``, ``-cpu-initialization-period`` and
    ``-initial-readiness-delay`` (seconds)."""

    tolerance: float = 0.1
    cpu_initialization_period: float = 300.0
    initial_readiness_delay: float = 30.0


@dataclass(frozen=True, slots=True)
class Sample:
    """One pod's usage of one resource (thousandths of its unit), when it was taken and over what window."""

    value: int
    timestamp: float = 0.0
    window: float = 0.0


@dataclass(frozen=True, slots=True)
class PodGroups:
    """The pods sorted as upstream's ``groupPods``: how many count as ready, and the names of the others."""

    ready_count: int
    unready: frozenset[str]
    missing: frozenset[str]
    ignored: frozenset[str]


def _milli(resource: str, amount: int) -> int:
    """A :class:`PodMetrics` amount (millicores for CPU, whole units otherwise) in thousandths of the unit."""
    return amount if resource == "cpu" else amount * 1000


def resource_samples(
    metrics: Iterable[PodMetrics], resource: str, namespace: str, container: str = ""
) -> dict[str, Sample]:
    """Each pod's usage of ``resource`` by name (upstream's ``getPodMetrics`` / ``getContainerMetrics``).

    For a whole pod, a pod with no containers or a container without the
    resource has no sample. For one ``container``, a pod without that
    container is an error, and one whose container lacks the resource has no sample.
    """
    samples: dict[str, Sample] = {}
    for pod in metrics:
        if container:
            usage = pod.containers.get(container)
            if usage is None:
                raise CalculationError(
                    f"failed to get container metrics: container {container} not present in metrics for pod "
                    f"{namespace}/{pod.name}"
                )
            if resource in usage:
                samples[pod.name] = Sample(_milli(resource, usage[resource]), pod.timestamp, pod.window)
            continue
        if not pod.containers or any(resource not in usage for usage in pod.containers.values()):
            continue
        total = sum(_milli(resource, usage[resource]) for usage in pod.containers.values())
        samples[pod.name] = Sample(total, pod.timestamp, pod.window)
    return samples


def _name(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("name") or "")


def _seconds(text: Any) -> float | None:
    when = parse_time(text) if isinstance(text, str) else None
    return when.timestamp() if when is not None else None


def _cpu_unready(pod: Mapping[str, Any], sample: Sample, now: float, settings: CalculatorSettings) -> bool:
    """Whether a running CPU-measured pod's sample is left out: not Ready yet, or too fresh from its start."""
    ready = condition(pod, "Ready")
    started = _seconds((pod.get("status") or {}).get("startTime"))
    if ready is None or started is None:
        return True
    became = _seconds(ready.get("lastTransitionTime")) or 0.0
    if started + settings.cpu_initialization_period > now:
        # Still initializing: only a Ready pod with a sample taken a whole window after it became Ready counts.
        return ready.get("status") == "False" or sample.timestamp < became + sample.window
    # Past initialization: left out only if it is unready and never has been ready since its start.
    return ready.get("status") == "False" and started + settings.initial_readiness_delay > became


def group_pods(
    pods: Iterable[Mapping[str, Any]],
    samples: Mapping[str, Sample],
    resource: str,
    now: float,
    settings: CalculatorSettings,
) -> PodGroups:
    """Sort the pods (upstream's ``groupPods``); ``now`` is UNIX seconds and ``resource`` "" for a non-resource
    metric (readiness matters for CPU only)."""
    ready_count = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        name = _name(pod)
        phase = (pod.get("status") or {}).get("phase")
        if (pod.get("metadata") or {}).get("deletionTimestamp") or phase == "Failed":
            ignored.add(name)
        elif phase == "Pending":
            unready.add(name)
        elif name not in samples:
            missing.add(name)
        elif resource == "cpu" and _cpu_unready(pod, samples[name], now, settings):
            unready.add(name)
        else:
            ready_count += 1
    return PodGroups(ready_count, frozenset(unready), frozenset(missing), frozenset(ignored))


def pod_requests(pods: Iterable[Mapping[str, Any]], resource: str, container: str = "") -> dict[str, int]:
    """Each pod's request of ``resource`` in thousandths (its containers and sidecars, or just ``container``);
    CalculationError if a counted container has no request for it."""
    requests: dict[str, int] = {}
    for pod in pods:
        spec = pod.get("spec") or {}
        containers = list(spec.get("containers") or [])
        containers += [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
        total = 0
        for c in containers:
            if container and c.get("name") != container:
                continue
            amount = ((c.get("resources") or {}).get("requests") or {}).get(resource)
            if amount is None:
                raise CalculationError(
                    f"missing request for {resource} in container {c.get('name') or ''} of Pod {_name(pod)}"
                )
            total += milli_value(amount)
        requests[_name(pod)] = total
    return requests


def resource_utilization_ratio(
    samples: Mapping[str, Sample], requests: Mapping[str, int], target: int
) -> tuple[float, int, int]:
    """(usage ratio, utilization percent, mean usage) of the pods with requests (``GetResourceUtilizationRatio``)."""
    used = requested = counted = 0
    for name, sample in samples.items():
        if name not in requests:
            continue  # requests are checked elsewhere: a sample without one is of some other pod
        used += sample.value
        requested += requests[name]
        counted += 1
    if requested == 0:
        raise CalculationError("no metrics returned matched known pods")
    utilization = used * 100 // requested
    return utilization / target, utilization, used // counted


def metric_usage_ratio(samples: Mapping[str, Sample], target: int) -> tuple[float, int]:
    """(usage ratio, mean usage) of the samples against a per-pod target (``GetMetricUsageRatio``)."""
    usage = sum(s.value for s in samples.values()) // len(samples)
    return usage / target, usage


def _counted(
    pods: Sequence[Mapping[str, Any]],
    samples: Mapping[str, Sample],
    resource: str,
    now: float,
    settings: CalculatorSettings,
) -> tuple[PodGroups, dict[str, Sample]]:
    """The pods' groups, and the samples of the pods that count (not ignored, not unready)."""
    if not pods:
        raise CalculationError("no pods returned by selector while calculating replica count")
    groups = group_pods(pods, samples, resource, now, settings)
    kept = {n: s for n, s in samples.items() if n not in groups.ignored and n not in groups.unready}
    if not kept:
        raise CalculationError("did not receive metrics for targeted pods (pods might be unready)")
    return groups, kept


def _rebalanced(current: int, ratio: float, new_ratio: float, counted: int, tolerance: float) -> int:
    """The proposal once missing and unready pods are filled in: no change if that lands within the tolerance,
    or reverses the direction of the first ratio or of the replica count."""
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current
    replicas = math.ceil(new_ratio * counted)
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current
    return replicas


def _proposal(
    current: int,
    ratio: float,
    groups: PodGroups,
    kept: Mapping[str, Sample],
    missing_on_scale_down: Callable[[str], Sample],
    ratio_of: Callable[[Mapping[str, Sample]], float],
    tolerance: float,
) -> int:
    """The replicas a usage ratio proposes (upstream's shared tail of the resource and plain-metric calculations):
    within the tolerance, none; with missing or unready pods, the ratio again with the missing ones filled in
    (``missing_on_scale_down`` when scaling down, nothing when scaling up) and the unready ones at nothing when
    scaling up, kept only if it does not reverse the direction (:func:`_rebalanced`)."""
    up_with_unready = bool(groups.unready) and ratio > 1.0
    if not up_with_unready and not groups.missing:
        return current if abs(1.0 - ratio) <= tolerance else math.ceil(ratio * groups.ready_count)
    filled = dict(kept)
    if ratio < 1.0:
        filled.update({n: missing_on_scale_down(n) for n in groups.missing})
    elif ratio > 1.0:  # a scale up: missing pods use nothing
        filled.update({n: Sample(0) for n in groups.missing})
    if up_with_unready:
        filled.update({n: Sample(0) for n in groups.unready})
    return _rebalanced(current, ratio, ratio_of(filled), len(filled), tolerance)


def resource_replicas(
    current: int,
    target_utilization: int,
    resource: str,
    pods: Sequence[Mapping[str, Any]],
    samples: Mapping[str, Sample],
    now: float,
    settings: CalculatorSettings,
    container: str = "",
) -> tuple[int, int, int]:
    """(replicas, utilization percent, mean usage) for a Utilization target (``GetResourceReplicas``)."""
    groups, kept = _counted(pods, samples, resource, now, settings)
    requests = pod_requests(pods, resource, container)
    ratio, utilization, average = resource_utilization_ratio(kept, requests, target_utilization)
    fallback = max(100, target_utilization)  # a scale down: missing pods use all they asked for (or the target)
    replicas = _proposal(
        current,
        ratio,
        groups,
        kept,
        lambda name: Sample(requests[name] * fallback // 100),
        lambda filled: resource_utilization_ratio(filled, requests, target_utilization)[0],
        settings.tolerance,
    )
    return replicas, utilization, average


def raw_resource_replicas(
    current: int,
    target_usage: int,
    resource: str,
    pods: Sequence[Mapping[str, Any]],
    samples: Mapping[str, Sample],
    now: float,
    settings: CalculatorSettings,
) -> tuple[int, int]:
    """(replicas, mean usage) for an AverageValue target in thousandths (``calcPlainMetricReplicas``)."""
    groups, kept = _counted(pods, samples, resource, now, settings)
    ratio, usage = metric_usage_ratio(kept, target_usage)
    replicas = _proposal(
        current,
        ratio,
        groups,
        kept,
        lambda _name: Sample(target_usage),  # a scale down: missing pods use exactly the target
        lambda filled: metric_usage_ratio(filled, target_usage)[0],
        settings.tolerance,
    )
    return replicas, usage
