"""Root filesystems from layers: apply each layer in order, with OCI whiteouts, into a cached directory.

A layer is a tar (plain or gzip) of the changes over the layers below it
(OCI image-spec ``layer.md``): a file ``.wh.<name>`` deletes ``<name>`` from
the lower layers, and ``.wh..wh..opq`` in a directory hides everything the
lower layers had in it. Entries keep their mode, times, symlinks, hard links,
extended attributes (``user.*``; all of them, file capabilities included, when
we are root) and — when we are root — their owner and device nodes.

Paths are resolved inside the root as a container sees them: an absolute
symlink in the image (``/bin -> usr/bin``) points into the rootfs, never at
the host's, and ``..`` cannot climb out of it.

:func:`unpack` keeps one unpacked rootfs per image under the store's
``rootfs/<id-hex>`` (made when the image is built, imported or pulled as
root — :func:`unpack_if_root` — else on first use), made in a temp directory and renamed into place, so a
half-written one is never seen. It is shared by every container of that
image and must not be written to: the ``oci`` runtime mounts it as the
read-only lower layer of an overlay when it is root, and copies it otherwise.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import logging
import os
import shutil
import stat
import tarfile
import tempfile
from pathlib import Path
from typing import IO, cast

from pinnace.node.images.store import ImageStore

WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"
XATTR_PREFIX = "SCHILY.xattr."

log = logging.getLogger(__name__)
_MAX_SYMLINKS = 40


class LayerError(ValueError):
    """A layer that cannot be applied (a path that escapes, an unsupported compression, …)."""


def _parts(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


def resolve_in_root(root: Path, rel: str, *, create: bool = False) -> Path:
    """``rel`` inside ``root``, following symlinks as if ``root`` were ``/`` (``..`` stops at the root).

    With ``create``, missing directories on the way are made (0755).
    """
    pending = _parts(rel)
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        current = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            if create:
                os.mkdir(current, 0o755)
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > _MAX_SYMLINKS:
                raise LayerError(f"too many levels of symbolic links resolving {rel!r}")
            target = os.readlink(current)
            if target.startswith("/"):
                resolved = []
            pending = _parts(target) + pending
            continue
        if pending and not stat.S_ISDIR(st.st_mode):
            raise LayerError(f"{'/'.join([*resolved, part])} is not a directory (resolving {rel!r})")
        resolved.append(part)
    return Path(root, *resolved)


def _remove(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _decompressed(source: IO[bytes]) -> IO[bytes]:
    head = source.read(4)
    source.seek(0)
    if head[:2] == b"\x1f\x8b":
        return cast(IO[bytes], gzip.GzipFile(fileobj=source, mode="rb"))
    if head == b"\x28\xb5\x2f\xfd":
        raise LayerError("zstd-compressed layers are not supported (Python 3.11 has no zstd decoder)")
    return source


class _LayerWriter:
    """Applies one layer's entries to a root directory."""

    def __init__(self, root: Path, same_owner: bool) -> None:
        self.root = root
        self.same_owner = same_owner
        self.seen: set[str] = set()
        self.dirs: list[tuple[Path, tarfile.TarInfo]] = []

    def apply(self, tar: tarfile.TarFile) -> None:
        for member in tar:
            rel = "/".join(_parts(member.name))
            if not rel:
                continue
            if ".." in rel.split("/"):
                raise LayerError(f"layer entry {member.name!r} climbs out of the root")
            parent, _, base = rel.rpartition("/")
            if base == OPAQUE_WHITEOUT:
                self._opaque(parent)
            elif base.startswith(WHITEOUT_PREFIX):
                target = resolve_in_root(self.root, parent) / base[len(WHITEOUT_PREFIX) :]
                _remove(target)
            else:
                path = resolve_in_root(self.root, parent, create=True) / base
                self.seen.add(rel)
                self._write(tar, member, path)
        for path, member in reversed(self.dirs):
            self._metadata(path, member)

    def _opaque(self, parent: str) -> None:
        directory = resolve_in_root(self.root, parent, create=True)
        for child in os.listdir(directory):
            if f"{parent}/{child}".lstrip("/") not in self.seen:
                _remove(directory / child)

    def _write(self, tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path) -> None:
        if member.isdir():
            if not (path.is_dir() and not path.is_symlink()):
                _remove(path)
                os.mkdir(path, 0o700)
            self.dirs.append((path, member))
            return
        _remove(path)
        if member.isreg():
            source = tar.extractfile(member)
            assert source is not None  # a regular member always has data
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
        elif member.issym():
            os.symlink(member.linkname, path)
        elif member.islnk():
            link = "/".join(_parts(member.linkname))
            link_parent, _, link_base = link.rpartition("/")
            os.link(resolve_in_root(self.root, link_parent) / link_base, path, follow_symlinks=False)
            return  # a hard link shares its target's metadata
        elif member.isfifo():
            os.mkfifo(path, 0o600)
        elif member.ischr() or member.isblk():
            if not self.same_owner:
                return  # only root can make device nodes; runtimes bind the ones a container needs
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
        else:
            return
        self._metadata(path, member)

    def _metadata(self, path: Path, member: tarfile.TarInfo) -> None:
        symlink = member.issym()
        if self.same_owner:
            os.chown(path, member.uid, member.gid, follow_symlinks=False)
        if not symlink:
            os.chmod(path, member.mode & 0o7777)
            self._xattrs(path, member)
        with contextlib.suppress(NotImplementedError, OSError):
            os.utime(path, (member.mtime, member.mtime), follow_symlinks=not symlink)

    def _xattrs(self, path: Path, member: tarfile.TarInfo) -> None:
        """Extended attributes (``SCHILY.xattr.*`` PAX records: file capabilities, ACLs…), set after chown."""
        for key, value in member.pax_headers.items():
            if not key.startswith(XATTR_PREFIX):
                continue
            name = key[len(XATTR_PREFIX) :]
            if not self.same_owner and not name.startswith("user."):
                continue  # only root may set security.*, trusted.* and system.* attributes
            try:
                os.setxattr(path, name, value.encode("utf-8", "surrogateescape"))
            except OSError as exc:
                if exc.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                log.warning("%s: extended attribute %s not kept (the store's filesystem has none)", path, name)


