"""The ``pinnace`` command groups load when used, and the command line reads as if they were always there."""

from __future__ import annotations

import os
import subprocess
import sys

from typer.testing import CliRunner

from pinnace.cli.main import app

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
