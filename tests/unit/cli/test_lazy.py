"""The ``pinnace`` command groups load when used, and the command line reads as if they were always there."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import typer
from typer.testing import CliRunner

from pinnace.cli.main import _Commands, app

runner = CliRunner()


def test_help_lists_every_command_and_group_by_name() -> None:
    result = runner.invoke(app, ["--help"], terminal_width=120)
    assert result.exit_code == 0
    listed = [line.strip("│ ").split(" ")[0] for line in result.output.splitlines() if line.startswith("│ ")]
    for name in ("up", "down", "status", "controller-manager", "lb", "adm", "builder", "plugin", "image", "node"):
        assert name in listed


def test_a_group_runs_its_commands() -> None:
    result = runner.invoke(app, ["adm", "token", "generate"])
    assert result.exit_code == 0, result.output
    token_id, _, secret = result.output.strip().partition(".")
    assert len(token_id) == 6 and len(secret) == 16


def test_a_typo_gets_a_suggestion_among_the_groups_not_loaded_yet() -> None:
    # A fresh process: the groups are not loaded when the typo is read.
    def pinnace(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "COLUMNS": "120"}
        return subprocess.run([sys.executable, "-m", "pinnace", *args], capture_output=True, text=True, env=env)

    result = pinnace("imag")
    assert result.returncode == 2
    assert "No such command 'imag'. Did you mean 'image'?" in result.stderr
    nested = pinnace("adm", "tokn")
    assert nested.returncode == 2 and "Did you mean 'token'?" in nested.stderr


def test_help_lists_the_groups_by_their_own_help_lines_without_importing_them() -> None:
    # Each stand-in line is the group's own (first) help paragraph: what help showed when it imported them.
    for name, lazy in _Commands.lazy.items():
        module, _, attribute = lazy.target.partition(":")
        group = typer.main.get_group(getattr(importlib.import_module(module), attribute))
        assert group.help is not None and group.help.split("\n\n")[0].strip() == lazy.help, name
    # A fresh process: `pinnace --help` loads none of the groups (aiohttp with them).
    script = (
        "import sys; from typer.testing import CliRunner; from pinnace.cli.main import app; "
        "out = CliRunner().invoke(app, ['--help'], terminal_width=200).output; "
        "print(sorted(m for m in ('aiohttp', 'pinnace.cli.adm', 'pinnace.cli.image', 'pinnace.plugins.cli') "
        "if m in sys.modules)); print(out)"
    )
    env = {**os.environ, "COLUMNS": "250"}  # help lines unwrapped
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
    loaded, _, help_text = result.stdout.partition("\n")
    assert loaded == "[]"
    for lazy in _Commands.lazy.values():
        assert lazy.help in help_text
    # and a group still runs, and shows its own help, when named
    assert "generate" in runner.invoke(app, ["adm", "token", "--help"], terminal_width=120).output
