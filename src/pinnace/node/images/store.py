"""The node's content-addressed image store: blobs by digest, and an index of images and references.

Layout under the root (``<data-dir>/images`` by default)::

    blobs/sha256/<hex>    manifests, indexes, configs and layers, named by their sha256
    images.json           {"images": {<image ID>: record}, "refs": {<reference>: <image ID>}}
    rootfs/<hex>/         unpacked, read-only root filesystems (see :mod:`.unpack`)
    tmp/                  blobs being written (verified, then renamed into blobs/)
    lock                  flock'd around every change of images.json, so the CLI and the agent can share a root

An image's ID is its config's digest (as Docker and the CRI report it). A
record lists every blob the image needs (the index it came through, its
manifest, config and layers); a blob is deleted when the last image listing it
goes — a reference count computed from the records, so it cannot drift. The
reference index maps tags (``docker.io/library/busybox:latest``) and repo
digests (``docker.io/library/busybox@sha256:…``) to image IDs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from pinnace.node.cri import CRIError, ImageInfo, NotFoundError
from pinnace.node.images.manifest import parse_manifest
from pinnace.node.images.reference import Reference, ReferenceError, check_digest, is_digest, parse_reference

_CHUNK = 1 << 20


class DigestMismatch(ValueError):
    """Content whose sha256 is not the digest it was announced under."""


class ImageInUseError(CRIError):
    """The image's rootfs is the lower layer of a mounted overlay: a container runs from it."""


def _mounted_over(path: Path) -> bool:
    """Whether ``path`` is a lower directory of an overlay mounted in this mount namespace."""
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return False
    needle = str(path)
    return any(" - overlay " in line and needle in line for line in mountinfo.splitlines())


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """What the store knows of one image."""

    id: str
    #: Digest of the platform manifest (config + layers).
    manifest: str
    #: Layer digests, bottom first.
    layers: tuple[str, ...]
    #: Every blob the image holds on to (index, manifest, config, layers).
    blobs: tuple[str, ...]
    size: int
    created: float
    last_used: float
    repo_tags: tuple[str, ...] = field(default=())
    repo_digests: tuple[str, ...] = field(default=())


