"""Every help text of the ``pinnace`` command line prints as written: nothing in it reads as rich markup."""

from __future__ import annotations

import re
from collections.abc import Iterator

import typer
from typer import _click

from pinnace.cli.main import app

#: What rich takes for a markup tag (and drops from the output): ``[`` then a lower-case letter, ``#``, ``/`` or ``@``,
#: unless escaped as ``\\[``.
MARKUP = re.compile(r"(?<!\\)\[[a-z#/@][^\[]*?\]")


def _commands(command: _click.Command, path: str) -> Iterator[tuple[str, _click.Command]]:
    yield path, command
    if isinstance(command, typer.core.TyperGroup):
        context = typer.Context(command)
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            assert sub is not None, f"{path} {name}"
            yield from _commands(sub, f"{path} {name}")


def test_no_help_text_is_swallowed_as_markup() -> None:
    swallowed = []
    commands = list(_commands(typer.main.get_command(app), "pinnace"))
    assert len(commands) > 60  # every group was walked
    for path, command in commands:
        texts = [("", command.help or "")] + [(p.name or "", getattr(p, "help", None) or "") for p in command.params]
        swallowed += [f"{path} {name}: {text!r}" for name, text in texts if MARKUP.search(text)]
    assert swallowed == []
