"""Command groups whose subcommands are imported only when they run (or when help lists them).

``pinnace`` has many commands, and some import heavy libraries at the top
(aiohttp for ``image`` and ``plugin``: ~0.3 s and ~20 MB). Importing all of them
to run one made every command pay for every other, and ``pinnace up`` start
slower. A :class:`LazyGroup` subclass names its subcommand groups by
``"module:attribute"`` (a ``typer.Typer``) with their one-line help; a group is
imported and built the first time click asks for it by name. Help lists them by
that line, without importing them (a test checks the lines against the groups).
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar, NamedTuple

import typer
from typer import _click  # the click typer vendors: its groups' methods take and return its types
from typer.core import TyperGroup

__all__ = ["Lazy", "LazyGroup"]


class Lazy(NamedTuple):
    """A subcommand group loaded on first use: where its ``typer.Typer`` is, and the help line help lists."""

    target: str  # "module:attribute"
    help: str


class LazyGroup(TyperGroup):
    """A typer group with subcommand groups imported on first use: subclass it and fill :attr:`lazy`."""

    #: Subcommand name -> its :class:`Lazy`, in the order help lists them (after the group's own commands).
    lazy: ClassVar[dict[str, Lazy]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listing = False  # formatting help: a group not loaded yet shows as its help line

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        """The group's help; the lazy groups are listed by their help lines, not imported."""
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def list_commands(self, ctx: _click.Context) -> list[str]:
        """The group's own commands, then the lazy ones."""
        return [*super().list_commands(ctx), *(name for name in self.lazy if name not in self.commands)]

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        """The named command, importing and building a lazy group the first time."""
        if cmd_name not in self.commands and cmd_name in self.lazy:
            if self._listing:
                return TyperGroup(name=cmd_name, help=self.lazy[cmd_name].help)  # a stand-in: nothing imported
            module, _, attribute = self.lazy[cmd_name].target.partition(":")
            sub_app = getattr(importlib.import_module(module), attribute)
            group = typer.main.get_group(sub_app)
            group.name = cmd_name  # as ``add_typer(sub_app, name=...)`` names it: help lists it by this name
            self.commands[cmd_name] = group
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        """The command ``args`` name; on a typo, every group is loaded first so the suggestions cover them all."""
        try:
            return super().resolve_command(ctx, args)
        except _click.exceptions.UsageError:
            if all(name in self.commands for name in self.lazy):
                raise
            for name in self.lazy:
                self.get_command(ctx, name)
            return super().resolve_command(ctx, args)  # fails again, now with "Did you mean ...?" among all
