"""Layers applied in order: whiteouts, opaque directories, links, modes and owners; paths stay in the root."""

from __future__ import annotations

import gzip
import io
import os
import stat
import struct
from pathlib import Path

import pytest

from pinnace.node.images.store import ImageStore
from pinnace.node.images.unpack import LayerError, apply_layer, rootfs_path, unpack

from ._layers import directory, file, hardlink, store_layers, symlink, tar_bytes


def test_layers_apply_in_order_with_whiteouts(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "store")
    image_id = store_layers(
        store,
        [
            [
                directory("etc"),
                file("etc/keep", b"base"),
                file("etc/gone", b"x"),
                directory("var/cache"),
                file("var/cache/a", b"a"),
                file("var/cache/b", b"b"),
                directory("data"),
                file("data/old", b"old"),
                file("over", b"v1"),
            ],
            [
                file("etc/.wh.gone"),
                directory("var/cache"),
                file("var/cache/.wh..wh..opq"),
                file("var/cache/new", b"new"),
                file(".wh.data"),
                file("over", b"v2"),
            ],
            [directory("data"), file("data/fresh", b"fresh")],
        ],
    )
    root = unpack(store, image_id)
    assert root == rootfs_path(store, image_id)
    assert (root / "etc/keep").read_bytes() == b"base"
    assert not (root / "etc/gone").exists()
    assert sorted(os.listdir(root / "var/cache")) == ["new"]
    assert sorted(os.listdir(root / "data")) == ["fresh"]  # deleted, then made anew by a later layer
    assert (root / "over").read_bytes() == b"v2"
    assert not any(name.startswith(".wh.") for _, dirs, files in os.walk(root) for name in dirs + files)


def test_opaque_marker_after_the_layers_own_entries_keeps_them(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    apply_layer(root, io.BytesIO(tar_bytes([directory("d"), file("d/lower")])))
    apply_layer(root, io.BytesIO(tar_bytes([directory("d"), file("d/upper"), file("d/.wh..wh..opq")])))
    assert os.listdir(root / "d") == ["upper"]


def test_modes_links_and_owners(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    entries = [
        directory("bin"),
        file("bin/tool", b"#!/bin/sh\n", mode=0o4755),
        symlink("bin/sh", "/bin/tool"),
        hardlink("bin/tool2", "bin/tool"),
        directory("tmp", mode=0o1777),
        file("home/user/f", b"mine", mode=0o600, uid=1000, gid=1001),
    ]
    apply_layer(root, io.BytesIO(gzip.compress(tar_bytes(entries))))
    assert stat.S_IMODE(os.stat(root / "bin/tool").st_mode) == 0o4755
    assert os.readlink(root / "bin/sh") == "/bin/tool"
    assert os.stat(root / "bin/tool2").st_ino == os.stat(root / "bin/tool").st_ino
    assert stat.S_IMODE(os.stat(root / "tmp").st_mode) == 0o1777
    assert os.stat(root / "bin/tool").st_mtime == 1_700_000_000
    if os.geteuid() == 0:
        st = os.stat(root / "home/user/f")
        assert (st.st_uid, st.st_gid) == (1000, 1001)


def test_absolute_symlinks_resolve_inside_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    # usr-merge style: /bin is a symlink; a later entry under bin/ must land in root/usr/bin.
    apply_layer(root, io.BytesIO(tar_bytes([directory("usr/bin"), symlink("bin", "/usr/bin")])))
    apply_layer(root, io.BytesIO(tar_bytes([file("bin/ls", b"ls")])))
    assert (root / "usr/bin/ls").read_bytes() == b"ls"
    # A symlink to a host path must not make a later entry write on the host.
    apply_layer(root, io.BytesIO(tar_bytes([symlink("escape", str(outside)), symlink("up", "../../../..")])))
    apply_layer(root, io.BytesIO(tar_bytes([file("escape/pwned", b"x"), file("up/pwned2", b"x")])))
    assert list(outside.iterdir()) == []
    assert (root / str(outside).lstrip("/") / "pwned").exists()
    assert (root / "pwned2").exists()


def test_dotdot_entries_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(LayerError, match="climbs out"):
        apply_layer(root, io.BytesIO(tar_bytes([file("../evil", b"x")])))
    assert not (tmp_path / "evil").exists()


def test_uncompressed_layers_and_the_cache(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    image_id = store_layers(store, [[file("hello", b"world")]], gzipped=False)
    root = unpack(store, image_id)
    assert (root / "hello").read_bytes() == b"world"
    marker = root / "hello"
    assert unpack(store, image_id) == root and marker.exists()  # made once, then reused
    assert [p.name for p in (tmp_path / "rootfs").iterdir()] == [root.name]  # no temp dirs left
    store.remove(image_id)
    assert not root.exists()


def test_extended_attributes_and_file_capabilities(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    net_raw = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)  # cap_net_raw+ep (VFS_CAP_REVISION_2)
    entry = file("bin/ping", b"\x7fELF", mode=0o755)
    entry.xattrs = {"user.origin": b"pinnace", "security.capability": net_raw}
    apply_layer(root, io.BytesIO(tar_bytes([entry])))
    assert os.getxattr(root / "bin/ping", "user.origin") == b"pinnace"
    if os.geteuid() == 0:
        assert os.getxattr(root / "bin/ping", "security.capability") == net_raw
