"""OCIRuntime.container_stats on real runc and crun containers: read from the cgroup the bundle gave the runtime."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from pinnace.node import cri
from pinnace.node.oci import OCIRuntime

from .busybox_rootfs import BusyboxImages
from .conftest import make_cni

pytestmark = pytest.mark.timeout(90)
#: busybox awk holding a string of 50 MB (resident, anonymous), then saying so.
HOLD = """awk 'BEGIN { x = sprintf("%50000000s", "a"); print "held"; fflush(); system("sleep 600") }'"""


async def _start(rt: OCIRuntime, sandbox_id: str, tmp_path: Path, name: str, script: str) -> str:
    config = cri.ContainerConfig(name=name, image="busybox", command=("sh", "-c", script),
                                 log_path=str(tmp_path / "logs" / f"{name}.log"))  # fmt: skip
    container_id = await rt.create_container(sandbox_id, config)
    await rt.start_container(container_id)
    return container_id


async def test_busy_idle_and_memory_holding_containers(
    tmp_path: Path, busybox_rootfs: str, network: dict[str, str], oci_runtime_name: str
) -> None:
    rt = OCIRuntime(tmp_path / "oci", BusyboxImages(busybox_rootfs), cni=make_cni(network),
                    oci_runtime=oci_runtime_name)  # fmt: skip
    sandbox = cri.SandboxConfig(name="stats", namespace="default", uid=f"uid-stats-{os.getpid()}", hostname="stats")
    sandbox_id = await rt.run_pod_sandbox(sandbox)
    try:
        busy = await _start(rt, sandbox_id, tmp_path, "busy", "while :; do :; done")
        idle = await _start(rt, sandbox_id, tmp_path, "idle", "sleep 600")
        holder = await _start(rt, sandbox_id, tmp_path, "holder", HOLD)
        log = tmp_path / "logs" / "holder.log"
        for _ in range(200):
            if log.exists() and "held" in log.read_text():
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the holder did not say it holds its memory")
        first = {c: await rt.container_stats(c) for c in (busy, idle)}
        await asyncio.sleep(0.8)
        second = {c: await rt.container_stats(c) for c in (busy, idle)}

        def cores(container_id: str) -> float:
            a, b = first[container_id], second[container_id]
            assert a is not None and b is not None and b.container_id == container_id
            return (b.cpu_usage_core_nanoseconds - a.cpu_usage_core_nanoseconds) / ((b.timestamp - a.timestamp) * 1e9)

        assert cores(busy) > 0.3
        assert cores(idle) < 0.05
        held = await rt.container_stats(holder)
        assert held is not None
        assert held.memory_working_set_bytes >= 50_000_000
        assert held.memory_usage_bytes >= held.memory_working_set_bytes
        assert held.memory_rss_bytes >= 50_000_000
        await rt.stop_container(busy, 0)
        assert await rt.container_stats(busy) is None
    finally:
        await rt.remove_pod_sandbox(sandbox_id)
    assert await rt.container_stats(idle) is None
