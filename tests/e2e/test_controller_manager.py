"""``pinnace up`` runs its controllers in a supervised ``pinnace controller-manager`` child process."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import TypeVar

from tests.e2e.conftest import run_pinnace, start_cluster, stop_cluster
from tests.e2e.kubectl import eventually

T = TypeVar("T")


def _children(pid: int) -> list[int]:
    """The pids of ``pid``'s live child processes that run the controller manager."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        state = stat.rsplit(")", 1)[1].split()[0]
        if ppid == pid and state != "Z" and b"pinnace.cluster.controller_manager_main" in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_killed_controller_manager_is_restarted_and_dies_with_its_cluster(tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path / "data", tmp_path / "home")
    try:
        (first,) = eventually(lambda: _children(cluster.proc.pid))
        # The namespace controller (in the child) finalizes a deleted namespace.
        cluster.kubectl("create", "namespace", "doomed")
        cluster.kubectl("delete", "namespace", "doomed", "--timeout=20s")

        os.kill(first, signal.SIGKILL)
        (second,) = eventually(lambda: [p for p in _children(cluster.proc.pid) if p != first])
        cluster.kubectl("create", "namespace", "doomed-again")
        cluster.kubectl("delete", "namespace", "doomed-again", "--timeout=30s")
        assert "exited with code -9; restarting it" in (tmp_path / "pinnace.out").read_text()

        # A cluster killed outright takes its controller manager with it (no orphan keeps running).
        cluster.proc.kill()
        cluster.proc.wait()
        eventually(lambda: not _alive(second), timeout=10)
    finally:
        stop_cluster(cluster)


def test_no_controllers_means_no_child_process(tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path / "data", tmp_path / "home", extra_args=["--controllers", ""])
    try:
        time.sleep(0.5)
        assert _children(cluster.proc.pid) == []
        cluster.kubectl("get", "namespaces")
    finally:
        stop_cluster(cluster)
    assert cluster.proc.returncode == 0


def test_an_unknown_controller_is_refused_before_anything_starts(tmp_path: Path) -> None:
    result = run_pinnace("up", "--data-dir", str(tmp_path), "--controllers", "*,nope")
    assert result.returncode == 2
    assert "unknown controller 'nope'" in result.stderr
