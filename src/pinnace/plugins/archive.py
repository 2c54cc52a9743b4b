"""Fetching a plugin's archive, checking its sha256, and unpacking it safely.

The order is the contract: :func:`fetch` downloads (``file://``, a plain path,
or ``https://``) into a file, :func:`verify_sha256` compares its digest with the
manifest's *before* a single byte is unpacked, and :func:`extract` unpacks a
``.tar.gz``/``.tgz`` or ``.zip`` while refusing any member that would land
outside the target: absolute paths, ``..`` components, links whose target
leaves the tree, and device files. A refused archive raises
:class:`ArchiveError` and leaves the target to be thrown away by the caller.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

__all__ = ["ArchiveError", "extract", "fetch", "sha256_of", "verify_sha256"]

_CHUNK = 1 << 16


class ArchiveError(Exception):
    """An archive that cannot be used: not downloadable, wrong digest, unsafe or unknown format."""


def fetch(uri: str, dest: Path, *, timeout: float = 60.0) -> Path:
    """Copy ``uri`` into the file ``dest``."""
    parsed = urllib.parse.urlparse(uri)
    try:
        if parsed.scheme in ("", "file"):
            source = Path(urllib.request.url2pathname(parsed.path)) if parsed.scheme else Path(uri)
            shutil.copyfile(source, dest)
        elif parsed.scheme == "https" or parsed.scheme == "http":
            with urllib.request.urlopen(uri, timeout=timeout) as resp, dest.open("wb") as out:
                shutil.copyfileobj(resp, out, _CHUNK)
        else:
            raise ArchiveError(f"cannot download {uri}: unsupported scheme {parsed.scheme!r}")
    except OSError as exc:
        raise ArchiveError(f"cannot download {uri}: {exc}") from None
    return dest


def sha256_of(path: Path) -> str:
    """The hex sha256 digest of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str, *, what: str = "archive") -> None:
    """Raise ArchiveError unless ``path`` has the sha256 digest ``expected``."""
    actual = sha256_of(path)
    if actual != expected.lower():
        raise ArchiveError(f"{what}: sha256 mismatch (expected {expected}, got {actual}); refusing to unpack it")


def extract(archive: Path, target: Path, *, uri: str = "") -> None:
    """Unpack ``archive`` (format from ``uri``'s or the file's name, else sniffed) into ``target``."""
    name = (urllib.parse.urlparse(uri).path if uri else archive.name).lower()
    target.mkdir(parents=True, exist_ok=True)
    if name.endswith(".zip") or (not name.endswith((".tar.gz", ".tgz")) and zipfile.is_zipfile(archive)):
        _extract_zip(archive, target)
    elif name.endswith((".tar.gz", ".tgz")) or tarfile.is_tarfile(archive):
        _extract_tar(archive, target)
    else:
        raise ArchiveError(f"{archive.name}: not a .tar.gz or .zip archive")


def _inside(target: Path, member: str) -> Path:
    """Where ``member`` lands under ``target``; ArchiveError if it would land elsewhere."""
    pure = PurePosixPath(member.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and pure.parts[0].endswith(":")):
        raise ArchiveError(f"archive member {member!r} points outside the plugin directory; refusing the archive")
    dest = target.joinpath(*[p for p in pure.parts if p not in ("", ".")])
    if not _within(target, dest):
        raise ArchiveError(f"archive member {member!r} points outside the plugin directory; refusing the archive")
    return dest


def _within(root: Path, path: Path) -> bool:
    root_abs = os.path.abspath(root)
    return os.path.commonpath([root_abs, os.path.abspath(path)]) == root_abs


def _extract_tar(archive: Path, target: Path) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:  # check the whole archive before writing anything
                dest = _inside(target, m.name)
                if m.issym() or m.islnk():
                    link = m.linkname
                    base = dest.parent if m.issym() else target
                    if os.path.isabs(link) or not _within(target, base / link):
                        raise ArchiveError(f"archive link {m.name!r} -> {link!r} leaves the plugin directory")
                elif not (m.isfile() or m.isdir()):
                    raise ArchiveError(f"archive member {m.name!r} is not a file, directory or link")
            for m in members:
                out_path = _destination(target, m.name, m.isdir())
                if out_path is None:
                    continue
                if m.issym():
                    os.symlink(m.linkname, out_path)
                elif m.islnk():
                    os.link(_inside(target, m.linkname), out_path)
                else:
                    source = tar.extractfile(m)
                    if source is None:
                        raise ArchiveError(f"archive member {m.name!r} cannot be read")
                    with source, out_path.open("wb") as out:
                        shutil.copyfileobj(source, out, _CHUNK)
                    os.chmod(out_path, 0o755 if m.mode & 0o111 else 0o644)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"{archive.name}: cannot unpack: {exc}") from None


def _extract_zip(archive: Path, target: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                _inside(target, info.filename)
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise ArchiveError(f"archive member {info.filename!r} is a symbolic link; refusing the archive")
            for info in infos:
                dest = _destination(target, info.filename, info.is_dir())
                if dest is None:
                    continue
                with zf.open(info) as source, dest.open("wb") as out:
                    shutil.copyfileobj(source, out, _CHUNK)
                mode = (info.external_attr >> 16) & 0o777
                os.chmod(dest, 0o755 if mode & 0o111 else 0o644)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(f"{archive.name}: cannot unpack: {exc}") from None


def _destination(target: Path, member: str, is_dir: bool) -> Path | None:
    """Create a directory member (None), or the parents of a file member and return its path."""
    dest = _inside(target, member)
    if is_dir:
        dest.mkdir(parents=True, exist_ok=True)
        return None
    # refuse writing through a symlink an earlier member created (a link to a directory outside)
    if not _within(Path(os.path.realpath(target)), Path(os.path.realpath(dest.parent))):
        raise ArchiveError(f"archive member {member!r} would be written through a link outside")
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest
