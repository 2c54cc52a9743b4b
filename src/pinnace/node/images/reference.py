"""Image references, normalised as Docker does, and content digests.

``busybox`` means ``docker.io/library/busybox:latest``; ``localhost:5000/app``
means ``localhost:5000/app:latest``; ``name@sha256:…`` pins a digest. The first
path component is a registry host when it has a dot or a colon or is
``localhost`` (the rule of ``github.com/distribution/reference``); otherwise the
image lives on Docker Hub, and a single-component name there is under
``library/``. The store keys its reference index by :meth:`Reference.__str__`,
so every spelling of one image lands on one key.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
#: Where Docker Hub's registry API answers (``docker.io`` itself serves no /v2/).
DOCKER_HUB_API = "registry-1.docker.io"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_DOMAIN_RE = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9-]+)*(?::[0-9]+)?$"
    r"|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$"
)
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


class ReferenceError(ValueError):
    """A string that is not a valid image reference or digest."""


def sha256_digest(data: bytes) -> str:
    """The ``sha256:<hex>`` digest of some bytes (how blobs and manifests are named)."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: str) -> str:
    """``digest`` itself when it is a well-formed sha256 digest (the only algorithm the store keeps)."""
    if not _DIGEST_RE.match(digest):
        raise ReferenceError(f"invalid digest {digest!r} (want sha256:<64 hex digits>)")
    return digest


def is_digest(value: str) -> bool:
    """Whether ``value`` is a well-formed ``sha256:<hex>`` digest."""
    return bool(_DIGEST_RE.match(value))


@dataclass(frozen=True, slots=True)
class Reference:
    """A normalised image reference: registry domain, repository path, and a tag and/or digest."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """The repository's full name, ``domain/path``."""
        return f"{self.domain}/{self.path}"

    @property
    def api_host(self) -> str:
        """The host[:port] whose /v2/ API serves this repository."""
        return DOCKER_HUB_API if self.domain == DOCKER_HUB else self.domain

    def with_digest(self, digest: str) -> Reference:
        """The same repository pinned to ``digest`` (no tag): what the store records as a repo digest."""
        return Reference(self.domain, self.path, "", check_digest(digest))

    def familiar(self) -> str:
        """The short form Docker prints (``busybox:latest`` for ``docker.io/library/busybox:latest``)."""
        text = str(self)
        if self.domain == DOCKER_HUB:
            text = text[len(DOCKER_HUB) + 1 :]
            if text.startswith("library/") and "/" not in self.path[len("library/") :]:
                text = text[len("library/") :]
        return text

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise ``text``; with ``default_tag``, a reference with neither tag nor digest gets ``latest``."""
    if not text or text != text.strip():
        raise ReferenceError(f"invalid reference {text!r}")
    rest, _, digest = text.partition("@")
    if digest:
        check_digest(digest)
    tag = ""
    slash, colon = rest.rfind("/"), rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise ReferenceError(f"invalid tag {tag!r} in {text!r}")
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, remainder
        if not _DOMAIN_RE.match(domain):
            raise ReferenceError(f"invalid registry host {domain!r} in {text!r}")
    else:
        domain, path = DOCKER_HUB, rest
    if domain == "index.docker.io":
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not _PATH_RE.match(path):
        raise ReferenceError(f"invalid repository name {path!r} in {text!r} (lowercase letters, digits, . _ - /)")
    if not tag and not digest and default_tag:
        tag = "latest"
    return Reference(domain, path, tag, digest)
