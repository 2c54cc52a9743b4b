"""The shim launcher: shims are forked by one launcher process per agent, outlive it, and a dead one is replaced."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from pinnace.node import cri
from pinnace.node.oci import OCIRuntime
from pinnace.node.oci.launcher import LAUNCHER

SANDBOX = cri.SandboxConfig(name="launched", namespace="default", uid=f"uid-l-{os.getpid()}", hostname="launched")


async def _start(rt: OCIRuntime, sandbox_id: str, tmp_path: Path, name: str) -> str:
    config = cri.ContainerConfig(name=name, image="busybox", command=("sleep", "60"),
                                 log_path=str(tmp_path / "logs" / f"{name}.log"))  # fmt: skip
    container_id = await rt.create_container(sandbox_id, config)
    await rt.start_container(container_id)
    return container_id


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


async def test_shims_outlive_their_launcher_and_a_dead_launcher_is_replaced(
    runtime: OCIRuntime, tmp_path: Path
) -> None:
    sandbox_id = await runtime.run_pod_sandbox(SANDBOX)
    first = await _start(runtime, sandbox_id, tmp_path, "first")
    launcher = LAUNCHER.pid
    assert launcher is not None
    shim_pid = int((Path(runtime.root) / "containers" / first / "shim.pid").read_text())
    # The shim is detached: neither the agent's child nor the launcher's.
    assert _parent_of(shim_pid) not in (os.getpid(), launcher)

    os.kill(launcher, signal.SIGKILL)
    while LAUNCHER.pid is not None:  # reaped by the launcher's Popen
        await asyncio.sleep(0.01)
    assert (await runtime.container_status(first)).state is cri.ContainerState.RUNNING

    second = await _start(runtime, sandbox_id, tmp_path, "second")
    assert LAUNCHER.pid not in (None, launcher)
    assert (await runtime.container_status(second)).state is cri.ContainerState.RUNNING
    await runtime.stop_container(first, 0)
    await runtime.stop_container(second, 0)


async def test_concurrent_starts_each_get_their_own_report(runtime: OCIRuntime, tmp_path: Path) -> None:
    sandbox_id = await runtime.run_pod_sandbox(SANDBOX)
    ids = await asyncio.gather(*(_start(runtime, sandbox_id, tmp_path, f"c{i}") for i in range(6)))
    statuses = [await runtime.container_status(container_id) for container_id in ids]
    assert [s.state for s in statuses] == [cri.ContainerState.RUNNING] * 6
    pids = {int((Path(runtime.root) / "containers" / c / "shim.pid").read_text()) for c in ids}
    assert len(pids) == 6
    for container_id in ids:
        await runtime.stop_container(container_id, 0)
