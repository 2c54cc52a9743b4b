"""One scrape of one node, read from the kubelet's Summary (``/stats/summary``): cumulative CPU and memory readings.

Only what the resource metrics need is kept: per node and per running container, the CPU time used so far
(core-nanoseconds) and the memory working set, with when the reading was taken and when the thing measured
started. A container whose readings are missing is left out (the kubelet had none for it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["NodeScrape", "PodKey", "Point", "parse_summary"]

Obj = dict[str, Any]
#: (namespace, name) of a pod.
PodKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Point:
    """A reading: cumulative CPU core-nanoseconds and the memory working set (bytes) at ``timestamp``
    (UNIX seconds), of something that started at ``start`` (UNIX seconds, 0 if unknown)."""

    timestamp: float
    cpu: int
    memory: int
    start: float = 0.0


@dataclass(slots=True)
class NodeScrape:
    """What one node's Summary said: the node's own reading, and each running pod's containers' readings."""

    node: str
    timestamp: float
    point: Point | None = None
    pods: dict[PodKey, dict[str, Point]] = field(default_factory=dict)


def _time(text: Any) -> float:
    """An RFC3339 time of the Summary as UNIX seconds (0 if missing or unreadable)."""
    if not isinstance(text, str) or not text:
        return 0.0
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _point(stats: Obj, timestamp: float) -> Point | None:
    """The reading of a node or container entry (None when it has no CPU counter or no working set)."""
    cpu = stats.get("cpu") or {}
    memory = stats.get("memory") or {}
    used, working = cpu.get("usageCoreNanoSeconds"), memory.get("workingSetBytes")
    if not isinstance(used, int) or not isinstance(working, int):
        return None
    return Point(timestamp, used, working, _time(stats.get("startTime")))


def parse_summary(node: str, summary: Obj, timestamp: float) -> NodeScrape:
    """The readings in ``summary``, all taken as of ``timestamp``: when the scrape's answer arrived.

    The Summary's own times are whole seconds (metav1.Time); over a 15 s resolution that would put up to
    ~7 % of error into a rate, so the arrival time of the answer stands for every reading in it."""
    scrape = NodeScrape(node, timestamp, _point(summary.get("node") or {}, timestamp))
    for pod in summary.get("pods") or []:
        ref = pod.get("podRef") or {}
        namespace, name = ref.get("namespace"), ref.get("name")
        if not isinstance(namespace, str) or not isinstance(name, str):
            continue
        containers: dict[str, Point] = {}
        for container in pod.get("containers") or []:
            point = _point(container, timestamp)
            cname = container.get("name")
            if point is not None and isinstance(cname, str):
                containers[cname] = point
        if containers:
            scrape.pods[(namespace, name)] = containers
    return scrape
