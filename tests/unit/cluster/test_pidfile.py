"""Pid files that name the process that wrote them, not whichever process has that pid now."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from pinnace.adm import nodefiles
from pinnace.cluster import daemon, etcd_member, pidfile


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that is no Pinnace's."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_a_record_names_its_live_writer(tmp_path: Path) -> None:
    pidfile.write(tmp_path / "x.pid", os.getpid(), url="https://127.0.0.1:1")
    info = pidfile.read(tmp_path / "x.pid")
    assert info is not None and info["pid"] == os.getpid() and info["url"] == "https://127.0.0.1:1"
    assert info["started"] == pidfile.start_time(os.getpid()) is not None


def test_a_pid_given_to_another_process_since_is_not_the_recorded_one(
    tmp_path: Path, stranger: subprocess.Popen[bytes]
) -> None:
    """A record left behind (SIGKILL, a reboot) whose pid now belongs to a stranger: nobody runs, and pinnace down
    does not signal the stranger."""
    started = pidfile.start_time(stranger.pid)
    assert started is not None
    (tmp_path / daemon.PID_FILE).write_bytes(
        orjson.dumps({"pid": stranger.pid, "url": "https://127.0.0.1:1", "started": started - 1})
    )
    assert daemon.read_pid_file(tmp_path) is None
    assert daemon.stop(tmp_path) is None
    assert stranger.poll() is None  # alive, untouched


def test_the_node_agent_and_etcd_records_too(tmp_path: Path, stranger: subprocess.Popen[bytes]) -> None:
    nodefiles.write_node_pid(tmp_path)
    assert nodefiles.read_node_pid(tmp_path) == os.getpid()
    started = pidfile.start_time(stranger.pid)
    assert started is not None
    (tmp_path / nodefiles.NODE_PID_FILE).write_bytes(orjson.dumps({"pid": stranger.pid, "started": started + 5}))
    assert nodefiles.read_node_pid(tmp_path) is None
    etcd_pid = tmp_path / "etcd.pid"
    etcd_pid.write_bytes(orjson.dumps({"pid": stranger.pid, "started": started + 5}))
    assert etcd_member.read_pid(etcd_pid) is None
    assert etcd_member.stop_detached(etcd_pid) is None and stranger.poll() is None


def test_records_of_older_versions_and_broken_ones(tmp_path: Path) -> None:
    path = tmp_path / "x.pid"
    path.write_text(f"{os.getpid()}\n")  # etcd's plain pid, from before: the pid alone is trusted
    assert pidfile.read(path) == {"pid": os.getpid()}
    path.write_bytes(orjson.dumps({"pid": os.getpid(), "url": "u"}))  # pinnace up's, from before
    assert pidfile.read(path) == {"pid": os.getpid(), "url": "u"}
    for junk in (b"", b"not a pid", b"{}", b'{"pid": "x"}', b"[1]"):
        path.write_bytes(junk)
        assert pidfile.read(path) is None, junk
    assert pidfile.read(tmp_path / "missing.pid") is None
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    pidfile.write(path, gone.pid)
    assert pidfile.read(path) is None


def test_down_of_a_cluster_that_does_not_stop_says_how_to_end_it(tmp_path: Path) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    )
    stubborn = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ready\n"
        pidfile.write(tmp_path / daemon.PID_FILE, stubborn.pid, url="https://127.0.0.1:1")
        with pytest.raises(RuntimeError) as refused:
            daemon.stop(tmp_path, timeout=0.3)
        assert f"did not stop within 0s (see {tmp_path / daemon.LOG_FILE}); `kill -9 {stubborn.pid}`" in str(
            refused.value
        )
    finally:
        stubborn.kill()
        stubborn.wait()
