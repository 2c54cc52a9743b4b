"""Helpers for store tests: layers as tars made in memory, and images stored from them."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass

from pinnace.node.images.build import store_image
from pinnace.node.images.config import ImageConfig
from pinnace.node.images.manifest import OCI_LAYER, OCI_LAYER_GZIP, Descriptor
from pinnace.node.images.reference import Reference, parse_reference
from pinnace.node.images.store import ImageStore


@dataclass
class Entry:
    """One tar entry: a file (data), a dir, a symlink or a hard link."""

    name: str
    data: bytes | None = None
    kind: str = "file"
    target: str = ""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    xattrs: dict[str, bytes] | None = None


def file(name: str, data: bytes = b"", mode: int = 0o644, uid: int = 0, gid: int = 0) -> Entry:
    return Entry(name, data, "file", mode=mode, uid=uid, gid=gid)


def directory(name: str, mode: int = 0o755) -> Entry:
    return Entry(name, None, "dir", mode=mode)


def symlink(name: str, target: str) -> Entry:
    return Entry(name, None, "symlink", target=target, mode=0o777)


def hardlink(name: str, target: str) -> Entry:
    return Entry(name, None, "hardlink", target=target)


def tar_bytes(entries: list[Entry]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.mode, info.uid, info.gid, info.mtime = entry.mode, entry.uid, entry.gid, 1_700_000_000
            if entry.kind == "dir":
                info.type = tarfile.DIRTYPE
            elif entry.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, entry.target
            elif entry.kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, entry.target
            for name, value in (entry.xattrs or {}).items():
                info.pax_headers["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
            data = entry.data or b""
            info.size = len(data) if entry.kind == "file" else 0
            tar.addfile(info, io.BytesIO(data) if entry.kind == "file" else None)
    return out.getvalue()


def store_layers(
    store: ImageStore, layers: list[list[Entry]], name: str = "example.com/test:1", gzipped: bool = True
) -> str:
    """Store an image made of these layers under ``name``; its ID."""
    stored = []
    for entries in layers:
        raw = tar_bytes(entries)
        blob = gzip.compress(raw, mtime=0) if gzipped else raw
        digest = store.write_blob(blob)
        media_type = OCI_LAYER_GZIP if gzipped else OCI_LAYER
        stored.append((Descriptor(media_type, digest, len(blob)), "sha256:" + hashlib.sha256(raw).hexdigest()))
    refs: list[Reference] = [parse_reference(name)] if name else []
    return store_image(store, stored, ImageConfig(cmd=("/bin/true",)), refs)
