"""Plugin manifests in krew's format, and choosing the platform this machine runs.

A manifest is a ``krew.googlecontainertools.github.com/v1alpha2`` ``Plugin``::

    metadata: {name: ns}
    spec:
      version: v0.1.0
      shortDescription: ...
      homepage: ...
      platforms:
      - selector: {matchLabels: {os: linux, arch: amd64}}
        uri: https://.../ns.tar.gz
        sha256: <64 hex digits>
        files: [{from: kubectl-ns, to: .}]
        bin: kubectl-ns

:func:`parse_manifest` validates everything an installer relies on (a bad
manifest is refused with every problem named, before anything is fetched);
:func:`select_platform` picks the first platform whose selector matches this
machine's ``os``/``arch`` labels (krew's names: linux/darwin/windows,
amd64/arm64/386/arm).
"""

from __future__ import annotations

import platform
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

__all__ = [
    "API_VERSION",
    "FileOperation",
    "ManifestError",
    "Platform",
    "Plugin",
    "current_labels",
    "load_manifest",
    "parse_manifest",
    "select_platform",
]

API_VERSION = "krew.googlecontainertools.github.com/v1alpha2"
KIND = "Plugin"

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_VERSION = re.compile(r"^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_OPERATORS = {"In", "NotIn", "Exists", "DoesNotExist"}


class ManifestError(ValueError):
    """A plugin manifest that cannot be installed from; the message names every problem."""


@dataclass(frozen=True, slots=True)
class FileOperation:
    """Copy ``from`` (a path or glob inside the unpacked archive) to ``to`` (relative to the install dir)."""

    from_: str
    to: str


@dataclass(frozen=True, slots=True)
class Platform:
    """One downloadable build of a plugin and the machines it runs on."""

    uri: str
    sha256: str
    bin: str
    files: tuple[FileOperation, ...] = ()
    match_labels: Mapping[str, str] = field(default_factory=dict)
    match_expressions: tuple[Mapping[str, Any], ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether this platform's selector selects a machine with ``labels``."""
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        for expr in self.match_expressions:
            key, op, values = str(expr["key"]), str(expr["operator"]), list(expr.get("values") or [])
            present = key in labels
            if (
                (op == "In" and labels.get(key) not in values)
                or (op == "NotIn" and present and labels[key] in values)
                or (op == "Exists" and not present)
                or (op == "DoesNotExist" and present)
            ):
                return False
        return True


@dataclass(frozen=True, slots=True)
class Plugin:
    """A validated plugin manifest (``raw`` keeps the document as written, for receipts)."""

    name: str
    version: str
    short_description: str
    platforms: tuple[Platform, ...]
    homepage: str = ""
    description: str = ""
    caveats: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)


def current_labels() -> dict[str, str]:
    """This machine's ``os`` and ``arch`` in krew's (Go's) names."""
    os_name = {"linux": "linux", "darwin": "darwin", "win32": "windows"}.get(sys.platform, sys.platform)
    machine = platform.machine().lower()
    arch = {
        "x86_64": "amd64",
        "amd64": "amd64",
        "aarch64": "arm64",
        "arm64": "arm64",
        "i386": "386",
        "i686": "386",
        "armv7l": "arm",
        "armv6l": "arm",
    }.get(machine, machine)
    return {"os": os_name, "arch": arch}


def select_platform(plugin: Plugin, labels: Mapping[str, str] | None = None) -> Platform:
    """The first platform of ``plugin`` that matches ``labels`` (default: this machine)."""
    wanted = current_labels() if labels is None else labels
    for candidate in plugin.platforms:
        if candidate.matches(wanted):
            return candidate
    shown = ", ".join(f"{k}={v}" for k, v in sorted(wanted.items()))
    raise ManifestError(f"plugin {plugin.name!r} {plugin.version} has no build for this platform ({shown})")


def load_manifest(path: Path) -> Plugin:
    """Read and validate the manifest in ``path``."""
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc}") from None
    return parse_manifest(doc, source=str(path))


