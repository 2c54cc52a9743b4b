"""/metrics/resource (pinnace.node.resourcemetrics): the kubelet's resource metrics in the Prometheus text format,
from the same provider as /stats/summary."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import cast

from prometheus_client.parser import text_string_to_metric_families

from pinnace.node import cri
from pinnace.node.kubeletstats import SummaryProvider
from pinnace.node.resourcemetrics import resource_metrics

from .test_kubeletstats import T0, ScriptedRuntime, _container, _proc, _provider, _sandbox


def _runtime() -> ScriptedRuntime:
    return ScriptedRuntime(
        sandboxes=[_sandbox("s1", "web"), _sandbox("s2", "db")],
        containers=[_container("c1", "s1", "app"), _container("c2", "s1", "sidecar"), _container("c3", "s2", "pg")],
        samples={
            "c1": [(0.25, 1_500_000_000, 52428800)],
            "c2": [(0.5, 250_000_000, 1 << 20)],
            "c3": [(0.125, 3_000_000_000, 4096)],
        },
    )


async def test_the_families_and_samples_as_the_kubelet_serves_them(tmp_path: Path) -> None:
    before = time.time()
    text = (await resource_metrics(_provider(_runtime(), _proc(tmp_path, busy_ticks=12345)))).decode()
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert (
        names
        == sorted(names)
        == [
            "container_cpu_usage_seconds_total",
            "container_memory_working_set_bytes",
            "container_start_time_seconds",
            "node_cpu_usage_seconds_total",
            "node_memory_working_set_bytes",
            "pod_cpu_usage_seconds_total",
            "pod_memory_working_set_bytes",
            "resource_scrape_error",
        ]
    )
    ms = int(T0 * 1000)
    expected = f"""\
# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{{container="app",namespace="team",pod="web"}} 1.5 {ms + 250}
container_cpu_usage_seconds_total{{container="pg",namespace="team",pod="db"}} 3.0 {ms + 125}
container_cpu_usage_seconds_total{{container="sidecar",namespace="team",pod="web"}} 0.25 {ms + 500}
# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{{container="app",namespace="team",pod="web"}} 5.24288e+07 {ms + 250}
container_memory_working_set_bytes{{container="pg",namespace="team",pod="db"}} 4096.0 {ms + 125}
container_memory_working_set_bytes{{container="sidecar",namespace="team",pod="web"}} 1.048576e+06 {ms + 500}
# HELP container_start_time_seconds [STABLE] Start time of the container since unix epoch in seconds
# TYPE container_start_time_seconds gauge
container_start_time_seconds{{container="app",namespace="team",pod="web"}} 1.69999997e+09
container_start_time_seconds{{container="pg",namespace="team",pod="db"}} 1.69999997e+09
container_start_time_seconds{{container="sidecar",namespace="team",pod="web"}} 1.69999997e+09
"""
    assert text.startswith(expected)
    pods = text[text.index("# HELP pod_cpu") :]
    assert (
        pods
        == f"""\
# HELP pod_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the pod in core-seconds
# TYPE pod_cpu_usage_seconds_total counter
pod_cpu_usage_seconds_total{{namespace="team",pod="db"}} 3.0 {ms + 125}
pod_cpu_usage_seconds_total{{namespace="team",pod="web"}} 1.75 {ms + 500}
# HELP pod_memory_working_set_bytes [STABLE] Current working set of the pod in bytes
# TYPE pod_memory_working_set_bytes gauge
pod_memory_working_set_bytes{{namespace="team",pod="db"}} 4096.0 {ms + 125}
pod_memory_working_set_bytes{{namespace="team",pod="web"}} 5.3477376e+07 {ms + 500}
# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE resource_scrape_error gauge
resource_scrape_error 0.0
"""
    )
    node = re.search(r"^node_cpu_usage_seconds_total (\S+) (\d+)$", text, re.MULTILINE)
    assert node is not None
    assert float(node.group(1)) == 12345 / os.sysconf("SC_CLK_TCK")
    assert before * 1000 - 1 <= int(node.group(2)) <= time.time() * 1000
    assert re.search(r"^node_memory_working_set_bytes 6\.144e\+09 \d{13}$", text, re.MULTILINE)
    # Prometheus' own parser reads it all, timestamps included.
    families = {f.name: f for f in text_string_to_metric_families(text)}  # counters: named without "_total"
    assert families["container_cpu_usage_seconds"].type == "counter"
    sample = families["container_cpu_usage_seconds"].samples[0]
    assert sample.name == "container_cpu_usage_seconds_total"
    assert sample.labels == {"container": "app", "namespace": "team", "pod": "web"}
    assert sample.timestamp is not None and float(sample.timestamp) == T0 + 0.25


class _Broken(ScriptedRuntime):
    async def list_containers(self, sandbox_id: str | None = None) -> list[cri.ContainerStatus]:
        raise cri.RuntimeFailure("the runtime is not answering")


async def test_a_failed_scrape_says_so(tmp_path: Path) -> None:
    provider = SummaryProvider("node-a", cast(cri.RuntimeService, _Broken()), T0, None, _proc(tmp_path))
    text = (await resource_metrics(provider)).decode()
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert samples == ["resource_scrape_error 1.0"]
