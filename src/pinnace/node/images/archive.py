"""``pinnace image import``: images from an OCI image layout (a directory or a tar of one) or a ``docker save`` tar.

An OCI layout has ``oci-layout``, ``index.json`` and ``blobs/sha256/…``; its
index entries name images through the ``io.containerd.image.name`` annotation
(a full reference) or ``org.opencontainers.image.ref.name`` (a full reference,
or a bare tag). A ``docker save`` tar has ``manifest.json``
(``[{"Config": …, "RepoTags": […], "Layers": […]}]``) with the config and layer
tars as files; we write a Docker schema2 manifest for each image. Docker 25+
writes both; the OCI index wins. Every blob is verified against its digest as
it is copied into the store.
"""

from __future__ import annotations

import contextlib
import gzip
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from pinnace.node.images.manifest import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    INDEX_TYPES,
    Descriptor,
    ManifestError,
    build_manifest,
    media_type_of,
    parse_index,
    parse_manifest,
    select_platform,
)
from pinnace.node.images.reference import Reference, ReferenceError, check_digest, parse_reference, sha256_digest
from pinnace.node.images.store import ImageStore
from pinnace.node.images.unpack import unpack_if_root

NAME_ANNOTATION = "io.containerd.image.name"
REF_ANNOTATION = "org.opencontainers.image.ref.name"


class ArchiveError(ValueError):
    """Not an OCI layout nor a docker save archive, or an incomplete one."""


class _Source:
    """Files of a directory or a tar, by relative path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tar: tarfile.TarFile | None = None
        self.members: dict[str, tarfile.TarInfo] = {}
        if path.is_file():
            try:
                self.tar = tarfile.open(path)  # noqa: SIM115 - closed by close(), after the import
            except tarfile.TarError as exc:
                raise ArchiveError(f"{path} is neither a directory nor a tar: {exc}") from None
            self.members = {m.name.removeprefix("./"): m for m in self.tar.getmembers() if m.isreg()}
        elif not path.is_dir():
            raise ArchiveError(f"{path} does not exist")

    def exists(self, name: str) -> bool:
        return name in self.members if self.tar else (self.path / name).is_file()

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        if self.tar is None:
            try:
                with (self.path / name).open("rb") as f:
                    yield f
            except FileNotFoundError:
                raise ArchiveError(f"{name} is missing from {self.path}") from None
            return
        member = self.members.get(name)
        stream = self.tar.extractfile(member) if member else None
        if stream is None:
            raise ArchiveError(f"{name} is missing from {self.path}")
        with stream:
            yield stream

    def read(self, name: str) -> bytes:
        with self.open(name) as f:
            return f.read()

    def close(self) -> None:
        if self.tar:
            self.tar.close()


def _blob(store: ImageStore, source: _Source, digest: str) -> None:
    if not store.has_blob(digest):
        with source.open("blobs/sha256/" + check_digest(digest).removeprefix("sha256:")) as f:
            store.ingest(f, digest)


def _names(annotations: dict[str, Any]) -> list[Reference]:
    for key in (NAME_ANNOTATION, REF_ANNOTATION):
        value = annotations.get(key)
        if value:
            with contextlib.suppress(ReferenceError):
                ref = parse_reference(str(value))
                # A bare tag ("latest") parses as docker.io/library/latest: it names no repository.
                if key == NAME_ANNOTATION or "/" in str(value) or ":" in str(value):
                    return [ref]
    return []


def _import_oci(store: ImageStore, source: _Source) -> list[tuple[str, list[Reference]]]:
    imported = []
    for entry in parse_index(source.read("index.json")):
        _blob(store, source, entry.digest)
        body = store.read_blob(entry.digest)
        extra: list[str] = []
        manifest_digest = entry.digest
        if media_type_of(body, entry.media_type) in INDEX_TYPES:
            extra.append(entry.digest)
            manifest_digest = select_platform(parse_index(body)).digest
            _blob(store, source, manifest_digest)
        manifest = parse_manifest(store.read_blob(manifest_digest))
        for descriptor in (manifest.config, *manifest.layers):
            _blob(store, source, descriptor.digest)
        refs = _names(dict(entry.annotations))
        image_id = store.add_image(manifest_digest, [*refs, *(r.with_digest(entry.digest) for r in refs)], extra)
        imported.append((image_id, refs))
    return imported


def _import_docker(store: ImageStore, source: _Source) -> list[tuple[str, list[Reference]]]:
    imported = []
    entries = orjson.loads(source.read("manifest.json"))
    if not isinstance(entries, list):
        raise ArchiveError("manifest.json is not a list")
    for entry in entries:
        config = source.read(entry["Config"])
        config_digest = store.write_blob(config)
        layers = []
        for name in entry.get("Layers") or []:
            with source.open(name) as f:
                compressed = f.read(2) == b"\x1f\x8b"
            with source.open(name) as f:
                digest = store.ingest(f)
            media_type = DOCKER_LAYER_GZIP if compressed else DOCKER_LAYER
            layers.append(Descriptor(media_type, digest, store.blob_path(digest).stat().st_size))
        manifest = build_manifest(Descriptor(DOCKER_CONFIG, config_digest, len(config)), layers, DOCKER_MANIFEST)
        refs = [parse_reference(tag) for tag in entry.get("RepoTags") or []]
        imported.append((store.add_image(store.write_blob(manifest), refs), refs))
    return imported


def import_archive(store: ImageStore, path: Path, references: Sequence[Reference] = ()) -> list[str]:
    """Import every image of an archive; their IDs. ``references`` tag the (single) image imported."""
    source = _Source(path)
    try:
        if source.exists("index.json"):
            imported = _import_oci(store, source)
        elif source.exists("manifest.json"):
            imported = _import_docker(store, source)
        else:
            raise ArchiveError(f"{path}: no index.json (OCI layout) or manifest.json (docker save)")
    except (ManifestError, KeyError, orjson.JSONDecodeError, gzip.BadGzipFile) as exc:
        raise ArchiveError(f"{path}: {exc}") from None
    finally:
        source.close()
    if references:
        if len(imported) != 1:
            raise ArchiveError(f"{path} holds {len(imported)} images; a tag can name only one")
        for ref in references:
            store.tag(imported[0][0], ref)
    for image_id, _ in imported:
        unpack_if_root(store, image_id)
    return [image_id for image_id, _ in imported]


def export_oci_layout(store: ImageStore, image: str, target: Path, name: Reference | None = None) -> None:
    """Write one stored image as an OCI layout directory (what ``import`` reads; handy for tests and moves)."""
    record = store.require(image)
    body = store.read_blob(record.manifest)
    manifest = parse_manifest(body)
    blobs = target / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for digest in (record.manifest, manifest.config.digest, *(layer.digest for layer in manifest.layers)):
        (blobs / digest.removeprefix("sha256:")).write_bytes(store.read_blob(digest))
    annotations = {NAME_ANNOTATION: str(name), REF_ANNOTATION: name.tag} if name and name.tag else {}
    entry = Descriptor(manifest.media_type, sha256_digest(body), len(body), annotations=annotations)
    (target / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.0.0"}')
    (target / "index.json").write_bytes(
        orjson.dumps(
            {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [entry.to_json()]}
        )
    )
