"""The plugin manager's commands: ``pinnace plugin …``, and ``kubectl pkg …`` (the same app).

Thin: it parses, calls :mod:`index` and :mod:`installer`, and prints. Every
failure is one ``error:`` line on stderr and exit status 1.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from pinnace.plugins import index as indexes
from pinnace.plugins import installer
from pinnace.plugins.archive import ArchiveError
from pinnace.plugins.manifest import ManifestError, Plugin, load_manifest
from pinnace.plugins.root import ROOT_ENV, PluginRoot, Receipt

__all__ = ["plugin_app"]

plugin_app = typer.Typer(
    help=f"Find, install and upgrade kubectl plugins (krew's manifests and indexes; root: ${ROOT_ENV}).",
    no_args_is_help=True,
)
index_app = typer.Typer(help="Add, list and remove plugin indexes.", no_args_is_help=True)
plugin_app.add_typer(index_app, name="index")

T = TypeVar("T")
_ERRORS = (ManifestError, ArchiveError, installer.InstallError, indexes.PluginIndexError, OSError)


@contextmanager
def _failing() -> Iterator[None]:
    try:
        yield
    except _ERRORS as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _root() -> PluginRoot:
    return PluginRoot.from_env()


def _installed_message(root: PluginRoot, done: installer.Installed, verb: str) -> None:
    was = f" (was {done.previous})" if done.previous and done.previous != done.plugin.version else ""
    typer.echo(f"{verb} plugin: {done.plugin.name} {done.plugin.version}{was}")
    typer.echo(f"  use it as: kubectl {done.plugin.name}")
    if done.plugin.caveats:
        typer.echo("  caveats: " + done.plugin.caveats.strip().replace("\n", "\n    "))
    on_path = any(Path(p).absolute() == root.bin for p in os.environ.get("PATH", "").split(os.pathsep) if p)
    if not on_path:
        typer.echo(f'  add {root.bin} to your PATH so kubectl finds it:  export PATH="{root.bin}:$PATH"')


@plugin_app.command("update")
def update() -> None:
    """Bring every git index up to date."""
    with _failing():
        done = indexes.update(_root())
    if not done:
        typer.echo("No index is configured; add one with `index add NAME URL-OR-DIR`.")
    for entry, what in done:
        typer.echo(f"{entry.name}: {what}")


@plugin_app.command("search")
def search(query: Annotated[str, typer.Argument(help="Words to look for in names and descriptions.")] = "") -> None:
    """List the plugins of every index (those matching QUERY), and whether each is installed."""
    root = _root()
    with _failing():
        installed = {r.plugin.name for r in root.installed()}
        rows = [
            (f"{name}" if ix == indexes.DEFAULT_INDEX else f"{ix}/{name}", p.short_description, p.name in installed)
            for ix, p in indexes.plugins(root)
            for name in [p.name]
            if query.lower() in f"{p.name} {p.short_description}".lower()
        ]
    width = max((len(r[0]) for r in rows), default=4)
    dwidth = max((len(r[1]) for r in rows), default=11)
    typer.echo(f"{'NAME':<{width}}  {'DESCRIPTION':<{dwidth}}  INSTALLED")
    for name, desc, inst in rows:
        typer.echo(f"{name:<{width}}  {desc:<{dwidth}}  {'yes' if inst else 'no'}")


@plugin_app.command("install")
def install(
    names: Annotated[list[str] | None, typer.Argument(help="Plugins to install: NAME or INDEX/NAME.")] = None,
    manifest: Annotated[Path | None, typer.Option("--manifest", help="Install from this manifest file.")] = None,
    archive: Annotated[
        Path | None, typer.Option("--archive", help="With --manifest: use this archive instead of the URI.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Install again even if installed.")] = False,
) -> None:
    """Install plugins from the indexes, or one from a local manifest (and archive)."""
    root = _root()
    if archive is not None and manifest is None:
        typer.echo("error: --archive needs --manifest", err=True)
        raise typer.Exit(1)
    if manifest is None and not names:
        typer.echo("error: name the plugins to install, or give --manifest", err=True)
        raise typer.Exit(1)
    work: list[tuple[str, Callable[[], tuple[str, Plugin]]]] = []
    if manifest is not None:
        work.append((str(manifest), lambda: ("", load_manifest(manifest))))
    for ref in names or []:
        work.append((ref, lambda ref=ref: indexes.find(root, ref)))  # type: ignore[misc]
    failed = False
    for what, resolve in work:
        try:
            ix, plugin = resolve()
            done = installer.install(root, plugin, index=ix, archive_file=archive if ix == "" else None, force=force)
        except _ERRORS as exc:
            typer.echo(f"error: {what}: {exc}", err=True)
            failed = True
            continue
        _installed_message(root, done, "Installed")
    if failed:
        raise typer.Exit(1)


@plugin_app.command("list")
def list_() -> None:
    """List the installed plugins and their versions."""
    with _failing():
        receipts = _root().installed()
    typer.echo(f"{'PLUGIN':<20}  {'VERSION':<12}  INDEX")
    for r in receipts:
        typer.echo(f"{r.plugin.name:<20}  {r.plugin.version:<12}  {r.index or '(local manifest)'}")


@plugin_app.command("info")
def info(name: Annotated[str, typer.Argument(help="NAME or INDEX/NAME.")]) -> None:
    """Show a plugin's manifest details (from the index, or its receipt if installed only locally)."""
    root = _root()
    with _failing():
        receipt = root.read_receipt(name.rpartition("/")[2])
        try:
            ix, plugin = indexes.find(root, name)
        except indexes.PluginIndexError:
            if receipt is None:
                raise
            ix, plugin = receipt.index, receipt.plugin
    typer.echo(f"NAME: {plugin.name}")
    typer.echo(f"INDEX: {ix or '(local manifest)'}")
    typer.echo(f"VERSION: {plugin.version}")
    typer.echo(f"INSTALLED: {receipt.plugin.version if receipt else 'no'}")
    if plugin.homepage:
        typer.echo(f"HOMEPAGE: {plugin.homepage}")
    typer.echo(f"DESCRIPTION: {plugin.description.strip() or plugin.short_description}")
    if plugin.caveats:
        typer.echo(f"CAVEATS:\n{plugin.caveats.rstrip()}")