def apply_layer(root: Path, layer: IO[bytes], *, same_owner: bool | None = None) -> None:
    """Apply one layer (a tar, plain or gzip-compressed, read as a stream) on top of ``root``."""
    if same_owner is None:
        same_owner = os.geteuid() == 0
    with tarfile.open(fileobj=_decompressed(layer), mode="r|") as tar:
        _LayerWriter(root, same_owner).apply(tar)


def rootfs_path(store: ImageStore, image_id: str) -> Path:
    """Where an image's unpacked rootfs lives (whether or not it is unpacked yet)."""
    return store.root / "rootfs" / image_id.removeprefix("sha256:")


def unpack(store: ImageStore, image_id: str, *, touch: bool = True) -> Path:
    """The image's unpacked rootfs (made on first use, then reused); marks the image used (``touch``).

    Synchronous and CPU/disk heavy: call it in a thread from async code.
    """
    record = store.require(image_id)
    target = rootfs_path(store, record.id)
    if not target.is_dir():
        work = Path(tempfile.mkdtemp(dir=store.root / "rootfs", prefix=".unpack-"))
        try:
            os.chmod(work, 0o755)
            for digest in record.layers:
                with store.open_blob(digest) as blob:
                    apply_layer(work, blob)
            try:
                os.rename(work, target)
            except OSError:
                if not target.is_dir():  # someone else won the race otherwise
                    raise
        finally:
            if work.exists():
                shutil.rmtree(work)
    if touch:
        store.touch(record.id)
    return target


def unpack_if_root(store: ImageStore, image_id: str) -> None:
    """Unpack a new image right away when we are root, as containerd unpacks on import and pull.

    A container's first start then does not pay for it (a pod start's latency
    excludes image pulls, and unpacking is part of the pull). Without root the
    owners and device nodes could not be set, so the unpacking is left to the
    ``oci`` runtime, which is root, on first use.
    """
    if os.geteuid() == 0:
        unpack(store, image_id, touch=False)
