"""The install root: where plugins, their receipts and the indexes live.

Like ``KREW_ROOT``, ``PINNACE_PLUGIN_ROOT`` overrides the default
``~/.pinnace/plugins``. Inside it::

    bin/kubectl-<name>            a symlink into the store; put bin/ on PATH
    store/<name>/<version>/       one installed version, unpacked
    receipts/<name>.yaml          the manifest it was installed from, and its index
    index/<index>/plugins/*.yaml  an index: a git clone, or a link to a plain directory

Receipts and links are replaced with ``os.replace`` so a reader never sees half of one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pinnace.plugins.manifest import ManifestError, Plugin, parse_manifest

__all__ = ["ROOT_ENV", "PluginRoot", "Receipt", "default_root"]

ROOT_ENV = "PINNACE_PLUGIN_ROOT"


def default_root(environ: Mapping[str, str] | None = None) -> Path:
    """``$PINNACE_PLUGIN_ROOT``, else ``~/.pinnace/plugins``."""
    env = os.environ if environ is None else environ
    if env.get(ROOT_ENV):
        return Path(env[ROOT_ENV]).expanduser().absolute()
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".pinnace" / "plugins"


@dataclass(frozen=True, slots=True)
class Receipt:
    """An installed plugin: the manifest it came from and the index that served it ("" for a local file)."""

    plugin: Plugin
    index: str


@dataclass(frozen=True, slots=True)
class PluginRoot:
    """Paths inside one install root, and reading and writing its receipts."""

    path: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PluginRoot:
        """The root ``PINNACE_PLUGIN_ROOT`` or the default names."""
        return cls(default_root(environ))

    @property
    def bin(self) -> Path:
        """The directory users put on PATH."""
        return self.path / "bin"

    @property
    def store(self) -> Path:
        """Unpacked plugin versions."""
        return self.path / "store"

    @property
    def receipts(self) -> Path:
        """One receipt per installed plugin."""
        return self.path / "receipts"

    @property
    def indexes(self) -> Path:
        """One directory (or link) per index."""
        return self.path / "index"

    def ensure(self) -> None:
        """Create the layout's directories."""
        for d in (self.bin, self.store, self.receipts, self.indexes):
            d.mkdir(parents=True, exist_ok=True)

    def version_dir(self, name: str, version: str) -> Path:
        """Where one version of a plugin is unpacked."""
        return self.store / name / version

    def receipt_path(self, name: str) -> Path:
        """Where the receipt of ``name`` is kept."""
        return self.receipts / f"{name}.yaml"

    def read_receipt(self, name: str) -> Receipt | None:
        """The receipt of an installed plugin, or None if it is not installed."""
        path = self.receipt_path(name)
        try:
            doc = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, yaml.YAMLError) as exc:
            raise ManifestError(f"cannot read receipt {path}: {exc}") from None
        status: Any = (doc or {}).get("status") or {}
        index = str(((status.get("source") or {}).get("name")) or "")
        body = {k: v for k, v in (doc or {}).items() if k != "status"}
        return Receipt(parse_manifest(body, source=str(path)), index)

    def write_receipt(self, receipt: Receipt) -> None:
        """Record an installed plugin (atomically)."""
        doc = {**receipt.plugin.raw, "status": {"source": {"name": receipt.index}}}
        _atomic_write(self.receipt_path(receipt.plugin.name), yaml.safe_dump(doc, sort_keys=False))

    def installed(self) -> list[Receipt]:
        """Every installed plugin, by name."""
        if not self.receipts.is_dir():
            return []
        found = (self.read_receipt(p.stem) for p in sorted(self.receipts.glob("*.yaml")))
        return [r for r in found if r is not None]


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
