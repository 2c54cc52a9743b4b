"""Imports: an OCI layout (directory and tar) and a docker save tar land as the same image."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from pinnace.node.images.archive import ArchiveError, export_oci_layout, import_archive
from pinnace.node.images.manifest import DOCKER_MANIFEST, parse_manifest
from pinnace.node.images.reference import parse_reference
from pinnace.node.images.store import ImageStore
from pinnace.node.images.unpack import unpack

from ._layers import file, store_layers, tar_bytes


def _tar_dir(directory: Path, out: Path) -> None:
    with tarfile.open(out, "w") as tar:
        for path in sorted(directory.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(directory)), recursive=False)


@pytest.mark.parametrize("as_tar", [False, True])
def test_oci_layout_round_trip(tmp_path: Path, as_tar: bool) -> None:
    source = ImageStore(tmp_path / "a")
    image_id = store_layers(source, [[file("x", b"1")], [file("y", b"2")]], name="example.com/app:1")
    layout = tmp_path / "layout"
    export_oci_layout(source, image_id, layout, parse_reference("example.com/app:1"))
    path = layout
    if as_tar:
        path = tmp_path / "layout.tar"
        _tar_dir(layout, path)
    target = ImageStore(tmp_path / "b")
    assert import_archive(target, path) == [image_id]
    record = target.require("example.com/app:1")
    assert record.manifest == source.require(image_id).manifest
    assert (unpack(target, image_id) / "y").read_bytes() == b"2"


def test_a_tag_given_on_import(tmp_path: Path) -> None:
    source = ImageStore(tmp_path / "a")
    image_id = store_layers(source, [[file("x")]], name="")
    export_oci_layout(source, image_id, tmp_path / "layout")
    target = ImageStore(tmp_path / "b")
    import_archive(target, tmp_path / "layout", [parse_reference("example.com/named:2")])
    assert target.require("example.com/named:2").id == image_id


def test_docker_save_tar(tmp_path: Path) -> None:
    layer = tar_bytes([file("etc/hostname", b"docker\n")])
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()  # fmt: skip
    manifest = json.dumps([{"Config": "cfg.json", "RepoTags": ["busybox:saved"], "Layers": ["abc/layer.tar"]}])
    archive = tmp_path / "saved.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in (("manifest.json", manifest.encode()), ("cfg.json", config), ("abc/layer.tar", layer)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    store = ImageStore(tmp_path / "store")
    [image_id] = import_archive(store, archive)
    record = store.require("busybox:saved")
    assert record.id == image_id
    assert parse_manifest(store.read_blob(record.manifest)).media_type == DOCKER_MANIFEST
    assert (unpack(store, image_id) / "etc/hostname").read_text() == "docker\n"


def test_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArchiveError, match=r"no index\.json"):
        import_archive(ImageStore(tmp_path / "s"), tmp_path / "empty")
    (tmp_path / "junk").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(ArchiveError, match="neither"):
        import_archive(ImageStore(tmp_path / "s"), tmp_path / "junk")