def parse_manifest(doc: Any, *, source: str = "manifest") -> Plugin:
    """Validate a manifest document; ManifestError lists every problem found."""
    problems: list[str] = []
    if not isinstance(doc, dict):
        raise ManifestError(f"{source}: not a YAML mapping")
    if doc.get("apiVersion") != API_VERSION:
        problems.append(f"apiVersion must be {API_VERSION!r}, not {doc.get('apiVersion')!r}")
    if doc.get("kind") != KIND:
        problems.append(f"kind must be {KIND!r}, not {doc.get('kind')!r}")
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    name = str(metadata.get("name") or "")
    if not _NAME.match(name):
        problems.append(f"metadata.name {name!r} must be lower-case letters, digits and dashes")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        raise ManifestError(_message(source, [*problems, "spec is missing"]))
    version = str(spec.get("version") or "")
    if not _VERSION.match(version):
        problems.append(f"spec.version {version!r} must be a semantic version with a 'v' prefix, e.g. v1.2.3")
    short = spec.get("shortDescription")
    if not isinstance(short, str) or not short.strip():
        problems.append("spec.shortDescription is required")
    raw_platforms = spec.get("platforms")
    platforms: list[Platform] = []
    if not isinstance(raw_platforms, list) or not raw_platforms:
        problems.append("spec.platforms must list at least one platform")
    else:
        for i, item in enumerate(raw_platforms):
            found = _platform(item, f"spec.platforms[{i}]", problems)
            if found is not None:
                platforms.append(found)
    if problems:
        raise ManifestError(_message(source, problems))
    return Plugin(
        name=name,
        version=version,
        short_description=str(short).strip(),
        platforms=tuple(platforms),
        homepage=str(spec.get("homepage") or ""),
        description=str(spec.get("description") or ""),
        caveats=str(spec.get("caveats") or ""),
        raw=doc,
    )


def _message(source: str, problems: list[str]) -> str:
    return f"invalid plugin manifest {source}:\n" + "\n".join(f"  - {p}" for p in problems)


def _relative_ok(value: str) -> bool:
    path = PurePosixPath(value.replace("\\", "/"))
    return bool(value) and not path.is_absolute() and ".." not in path.parts


def _platform(item: Any, where: str, problems: list[str]) -> Platform | None:
    if not isinstance(item, dict):
        problems.append(f"{where} must be a mapping")
        return None
    before = len(problems)
    uri, sha, bin_ = str(item.get("uri") or ""), str(item.get("sha256") or ""), str(item.get("bin") or "")
    if not uri:
        problems.append(f"{where}.uri is required")
    if not _SHA256.match(sha):
        problems.append(f"{where}.sha256 must be 64 lower-case hex digits")
    if not _relative_ok(bin_):
        problems.append(f"{where}.bin {bin_!r} must be a relative path inside the plugin's directory")
    files: list[FileOperation] = []
    for j, op in enumerate(item.get("files") or []):
        src, dst = (str(op.get("from") or ""), str(op.get("to") or ".")) if isinstance(op, dict) else ("", "")
        if not _relative_ok(src) or not (dst == "." or _relative_ok(dst)):
            problems.append(f"{where}.files[{j}] needs 'from' and 'to' paths inside the plugin (no '..', not absolute)")
        files.append(FileOperation(src, dst))
    selector = item.get("selector") or {}
    labels = selector.get("matchLabels") or {} if isinstance(selector, dict) else None
    exprs = selector.get("matchExpressions") or [] if isinstance(selector, dict) else None
    if not isinstance(labels, dict) or not isinstance(exprs, list):
        problems.append(f"{where}.selector must have matchLabels (a mapping) and/or matchExpressions (a list)")
        return None
    for k, expr in enumerate(exprs):
        if not isinstance(expr, dict) or not expr.get("key") or expr.get("operator") not in _OPERATORS:
            ops = ", ".join(sorted(_OPERATORS))
            problems.append(f"{where}.selector.matchExpressions[{k}] needs a key and an operator ({ops})")
    if len(problems) > before:
        return None
    return Platform(
        uri=uri,
        sha256=sha,
        bin=bin_,
        files=tuple(files),
        match_labels={str(k): str(v) for k, v in labels.items()},
        match_expressions=tuple(exprs),
    )
