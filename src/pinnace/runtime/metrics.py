"""The runtime's Prometheus metrics, named as controller-runtime names them.

One registry (:data:`REGISTRY`) holds the workqueue and reconcile metrics of
every controller in the process, labelled by queue / controller name; the
manager serves it on its metrics endpoint. The families are
:mod:`pinnace.api.loopmetrics`' (plain numbers, no lock per update): a controller
updates about ten per item, always from its event loop.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from pinnace.api.loopmetrics import LoopCounter, LoopGauge, LoopHistogram

__all__ = [
    "RECONCILE_ERRORS",
    "RECONCILE_TIME",
    "RECONCILE_TOTAL",
    "REGISTRY",
    "WORKQUEUE_ADDS",
    "WORKQUEUE_DEPTH",
    "WORKQUEUE_QUEUE_DURATION",
    "WORKQUEUE_RETRIES",
    "WORKQUEUE_WORK_DURATION",
]

#: Where the runtime's metrics live.
REGISTRY = CollectorRegistry(auto_describe=True)

_BUCKETS = (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)

WORKQUEUE_DEPTH = LoopGauge("workqueue_depth", "Current depth of workqueue", ["name"], registry=REGISTRY)
WORKQUEUE_ADDS = LoopCounter("workqueue_adds", "Total number of adds handled by workqueue", ["name"], registry=REGISTRY)
WORKQUEUE_QUEUE_DURATION = LoopHistogram(
    "workqueue_queue_duration_seconds",
    "How long in seconds an item stays in workqueue before being requested",
    ["name"],
    _BUCKETS,
    registry=REGISTRY,
)
WORKQUEUE_WORK_DURATION = LoopHistogram(
    "workqueue_work_duration_seconds",
    "How long in seconds processing an item from workqueue takes",
    ["name"],
    _BUCKETS,
    registry=REGISTRY,
)
WORKQUEUE_RETRIES = LoopCounter(
    "workqueue_retries", "Total number of retries handled by workqueue", ["name"], registry=REGISTRY
)
RECONCILE_TOTAL = LoopCounter(
    "controller_runtime_reconcile",
    "Total number of reconciliations per controller",
    ["controller", "result"],
    registry=REGISTRY,
)
RECONCILE_ERRORS = LoopCounter(
    "controller_runtime_reconcile_errors",
    "Total number of reconciliation errors per controller",
    ["controller"],
    registry=REGISTRY,
)
RECONCILE_TIME = LoopHistogram(
    "controller_runtime_reconcile_time_seconds",
    "Length of time per reconciliation per controller",
    ["controller"],
    (
        0.005,
        0.01,
        0.025,
        0.05,
        0.1,
        0.15,
        0.2,
        0.25,
        0.3,
        0.35,
        0.4,
        0.45,
        0.5,
        0.6,
        0.7,
        0.8,
        0.9,
        1.0,
        1.25,
        1.5,
        1.75,
        2.0,
        2.5,
        3.0,
        3.5,
        4.0,
        4.5,
        5,
        6,
        7,
        8,
        9,
        10,
        15,
        20,
        25,
        30,
        40,
        50,
        60,
    ),
    registry=REGISTRY,
)
