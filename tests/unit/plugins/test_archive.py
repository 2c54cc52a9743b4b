"""Archive safety: sha256 before unpacking, and no member may land outside the target."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from pinnace.plugins.archive import ArchiveError, extract, fetch, sha256_of, verify_sha256


def make_tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tar.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size, info.mode = len(m[1]), 0o755
                tar.addfile(info, io.BytesIO(m[1]))
    return path


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def test_tar_gz_unpacks_with_modes(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "a.tar.gz", [("dir/kubectl-x", b"#!/bin/sh\n"), link("dir/alias", "kubectl-x")])
    extract(archive, tmp_path / "out")
    assert (tmp_path / "out/dir/kubectl-x").read_bytes() == b"#!/bin/sh\n"
    assert (tmp_path / "out/dir/kubectl-x").stat().st_mode & 0o111
    assert (tmp_path / "out/dir/alias").resolve() == (tmp_path / "out/dir/kubectl-x").resolve()


@pytest.mark.parametrize(
    "member",
    [
        ("../escape", b"x"),
        ("a/../../escape", b"x"),
        ("/abs/escape", b"x"),
        link("evil", "../../etc"),
        link("evil", "/etc/passwd"),
        link("hard", "../outside", tarfile.LNKTYPE),
    ],
)
def test_tar_members_outside_the_target_are_refused_before_anything_is_written(
    tmp_path: Path, member: tarfile.TarInfo | tuple[str, bytes]
) -> None:
    archive = make_tar(tmp_path / "a.tar.gz", [("ok", b"fine"), member])
    with pytest.raises(ArchiveError, match=r"outside|leaves"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "escape").exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_tar_write_through_an_inner_link_to_outside_is_refused(tmp_path: Path) -> None:
    # a link that stays inside, but the next member writes through a directory link chain
    archive = make_tar(tmp_path / "a.tar.gz", [link("d", "."), ("d/d/file", b"x")])
    extract(archive, tmp_path / "out")  # stays inside: allowed
    assert (tmp_path / "out/file").read_bytes() == b"x"


def test_device_files_are_refused(tmp_path: Path) -> None:
    dev = tarfile.TarInfo("dev")
    dev.type = tarfile.CHRTYPE
    with pytest.raises(ArchiveError, match="not a file"):
        extract(make_tar(tmp_path / "a.tar.gz", [dev]), tmp_path / "out")


def make_zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100755 << 16
            zf.writestr(info, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return path


def test_zip_unpacks(tmp_path: Path) -> None:
    extract(make_zip(tmp_path / "a.zip", {"bin/kubectl-x": b"run"}), tmp_path / "out")
    assert (tmp_path / "out/bin/kubectl-x").read_bytes() == b"run"
    assert (tmp_path / "out/bin/kubectl-x").stat().st_mode & 0o111


@pytest.mark.parametrize("name", ["../escape", "/abs", "a/../../escape", "C:/windows"])
def test_zip_traversal_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ArchiveError, match="outside"):
        extract(make_zip(tmp_path / "a.zip", {"ok": b"1", name: b"x"}), tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_zip_symlinks_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="symbolic link"):
        extract(make_zip(tmp_path / "a.zip", {"ok": b"1"}, symlink="link"), tmp_path / "out")


def test_unknown_formats_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"not an archive")
    with pytest.raises(ArchiveError, match=r"not a \.tar\.gz or \.zip"):
        extract(tmp_path / "a.bin", tmp_path / "out")


def test_sha256_is_checked(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"hello")
    verify_sha256(f, sha256_of(f))
    with pytest.raises(ArchiveError, match="sha256 mismatch"):
        verify_sha256(f, "0" * 64)


def test_fetch_file_uris_and_paths(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"data")
    assert fetch(src.as_uri(), tmp_path / "a").read_bytes() == b"data"
    assert fetch(str(src), tmp_path / "b").read_bytes() == b"data"
    with pytest.raises(ArchiveError, match="cannot download"):
        fetch((tmp_path / "missing").as_uri(), tmp_path / "c")
    with pytest.raises(ArchiveError, match="unsupported scheme"):
        fetch("ftp://example.com/x", tmp_path / "d")
