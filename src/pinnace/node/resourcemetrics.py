"""The kubelet's ``/metrics/resource``: node, pod and container CPU and memory in the Prometheus text format.

What kubelet 1.32's resource metrics collector serves (the metrics are
STABLE upstream; its deprecated ``scrape_error`` is hidden since 1.30, so
only ``resource_scrape_error`` is left), from the same figures as
``/stats/summary`` (:class:`pinnace.node.kubeletstats.SummaryProvider`)::

    node_cpu_usage_seconds_total                                   counter  core-seconds
    node_memory_working_set_bytes                                  gauge
    container_cpu_usage_seconds_total{container,namespace,pod}     counter
    container_memory_working_set_bytes{container,namespace,pod}    gauge
    container_start_time_seconds{container,namespace,pod}          gauge    (no sample timestamp)
    pod_cpu_usage_seconds_total{namespace,pod}                     counter
    pod_memory_working_set_bytes{namespace,pod}                    gauge
    resource_scrape_error                                          gauge    1 when the stats could not be had

Families come sorted by name, each with its HELP and TYPE lines, and every
usage sample carries the time it was measured (milliseconds), as upstream's
collector stamps them; metrics-server computes its rates from those.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from pinnace.node.kubeletstats import SummaryProvider, Usage

__all__ = ["CONTENT_TYPE", "render", "resource_metrics"]

log = logging.getLogger(__name__)

#: The Prometheus text exposition format the kubelet answers with.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_CONTAINER = ["container", "namespace", "pod"]
_POD = ["namespace", "pod"]


class _Families:
    """One scrape's metric families, for prometheus_client's text writer."""

    def __init__(self, usage: Usage | None) -> None:
        self.usage = usage

    def collect(self) -> Iterator[Metric]:
        """The families sorted by name, and each one's samples by their labels (as the kubelet's registry
        gathers them)."""
        for family in sorted(self._families(), key=lambda family: family.name):
            family.samples.sort(key=lambda sample: [sample.labels[name] for name in sorted(sample.labels)])
            yield family

    def _families(self) -> list[Metric]:
        node_cpu = CounterMetricFamily(
            "node_cpu_usage_seconds_total", "[STABLE] Cumulative cpu time consumed by the node in core-seconds"
        )
        node_memory = GaugeMetricFamily(
            "node_memory_working_set_bytes", "[STABLE] Current working set of the node in bytes"
        )
        container_cpu = CounterMetricFamily(
            "container_cpu_usage_seconds_total",
            "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
            labels=_CONTAINER,
        )
        container_memory = GaugeMetricFamily(
            "container_memory_working_set_bytes",
            "[STABLE] Current working set of the container in bytes",
            labels=_CONTAINER,
        )
        container_start = GaugeMetricFamily(
            "container_start_time_seconds",
            "[STABLE] Start time of the container since unix epoch in seconds",
            labels=_CONTAINER,
        )
        pod_cpu = CounterMetricFamily(
            "pod_cpu_usage_seconds_total",
            "[STABLE] Cumulative cpu time consumed by the pod in core-seconds",
            labels=_POD,
        )
        pod_memory = GaugeMetricFamily(
            "pod_memory_working_set_bytes", "[STABLE] Current working set of the pod in bytes", labels=_POD
        )
        scrape_error = GaugeMetricFamily(
            "resource_scrape_error", "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise"
        )
        scrape_error.add_metric([], 0 if self.usage is not None else 1)
        families: list[Metric] = [node_cpu, node_memory, container_cpu, container_memory, container_start]
        families += [pod_cpu, pod_memory, scrape_error]
        if self.usage is None:
            return families
        node = self.usage.node
        node_cpu.add_metric([], node.cpu.usage_core_nanoseconds / 1e9, timestamp=node.cpu.time)
        node_memory.add_metric([], node.memory.working_set_bytes, timestamp=node.memory.time)
        for pod in self.usage.pods:
            for c in pod.containers:
                labels = [c.name, pod.namespace, pod.name]
                if c.start_time > 0:
                    container_start.add_metric(labels, c.start_time)
                container_cpu.add_metric(labels, c.cpu.usage_core_nanoseconds / 1e9, timestamp=c.cpu.time)
                container_memory.add_metric(labels, c.memory.working_set_bytes, timestamp=c.memory.time)
            if pod.cpu is not None:
                pod_cpu.add_metric(
                    [pod.namespace, pod.name], pod.cpu.usage_core_nanoseconds / 1e9, timestamp=pod.cpu.time
                )
            if pod.memory is not None:
                pod_memory.add_metric(
                    [pod.namespace, pod.name], pod.memory.working_set_bytes, timestamp=pod.memory.time
                )
        return families


def render(usage: Usage | None) -> bytes:
    """The exposition of ``usage`` (None: the stats could not be had, so only ``resource_scrape_error 1``)."""
    data: bytes = generate_latest(_Families(usage))
    return data


async def resource_metrics(provider: SummaryProvider) -> bytes:
    """The node's resource metrics now."""
    try:
        usage: Usage | None = await provider.cpu_and_memory()
    except Exception:  # a scrape answers with resource_scrape_error 1, as upstream, and the cause is logged
        log.exception("getting the node's CPU and memory stats for /metrics/resource")
        usage = None
    return render(usage)
