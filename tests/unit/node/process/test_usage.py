"""A process container's usage from its process tree (pinnace.node.process.usage): over a fake /proc, and over real
processes; and the cgroup preferred where the container has one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pinnace.node.cgroupstats import CgroupPaths
from pinnace.node.process.usage import cgroup_of, measure, process_tree, tree_stats

TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _process(
    proc: Path,
    pid: int,
    ppid: int,
    *,
    times: tuple[int, int, int, int] = (0, 0, 0, 0),
    pages: tuple[int, int] = (0, 0),
    children: dict[int, list[int]] | None = None,
    comm: str = "sh",
) -> None:
    """A /proc/<pid> with stat, statm and, when given, each thread's children (tid → child pids)."""
    directory = proc / str(pid)
    directory.mkdir(parents=True)
    utime, stime, cutime, cstime = times
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime …
    fields = ["S", ppid, pid, pid, 0, -1, 4194560, 10, 0, 0, 0, utime, stime, cutime, cstime, 20, 0, 1, 0, 5000]
    (directory / "stat").write_text(f"{pid} ({comm}) " + " ".join(map(str, fields)) + "\n")
    resident, shared = pages
    (directory / "statm").write_text(f"{resident * 4} {resident} {shared} 10 0 {resident} 0\n")
    for tid, kids in (children or {pid: []}).items():
        task = directory / "task" / str(tid)
        task.mkdir(parents=True)
        if children is not None:
            (task / "children").write_text("".join(f"{k} " for k in kids))


def _tree(proc: Path, *, with_children: bool = True) -> None:
    """100 (two threads) → 101 → 103, 100 → 102; and 200, which is not in it. A comm with ") " to be read right."""

    def kids(mapping: dict[int, list[int]]) -> dict[int, list[int]] | None:
        return mapping if with_children else None

    _process(proc, 100, 1, times=(10, 5, 100, 50), pages=(1000, 200), children=kids({100: [101], 107: [102]}))
    _process(proc, 101, 100, times=(3, 2, 0, 0), pages=(500, 100), children=kids({101: [103]}), comm="a) b")
    _process(proc, 102, 100, times=(1, 1, 7, 3), pages=(100, 100), children=kids({102: []}))
    _process(proc, 103, 101, times=(4, 0, 0, 0), pages=(50, 0), children=kids({103: []}))
    _process(proc, 200, 1, times=(999, 999, 0, 0), pages=(9999, 0), children=kids({200: []}))


@pytest.mark.parametrize("with_children", [True, False], ids=["children-files", "ppid-scan"])
def test_the_tree_is_the_main_process_and_its_descendants(tmp_path: Path, with_children: bool) -> None:
    _tree(tmp_path, with_children=with_children)
    assert sorted(process_tree(100, str(tmp_path))) == [100, 101, 102, 103]
    assert process_tree(101, str(tmp_path)) == [101, 103]
    assert process_tree(999, str(tmp_path)) == []


def test_tree_usage_sums_cpu_and_reaped_children_and_resident_pages(tmp_path: Path) -> None:
    _tree(tmp_path)
    before = time.time()
    stats = tree_stats("c1", 100, str(tmp_path))
    assert stats is not None and before <= stats.timestamp <= time.time()
    ticks = (10 + 5 + 100 + 50) + (3 + 2) + (1 + 1 + 7 + 3) + 4
    assert stats.cpu_usage_core_nanoseconds == ticks * TICK_NS
    assert stats.memory_usage_bytes == stats.memory_working_set_bytes == (1000 + 500 + 100 + 50) * PAGE
    assert stats.memory_rss_bytes == (800 + 400 + 0 + 50) * PAGE  # resident less shared (file-backed) pages
    assert tree_stats("c1", 999, str(tmp_path)) is None


def test_a_process_that_ends_while_measured_is_left_out(tmp_path: Path) -> None:
    _tree(tmp_path)
    (tmp_path / "103" / "stat").unlink()  # gone between the walk and its reading
    stats = tree_stats("c1", 100, str(tmp_path))
    assert stats is not None and stats.memory_usage_bytes == (1000 + 500 + 100) * PAGE


def test_real_processes_a_busy_child_and_memory(tmp_path: Path) -> None:
    """A shell whose child spins and whose other child holds 40 MB: the tree's CPU time grows about as fast as
    the wall clock, and its working set holds the 40 MB."""
    hold = "x = bytearray(40 << 20)\nfor i in range(0, len(x), 4096): x[i] = 1\nprint('ready', flush=True)\n"
    hold += "import time; time.sleep(60)"
    script = f"{sys.executable} -c 'while True: pass' & {sys.executable} -c \"{hold}\" & wait"
    main = subprocess.Popen(["/bin/busybox", "sh", "-c", script], stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert main.stdout is not None and main.stdout.readline() == b"ready\n"
        first = tree_stats("c1", main.pid)
        time.sleep(0.6)
        second = tree_stats("c1", main.pid)
        assert first is not None and second is not None
        assert len(process_tree(main.pid)) == 3
        cores = (second.cpu_usage_core_nanoseconds - first.cpu_usage_core_nanoseconds) / (
            (second.timestamp - first.timestamp) * 1e9
        )
        assert cores > 0.3
        assert second.memory_working_set_bytes >= 40 << 20
        assert second.memory_rss_bytes >= 40 << 20
    finally:
        os.killpg(main.pid, 9)
        main.wait()
    assert tree_stats("c1", main.pid) is None


def test_the_cgroup_is_read_when_there_is_one_and_the_tree_otherwise(tmp_path: Path) -> None:
    (tmp_path / "cpu.stat").write_text("usage_usec 7\n")
    (tmp_path / "memory.current").write_text("4096\n")
    (tmp_path / "memory.stat").write_text("anon 4096\ninactive_file 0\n")
    config = {"cgroup_cpuacct": str(tmp_path), "cgroup_memory": str(tmp_path), "cgroup_unified": True}
    cgroup = cgroup_of(config)
    assert cgroup == CgroupPaths(str(tmp_path), str(tmp_path), unified=True)
    stats = measure("c1", os.getpid(), cgroup)
    assert stats is not None and stats.cpu_usage_core_nanoseconds == 7000
    # A cgroup removed under it: the process tree instead (here, this test's own process).
    own = measure("c1", os.getpid(), CgroupPaths(str(tmp_path / "gone"), str(tmp_path / "gone"), unified=True))
    assert own is not None and own.memory_working_set_bytes > 1 << 20
    assert cgroup_of({}) is None
    assert cgroup_of({"cgroups": ["/sys/fs/cgroup/memory/x"], "cgroup_memory": "/sys/fs/cgroup/memory/x"}) is None