@plugin_app.command("upgrade")
def upgrade(
    names: Annotated[list[str] | None, typer.Argument(help="Plugins to upgrade (default: all).")] = None,
) -> None:
    """Upgrade installed plugins to the versions their indexes have now (atomically: on failure the old stays)."""
    root = _root()
    with _failing():
        receipts = root.installed() if not names else [_must_receipt(root, n) for n in names]
    failed = False
    for receipt in receipts:
        if not receipt.index:
            typer.echo(f"Skipping {receipt.plugin.name}: installed from a local manifest (install it again --force)")
            continue
        try:
            ix, plugin = indexes.find(root, f"{receipt.index}/{receipt.plugin.name}")
            done = installer.upgrade(root, plugin, index=ix)
        except _ERRORS as exc:
            typer.echo(f"error: upgrading {receipt.plugin.name}: {exc}", err=True)
            failed = True
            continue
        if done is None:
            typer.echo(f"Skipping {receipt.plugin.name}: {receipt.plugin.version} is the newest")
        else:
            _installed_message(root, done, "Upgraded")
    if failed:
        raise typer.Exit(1)


def _must_receipt(root: PluginRoot, name: str) -> Receipt:
    receipt = root.read_receipt(name)
    if receipt is None:
        raise installer.InstallError(f"plugin {name!r} is not installed")
    return receipt


@plugin_app.command("uninstall")
def uninstall(names: Annotated[list[str], typer.Argument(help="Plugins to remove.")]) -> None:
    """Remove installed plugins."""
    root = _root()
    with _failing():
        for name in names:
            plugin = installer.uninstall(root, name)
            typer.echo(f"Uninstalled plugin: {plugin.name}")


@index_app.command("add")
def index_add(
    name: Annotated[str, typer.Argument(help="A name for the index.")],
    source: Annotated[str, typer.Argument(help="A git URL or repository, or a plain directory.")],
) -> None:
    """Add an index (cloned with git, or a plain directory read in place)."""
    with _failing():
        entry = indexes.add(_root(), name, source)
    typer.echo(f"Added index {entry.name} ({'git' if entry.git else 'directory'}: {entry.source})")


@index_app.command("list")
def index_list() -> None:
    """List the configured indexes."""
    typer.echo(f"{'INDEX':<16}  {'KIND':<9}  SOURCE")
    for entry in indexes.list_indexes(_root()):
        typer.echo(f"{entry.name:<16}  {'git' if entry.git else 'directory':<9}  {entry.source}")


@index_app.command("remove")
def index_remove(name: Annotated[str, typer.Argument(help="The index to remove.")]) -> None:
    """Remove an index (plugins installed from it stay installed)."""
    with _failing():
        indexes.remove(_root(), name)
    typer.echo(f"Removed index {name}")
