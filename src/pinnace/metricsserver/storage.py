"""The last two readings of every node and container, and the usage (a CPU rate, a memory level) they give.

As metrics-server's storage: a usage needs two readings of the same counter, so a node or container shows up one
resolution after it was first seen — except a container that started after its node's previous scrape, whose
start (at zero CPU) serves as the earlier reading. A counter that went backwards (a restarted container, a
rebooted node) starts over. A pod is reported only when every one of its running containers has a usage, and
what a scrape no longer lists (a deleted pod, a node that did not answer for two rounds) is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from pinnace.metricsserver.samples import NodeScrape, PodKey, Point

__all__ = ["MetricsStorage", "Usage"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Resource usage over a window ending at ``timestamp``: CPU in nanocores, memory working set in bytes."""

    timestamp: float
    window: float
    cpu_nanocores: int
    memory_bytes: int


def _usage(prev: Point | None, last: Point) -> Usage | None:
    if prev is None or last.timestamp <= prev.timestamp or last.cpu < prev.cpu:
        return None
    window = last.timestamp - prev.timestamp
    return Usage(last.timestamp, window, int((last.cpu - prev.cpu) / window), last.memory)


def _earlier(old: tuple[Point | None, Point] | None, new: Point, since: float) -> Point | None:
    """The reading ``new``'s rate is taken against: the previous one, or the start of something new since
    ``since`` (the node's previous scrape; 0: none)."""
    if old is not None:
        last = old[1]
        if new.cpu >= last.cpu and new.timestamp > last.timestamp and new.start <= last.timestamp:
            return last
    if since and new.start > since and new.start < new.timestamp:
        return Point(new.start, 0, 0, new.start)
    return None


class MetricsStorage:
    """Readings by node and by pod container; :meth:`store` takes a round of scrapes, the getters answer usage."""

    def __init__(self) -> None:
        self._nodes: dict[str, tuple[Point | None, Point]] = {}
        self._node_scraped: dict[str, float] = {}
        self._pods: dict[PodKey, dict[str, tuple[Point | None, Point]]] = {}
        self._pod_node: dict[PodKey, str] = {}

    def store(self, scrapes: list[NodeScrape], failed: frozenset[str] = frozenset()) -> None:
        """Take one round: ``scrapes`` answered; nodes in ``failed`` did not, and keep their readings one round
        (a node in neither is gone)."""
        nodes: dict[str, tuple[Point | None, Point]] = {}
        pods: dict[PodKey, dict[str, tuple[Point | None, Point]]] = {}
        pod_node: dict[PodKey, str] = {}
        scraped: dict[str, float] = {}
        for scrape in scrapes:
            since = self._node_scraped.get(scrape.node, 0.0)
            scraped[scrape.node] = scrape.timestamp
            if scrape.point is not None:
                nodes[scrape.node] = (_earlier(self._nodes.get(scrape.node), scrape.point, 0.0), scrape.point)
            for key, containers in scrape.pods.items():
                old = self._pods.get(key, {})
                pods[key] = {name: (_earlier(old.get(name), point, since), point) for name, point in containers.items()}
                pod_node[key] = scrape.node
        for node in failed:  # kept for a round, as they were (their rate goes on from the last good reading)
            if node in self._nodes:
                nodes[node] = self._nodes[node]
            if node in self._node_scraped:
                scraped[node] = self._node_scraped[node]
            for key, owner in self._pod_node.items():
                if owner == node and key not in pods:
                    pods[key], pod_node[key] = self._pods[key], node
        self._nodes, self._pods, self._pod_node, self._node_scraped = nodes, pods, pod_node, scraped

    def node(self, name: str) -> Usage | None:
        """The node's usage, if it has two readings."""
        readings = self._nodes.get(name)
        return _usage(*readings) if readings is not None else None

    def nodes(self) -> dict[str, Usage]:
        """Every node with a usage."""
        return {name: usage for name in self._nodes if (usage := self.node(name)) is not None}

    def pod(self, key: PodKey) -> dict[str, Usage] | None:
        """The pod's usage by container, if every one of its containers has one."""
        containers = self._pods.get(key)
        if not containers:
            return None
        usage: dict[str, Usage] = {}
        for name, readings in containers.items():
            found = _usage(*readings)
            if found is None:
                return None
            usage[name] = found
        return usage

    def pod_keys(self) -> list[PodKey]:
        """The pods it has readings of (with a usage or not yet)."""
        return list(self._pods)
