"""The content-addressed store: digests are checked, references resolve, blobs go with their last image."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from pinnace.node.cri import NotFoundError
from pinnace.node.images.reference import parse_reference, sha256_digest
from pinnace.node.images.store import DigestMismatch, ImageInUseError, ImageStore
from pinnace.node.images.unpack import unpack

from ._layers import file, store_layers


def test_blobs_are_verified_and_content_addressed(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    digest = store.write_blob(b"hello")
    assert digest == sha256_digest(b"hello")
    assert store.read_blob(digest) == b"hello"
    assert store.blob_path(digest).parent == tmp_path / "blobs" / "sha256"
    with pytest.raises(DigestMismatch, match="expected"):
        store.write_blob(b"hello", sha256_digest(b"other"))
    with pytest.raises(DigestMismatch):
        store.ingest(io.BytesIO(b"tampered"), sha256_digest(b"original"))
    assert not store.has_blob(sha256_digest(b"tampered"))
    assert list((tmp_path / "tmp").iterdir()) == []  # no temp file left behind
    assert store.ingest(io.BytesIO(b"x" * 3_000_000)) == sha256_digest(b"x" * 3_000_000)


def test_add_and_resolve_by_reference_id_and_prefix(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    image_id = store_layers(store, [[file("a", b"1")]], name="busybox")
    record = store.require("docker.io/library/busybox:latest")
    assert record.id == image_id
    assert store.require("busybox").id == image_id
    assert store.require(image_id).id == image_id
    assert store.require(image_id.removeprefix("sha256:")[:12]).id == image_id
    assert record.repo_tags == ("docker.io/library/busybox:latest",)
    assert store.config(image_id)["config"]["Cmd"] == ["/bin/true"]
    assert store.resolve("nothere") is None
    with pytest.raises(NotFoundError):
        store.require("nothere")


def test_an_incomplete_image_is_refused(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    image_id = store_layers(store, [[file("a", b"1")]])
    record = store.require(image_id)
    store.blob_path(record.layers[0]).unlink()
    with pytest.raises(NotFoundError, match="missing"):
        store.add_image(record.manifest, [])


def test_shared_blobs_are_refcounted(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    base = [file("etc/os-release", b"ID=test\n")]
    one = store_layers(store, [base, [file("one", b"1")]], name="example.com/one:1")
    two = store_layers(store, [base, [file("two", b"2")]], name="example.com/two:1")
    shared = store.require(one).layers[0]
    assert store.require(two).layers[0] == shared
    assert store.refcount(shared) == 2
    only_one = store.require(one).layers[1]
    store.remove(one)
    assert store.has_blob(shared) and not store.has_blob(only_one)
    assert not store.has_blob(one)  # the config blob is the image ID
    assert store.refcount(shared) == 1
    store.remove(two)
    assert list((tmp_path / "blobs" / "sha256").iterdir()) == []
    assert store.images() == []


def test_untag_removes_the_image_with_its_last_tag(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    image_id = store_layers(store, [[file("a")]], name="example.com/app:1")
    store.tag(image_id, parse_reference("example.com/app:2"))
    store.tag(image_id, parse_reference("example.com/app").with_digest(store.require(image_id).manifest))
    assert len(store.require(image_id).repo_digests) == 1
    store.untag("example.com/app:1")
    assert store.require(image_id).repo_tags == ("example.com/app:2",)
    store.untag("example.com/app:2")
    assert store.resolve(image_id) is None
    assert store.resolve(f"example.com/app@{image_id}") is None


def test_untag_by_id_removes_every_reference(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    image_id = store_layers(store, [[file("a")]], name="example.com/app:1")
    store.tag(image_id, parse_reference("example.com/app:2"))
    store.untag(image_id.removeprefix("sha256:")[:8])
    assert store.images() == []
    with pytest.raises(NotFoundError):
        store.untag("example.com/app:1")


def test_a_moved_tag_leaves_the_old_image_dangling(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    old = store_layers(store, [[file("v", b"1")]], name="example.com/app:latest")
    new = store_layers(store, [[file("v", b"2")]], name="example.com/app:latest")
    assert store.require("example.com/app").id == new
    assert store.require(old).repo_tags == ()


def test_last_used_and_a_second_store_on_the_same_root(tmp_path: Path) -> None:
    now = [1000.0]
    store = ImageStore(tmp_path, clock=lambda: now[0])
    image_id = store_layers(store, [[file("a")]])
    assert store.require(image_id).last_used == 1000.0
    now[0] = 2000.0
    store.touch(image_id)
    other = ImageStore(tmp_path)  # another process (the CLI) sees the same index
    assert other.require(image_id).last_used == 2000.0
    assert other.require(image_id).size == sum(store.blob_path(d).stat().st_size for d in store.require(image_id).blobs)


def test_an_image_under_a_mounted_overlay_is_not_removed(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "store")
    image_id = store_layers(store, [[file("a", b"1")]])
    lower = unpack(store, image_id)
    upper, work, merged = (tmp_path / name for name in ("upper", "work", "merged"))
    for directory in (upper, work, merged):
        directory.mkdir()
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(merged)], check=True)
    try:
        assert (merged / "a").read_bytes() == b"1"
        with pytest.raises(ImageInUseError, match="in use"):
            store.remove(image_id)
        assert store.resolve(image_id) is not None and (lower / "a").exists()
    finally:
        subprocess.run(["umount", str(merged)], check=True)
    store.remove(image_id)
    assert store.resolve(image_id) is None
