"""Which EncryptionConfiguration a local cluster uses, and the ``pinnace adm encryption`` file commands."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml
from typer.testing import CliRunner

from pinnace.cli.main import app
from pinnace.cluster.encryption import DEFAULT_CONFIG_FILE, config_path

runner = CliRunner()


def test_the_default_is_generated_once_for_an_unshared_store(tmp_path: Path) -> None:
    path = config_path(tmp_path, None, shared_store=False)
    assert path == tmp_path / DEFAULT_CONFIG_FILE and path.exists()
    first = path.read_text()
    assert config_path(tmp_path, None, shared_store=False) == path and path.read_text() == first  # kept


def test_a_shared_store_gets_no_generated_key(tmp_path: Path) -> None:
    assert config_path(tmp_path, None, shared_store=True) is None
    assert not (tmp_path / DEFAULT_CONFIG_FILE).exists()
    explicit = tmp_path / "mine.yaml"
    assert config_path(tmp_path, explicit, shared_store=True) == explicit
    (tmp_path / DEFAULT_CONFIG_FILE).write_text("x")  # e.g. a data dir migrated from SQLite keeps its keys
    assert config_path(tmp_path, None, shared_store=True) == tmp_path / DEFAULT_CONFIG_FILE


def test_generate_config_and_rotate_key_commands(tmp_path: Path) -> None:
    made = runner.invoke(
        app, ["adm", "encryption", "generate-config", "--data-dir", str(tmp_path), "--provider", "secretbox"]
    )
    assert made.exit_code == 0, made.output
    path = tmp_path / DEFAULT_CONFIG_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = runner.invoke(app, ["adm", "encryption", "generate-config", "--data-dir", str(tmp_path)])
    assert again.exit_code == 1 and "exists" in again.output  # never loses keys silently

    rotated = runner.invoke(app, ["adm", "encryption", "rotate-key", "--data-dir", str(tmp_path)])
    assert rotated.exit_code == 0 and "Added key key2" in rotated.output
    keys = yaml.safe_load(path.read_text())["resources"][0]["providers"][0]["secretbox"]["keys"]
    assert [k["name"] for k in keys] == ["key2", "key1"]

    missing = runner.invoke(app, ["adm", "encryption", "rotate-key", "--data-dir", str(tmp_path / "none")])
    assert missing.exit_code == 1 and "no encryption configuration" in missing.output
    bad = runner.invoke(
        app, ["adm", "encryption", "generate-config", "--data-dir", str(tmp_path / "b"), "--provider", "rot13"]
    )
    assert bad.exit_code == 2 and "unknown provider 'rot13'" in bad.output
