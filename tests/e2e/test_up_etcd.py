"""``pinnace up --store etcd://…``: the cluster keeps its objects in a real etcd (Debian's etcd-server)."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.conftest import free_port, run_pinnace, start_cluster, stop_cluster
from tests.e2e.kubectl import get_json

pytestmark = pytest.mark.slow


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[str]:
    """A one-member etcd on loopback; yields its ``host:port``."""
    binary = shutil.which("etcd")
    if binary is None:
        pytest.fail("etcd is not on the PATH: .ci/run installs the Debian package etcd-server")
    client, peer = free_port(), free_port()
    log = (tmp_path / "etcd.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            "--name", "m0",
            "--data-dir", str(tmp_path / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{client}",
            "--advertise-client-urls", f"http://127.0.0.1:{client}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"m0=http://127.0.0.1:{peer}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{client}/health", timeout=1) as resp:
                    if b'"true"' in resp.read():
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError("etcd did not become healthy:\n" + (tmp_path / "etcd.log").read_text())
            time.sleep(0.1)
        yield f"127.0.0.1:{client}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_cluster_on_etcd_keeps_its_objects_there(tmp_path: Path, etcd: str) -> None:
    args = ["--store", f"etcd://{etcd}", "--controllers", "namespace"]
    first = start_cluster(tmp_path / "one", tmp_path / "home", extra_args=args)
    try:
        first.kubectl("create", "namespace", "on-etcd")
        first.kubectl("create", "configmap", "kept", "-n", "on-etcd", "--from-literal=k=v")
        created = get_json(first, "configmap", "kept", "-n", "on-etcd")
    finally:
        printed = stop_cluster(first)
    assert f"Objects are kept in etcd at {etcd}." in printed
    assert not (tmp_path / "one" / "store.db").exists()

    # Another cluster with a fresh data directory on the same etcd sees the same objects.
    second = start_cluster(tmp_path / "two", tmp_path / "home", extra_args=args)
    try:
        again = get_json(second, "configmap", "kept", "-n", "on-etcd")
        assert again["metadata"]["uid"] == created["metadata"]["uid"] and again["data"] == {"k": "v"}
        assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
        second.kubectl("delete", "namespace", "on-etcd", "--timeout=30s")  # the namespace controller finalizes it
        assert "on-etcd" not in second.kubectl("get", "namespaces", "-o", "name").stdout
    finally:
        stop_cluster(second)


def test_a_bad_store_url_is_refused(tmp_path: Path) -> None:
    result = run_pinnace("up", "--data-dir", str(tmp_path), "--store", "etcd://nohost")
    assert result.returncode == 2
    assert "bad etcd endpoint 'nohost'" in result.stderr
