"""The CRI ImageService on the local store, and the pull-policy helpers the agent uses."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from pinnace.node.cri import ImageInfo, ImagePullError, ImageService
from pinnace.node.images.reference import parse_reference
from pinnace.node.images.service import (
    TOUCH_INTERVAL,
    LocalImageService,
    default_pull_policy,
    node_status_images,
    pull_with_secrets,
    should_pull,
)
from pinnace.node.images.unpack import rootfs_path

from ._layers import file, store_layers


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("busybox", "Always"),
        ("busybox:latest", "Always"),
        ("busybox:1.36", "IfNotPresent"),
        ("busybox@sha256:" + "a" * 64, "IfNotPresent"),
        ("localhost:5000/app", "Always"),
    ],
)
def test_default_pull_policy(image: str, policy: str) -> None:
    assert default_pull_policy(image) == policy


def test_should_pull() -> None:
    assert should_pull("Always", present=True) and should_pull("Always", present=False)
    assert should_pull("IfNotPresent", present=False) and not should_pull("IfNotPresent", present=True)
    assert not should_pull("Never", present=False) and not should_pull("Never", present=True)


async def test_image_service_on_the_store(tmp_path: Path) -> None:
    service = LocalImageService(tmp_path)
    assert isinstance(service, ImageService)
    image_id = store_layers(service.store, [[file("bin/app", b"app")]], name="example.com/app:1")
    info = await service.image_status("example.com/app:1")
    assert info is not None and info.id == image_id and info.repo_tags == ("example.com/app:1",)
    assert [i.id for i in await service.list_images()] == [image_id]
    root = await service.unpack("example.com/app:1")
    assert (root / "bin/app").read_bytes() == b"app"
    assert (await service.image_config(image_id)).cmd == ("/bin/true",)
    # A digest reference that is present is not pulled again (no registry is asked: there is none).
    manifest = service.store.require(image_id).manifest
    service.store.tag(image_id, parse_reference("example.com/app").with_digest(manifest))
    assert await service.pull_image(f"example.com/app@{manifest}") == image_id
    await service.remove_image("example.com/app:1")
    assert await service.image_status(image_id) is None
    await service.remove_image("example.com/app:1")  # idempotent


async def test_pull_errors_are_image_pull_errors(tmp_path: Path) -> None:
    service = LocalImageService(tmp_path)
    with pytest.raises(ImagePullError, match="invalid image reference"):
        await service.pull_image("Not/Valid")
    with pytest.raises(ImagePullError, match="cannot reach registry"):
        await service.pull_image("127.0.0.1:1/nothing:1")


def test_node_status_images_largest_first() -> None:
    infos = [
        ImageInfo("sha256:small", ("a.io/small:1",), (), 10),
        ImageInfo("sha256:big", ("a.io/big:1",), ("a.io/big@sha256:" + "b" * 64,), 1000),
        ImageInfo("sha256:dangling", (), (), 100),
    ]
    assert node_status_images(infos, limit=2) == [
        {"names": ["a.io/big@sha256:" + "b" * 64, "a.io/big:1"], "sizeBytes": 1000},
        {"names": ["sha256:dangling"], "sizeBytes": 100},
    ]


async def test_a_broken_pull_secret_is_a_pull_error(tmp_path: Path) -> None:
    secret = {"type": "kubernetes.io/dockercfg", "data": {".dockercfg": "bm90IGpzb24="}}
    with pytest.raises(ImagePullError, match="bad imagePullSecret"):
        await pull_with_secrets(LocalImageService(tmp_path), "example.com/app:1", [secret])


async def test_concurrent_starts_share_one_unpack_and_use_is_recorded_once_a_minute(tmp_path: Path) -> None:
    now = [1000.0]
    service = LocalImageService(tmp_path, clock=lambda: now[0])
    image_id = store_layers(service.store, [[file("bin/app", b"app")]], name="example.com/app:1")
    rootfs = rootfs_path(service.store, image_id)
    shutil.rmtree(rootfs, ignore_errors=True)  # as a non-root build leaves it: unpacked on first use
    roots = await asyncio.gather(*(service.unpack("example.com/app:1") for _ in range(5)))
    assert roots == [rootfs] * 5 and (rootfs / "bin/app").read_bytes() == b"app"
    assert [p.name for p in (tmp_path / "rootfs").iterdir()] == [rootfs.name]  # no second unpack left behind
    assert service.store.require(image_id).last_used == 1000.0
    now[0] = 1030.0
    await service.unpack("example.com/app:1")
    assert service.store.require(image_id).last_used == 1000.0
    now[0] = 1000.0 + TOUCH_INTERVAL
    await service.unpack(image_id)
    assert service.store.require(image_id).last_used == now[0]


def test_an_image_stored_as_root_is_unpacked_at_once(tmp_path: Path) -> None:
    assert os.geteuid() == 0, "unpacking at import needs root (CI runs as root)"
    service = LocalImageService(tmp_path)
    image_id = store_layers(service.store, [[file("bin/app", b"app")]], name="example.com/app:1")
    assert (rootfs_path(service.store, image_id) / "bin/app").read_bytes() == b"app"