class BlobWriter:
    """A blob being written: chunks go to a temp file and are hashed; :meth:`commit` verifies and renames."""

    def __init__(self, store: ImageStore, expected: str | None) -> None:
        self._store = store
        self._expected = check_digest(expected) if expected else None
        fd, name = tempfile.mkstemp(dir=store.root / "tmp", prefix="blob-")
        self._file: IO[bytes] = os.fdopen(fd, "wb")
        self._tmp = Path(name)
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes, /) -> int:
        """Append a chunk."""
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)
        return len(chunk)

    def flush(self) -> None:
        """Flush to the temp file (for writers such as GzipFile that wrap this one)."""
        self._file.flush()

    def commit(self) -> str:
        """Verify the digest and move the blob into place; its digest."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        digest = "sha256:" + self._hash.hexdigest()
        if self._expected and digest != self._expected:
            self._tmp.unlink(missing_ok=True)
            raise DigestMismatch(f"digest mismatch: expected {self._expected}, got {digest} ({self.size} bytes)")
        os.chmod(self._tmp, 0o444)
        os.replace(self._tmp, self._store.blob_path(digest))
        return digest

    def abort(self) -> None:
        """Drop what was written."""
        if not self._file.closed:
            self._file.close()
        self._tmp.unlink(missing_ok=True)


class ImageStore:
    """Blobs by digest, image records and references under one root directory (synchronous, thread-safe via flock)."""

    def __init__(self, root: Path | str, clock: Callable[[], float] = time.time) -> None:
        self.root = Path(root)
        self._clock = clock
        for sub in ("blobs/sha256", "rootfs", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # -- blobs ---------------------------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        """Where a blob lives (whether or not it is there)."""
        return self.root / "blobs" / "sha256" / check_digest(digest).removeprefix("sha256:")

    def has_blob(self, digest: str) -> bool:
        """Whether the blob is present."""
        return self.blob_path(digest).is_file()

    def read_blob(self, digest: str) -> bytes:
        """A blob's bytes (manifests and configs; open layers with :meth:`open_blob`)."""
        try:
            return self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"blob {digest} is not in the store") from None

    def open_blob(self, digest: str) -> IO[bytes]:
        """A blob opened for reading."""
        try:
            return self.blob_path(digest).open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"blob {digest} is not in the store") from None

    def blob_writer(self, expected: str | None = None) -> BlobWriter:
        """Start writing a blob (verified against ``expected`` on commit, when given)."""
        return BlobWriter(self, expected)

    def write_blob(self, data: bytes, expected: str | None = None) -> str:
        """Store bytes as a blob; its digest. A no-op when it is already there."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if expected and check_digest(expected) != digest:
            raise DigestMismatch(f"digest mismatch: expected {expected}, got {digest} ({len(data)} bytes)")
        if not self.has_blob(digest):
            writer = self.blob_writer(digest)
            writer.write(data)
            writer.commit()
        return digest

    def ingest(self, source: IO[bytes], expected: str | None = None) -> str:
        """Store a stream as a blob, hashing as it goes; its digest."""
        writer = self.blob_writer(expected)
        try:
            while chunk := source.read(_CHUNK):
                writer.write(chunk)
            return writer.commit()
        except BaseException:
            writer.abort()
            raise

    # -- the index -----------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """The index, read under the store's lock; written back (atomically) when the block ends without error."""
        with open(self.root / "lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            index = self._read_index()
            before = orjson.dumps(index)
            yield index
            if orjson.dumps(index) != before:
                tmp = self.root / "tmp" / f"images.json.{os.getpid()}"
                tmp.write_bytes(orjson.dumps(index, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
                os.replace(tmp, self.root / "images.json")

    def _read_index(self) -> dict[str, Any]:
        try:
            index: dict[str, Any] = orjson.loads((self.root / "images.json").read_bytes())
        except FileNotFoundError:
            index = {}
        index.setdefault("images", {})
        index.setdefault("refs", {})
        return index

    @staticmethod
    def _record(image_id: str, raw: dict[str, Any], refs: dict[str, str]) -> ImageRecord:
        mine = sorted(ref for ref, target in refs.items() if target == image_id)
        return ImageRecord(
            id=image_id,
            manifest=raw["manifest"],
            layers=tuple(raw["layers"]),
            blobs=tuple(raw["blobs"]),
            size=int(raw["size"]),
            created=float(raw["created"]),
            last_used=float(raw["last_used"]),
            repo_tags=tuple(ref for ref in mine if "@" not in ref),
            repo_digests=tuple(ref for ref in mine if "@" in ref),
        )

    def add_image(self, manifest_digest: str, references: Iterable[Reference], extra_blobs: Iterable[str] = ()) -> str:
        """Record the image whose manifest (and its blobs) is in the store, under ``references``; its ID.

        A tag that pointed at another image moves to this one (that image stays, untagged,
        until it is removed or collected, as with Docker's dangling images).
        """
        manifest = parse_manifest(self.read_blob(manifest_digest))
        blobs = [*extra_blobs, manifest_digest, manifest.config.digest, *(layer.digest for layer in manifest.layers)]
        missing = [digest for digest in blobs if not self.has_blob(digest)]
        if missing:
            raise NotFoundError(f"image {manifest_digest} is incomplete: blobs {', '.join(missing)} are missing")
        image_id = manifest.config.digest
        size = sum(self.blob_path(digest).stat().st_size for digest in dict.fromkeys(blobs))
        now = self._clock()
        with self._locked() as index:
            raw = index["images"].get(image_id)
            if raw is None:
                raw = {"manifest": manifest_digest, "created": now, "last_used": now, "blobs": [], "size": 0}
            raw["layers"] = [layer.digest for layer in manifest.layers]
            raw["manifest"] = manifest_digest
            raw["blobs"] = list(dict.fromkeys([*raw["blobs"], *blobs]))
            raw["size"] = max(int(raw["size"]), size)
            index["images"][image_id] = raw
            for ref in references:
                index["refs"][str(ref)] = image_id
        return image_id

    def resolve(self, text: str) -> ImageRecord | None:
        """The image a reference, an image ID or an unambiguous ID prefix (≥ 4 hex digits) names; None if none."""
        index = self._read_index()
        images, refs = index["images"], index["refs"]
        image_id = self._find(text, images, refs)
        return None if image_id is None else self._record(image_id, images[image_id], refs)

    @staticmethod
    def _find(text: str, images: dict[str, Any], refs: dict[str, str]) -> str | None:
        if is_digest(text):
            return text if text in images else None
        hex_part = text.removeprefix("sha256:")
        if len(hex_part) >= 4 and all(c in "0123456789abcdef" for c in hex_part):
            matches = [image_id for image_id in images if image_id.removeprefix("sha256:").startswith(hex_part)]
            if len(matches) == 1:
                return matches[0]
        try:
            ref = parse_reference(text)
        except ReferenceError:
            return None
        return refs.get(str(ref))

    def require(self, text: str) -> ImageRecord:
        """Like :meth:`resolve`, but a missing image raises :class:`NotFoundError`."""
        record = self.resolve(text)
        if record is None:
            raise NotFoundError(f"image {text!r} is not present")
        return record

    def images(self) -> list[ImageRecord]:
        """Every image, oldest first."""
        index = self._read_index()
        records = [self._record(image_id, raw, index["refs"]) for image_id, raw in index["images"].items()]
        return sorted(records, key=lambda r: (r.created, r.id))

    def tag(self, image_id: str, reference: Reference) -> None:
        """Point ``reference`` at an image that is present."""
        with self._locked() as index:
            if image_id not in index["images"]:
                raise NotFoundError(f"image {image_id} is not present")
            index["refs"][str(reference)] = image_id

    def untag(self, text: str) -> ImageRecord:
        """Drop one reference (Docker's ``rmi name:tag``); the image itself goes with its last reference.

        Given an image ID rather than a reference, the image goes with all its references.
        """
        with self._locked() as index:
            images, refs = index["images"], index["refs"]
            key = ""
            with contextlib.suppress(ReferenceError):
                key = str(parse_reference(text))
            if key in refs:
                image_id = refs[key]
                record = self._record(image_id, images[image_id], refs)
                del refs[key]
                # The repo digests go with the image's last tag.
                if any(target == image_id and "@" not in ref for ref, target in refs.items()):
                    return record
            else:
                found = self._find(text, images, refs)
                if found is None:
                    raise NotFoundError(f"image {text!r} is not present")
                image_id = found
                record = self._record(image_id, images[image_id], refs)
        self.remove(image_id)
        return record

    def remove(self, image_id: str) -> None:
        """Remove an image, every reference to it, its unpacked rootfs and the blobs no other image needs.

        Refused (:class:`ImageInUseError`) while a container's overlay uses the image's rootfs.
        """
        rootfs = self.root / "rootfs" / image_id.removeprefix("sha256:")
        if _mounted_over(rootfs):
            raise ImageInUseError(f"image {image_id} is in use by a container (its rootfs is mounted): stop it first")
        with self._locked() as index:
            raw = index["images"].pop(image_id, None)
            if raw is None:
                raise NotFoundError(f"image {image_id} is not present")
            for ref in [ref for ref, target in index["refs"].items() if target == image_id]:
                del index["refs"][ref]
            still_needed = {digest for other in index["images"].values() for digest in other["blobs"]}
            for digest in raw["blobs"]:
                if digest not in still_needed:
                    self.blob_path(digest).unlink(missing_ok=True)
            if rootfs.exists():
                shutil.rmtree(rootfs)

    def touch(self, image_id: str, when: float | None = None) -> None:
        """Record that the image was used now (the image garbage collector removes the least recently used)."""
        with self._locked() as index:
            raw = index["images"].get(image_id)
            if raw is not None:
                raw["last_used"] = self._clock() if when is None else when

    def refcount(self, digest: str) -> int:
        """How many images hold on to a blob."""
        return sum(digest in raw["blobs"] for raw in self._read_index()["images"].values())

    def info(self, record: ImageRecord) -> ImageInfo:
        """The record as the CRI reports an image."""
        return ImageInfo(id=record.id, repo_tags=record.repo_tags, repo_digests=record.repo_digests, size=record.size)

    def config(self, image_id: str) -> dict[str, Any]:
        """The image's config document (architecture, os, config.Env/Entrypoint/Cmd…, rootfs.diff_ids, history)."""
        doc: dict[str, Any] = orjson.loads(self.read_blob(self.require(image_id).id))
        return doc

    def record_dict(self, record: ImageRecord) -> dict[str, Any]:
        """A record as plain data (``pinnace image inspect``)."""
        return asdict(record)
