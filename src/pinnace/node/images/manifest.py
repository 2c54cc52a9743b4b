"""Manifest, index and config documents: OCI image-spec and Docker schema2, both accepted.

A registry or an archive hands us one of four documents: an OCI image index or a
Docker manifest list (several platforms), or an OCI image manifest or a Docker
schema2 manifest (one image: a config blob and layer blobs). They have the same
shape; only the media types differ, so one parser reads both families and the
store keeps the original bytes (their digest is the image's identity).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from pinnace.api.buildinfo import architecture
from pinnace.node.images.reference import check_digest

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
#: What a pull asks the registry for, most specific first (as containerd sends it).
ACCEPT = ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST])


class ManifestError(ValueError):
    """A document that is not a manifest, index or config we can use."""


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A pointer to content: its media type, digest and size (plus platform for index entries)."""

    media_type: str
    digest: str
    size: int
    platform: Mapping[str, Any] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The descriptor as it appears in a manifest."""
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.platform:
            out["platform"] = dict(self.platform)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True, slots=True)
class Manifest:
    """One image's manifest: its config and its layers, bottom first."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


def host_platform() -> tuple[str, str]:
    """This machine's (os, architecture) in OCI terms, e.g. ("linux", "amd64")."""
    return "linux", architecture()


def _descriptor(raw: Any, what: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise ManifestError(f"{what} is not an object")
    try:
        return Descriptor(
            media_type=str(raw.get("mediaType", "")),
            digest=check_digest(str(raw["digest"])),
            size=int(raw["size"]),
            platform=raw.get("platform") or {},
            annotations=raw.get("annotations") or {},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ManifestError(f"{what}: {exc}") from None


def _load(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ManifestError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ManifestError("not a JSON object")
    return doc


def media_type_of(body: bytes, declared: str = "") -> str:
    """The document's media type: its own mediaType field, else the declared Content-Type, else guessed."""
    doc = _load(body)
    media_type = str(doc.get("mediaType") or "")
    if media_type:
        return media_type
    if declared.split(";")[0].strip() in INDEX_TYPES | MANIFEST_TYPES:
        return declared.split(";")[0].strip()
    if "manifests" in doc:
        return OCI_INDEX
    if "config" in doc and "layers" in doc:
        return OCI_MANIFEST
    if doc.get("schemaVersion") == 1:
        raise ManifestError("Docker schema1 manifests are not supported (deprecated since 2017)")
    raise ManifestError("neither a manifest nor an index")


def parse_index(body: bytes) -> list[Descriptor]:
    """The entries of an OCI index or Docker manifest list."""
    doc = _load(body)
    entries = doc.get("manifests")
    if not isinstance(entries, list):
        raise ManifestError("index without a manifests list")
    return [_descriptor(entry, f"manifests[{i}]") for i, entry in enumerate(entries)]


def parse_manifest(body: bytes, declared: str = "") -> Manifest:
    """An image manifest's config and layers."""
    doc = _load(body)
    media_type = media_type_of(body, declared)
    if media_type not in MANIFEST_TYPES:
        raise ManifestError(f"not an image manifest: {media_type}")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise ManifestError("manifest without a layers list")
    return Manifest(
        media_type=media_type,
        config=_descriptor(doc.get("config"), "config"),
        layers=tuple(_descriptor(layer, f"layers[{i}]") for i, layer in enumerate(layers)),
    )


def select_platform(entries: Sequence[Descriptor], os_arch: tuple[str, str] | None = None) -> Descriptor:
    """The index entry for this host's platform (linux/amd64 on a PC), as containerd's default matcher picks it."""
    want_os, want_arch = os_arch or host_platform()
    for entry in entries:
        plat = entry.platform
        if plat.get("os") == want_os and plat.get("architecture") == want_arch:
            return entry
    offered = ", ".join(f"{e.platform.get('os')}/{e.platform.get('architecture')}" for e in entries) or "none"
    raise ManifestError(f"no manifest for {want_os}/{want_arch} in the index (it has {offered})")


def encode(doc: Mapping[str, Any]) -> bytes:
    """Canonical-enough JSON bytes for a document we write (sorted keys, so builds are reproducible)."""
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def build_manifest(config: Descriptor, layers: Sequence[Descriptor], media_type: str = OCI_MANIFEST) -> bytes:
    """An image manifest document for a config and layers."""
    return encode(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": config.to_json(),
            "layers": [layer.to_json() for layer in layers],
        }
    )
