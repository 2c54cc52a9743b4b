"""The ``metrics.k8s.io/v1beta1`` objects as metrics-server writes them: NodeMetrics, PodMetrics, their lists and
Tables, and the group's discovery documents."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from pinnace.api.goduration import go_duration
from pinnace.api.quantity import BINARY_SI, DECIMAL_SI, canonical, parse
from pinnace.metricsserver.storage import Usage

__all__ = [
    "API_GROUP_LIST",
    "GROUP",
    "GROUP_VERSION",
    "VERSION",
    "api_group",
    "api_resource_list",
    "metrics_list",
    "node_metrics",
    "pod_metrics",
    "table",
]

Obj = dict[str, Any]
GROUP, VERSION = "metrics.k8s.io", "v1beta1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
_VERBS = ["get", "list"]


def _time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cpu_quantity(nanocores: int) -> str:
    """CPU as metrics-server writes it (a quantity scaled to nano: ``"1234567n"``, ``"5m"``, ``"0"``)."""
    return canonical(Fraction(nanocores, 10**9), DECIMAL_SI)


def memory_quantity(size: int) -> str:
    """Memory as metrics-server writes it (binary SI: ``"12345Ki"``, ``"1Mi"``)."""
    return canonical(Fraction(size), BINARY_SI)


def _resources(usage: Usage) -> Obj:
    return {"cpu": cpu_quantity(usage.cpu_nanocores), "memory": memory_quantity(usage.memory_bytes)}


def _meta(name: str, namespace: str | None, labels: dict[str, str] | None, now: float) -> Obj:
    meta: Obj = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["creationTimestamp"] = _time(now)
    if labels:
        meta["labels"] = dict(labels)
    return meta


def node_metrics(name: str, labels: dict[str, str] | None, usage: Usage, now: float) -> Obj:
    """One NodeMetrics."""
    return {
        "kind": "NodeMetrics",
        "apiVersion": GROUP_VERSION,
        "metadata": _meta(name, None, labels, now),
        "timestamp": _time(usage.timestamp),
        "window": go_duration(round(usage.window * 1e9)),
        "usage": _resources(usage),
    }


def pod_metrics(namespace: str, name: str, labels: dict[str, str] | None, usage: dict[str, Usage], now: float) -> Obj:
    """One PodMetrics (its timestamp and window: its containers' widest)."""
    latest = max(usage.values(), key=lambda u: (u.timestamp, u.window))
    return {
        "kind": "PodMetrics",
        "apiVersion": GROUP_VERSION,
        "metadata": _meta(name, namespace, labels, now),
        "timestamp": _time(latest.timestamp),
        "window": go_duration(round(latest.window * 1e9)),
        "containers": [{"name": cname, "usage": _resources(u)} for cname, u in sorted(usage.items())],
    }


def metrics_list(kind: str, items: list[Obj]) -> Obj:
    """A NodeMetricsList or PodMetricsList."""
    return {"kind": f"{kind}List", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}


def _total(obj: Obj) -> tuple[str, str]:
    """CPU and memory of a NodeMetrics, or its containers' sum for a PodMetrics, as the Table shows them."""
    if "usage" in obj:
        return obj["usage"]["cpu"], obj["usage"]["memory"]

    cpu = sum((parse(c["usage"]["cpu"]).value for c in obj["containers"]), Fraction(0))
    memory = sum((parse(c["usage"]["memory"]).value for c in obj["containers"]), Fraction(0))
    return canonical(cpu, DECIMAL_SI), canonical(memory, BINARY_SI)


def table(items: list[Obj], *, include_object: str = "Metadata") -> Obj:
    """A ``meta.k8s.io/v1`` Table of metrics objects, with metrics-server's columns (Name, CPU, Memory, Window)."""
    columns = [
        {"name": "Name", "type": "string", "format": "name", "description": "Name of the resource", "priority": 0},
        {"name": "CPU", "type": "string", "format": "", "description": "CPU usage", "priority": 0},
        {"name": "Memory", "type": "string", "format": "", "description": "Memory usage", "priority": 0},
        {"name": "Window", "type": "string", "format": "", "description": "Interval", "priority": 0},
    ]
    rows = []
    for obj in items:
        cpu, memory = _total(obj)
        row: Obj = {"cells": [obj["metadata"]["name"], cpu, memory, obj["window"]]}
        if include_object == "Object":
            row["object"] = obj
        elif include_object == "Metadata":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "columnDefinitions": columns, "rows": rows}


def api_resource_list() -> Obj:
    """``/apis/metrics.k8s.io/v1beta1``."""
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": GROUP_VERSION,
        "resources": [
            {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": _VERBS},
            {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": _VERBS},
        ],
    }


def api_group() -> Obj:
    """``/apis/metrics.k8s.io``."""
    version = {"groupVersion": GROUP_VERSION, "version": VERSION}
    return {"kind": "APIGroup", "apiVersion": "v1", "name": GROUP, "versions": [version], "preferredVersion": version}


API_GROUP_LIST: Obj = {"kind": "APIGroupList", "apiVersion": "v1", "groups": [api_group()]}
