"""Fixtures for the oci runtime tests: a busybox rootfs, a CNI network on a bridge of its own, a runtime.

These run real runc/crun, real CNI plugins and network namespaces: they need root (CI runs as root).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pinnace.node.cni import CNI, node_conflist
from pinnace.node.oci import OCIRuntime

from .busybox_rootfs import BusyboxImages, make_busybox_rootfs


@pytest.fixture(scope="module")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_busybox_rootfs(str(tmp_path_factory.mktemp("image") / "rootfs"))


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A conflist's parameters: a bridge and a /24 no other test module uses."""
    index = os.getpid() % 200 + 20
    bridge = f"pnt{os.getpid() % 100000}"
    data = tmp_path_factory.mktemp("cni")
    params = {"bridge": bridge, "cidr": f"10.251.{index}.0/24", "data": str(data)}
    yield params
    subprocess.run(["ip", "link", "delete", bridge], capture_output=True, check=False)


def make_cni(network: dict[str, str], name: str = "pinnace-test") -> CNI:
    conflist = node_conflist(
        network=name, bridge=network["bridge"], pod_cidr=network["cidr"], data_dir=f"{network['data']}/ipam"
    )
    return CNI(conflist, cache_dir=f"{network['data']}/cache")


@pytest.fixture(params=["runc", "crun"])
def oci_runtime_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def runtime(tmp_path: Path, busybox_rootfs: str, network: dict[str, str]) -> AsyncIterator[OCIRuntime]:
    rt = OCIRuntime(tmp_path / "oci", BusyboxImages(busybox_rootfs), cni=make_cni(network), host_ip="127.0.0.1")
    yield rt
    for sandbox in await rt.list_pod_sandboxes():
        await rt.remove_pod_sandbox(sandbox.id)
