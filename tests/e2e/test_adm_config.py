"""``pinnace adm config``: print init-defaults|join-defaults, migrate, images list|pull (from a real registry).

``images pull`` is checked against Debian's docker-registry on loopback: the
control plane's seven image references under its ``imageRepository`` are
pushed there first (a busybox image built offline, tagged seven times), then
pulled into a fresh node image store by the real command.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tests.e2e.conftest import free_port, run_pinnace
from tests.registry_server import RegistryServer

from pinnace.node.images.reference import parse_reference
from pinnace.node.images.registry import RegistryClient
from pinnace.node.images.store import ImageStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with RegistryServer(tmp_path_factory.mktemp("registry")) as server:
        yield server


def test_print_defaults_and_use_them(tmp_path: Path) -> None:
    printed = run_pinnace("adm", "config", "print", "init-defaults")
    assert printed.returncode == 0, printed.stderr
    init, cluster = yaml.safe_load_all(printed.stdout)
    assert init["kind"] == "InitConfiguration" and cluster["kind"] == "ClusterConfiguration"
    assert init["bootstrapTokens"][0]["token"] == "abcdef.0123456789abcdef"
    assert cluster["kubernetesVersion"] == "v1.32.0" and cluster["networking"]["serviceSubnet"] == "10.96.0.0/12"
    join = yaml.safe_load(run_pinnace("adm", "config", "print", "join-defaults").stdout)
    assert join["kind"] == "JoinConfiguration" and join["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    # The printed defaults are a configuration init accepts (preflight reads it, nothing starts).
    path = tmp_path / "defaults.yaml"
    path.write_text(printed.stdout)
    preflight = ["adm", "init", "phase", "preflight", "--config", str(path), "--data-dir", str(tmp_path / "d")]
    refused = run_pinnace(*preflight)
    assert (
        refused.returncode == 1 and "[ERROR AdvertiseAddress]: 1.2.3.4 is not an address of this host" in refused.stderr
    )
    local = ["--apiserver-advertise-address", "127.0.0.1", "--apiserver-bind-port", str(free_port())]
    checked = run_pinnace(*preflight, *local)
    assert checked.returncode == 0, checked.stderr


def test_migrate_v1beta3(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.31.2\n"
        "apiServer:\n  timeoutForControlPlane: 3m0s\n  extraArgs:\n    audit-log-maxage: '7'\n"
    )
    new = tmp_path / "new.yaml"
    migrated = run_pinnace("adm", "config", "migrate", "--old-config", str(old), "--new-config", str(new))
    assert migrated.returncode == 0, migrated.stderr
    init, cluster = yaml.safe_load_all(new.read_text())
    assert cluster["apiVersion"] == "kubeadm.k8s.io/v1beta4" and cluster["kubernetesVersion"] == "v1.31.2"
    assert cluster["apiServer"] == {"extraArgs": [{"name": "audit-log-maxage", "value": "7"}]}
    assert init["timeouts"]["controlPlaneComponentHealthCheck"] == "3m0s"
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: kubeadm.k8s.io/v1beta1\nkind: ClusterConfiguration\n")
    refused = run_pinnace("adm", "config", "migrate", "--old-config", str(bad))
    assert refused.returncode == 1 and 'no kind "ClusterConfiguration" is registered' in refused.stderr


async def _push(root: Path, images: list[str]) -> None:
    """Push each of ``images`` from the image store at ``root`` to its registry."""
    client = RegistryClient(ImageStore(root))
    for image in images:
        await client.push(image, parse_reference(image))


def test_images_list_and_pull(registry: RegistryServer, tmp_path: Path) -> None:
    config = tmp_path / "cluster.yaml"
    repository = f"{registry.host}/k8s"
    config.write_text(
        f"apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nimageRepository: {repository}\n"
    )
    listed = run_pinnace("adm", "config", "images", "list", "--config", str(config))
    images = listed.stdout.split()
    assert images == [
        f"{repository}/kube-apiserver:v1.32.0",
        f"{repository}/kube-controller-manager:v1.32.0",
        f"{repository}/kube-scheduler:v1.32.0",
        f"{repository}/kube-proxy:v1.32.0",
        f"{repository}/coredns:v1.11.3",
        f"{repository}/pause:3.10",
        f"{repository}/etcd:3.5.16-0",
    ]
    default = run_pinnace("adm", "config", "images", "list", "--data-dir", str(tmp_path / "none")).stdout.split()
    assert default[0] == "registry.k8s.io/kube-apiserver:v1.32.0"
    assert default[4] == "registry.k8s.io/coredns/coredns:v1.11.3"

    data = tmp_path / "node"
    missing = run_pinnace("adm", "config", "images", "pull", "--config", str(config), "--data-dir", str(data))
    assert missing.returncode == 1 and f'failed to pull image "{images[0]}"' in missing.stderr

    source = tmp_path / "source"
    tags = [arg for image in images for arg in ("-t", image)]
    build = [sys.executable, "-m", "pinnace", "image", "build", "--from-binary", "/bin/busybox", *tags]
    subprocess.run([*build, "--root", str(source)], check=True, capture_output=True, timeout=120)
    asyncio.run(_push(source, images))  # set-up (``pinnace image push`` has tests of its own): one process, not seven

    pulled = run_pinnace(
        "adm", "config", "images", "pull", "--config", str(config), "--data-dir", str(data), timeout=120
    )
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.count("[config/images] Pulled ") == 7
    stored = run_pinnace("image", "ls", "--data-dir", str(data)).stdout
    for image in images:
        name, tag = image.rsplit(":", 1)
        assert any(line.split()[:2] == [name, tag] for line in stored.splitlines())
