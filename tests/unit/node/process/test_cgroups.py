"""Cgroups for process containers (root): one per container, limits enforced, OOM reported, none without."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pinnace.node import cri
from pinnace.node.process import ProcessRuntime, cgroups

from .test_runtime import run, sandbox, wait_state

pytestmark = pytest.mark.timeout(60)
#: A shell that grows until it has 200 MB (busybox's sh, as the oci tests' memory hog).
HOG = "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    assert os.geteuid() == 0, "cgroup limits need root (CI runs as root)"
    rt = ProcessRuntime(tmp_path / "runtime", node_ip="127.0.0.1")
    try:
        yield rt
    finally:
        await rt.stop_all()


def _limit_files(container_id: str) -> dict[str, str]:
    if cgroups.unified():
        own = Path(cgroups.CGROUP_ROOT, cgroups.PARENT, container_id)
        return {name: (own / name).read_text().strip() for name in ("memory.max", "cpu.max", "cpu.weight")}
    mem = Path(cgroups.CGROUP_ROOT, "memory", cgroups.PARENT, container_id)
    cpu = Path(cgroups.CGROUP_ROOT, "cpu", cgroups.PARENT, container_id)
    return {
        "memory": (mem / "memory.limit_in_bytes").read_text().strip(),
        "quota": (cpu / "cpu.cfs_quota_us").read_text().strip(),
        "period": (cpu / "cpu.cfs_period_us").read_text().strip(),
        "shares": (cpu / "cpu.shares").read_text().strip(),
    }


async def test_a_memory_hog_is_oom_killed_and_reported_so(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sid = await sandbox(runtime, tmp_path)
    limits = cri.Resources(memory_limit_bytes=16 * 1024 * 1024)
    cid = await run(runtime, sid, tmp_path, "sh", "-c", HOG, resources=limits)
    status = await wait_state(runtime, cid, cri.ContainerState.EXITED, timeout=30)
    assert (status.exit_code, status.reason) == (137, "OOMKilled")
    assert (await runtime.container_status(cid)).reason == "OOMKilled"  # recorded: the same on every read
    await runtime.remove_container(cid)
    assert not any(os.path.exists(d) for d in _cgroup_dirs(cid))


async def test_limits_and_the_cpu_request_are_written_and_execs_join(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sid = await sandbox(runtime, tmp_path)
    limits = cri.Resources(cpu_millis_limit=250, cpu_millis_request=100, memory_limit_bytes=64 * 1024 * 1024)
    cid = await run(runtime, sid, tmp_path, "sleep", "60", resources=limits)
    status = await wait_state(runtime, cid, cri.ContainerState.RUNNING)
    if cgroups.unified():
        assert _limit_files(cid) == {"memory.max": str(64 << 20), "cpu.max": "25000 100000", "cpu.weight": "4"}
    else:
        assert _limit_files(cid) == {"memory": str(64 << 20), "quota": "25000", "period": "100000", "shares": "102"}
    exec_result = await runtime.exec_sync(cid, ["cat", "/proc/self/cgroup"], 10)
    assert f"{cgroups.PARENT}/{cid}" in exec_result.stdout.decode()
    assert status.reason == ""
    await runtime.stop_container(cid, 0)
    stopped = await runtime.container_status(cid)
    assert (stopped.exit_code, stopped.reason) == (137, "Error")  # killed, not by the OOM killer


async def test_no_limits_an_accounting_cgroup_only(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sid = await sandbox(runtime, tmp_path)
    cid = await run(runtime, sid, tmp_path, "sleep", "60")
    await wait_state(runtime, cid, cri.ContainerState.RUNNING)
    exec_result = await runtime.exec_sync(cid, ["cat", "/proc/self/cgroup"], 10)
    assert f"{cgroups.PARENT}/{cid}" in exec_result.stdout.decode()
    if cgroups.unified():
        own = Path(cgroups.CGROUP_ROOT, cgroups.PARENT, cid)
        assert (own / "memory.max").read_text().strip() == "max"
        assert (own / "cpu.max").read_text().strip() == "max 100000"
    else:
        assert int(Path(_cgroup_dirs(cid)[0], "memory.limit_in_bytes").read_text()) >= 1 << 62  # unlimited
        # No cpu cgroup: scheduled as before (unless the host mounts cpu and cpuacct together).
        cpu = Path(cgroups.CGROUP_ROOT, "cpu", cgroups.PARENT, cid)
        assert not cpu.exists() or cpu.resolve() == Path(_cgroup_dirs(cid)[1]).resolve()
    await runtime.stop_container(cid, 0)
    await runtime.remove_container(cid)
    assert not any(os.path.exists(d) for d in _cgroup_dirs(cid))


def _cgroup_dirs(container_id: str) -> list[str]:
    if cgroups.unified():
        return [os.path.join(cgroups.CGROUP_ROOT, cgroups.PARENT, container_id)]
    kinds = ("memory", "cpuacct", "cpu")
    return [os.path.join(cgroups.CGROUP_ROOT, kind, cgroups.PARENT, container_id) for kind in kinds]
