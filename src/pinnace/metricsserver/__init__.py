"""The resource metrics server: what metrics-server is to a kubeadm cluster.

It scrapes every node's kubelet ``/stats/summary`` (through the API server's
node proxy) once per resolution, turns the cumulative CPU counters into rates,
and serves ``metrics.k8s.io/v1beta1`` NodeMetrics and PodMetrics over HTTPS to
the API server's aggregation layer — what ``kubectl top`` and the
HorizontalPodAutoscaler read.
"""

from __future__ import annotations

from pinnace.metricsserver.server import MetricsServer, MetricsServerConfig

__all__ = ["MetricsServer", "MetricsServerConfig"]
