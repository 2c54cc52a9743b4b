"""The /stats/summary provider (pinnace.node.kubeletstats) over a scripted runtime and a fake /proc: the summary's
shape, pod sums, and usageNanoCores from the samples it keeps."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from pinnace.node import cri
from pinnace.node.kubeletstats import MIN_RATE_WINDOW, SummaryProvider

T0 = 1_700_000_000.0
TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
MEMINFO = """\
MemTotal:       16000000 kB
MemFree:         4000000 kB
MemAvailable:   10000000 kB
AnonPages:       3000000 kB
HugePages_Total:       0
"""


@dataclass
class ScriptedRuntime:
    """What the provider asks a runtime, answered from lists and each container's next stats."""

    sandboxes: list[cri.SandboxStatus] = field(default_factory=list)
    containers: list[cri.ContainerStatus] = field(default_factory=list)
    #: container id → (seconds after T0, CPU ns, working set), consumed one per call.
    samples: dict[str, list[tuple[float, int, int]]] = field(default_factory=dict)

    async def list_pod_sandboxes(self) -> list[cri.SandboxStatus]:
        return list(self.sandboxes)

    async def list_containers(self, sandbox_id: str | None = None) -> list[cri.ContainerStatus]:
        return [c for c in self.containers if sandbox_id in (None, c.sandbox_id)]

    async def container_stats(self, container_id: str) -> cri.ContainerStats | None:
        queue = self.samples.get(container_id)
        if not queue:
            return None
        at, cpu, working_set = queue.pop(0)
        return cri.ContainerStats(container_id, T0 + at, cpu, working_set, working_set + 1000, working_set // 2)


def _sandbox(sid: str, name: str, state: cri.SandboxState = cri.SandboxState.READY) -> cri.SandboxStatus:
    config = cri.SandboxConfig(name=name, namespace="team", uid=f"uid-{name}")
    return cri.SandboxStatus(id=sid, config=config, state=state, created_at=T0 - 60)


def _container(
    cid: str, sid: str, name: str, state: cri.ContainerState = cri.ContainerState.RUNNING
) -> cri.ContainerStatus:
    return cri.ContainerStatus(
        id=cid,
        sandbox_id=sid,
        name=name,
        attempt=0,
        state=state,
        image="busybox",
        created_at=T0 - 50,
        started_at=T0 - 30,
    )


def _proc(tmp_path: Path, busy_ticks: int = 1000) -> str:
    proc = tmp_path / "proc"
    proc.mkdir(exist_ok=True)
    (proc / "meminfo").write_text(MEMINFO)
    # user nice system idle iowait irq softirq steal: idle and iowait are not use.
    (proc / "stat").write_text(f"cpu  {busy_ticks} 0 0 99999 555 0 0 0 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\n")
    return str(proc)


def _provider(runtime: ScriptedRuntime, proc: str, fs: Path | None = None) -> SummaryProvider:
    return SummaryProvider("node-a", cast(cri.RuntimeService, runtime), T0 - 3600, fs, proc)


async def test_the_summary_shape_with_pod_sums(tmp_path: Path) -> None:
    runtime = ScriptedRuntime(
        sandboxes=[_sandbox("s1", "web"), _sandbox("s2", "gone", cri.SandboxState.NOTREADY), _sandbox("s3", "new")],
        containers=[
            _container("c1", "s1", "app"),
            _container("c2", "s1", "sidecar"),
            _container("c3", "s1", "init", cri.ContainerState.EXITED),
            _container("c4", "s2", "app"),
            _container("c5", "s1", "stopping"),  # stops between the listing and its measuring: left out
        ],
        samples={"c1": [(0.0, 5_000_000_000, 50 << 20)], "c2": [(0.0, 1_000_000_000, 10 << 20)], "c3": [(0, 1, 1)]},
    )
    summary = await _provider(runtime, _proc(tmp_path), tmp_path).summary()
    node = summary["node"]
    assert node["nodeName"] == "node-a" and node["startTime"] == "2023-11-14T21:13:20Z"
    assert node["cpu"]["usageCoreNanoSeconds"] == 1000 * TICK_NS and "usageNanoCores" not in node["cpu"]
    assert {k: v for k, v in node["memory"].items() if k != "time"} == {
        "availableBytes": 10_000_000 * 1024,
        "usageBytes": 12_000_000 * 1024,
        "workingSetBytes": 6_000_000 * 1024,
        "rssBytes": 3_000_000 * 1024,
    }
    assert node["fs"]["capacityBytes"] >= node["fs"]["availableBytes"] > 0
    assert [p["podRef"] for p in summary["pods"]] == [
        {"name": "web", "namespace": "team", "uid": "uid-web"},
        {"name": "new", "namespace": "team", "uid": "uid-new"},
    ]
    web, new = summary["pods"]
    assert web["startTime"] == "2023-11-14T22:12:20Z"
    assert web["containers"] == [
        {
            "name": "app",
            "startTime": "2023-11-14T22:12:50Z",
            "cpu": {"time": "2023-11-14T22:13:20Z", "usageCoreNanoSeconds": 5_000_000_000},
            "memory": {
                "time": "2023-11-14T22:13:20Z",
                "usageBytes": (50 << 20) + 1000,
                "workingSetBytes": 50 << 20,
                "rssBytes": 25 << 20,
            },
        },
        {
            "name": "sidecar",
            "startTime": "2023-11-14T22:12:50Z",
            "cpu": {"time": "2023-11-14T22:13:20Z", "usageCoreNanoSeconds": 1_000_000_000},
            "memory": {
                "time": "2023-11-14T22:13:20Z",
                "usageBytes": (10 << 20) + 1000,
                "workingSetBytes": 10 << 20,
                "rssBytes": 5 << 20,
            },
        },
    ]
    assert web["cpu"] == {"time": "2023-11-14T22:13:20Z", "usageCoreNanoSeconds": 6_000_000_000}
    assert web["memory"] == {
        "time": "2023-11-14T22:13:20Z",
        "usageBytes": (60 << 20) + 2000,
        "workingSetBytes": 60 << 20,
        "rssBytes": 30 << 20,
    }
    assert new == {"podRef": new["podRef"], "startTime": "2023-11-14T22:12:20Z", "containers": []}


async def test_usage_nano_cores_from_the_previous_sample(tmp_path: Path) -> None:
    runtime = ScriptedRuntime(
        sandboxes=[_sandbox("s1", "web")],
        containers=[_container("c1", "s1", "app"), _container("c2", "s1", "sidecar")],
        samples={
            "c1": [(0.0, 1_000_000_000, 1), (2.0, 2_500_000_000, 1), (4.0, 2_600_000_000, 1)],
            "c2": [(0.0, 0, 1), (2.0, 200_000_000, 1)],
        },
    )
    proc = _proc(tmp_path, busy_ticks=1000)
    provider = _provider(runtime, proc)
    first = await provider.summary(only_cpu_and_memory=True)
    assert "fs" not in first["node"]
    assert all("usageNanoCores" not in c["cpu"] for c in first["pods"][0]["containers"])
    assert "usageNanoCores" not in first["pods"][0]["cpu"]
    second = await provider.summary()
    app, sidecar = second["pods"][0]["containers"]
    assert app["cpu"]["usageNanoCores"] == 750_000_000  # 1.5 s of CPU in 2 s
    assert sidecar["cpu"]["usageNanoCores"] == 100_000_000
    assert second["pods"][0]["cpu"]["usageNanoCores"] == 850_000_000
    # The sidecar is not measured this time: the pod has no rate (a sum over part of it would mislead).
    third = await provider.summary()
    assert [c["name"] for c in third["pods"][0]["containers"]] == ["app"]
    assert third["pods"][0]["containers"][0]["cpu"]["usageNanoCores"] == 50_000_000
    assert third["pods"][0]["cpu"]["usageNanoCores"] == 50_000_000


async def test_a_rate_spans_at_least_the_minimum_window_when_it_can(tmp_path: Path) -> None:
    assert MIN_RATE_WINDOW == 1.0
    samples = [
        (0.0, 0, 1),
        (0.125, 62_500_000, 1),  # 1/8 s after the only sample: that is all there is to go by
        (2.0, 1_000_000_000, 1),  # kept: a second sample at least the window after the first
        (2.0625, 1_031_250_000, 1),  # a moment later (another caller): the rate since the sample before that
        (2.0625, 1_031_250_000, 1),  # no time passed: the last rate again
        (3.5, 2_500_000_000, 1),  # the window after the newest kept sample: since that one
        (4.0, 1_000, 1),  # the counter went back (restarted): no rate
        (5.0, 500_001_000, 1),
    ]
    runtime = ScriptedRuntime(
        sandboxes=[_sandbox("s1", "web")], containers=[_container("c1", "s1", "app")], samples={"c1": list(samples)}
    )
    provider = _provider(runtime, _proc(tmp_path))
    rates = []
    for _ in samples:
        summary = await provider.summary(only_cpu_and_memory=True)
        rates.append(summary["pods"][0]["containers"][0]["cpu"].get("usageNanoCores"))
    assert rates == [None, 500_000_000, 500_000_000, 500_000_000, 500_000_000, 1_000_000_000, None, 500_000_000]


async def test_the_node_rate_and_forgetting_containers_that_went(tmp_path: Path) -> None:
    runtime = ScriptedRuntime(
        sandboxes=[_sandbox("s1", "web")],
        containers=[_container("c1", "s1", "app")],
        samples={"c1": [(0.0, 0, 1), (1.0, 1, 1)]},
    )
    provider = _provider(runtime, _proc(tmp_path, busy_ticks=1000))
    await provider.summary()
    runtime.containers = []
    _proc(tmp_path, busy_ticks=1000 + 10 * os.sysconf("SC_CLK_TCK"))  # 10 CPU-seconds later
    summary = await provider.summary()
    assert summary["node"]["cpu"]["usageNanoCores"] > 0
    assert summary["pods"][0]["containers"] == []
    runtime.containers = [_container("c1", "s1", "app")]  # back (an adopted id): starts over, no rate yet
    summary = await provider.summary()
    assert "usageNanoCores" not in summary["pods"][0]["containers"][0]["cpu"]


@pytest.mark.parametrize("query", [True, False])
async def test_an_empty_node(tmp_path: Path, query: bool) -> None:
    summary: dict[str, Any] = await _provider(ScriptedRuntime(), _proc(tmp_path)).summary(only_cpu_and_memory=query)
    assert summary["pods"] == [] and summary["node"]["cpu"]["usageCoreNanoSeconds"] == 1000 * TICK_NS
