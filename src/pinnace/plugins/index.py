"""Plugin indexes: where manifests are found.

An index is a directory with ``plugins/<name>.yaml`` manifests (krew's
layout). It is added under the install root's ``index/<name>`` either as a
**git clone** (a URL, or a local directory holding a git repository —
``update`` then fetches and resets to the upstream branch with the ``git``
command) or as a **link to a plain directory** (read live; ``update`` has
nothing to do). Plugins are named ``NAME`` (the first index that has it, the
index called ``default`` first) or ``INDEX/NAME``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pinnace.plugins.manifest import ManifestError, Plugin, load_manifest
from pinnace.plugins.root import PluginRoot

__all__ = [
    "DEFAULT_INDEX",
    "IndexEntry",
    "PluginIndexError",
    "add",
    "find",
    "list_indexes",
    "plugins",
    "remove",
    "update",
]

DEFAULT_INDEX = "default"
_INDEX_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class PluginIndexError(Exception):
    """An index that cannot be added, read or updated, or a plugin no index has."""


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One configured index: its name, where it comes from, and whether it is a git clone."""

    name: str
    source: str
    git: bool
    path: Path


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=300)
    except FileNotFoundError:
        raise PluginIndexError("the git command is needed for git indexes, and it is not on PATH") from None
    if done.returncode != 0:
        raise PluginIndexError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def _local_path(source: str) -> Path | None:
    """The directory a path or ``file://`` URL names, if it is one."""
    if source.startswith("file://"):
        source = urllib.request.url2pathname(urllib.parse.urlparse(source).path)
    path = Path(source).expanduser()
    return path.absolute() if path.is_dir() else None


def add(root: PluginRoot, name: str, source: str) -> IndexEntry:
    """Add an index: clone ``source`` with git, or link it if it is a plain directory."""
    if not _INDEX_NAME.match(name):
        raise PluginIndexError(f"index name {name!r} must be letters, digits, '.', '_' or '-'")
    root.ensure()
    dest = root.indexes / name
    if dest.exists() or dest.is_symlink():
        raise PluginIndexError(f"an index named {name!r} already exists (remove it first)")
    local = _local_path(source)
    if local is not None and not (local / ".git").exists():
        dest.symlink_to(local, target_is_directory=True)
    else:
        _git("clone", "--quiet", str(local) if local is not None else source, str(dest))
    if not (dest / "plugins").is_dir():
        entry = _entry(dest)
        _remove_path(dest)
        raise PluginIndexError(f"{entry.source} is not a plugin index: it has no plugins/ directory")
    return _entry(dest)


def remove(root: PluginRoot, name: str) -> None:
    """Forget an index (installed plugins stay installed)."""
    dest = root.indexes / name
    if not (dest.exists() or dest.is_symlink()):
        raise PluginIndexError(f"there is no index named {name!r}")
    _remove_path(dest)


def _remove_path(path: Path) -> None:
    if path.is_symlink():
        path.unlink()
    else:
        shutil.rmtree(path)


def _entry(path: Path) -> IndexEntry:
    if path.is_symlink():
        return IndexEntry(path.name, str(path.readlink()), False, path)
    try:
        source = _git("-C", str(path), "remote", "get-url", "origin")
    except PluginIndexError:
        source = str(path)
    return IndexEntry(path.name, source, True, path)


def list_indexes(root: PluginRoot) -> list[IndexEntry]:
    """Every configured index, ``default`` first, then by name."""
    if not root.indexes.is_dir():
        return []
    paths = [p for p in root.indexes.iterdir() if not p.name.startswith(".") and (p.is_dir() or p.is_symlink())]
    paths.sort(key=lambda p: (p.name != DEFAULT_INDEX, p.name))
    return [_entry(p) for p in paths]


def update(root: PluginRoot) -> list[tuple[IndexEntry, str]]:
    """Bring every git index up to date; returns each index and what happened to it."""
    done: list[tuple[IndexEntry, str]] = []
    for entry in list_indexes(root):
        if not entry.git:
            done.append((entry, "plain directory, read as it is"))
            continue
        before = _git("-C", str(entry.path), "rev-parse", "HEAD")
        _git("-C", str(entry.path), "fetch", "--quiet", "origin")
        _git("-C", str(entry.path), "reset", "--quiet", "--hard", "@{upstream}")
        after = _git("-C", str(entry.path), "rev-parse", "HEAD")
        done.append((entry, "up to date" if before == after else f"updated {before[:8]}..{after[:8]}"))
    return done


def plugins(root: PluginRoot, index: str | None = None) -> Iterator[tuple[str, Plugin]]:
    """Every valid manifest, with its index name; invalid ones are reported on stderr and skipped."""
    for entry in list_indexes(root):
        if index is not None and entry.name != index:
            continue
        for path in sorted((entry.path / "plugins").glob("*.yaml")):
            try:
                plugin = load_manifest(path)
            except ManifestError as exc:
                print(f"warning: skipping {exc}", file=sys.stderr)
                continue
            if plugin.name != path.stem:
                print(f"warning: skipping {path}: it names plugin {plugin.name!r}", file=sys.stderr)
                continue
            yield entry.name, plugin


def find(root: PluginRoot, ref: str) -> tuple[str, Plugin]:
    """The plugin ``NAME`` or ``INDEX/NAME`` names, with its index."""
    index, _, name = ref.rpartition("/")
    if not list_indexes(root):
        raise PluginIndexError("no plugin index is configured; add one with `index add NAME URL-OR-DIR`")
    for found_index, plugin in plugins(root, index or None):
        if plugin.name == name:
            return found_index, plugin
    where = f"index {index!r}" if index else "any index"
    raise PluginIndexError(f"plugin {name!r} is not in {where} (try `search`, or `update` the indexes)")
