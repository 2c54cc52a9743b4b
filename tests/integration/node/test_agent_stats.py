"""A real node agent's /stats/summary and /metrics/resource, read as a metrics server reads them: through the API
server's node proxy, with the real ``kubectl get --raw``.

The pod runs, on the process runtime, a busy loop, one with a CPU limit of half a core (a cgroup with limits),
a process holding 50 MB and an idle one; as root every one of them is in a cgroup of its own.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.integration.node.agentenv import run_pod, running_agent

from pinnace.apiserver.server import APIServer
from pinnace.client.rest import RestClient

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

NODE = "stats-node"
HOLD = "x = bytearray(50 << 20)\nfor i in range(0, len(x), 4096): x[i] = 1\nprint('held', flush=True)\n"
HOLD += "import time; time.sleep(600)"


def _container(name: str, *command: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "command": list(command), **extra}


async def _kubectl_raw(server: str, path: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "kubectl", f"--server={server}", "get", "--raw", path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert (proc.returncode, err.decode()) == (0, "")
    return out.decode()


async def _summary(server: str) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(await _kubectl_raw(server, f"/api/v1/nodes/{NODE}/proxy/stats/summary"))
    return summary


def _containers(summary: dict[str, Any], pod: str) -> dict[str, dict[str, Any]]:
    found = [p for p in summary["pods"] if p["podRef"]["name"] == pod]
    assert len(found) == 1
    return {c["name"]: c for c in found[0]["containers"]}


async def _held(server: str, pod: str) -> None:
    path = f"/api/v1/namespaces/default/pods/{pod}/log?container=holder"
    for _ in range(200):
        if "held" in await _kubectl_raw(server, path):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the holder did not say it holds its memory")


async def test_usage_through_the_node_proxy(api_server: APIServer, client: RestClient, tmp_path: Path) -> None:
    server = api_server.url
    async with running_agent(client, tmp_path / "node", NODE):
        await run_pod(
            client,
            NODE,
            "load",
            _container("busy", "sh", "-c", "while :; do :; done"),
            _container("capped", "sh", "-c", "while :; do :; done", resources={"limits": {"cpu": "500m"}}),
            _container("holder", sys.executable, "-c", HOLD),
            _container("idle", "sleep", "600"),
        )
        await _held(server, "load")
        first = await _summary(server)
        await asyncio.sleep(1.5)
        second = await _summary(server)

        assert second["node"]["nodeName"] == NODE
        node_cpu = second["node"]["cpu"]
        assert node_cpu["usageCoreNanoSeconds"] > first["node"]["cpu"]["usageCoreNanoSeconds"]
        assert node_cpu["usageNanoCores"] > 0.3e9
        assert second["node"]["memory"]["workingSetBytes"] > 50 << 20

        before, after = _containers(first, "load"), _containers(second, "load")
        assert sorted(after) == ["busy", "capped", "holder", "idle"]
        assert "usageNanoCores" not in before["busy"]["cpu"]  # the first sample of it: no rate yet
        assert after["busy"]["cpu"]["usageCoreNanoSeconds"] > before["busy"]["cpu"]["usageCoreNanoSeconds"]
        assert after["busy"]["cpu"]["usageNanoCores"] >= 0.3e9
        assert 0.2e9 <= after["capped"]["cpu"]["usageNanoCores"] <= 0.65e9  # its CFS quota: half a core
        assert after["idle"]["cpu"]["usageNanoCores"] < 0.05e9
        assert after["holder"]["memory"]["workingSetBytes"] >= 50 << 20
        assert after["holder"]["memory"]["rssBytes"] >= 50 << 20
        assert after["idle"]["memory"]["workingSetBytes"] < 20 << 20
        pod = next(p for p in second["pods"] if p["podRef"]["name"] == "load")
        assert pod["cpu"]["usageCoreNanoSeconds"] == sum(c["cpu"]["usageCoreNanoSeconds"] for c in after.values())
        assert pod["memory"]["workingSetBytes"] == sum(c["memory"]["workingSetBytes"] for c in after.values())

        lean = json.loads(
            await _kubectl_raw(server, f"/api/v1/nodes/{NODE}/proxy/stats/summary?only_cpu_and_memory=true")
        )
        assert "fs" not in lean["node"] and "fs" in second["node"]

        text = await _kubectl_raw(server, f"/api/v1/nodes/{NODE}/proxy/metrics/resource")
        families = {f.name: f for f in text_string_to_metric_families(text)}
        busy = [
            s
            for s in families["container_cpu_usage_seconds"].samples
            if s.labels == {"container": "busy", "namespace": "default", "pod": "load"}
        ]
        assert len(busy) == 1 and busy[0].value * 1e9 > after["busy"]["cpu"]["usageCoreNanoSeconds"]
        assert busy[0].timestamp is not None
        memory = {s.labels["container"]: s.value for s in families["container_memory_working_set_bytes"].samples}
        assert memory["holder"] >= 50 << 20
        pods = {s.labels["pod"]: s.value for s in families["pod_memory_working_set_bytes"].samples}
        assert pods["load"] >= 50 << 20
        assert [s.value for s in families["resource_scrape_error"].samples] == [0.0]
        assert families["node_cpu_usage_seconds"].samples[0].value > 0
