"""Installing, upgrading and removing plugins — atomically.

An install or upgrade builds the new version completely in a temporary
directory beside the store (download → sha256 check → unpack → ``files``
copies → the ``bin`` is there and executable), moves it into
``store/<name>/<version>/`` with one rename, then switches
``bin/kubectl-<name>`` to it with ``os.replace`` and writes the receipt. Until
that switch the old version is what runs; if anything fails or the process dies
before it, the temporary directory is all that is left over (and is removed on
failure). The old version's directory goes only after the switch.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pinnace.plugins import archive
from pinnace.plugins.manifest import Platform, Plugin, select_platform
from pinnace.plugins.root import PluginRoot, Receipt

__all__ = ["InstallError", "Installed", "bin_name", "install", "uninstall", "upgrade"]


class InstallError(Exception):
    """An install, upgrade or uninstall that could not be done; nothing was changed."""


@dataclass(frozen=True, slots=True)
class Installed:
    """What an install or upgrade did: the plugin, the version it replaced ("" if none), and its link."""

    plugin: Plugin
    previous: str
    link: Path


def bin_name(plugin_name: str) -> str:
    """The executable kubectl runs for ``kubectl <name>``: dashes become underscores, as krew links them.

    (``kubectl-get-all`` would be ``kubectl get all`` — the built-in get; ``kubectl-get_all`` is ``kubectl get-all``.)
    """
    return "kubectl-" + plugin_name.replace("-", "_")


def install(
    root: PluginRoot, plugin: Plugin, *, index: str = "", archive_file: Path | None = None, force: bool = False
) -> Installed:
    """Install ``plugin`` (from its platform's URI, or ``archive_file``); refuses one already installed."""
    current = root.read_receipt(plugin.name)
    if current is not None and not force:
        raise InstallError(
            f"plugin {plugin.name!r} is already installed ({current.plugin.version}); use upgrade to change it"
        )
    return _put(root, plugin, index, archive_file, current)


def upgrade(root: PluginRoot, plugin: Plugin, *, index: str = "", archive_file: Path | None = None) -> Installed | None:
    """Replace an installed plugin with ``plugin``'s version; None if that version is already installed."""
    current = root.read_receipt(plugin.name)
    if current is None:
        raise InstallError(f"plugin {plugin.name!r} is not installed; use install")
    if current.plugin.version == plugin.version and archive_file is None:
        return None
    return _put(root, plugin, index or current.index, archive_file, current)


def uninstall(root: PluginRoot, name: str) -> Plugin:
    """Remove an installed plugin: its link first (so it stops running), then its receipt and files."""
    current = root.read_receipt(name)
    if current is None:
        raise InstallError(f"plugin {name!r} is not installed")
    (root.bin / bin_name(name)).unlink(missing_ok=True)
    root.receipt_path(name).unlink(missing_ok=True)
    shutil.rmtree(root.store / name, ignore_errors=True)
    return current.plugin


def _put(root: PluginRoot, plugin: Plugin, index: str, archive_file: Path | None, current: Receipt | None) -> Installed:
    root.ensure()
    chosen = select_platform(plugin)
    _sweep_leftovers(root)
    staging = Path(tempfile.mkdtemp(dir=root.store, prefix=f".tmp-{os.getpid()}-{plugin.name}-"))
    moved: Path | None = None
    try:
        built = _build(chosen, staging, archive_file, plugin)
        final = root.version_dir(plugin.name, plugin.version)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():  # the same version again (a forced reinstall): keep the old one aside until linked
            moved = final.with_name(f".old-{os.getpid()}-{plugin.version}")
            os.rename(final, moved)
        os.rename(built, final)
        link = _switch_link(root, plugin.name, final / chosen.bin)
        root.write_receipt(Receipt(plugin, index))
    except BaseException:
        if moved is not None and not root.version_dir(plugin.name, plugin.version).exists():
            os.rename(moved, root.version_dir(plugin.name, plugin.version))
            moved = None
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if moved is not None:
            shutil.rmtree(moved, ignore_errors=True)
    previous = current.plugin.version if current is not None else ""
    if previous and previous != plugin.version:
        shutil.rmtree(root.version_dir(plugin.name, previous), ignore_errors=True)
    return Installed(plugin, previous, link)


def _sweep_leftovers(root: PluginRoot) -> None:
    """Remove what installs killed midway left behind (their process is gone); never a running one's."""
    for leftover in [*root.store.glob(".tmp-*"), *root.store.glob("*/.old-*")]:
        _, pid, rest = leftover.name[1:].split("-", 2) if leftover.name.count("-") >= 2 else ("", "", "")
        if not pid.isdigit() or _alive(int(pid)):
            continue
        version_dir = leftover.with_name(rest)
        if leftover.name.startswith(".old-") and not version_dir.exists():
            os.rename(leftover, version_dir)  # killed between moving it aside and moving the new one in
        else:
            shutil.rmtree(leftover, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _build(chosen: Platform, staging: Path, archive_file: Path | None, plugin: Plugin) -> Path:
    """Download, verify, unpack and arrange one version in ``staging``; returns its directory."""
    downloaded = staging / "download"
    if archive_file is not None:
        shutil.copyfile(archive_file, downloaded)
    else:
        archive.fetch(chosen.uri, downloaded)
    archive.verify_sha256(downloaded, chosen.sha256, what=f"{plugin.name} {plugin.version} ({chosen.uri})")
    unpacked = staging / "unpack"
    archive.extract(downloaded, unpacked, uri=str(archive_file) if archive_file is not None else chosen.uri)
    version = staging / "version"
    if chosen.files:
        version.mkdir()
        for op in chosen.files:
            _copy(unpacked, op.from_, version, op.to)
    else:
        os.rename(unpacked, version)
    executable = version / chosen.bin
    if not executable.is_file() or not _within(version, executable):
        raise InstallError(f"{plugin.name} {plugin.version}: the archive has no {chosen.bin!r} (the manifest's bin)")
    executable.chmod(executable.stat().st_mode | 0o755)
    return version


def _copy(unpacked: Path, pattern: str, version: Path, to: str) -> None:
    matches = sorted(unpacked.glob(pattern))
    if not matches:
        raise InstallError(f"the archive has nothing matching {pattern!r} (a 'files' entry of the manifest)")
    into_dir = to in (".", "") or to.endswith("/") or len(matches) > 1
    for match in matches:
        dest = (version / to / match.name) if into_dir else version / to
        if not _within(version, dest):
            raise InstallError(f"'files' entry {pattern!r} -> {to!r} leaves the plugin directory")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if match.is_dir():
            shutil.copytree(match, dest, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(match, dest, follow_symlinks=False)


def _switch_link(root: PluginRoot, name: str, target: Path) -> Path:
    link = root.bin / bin_name(name)
    tmp = root.bin / f".{bin_name(name)}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(target, root.bin), tmp)
    os.replace(tmp, link)
    return link


def _within(root: Path, path: Path) -> bool:
    real_root = os.path.realpath(root)
    return os.path.commonpath([real_root, os.path.realpath(path)]) == real_root
