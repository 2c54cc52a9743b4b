"""``pinnace image build``: single-layer images from a directory or from one static binary, offline.

A directory becomes one gzip layer (entries sorted, owned by root, as a
Dockerfile's ``COPY`` makes them), with a config (Entrypoint, Cmd, Env,
WorkingDir…) and an OCI manifest, all stored like a pulled image. From a static
binary (say Debian's ``busybox-static``), the rootfs is made first: the binary
in ``/bin``, busybox's applets as symlinks to it (``busybox --list-full``),
``/etc/passwd`` and ``/etc/group`` with root and nobody, and ``/tmp`` — enough
for a shell, and for tests and users without internet to have images.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import shutil
import struct
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pinnace.node.images.config import ImageConfig, config_document
from pinnace.node.images.manifest import OCI_CONFIG, OCI_LAYER_GZIP, Descriptor, build_manifest, encode
from pinnace.node.images.reference import Reference
from pinnace.node.images.store import ImageStore
from pinnace.node.images.unpack import unpack_if_root

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnobody:x:65534:\n"
_PT_INTERP = 3


class BuildError(ValueError):
    """A build input that cannot make an image (a missing directory, a dynamically linked binary, …)."""


def _tar_layer(source: Path, out: Path) -> None:
    """Write ``source``'s tree as an uncompressed tar (sorted, root-owned, with hard links kept)."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(source):
            dirnames.sort()
            for name in [*sorted(dirnames), *sorted(filenames)]:
                path = Path(dirpath, name)
                info = tar.gettarinfo(str(path), arcname=str(path.relative_to(source)))
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                if info.isreg():
                    with path.open("rb") as data:
                        tar.addfile(info, data)
                else:
                    tar.addfile(info)


def store_layer(store: ImageStore, tar_path: Path) -> tuple[Descriptor, str]:
    """Compress an uncompressed layer tar into the store; its descriptor and diff ID (the tar's own digest)."""
    diff = hashlib.sha256()
    writer = store.blob_writer()
    try:
        with tar_path.open("rb") as raw:
            gz = gzip.GzipFile(filename="", mode="wb", fileobj=writer, mtime=0)
            while chunk := raw.read(1 << 20):
                diff.update(chunk)
                gz.write(chunk)
            gz.close()
        digest = writer.commit()
    except BaseException:
        writer.abort()
        raise
    return Descriptor(OCI_LAYER_GZIP, digest, store.blob_path(digest).stat().st_size), "sha256:" + diff.hexdigest()


def store_image(
    store: ImageStore, layers: Sequence[tuple[Descriptor, str]], config: ImageConfig, references: Sequence[Reference]
) -> str:
    """Write config and manifest for stored layers and record the image under ``references``; its ID."""
    config_blob = encode(config_document(config, [diff_id for _, diff_id in layers]))
    config_digest = store.write_blob(config_blob)
    manifest = build_manifest(
        Descriptor(OCI_CONFIG, config_digest, len(config_blob)), [descriptor for descriptor, _ in layers]
    )
    image_id = store.add_image(store.write_blob(manifest), references)
    unpack_if_root(store, image_id)
    return image_id


def build_from_directory(
    store: ImageStore, directory: Path, config: ImageConfig, references: Sequence[Reference]
) -> str:
    """An image whose one layer is ``directory``'s tree; its ID."""
    if not directory.is_dir():
        raise BuildError(f"{directory} is not a directory")
    if not any(item.startswith("PATH=") for item in config.env):
        config = dataclasses.replace(config, env=(DEFAULT_PATH, *config.env))
    with tempfile.TemporaryDirectory(dir=store.root / "tmp") as work:
        tar_path = Path(work, "layer.tar")
        _tar_layer(directory, tar_path)
        return store_image(store, [store_layer(store, tar_path)], config, references)


def is_static_elf(path: Path) -> bool:
    """Whether ``path`` is an ELF executable with no program interpreter (statically linked)."""
    with path.open("rb") as f:
        ident = f.read(64)
        if len(ident) < 64 or ident[:4] != b"\x7fELF":
            return False
        is64, little = ident[4] == 2, ident[5] == 1
        end = "<" if little else ">"
        if is64:
            (phoff,) = struct.unpack(end + "Q", ident[32:40])
            phentsize, phnum = struct.unpack(end + "HH", ident[54:58])
        else:
            (phoff,) = struct.unpack(end + "I", ident[28:32])
            phentsize, phnum = struct.unpack(end + "HH", ident[42:46])
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            (p_type,) = struct.unpack(end + "I", f.read(4))
            if p_type == _PT_INTERP:
                return False
    return True


def _applets(binary: Path) -> list[str]:
    """Busybox's applets as paths (``bin/sh``, ``usr/bin/awk``); [] for a binary that is not a busybox."""
    for flag, prefix in (("--list-full", ""), ("--list", "bin/")):
        try:
            result = subprocess.run([str(binary), flag], capture_output=True, text=True, timeout=10, check=False)
        except OSError:
            return []
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        if result.returncode == 0 and lines:
            return [prefix + line.lstrip("/") for line in lines]
    return []


def binary_rootfs(binary: Path, target: Path) -> list[str]:
    """Lay out a minimal rootfs around a static binary in ``target``; the applet paths made (for busybox)."""
    if not binary.is_file():
        raise BuildError(f"{binary} is not a file")
    if not is_static_elf(binary):
        raise BuildError(f"{binary} is not a statically linked ELF executable (it would not run without its libraries)")
    for directory in ("bin", "etc", "root", "tmp"):
        (target / directory).mkdir(parents=True, exist_ok=True)
    os.chmod(target / "tmp", 0o1777)
    os.chmod(target / "root", 0o700)
    installed = target / "bin" / binary.name
    shutil.copyfile(binary, installed)
    os.chmod(installed, 0o755)
    (target / "etc" / "passwd").write_text(PASSWD)
    (target / "etc" / "group").write_text(GROUP)
    applets = [path for path in _applets(binary) if path != f"bin/{binary.name}"]
    for applet in applets:
        link = target / applet
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            os.symlink(f"/bin/{binary.name}", link)
    return applets


def build_from_binary(store: ImageStore, binary: Path, config: ImageConfig, references: Sequence[Reference]) -> str:
    """An image of one static binary (with busybox's applets when it is busybox); its ID.

    Without a command in ``config``, a busybox image runs ``sh`` (as Docker's busybox image does),
    any other binary runs itself.
    """
    with tempfile.TemporaryDirectory(dir=store.root / "tmp") as work:
        rootfs = Path(work, "rootfs")
        rootfs.mkdir(mode=0o755)
        applets = binary_rootfs(binary, rootfs)
        if not config.entrypoint and not config.cmd:
            cmd = ("sh",) if "bin/sh" in applets else (f"/bin/{binary.name}",)
            config = dataclasses.replace(config, cmd=cmd)
        return build_from_directory(store, rootfs, config, references)
