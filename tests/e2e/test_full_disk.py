"""`pinnace up` on a disk that fills up: clear errors, nothing acknowledged lost, a clean stop, a clean restart.

The cluster's data directory and its output live on a small tmpfs (root mounts it, as CI runs):
writes fail once it is full, with the store's reason in the Status, while reads go on; SIGTERM
still stops every process (printing to the full disk must not stop the shutdown); on a larger disk
the cluster comes back with every write it acknowledged.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest
from kubernetes.client.rest import ApiException
from tests.e2e.conftest import free_port, run_pinnace, start_cluster, stop_cluster

pytestmark = pytest.mark.slow

VALUE = "y" * 200_000  # a ConfigMap of 200 kB: the 24 MB disk is full after about a hundred


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MB tmpfs, unmounted afterwards."""
    assert os.geteuid() == 0, "mounting a small filesystem needs root (CI runs as root)"
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _core(kubeconfig: Path) -> kubernetes.client.CoreV1Api:
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(str(kubeconfig), client_configuration=config)
    return kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(config))


def _names(core: kubernetes.client.CoreV1Api) -> set[str]:
    return {cm.metadata.name for cm in core.list_namespaced_config_map("default").items}


def test_a_full_disk_refuses_writes_clearly_and_loses_nothing(small_disk: Path, tmp_path: Path) -> None:
    data_dir = small_disk / "data"
    cluster = start_cluster(data_dir, tmp_path / "home")
    try:
        core = _core(cluster.kubeconfig)
        acknowledged: list[str] = []
        refused: ApiException | None = None
        for i in range(400):
            body = {"metadata": {"name": f"fill-{i}"}, "data": {"v": VALUE}}
            try:
                core.create_namespaced_config_map("default", body)
            except ApiException as exc:
                refused = exc
                break
            acknowledged.append(f"fill-{i}")
        assert refused is not None, "24 MB cannot hold 400 objects of 200 kB"
        status = json.loads(refused.body)
        assert (refused.status, status["reason"]) == (500, "InternalError")
        assert status["message"] == (
            "Internal error occurred: the store could not commit the write: database or disk is full"
        )
        assert len(acknowledged) > 50
        assert _names(core) >= set(acknowledged)  # reads go on
        for _ in range(3):  # and the store keeps answering: the same clear refusal, no crash
            with pytest.raises(ApiException) as again:
                core.create_namespaced_config_map("default", {"metadata": {"name": "more"}, "data": {"v": VALUE}})
            assert again.value.status == 500 and "disk is full" in json.loads(again.value.body)["message"]
    finally:
        stop_cluster(cluster)
    # SIGTERM stopped it by itself (stop_cluster kills what is still running after 20 s).
    assert cluster.proc.returncode == 0, cluster.proc.returncode

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    cluster = start_cluster(data_dir, tmp_path / "home")
    try:
        core = _core(cluster.kubeconfig)
        assert _names(core) >= set(acknowledged)
        core.create_namespaced_config_map("default", {"metadata": {"name": "more"}, "data": {"v": VALUE}})
    finally:
        stop_cluster(cluster)
    assert cluster.proc.returncode == 0


def test_up_on_a_full_disk_says_which_file_it_could_not_write(small_disk: Path) -> None:
    with open(small_disk / "filler", "wb") as filler, contextlib.suppress(OSError):  # fill it
        while True:
            filler.write(b"\0" * (1 << 20))
    data_dir = small_disk / "data"
    result = run_pinnace("up", "--data-dir", str(data_dir), "--port", str(free_port()), "--nodes", "0",
                         "--no-merge-kubeconfig")  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"cannot start the cluster: [Errno 28] No space left on device: '{data_dir}/pki/" in result.stdout
