"""Reading a container cgroup's usage (pinnace.node.cgroupstats) from fake v1 and v2 trees, and finding the cgroup
from a host's mountinfo."""

from __future__ import annotations

import time
from pathlib import Path

from pinnace.node.cgroupstats import CgroupPaths, container_stats, locate

#: This host's kind of layout: v1 controllers, each its own hierarchy, and an empty cgroup2 (hybrid).
HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
#: systemd's v1 layout: cpu and cpuacct on one hierarchy.
COMOUNTED = """\
25 24 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755
31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
33 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
"""
UNIFIED = "27 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"


def _mountinfo(tmp_path: Path, text: str) -> str:
    path = tmp_path / "mountinfo"
    path.write_text(text)
    return str(path)


def test_locate_on_v1_hierarchies_and_v2(tmp_path: Path) -> None:
    path = "/pinnace/poduid-1/abc"
    assert locate(path, _mountinfo(tmp_path, HYBRID)) == CgroupPaths(
        "/sys/fs/cgroup/cpuacct/pinnace/poduid-1/abc", "/sys/fs/cgroup/memory/pinnace/poduid-1/abc", unified=False
    )
    assert locate(path, _mountinfo(tmp_path, COMOUNTED)) == CgroupPaths(
        "/sys/fs/cgroup/cpu,cpuacct/pinnace/poduid-1/abc", "/sys/fs/cgroup/memory/pinnace/poduid-1/abc", unified=False
    )
    own = "/sys/fs/cgroup/pinnace/poduid-1/abc"
    assert locate(path, _mountinfo(tmp_path, UNIFIED)) == CgroupPaths(own, own, unified=True)
    assert locate("pinnace-process/xyz", _mountinfo(tmp_path, UNIFIED)) == CgroupPaths(
        "/sys/fs/cgroup/pinnace-process/xyz", "/sys/fs/cgroup/pinnace-process/xyz", unified=True
    )


def test_locate_under_a_mount_of_a_sub_hierarchy_and_with_escapes(tmp_path: Path) -> None:
    # Inside a container, the hierarchy's mount shows only the container's own cgroup (its root field).
    text = "40 30 0:38 /kubepods/pod1 /sys/fs/cgroup/my\\040cgroups rw - cgroup2 cgroup2 rw\n"
    found = locate("/kubepods/pod1/abc", _mountinfo(tmp_path, text))
    assert found is not None and found.memory == "/sys/fs/cgroup/my cgroups/abc"


def test_locate_without_cgroups(tmp_path: Path) -> None:
    assert locate("/x", _mountinfo(tmp_path, "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n")) is None
    assert locate("/x", str(tmp_path / "missing")) is None


def test_v2_usage(tmp_path: Path) -> None:
    (tmp_path / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    (tmp_path / "memory.current").write_text("104857600\n")
    (tmp_path / "memory.stat").write_text(
        "anon 52428800\nfile 41943040\nactive_file 10485760\ninactive_file 31457280\n"
    )
    before = time.time()
    stats = container_stats("c1", CgroupPaths(str(tmp_path), str(tmp_path), unified=True))
    assert stats is not None and before <= stats.timestamp <= time.time()
    assert stats.container_id == "c1"
    assert stats.cpu_usage_core_nanoseconds == 2_500_000_000
    assert stats.memory_usage_bytes == 104857600
    assert stats.memory_working_set_bytes == 104857600 - 31457280
    assert stats.memory_rss_bytes == 52428800


def test_v1_usage_reads_the_hierarchical_totals(tmp_path: Path) -> None:
    cpu, memory = tmp_path / "cpuacct", tmp_path / "memory"
    cpu.mkdir()
    memory.mkdir()
    (cpu / "cpuacct.usage").write_text("987654321\n")
    (memory / "memory.usage_in_bytes").write_text("8192000\n")
    (memory / "memory.stat").write_text(
        "cache 1000\nrss 2000\ninactive_file 3000\n"
        "total_cache 4096000\ntotal_rss 2048000\ntotal_inactive_file 1024000\n"
    )
    stats = container_stats("c1", CgroupPaths(str(cpu), str(memory), unified=False))
    assert stats is not None
    assert (stats.cpu_usage_core_nanoseconds, stats.memory_usage_bytes) == (987654321, 8192000)
    assert (stats.memory_working_set_bytes, stats.memory_rss_bytes) == (8192000 - 1024000, 2048000)


def test_the_working_set_is_never_negative(tmp_path: Path) -> None:
    (tmp_path / "cpu.stat").write_text("usage_usec 1\n")
    (tmp_path / "memory.current").write_text("4096\n")
    (tmp_path / "memory.stat").write_text("anon 0\ninactive_file 8192\n")
    stats = container_stats("c1", CgroupPaths(str(tmp_path), str(tmp_path), unified=True))
    assert stats is not None and stats.memory_working_set_bytes == 0


def test_a_removed_cgroup_has_no_stats(tmp_path: Path) -> None:
    gone = str(tmp_path / "gone")
    assert container_stats("c1", CgroupPaths(gone, gone, unified=True)) is None
    assert container_stats("c1", CgroupPaths(gone, gone, unified=False)) is None
