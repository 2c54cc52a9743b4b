"""Scrape every node's kubelet Summary, through the API server's node proxy, once per resolution.

A node is scraped when it advertises a kubelet endpoint (``status.daemonEndpoints.kubeletEndpoint.Port``);
nodes without one (simulated nodes) have no kubelet to ask. Each round asks all nodes at once, each with a
timeout below the resolution, and hands the round to the storage; a node that fails is logged (once until it
answers again) and keeps its last readings for that round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import aiohttp

from pinnace.api import errors
from pinnace.client.rest import RestClient
from pinnace.metricsserver.samples import NodeScrape, parse_summary
from pinnace.metricsserver.storage import MetricsStorage

__all__ = ["Scraper", "kubelet_port"]

log = logging.getLogger(__name__)
Obj = dict[str, Any]


def kubelet_port(node: Obj) -> int:
    """The port the node's kubelet serves on (0: none advertised)."""
    endpoints = (node.get("status") or {}).get("daemonEndpoints") or {}
    port = (endpoints.get("kubeletEndpoint") or {}).get("Port")
    return port if isinstance(port, int) else 0


class Scraper:
    """Rounds of scrapes into ``storage`` of the nodes ``nodes()`` returns, every ``resolution`` seconds."""

    def __init__(
        self, rest: RestClient, nodes: Callable[[], list[Obj]], storage: MetricsStorage, resolution: float
    ) -> None:
        self.rest = rest
        self.nodes = nodes
        self.storage = storage
        self.resolution = resolution
        #: Seconds one node may take to answer (metrics-server's --kubelet-request-timeout is 10 s).
        self.timeout = min(10.0, resolution * 0.8)
        #: Rounds completed (readiness: at least one).
        self.rounds = 0
        self._failing: set[str] = set()
        self._round_done = asyncio.Event()

    async def run(self) -> None:
        """Scrape every resolution until cancelled (a round that overruns delays the next, never overlaps)."""
        while True:
            started = time.monotonic()
            await self.scrape_once()
            await asyncio.sleep(max(0.0, self.resolution - (time.monotonic() - started)))

    async def wait_rounds(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` rounds have completed in all; whether they did within ``timeout`` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self.rounds < count:
                    self._round_done.clear()
                    await self._round_done.wait()
        return self.rounds >= count

    async def scrape_once(self) -> None:
        """One round: every node with a kubelet, at once."""
        names = sorted(
            str(node["metadata"]["name"]) for node in self.nodes() if kubelet_port(node) and node.get("metadata")
        )
        results = await asyncio.gather(*(self._scrape(name) for name in names))
        scrapes = [r for r in results if r is not None]
        failed = frozenset(name for name, r in zip(names, results, strict=True) if r is None)
        self.storage.store(scrapes, failed)
        self.rounds += 1
        self._round_done.set()

    async def _scrape(self, node: str) -> NodeScrape | None:
        path = f"/api/v1/nodes/{quote(node, safe='')}/proxy/stats/summary"
        try:
            async with asyncio.timeout(self.timeout):
                summary = await self.rest.request("GET", path)
        except (errors.StatusError, aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            if node not in self._failing:
                log.warning("metrics server: scraping node %s failed: %s", node, exc or type(exc).__name__)
                self._failing.add(node)
            return None
        if node in self._failing:
            log.info("metrics server: node %s answers again", node)
            self._failing.discard(node)
        return parse_summary(node, summary, time.time())
