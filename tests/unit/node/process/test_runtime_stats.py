"""ProcessRuntime.container_stats on real containers: from the container's cgroup (root), from its process tree
(a container whose config has no accounting cgroup, as one an older agent started), none once it has exited."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pinnace.node import cri
from pinnace.node.process import ProcessRuntime, cgroups

from .test_runtime import run, sandbox, wait_state

pytestmark = pytest.mark.timeout(60)
BUSY = ("/bin/busybox", "sh", "-c", "while :; do :; done")
#: Holds 50 MB (touched, so resident) and says so.
HOLD = "x = bytearray(50 << 20)\nfor i in range(0, len(x), 4096): x[i] = 1\nprint('held', flush=True)\n"
HOLD += "import time; time.sleep(60)"


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    rt = ProcessRuntime(tmp_path / "runtime", node_ip="127.0.0.1")
    try:
        yield rt
    finally:
        await rt.stop_all()
        for container in await rt.list_containers():
            await rt.remove_container(container.id)  # and its cgroup


async def _cores(rt: ProcessRuntime, cid: str, seconds: float = 0.8) -> float:
    first = await rt.container_stats(cid)
    await asyncio.sleep(seconds)
    second = await rt.container_stats(cid)
    assert first is not None and second is not None and second.container_id == cid
    assert second.cpu_usage_core_nanoseconds > first.cpu_usage_core_nanoseconds
    return (second.cpu_usage_core_nanoseconds - first.cpu_usage_core_nanoseconds) / (
        (second.timestamp - first.timestamp) * 1e9
    )


async def _held(path: Path) -> None:
    for _ in range(200):
        if path.exists() and "held" in path.read_text():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the container did not say it holds its memory")


async def test_a_busy_and_a_memory_holding_container_from_their_cgroups(
    runtime: ProcessRuntime, tmp_path: Path
) -> None:
    assert os.geteuid() == 0, "cgroups need root (CI runs as root)"
    sid = await sandbox(runtime, tmp_path)
    busy = await run(runtime, sid, tmp_path, *BUSY, name="busy")
    holder = await run(runtime, sid, tmp_path, sys.executable, "-c", HOLD, name="holder",
                       resources=cri.Resources(memory_limit_bytes=256 << 20))  # fmt: skip
    await _held(tmp_path / "logs" / "holder.log")
    assert await _cores(runtime, busy) > 0.3
    stats = await runtime.container_stats(holder)
    assert stats is not None
    assert stats.memory_working_set_bytes >= 50 << 20
    assert stats.memory_usage_bytes >= stats.memory_working_set_bytes
    assert stats.memory_rss_bytes >= 50 << 20
    # The figures are the cgroup's own: its CPU counter is read as the kernel keeps it.
    config = json.loads((runtime.state_dir / "containers" / holder / "config.json").read_text())
    counter = (
        Path(config["cgroup_cpuacct"], "cpu.stat").read_text().split()[1] + "000"
        if cgroups.unified()
        else Path(config["cgroup_cpuacct"], "cpuacct.usage").read_text().strip()
    )
    assert int(counter) >= stats.cpu_usage_core_nanoseconds > 0
    idle = await run(runtime, sid, tmp_path, "sleep", "60", name="idle")
    await wait_state(runtime, idle, cri.ContainerState.RUNNING)
    assert await _cores(runtime, busy, 0.3) > 0.3
    idle_first = await runtime.container_stats(idle)
    await asyncio.sleep(0.3)
    idle_second = await runtime.container_stats(idle)
    assert idle_first is not None and idle_second is not None
    assert idle_second.cpu_usage_core_nanoseconds - idle_first.cpu_usage_core_nanoseconds < 30_000_000


async def test_a_container_without_an_accounting_cgroup_is_measured_over_its_processes(
    runtime: ProcessRuntime, tmp_path: Path
) -> None:
    sid = await sandbox(runtime, tmp_path)
    script = f'{sys.executable} -c "{HOLD}" & while :; do :; done'
    cid = await run(runtime, sid, tmp_path, "/bin/busybox", "sh", "-c", script)
    config_path = runtime.state_dir / "containers" / cid / "config.json"
    config = json.loads(config_path.read_text())
    for key in ("cgroup_cpuacct", "cgroup_unified"):  # what an agent before accounting cgroups recorded
        config.pop(key, None)
    config_path.write_text(json.dumps(config))
    await _held(tmp_path / "logs" / "main.log")
    assert await _cores(runtime, cid) > 0.3
    stats = await runtime.container_stats(cid)
    assert stats is not None and stats.memory_working_set_bytes >= 50 << 20


async def test_no_stats_for_what_does_not_run(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sid = await sandbox(runtime, tmp_path)
    cid = await run(runtime, sid, tmp_path, "sleep", "60")
    await wait_state(runtime, cid, cri.ContainerState.RUNNING)
    assert await runtime.container_stats(cid) is not None
    await runtime.stop_container(cid, 0)
    assert await runtime.container_stats(cid) is None
    assert await runtime.container_stats("no-such-container") is None
