"""``pinnace builder``: scaffold, generate, install and run operators on the Pinnace SDK (kubebuilder's workflow).

Each command imports :mod:`pinnace.builder.scaffold` when it runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["builder_app"]

KubeconfigOpt = Annotated[str | None, typer.Option("--kubeconfig", help="Path to the kubeconfig file.")]
ContextOpt = Annotated[str | None, typer.Option("--context", help="The kubeconfig context to use.")]

builder_app = typer.Typer(
    help="Scaffold, generate, install and run operators on the Pinnace SDK (kubebuilder's workflow).",
    no_args_is_help=True,
)
create_app = typer.Typer(help="Add to the project.", no_args_is_help=True)
builder_app.add_typer(create_app, name="create")

ProjectDir = Annotated[Path, typer.Option("--dir", help="The project directory.")]


def _scaffold_step(step: Callable[[], Any]) -> Any:
    from pinnace.builder.scaffold import ScaffoldError
    from pinnace.client.exceptions import ConfigError

    try:
        return step()
    except (ScaffoldError, ConfigError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _report(paths: list[Path], root: Path) -> None:
    for path in paths:
        typer.echo(f"  wrote {path.relative_to(root) if path.is_relative_to(root) else path}")


@builder_app.command("init")
def builder_init(
    domain: Annotated[str, typer.Option("--domain", help="The API domain, e.g. example.com.")],
    repo: Annotated[str | None, typer.Option("--repo", help="Project name (default: the directory's).")] = None,
    directory: ProjectDir = Path("."),
) -> None:
    """Create an operator project: pyproject, manager entry point, packages, README, PROJECT."""
    from pinnace.builder import scaffold

    root = directory.resolve()
    _report(_scaffold_step(lambda: scaffold.init_project(root, domain, repo)), root)
    typer.echo("Next: pinnace builder create api --group GROUP --version v1 --kind KIND")


@create_app.command("api")
def builder_create_api(
    group: Annotated[str, typer.Option("--group", help="API group (the domain is appended).")],
    version: Annotated[str, typer.Option("--version", help="API version, e.g. v1alpha1.")],
    kind: Annotated[str, typer.Option("--kind", help="Kind, CamelCase.")],
    directory: ProjectDir = Path("."),
) -> None:
    """Add a kind: typed model, controller wired into main, generated CRD, and a test."""
    from pinnace.builder import scaffold

    root = directory.resolve()
    _report(_scaffold_step(lambda: scaffold.create_api(root, group, version, kind)), root)
    typer.echo("Next: edit the model and the reconciler, then `python -m pytest`.")


@builder_app.command("generate")
def builder_generate(directory: ProjectDir = Path(".")) -> None:
    """Regenerate config/crd/ from the project's models."""
    from pinnace.builder import scaffold

    root = directory.resolve()
    _report(_scaffold_step(lambda: scaffold.generate(root)), root)


@builder_app.command("install")
def builder_install(
    directory: ProjectDir = Path("."), kubeconfig: KubeconfigOpt = None, context: ContextOpt = None
) -> None:
    """Create or update the project's CRDs in the current cluster."""
    from pinnace.builder import scaffold

    names = _scaffold_step(lambda: asyncio.run(scaffold.install(directory.resolve(), kubeconfig, context)))
    for name in names:
        typer.echo(f"customresourcedefinition.apiextensions.k8s.io/{name} installed")


@builder_app.command("uninstall")
def builder_uninstall(
    directory: ProjectDir = Path("."), kubeconfig: KubeconfigOpt = None, context: ContextOpt = None
) -> None:
    """Delete the project's CRDs (and their objects) from the current cluster."""
    from pinnace.builder import scaffold

    names = _scaffold_step(lambda: asyncio.run(scaffold.uninstall(directory.resolve(), kubeconfig, context)))
    for name in names:
        typer.echo(f"customresourcedefinition.apiextensions.k8s.io/{name} deleted")


@builder_app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def builder_run(ctx: typer.Context, directory: ProjectDir = Path(".")) -> None:
    """Run the project's manager against the current kubeconfig (extra arguments go to it)."""
    from pinnace.builder import scaffold

    raise typer.Exit(_scaffold_step(lambda: scaffold.run(directory.resolve(), list(ctx.args))))
