"""EncryptionConfiguration files: parsing, precedence, every problem reported, generation and rotation."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from pinnace.apiserver.encryption import config
from pinnace.apiserver.encryption.providers import AESCBCKey, AESGCMKey, Identity, SecretboxKey


def _key(n: int = 32) -> str:
    return base64.b64encode(os.urandom(n)).decode()


def _doc(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": config.API_VERSION, "kind": config.KIND, "resources": list(entries)}


def test_a_full_configuration_parses_in_order() -> None:
    doc = _doc(
        {
            "resources": ["secrets", "configmaps"],
            "providers": [
                {"aesgcm": {"keys": [{"name": "g", "secret": _key(16)}]}},
                {"aescbc": {"keys": [{"name": "c2", "secret": _key()}, {"name": "c1", "secret": _key()}]}},
                {"secretbox": {"keys": [{"name": "s", "secret": _key()}]}},
                {"identity": {}},
            ],
        },
        {"resources": ["*.apps"], "providers": [{"secretbox": {"keys": [{"name": "a", "secret": _key()}]}}]},
        {"resources": ["*.*"], "providers": [{"identity": {}}]},
    )
    cfg = config.parse(doc)
    secrets = cfg.transformer_for("", "secrets")
    assert secrets is not None
    kinds = [type(p) for p in secrets.providers]
    assert kinds == [AESGCMKey, AESCBCKey, AESCBCKey, SecretboxKey, Identity]
    assert [getattr(p, "name", "") for p in secrets.providers][:3] == ["g", "c2", "c1"]
    deployments = cfg.transformer_for("apps", "deployments")
    assert deployments is not None and isinstance(deployments.writer, SecretboxKey)
    everything = cfg.transformer_for("batch", "jobs")
    assert everything is not None and isinstance(everything.writer, Identity)

    prefixes = cfg.prefixes(lambda g, r: f"/registry/{g or 'core'}/{r}/")
    assert [p for p, _ in prefixes] == [
        "/registry/core/secrets/",
        "/registry/core/configmaps/",
        "/registry/apps/",
        "/registry/",
    ]


def test_resources_not_named_are_not_transformed() -> None:
    cfg = config.parse(_doc({"resources": ["secrets"], "providers": [{"identity": {}}]}))
    assert cfg.transformer_for("", "configmaps") is None


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ({"apiVersion": "v1", "kind": "EncryptionConfiguration", "resources": []}, "apiVersion: Unsupported value"),
        (_doc(), "resources: Required value"),
        (_doc({"resources": [], "providers": [{"identity": {}}]}), "resources[0].resources: Required value"),
        (_doc({"resources": ["secrets"], "providers": []}), "resources[0].providers: Required value"),
        (
            _doc({"resources": ["secrets"], "providers": [{"identity": {}, "aescbc": {}}]}),
            "more than one provider specified in a single element",
        ),
        (_doc({"resources": ["secrets"], "providers": [{"rot13": {}}]}), 'Unsupported value: "rot13"'),
        (_doc({"resources": ["secrets"], "providers": [{"kms": {"name": "x"}}]}), "providers[0].kms: Unsupported"),
        (
            _doc({"resources": ["secrets"], "providers": [{"aescbc": {"keys": []}}]}),
            "providers[0].aescbc.keys: Required value: at least one key is required",
        ),
        (
            _doc({"resources": ["secrets"], "providers": [{"aescbc": {"keys": [{"name": "k", "secret": _key(20)}]}}]}),
            "secret is not of the expected length, got 20, expected one of [16 24 32]",
        ),
        (
            _doc(
                {"resources": ["secrets"], "providers": [{"secretbox": {"keys": [{"name": "k", "secret": _key(16)}]}}]}
            ),
            "got 16, expected one of [32]",
        ),
        (
            _doc({"resources": ["secrets"], "providers": [{"aesgcm": {"keys": [{"name": "k", "secret": "!!"}]}}]}),
            "secret is not a valid base64 string",
        ),
        (
            _doc({"resources": ["secrets"], "providers": [{"aesgcm": {"keys": [{"secret": _key()}]}}]}),
            "keys[0].name: Required value: key name is required",
        ),
        (
            _doc(
                {
                    "resources": ["secrets"],
                    "providers": [
                        {"aescbc": {"keys": [{"name": "k", "secret": _key()}, {"name": "k", "secret": _key()}]}}
                    ],
                }
            ),
            "keys[1].name: Duplicate value: 'k'",
        ),
        (_doc({"resources": ["Secrets"], "providers": [{"identity": {}}]}), "should not contain capital letters"),
        (_doc({"resources": ["*"], "providers": [{"identity": {}}]}), "use '*.' for the core group"),
        (
            _doc(
                {"resources": ["secrets"], "providers": [{"identity": {}}]},
                {"resources": ["secrets"], "providers": [{"identity": {}}]},
            ),
            "resources[1].resources[0]: Duplicate value: 'secrets'",
        ),
    ],
)
def test_malformed_configurations_are_refused_with_the_reason(doc: dict[str, Any], problem: str) -> None:
    with pytest.raises(config.ConfigError) as caught:
        config.parse(doc, "enc.yaml")
    assert any(problem in p for p in caught.value.problems), caught.value.problems
    assert "invalid encryption configuration enc.yaml" in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    doc = _doc(
        {"resources": ["secrets"], "providers": [{"aescbc": {"keys": [{"name": "k", "secret": _key(5)}]}}]},
        {"resources": [], "providers": []},
    )
    with pytest.raises(config.ConfigError) as caught:
        config.parse(doc)
    assert len(caught.value.problems) == 3


def test_unreadable_and_non_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="cannot read the file"):
        config.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("resources: [unclosed\n")
    with pytest.raises(config.ConfigError, match="not valid YAML"):
        config.load(bad)


def test_generate_writes_a_private_file_with_a_random_key(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    config.generate(path, "aesgcm")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    cfg = config.load(path)
    secrets = cfg.transformer_for("", "secrets")
    assert secrets is not None
    assert isinstance(secrets.writer, AESGCMKey) and isinstance(secrets.providers[-1], Identity)
    other = tmp_path / "other.yaml"
    config.generate(other)
    assert (
        yaml.safe_load(other.read_text())["resources"][0]["providers"][0]["aescbc"]["keys"][0]["secret"]
        != (yaml.safe_load(path.read_text())["resources"][0]["providers"][0]["aesgcm"]["keys"][0]["secret"])
    )


def test_rotate_puts_a_new_key_first_and_keeps_the_old(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    config.generate(path)
    assert config.rotate(path) == "key2"
    keys = yaml.safe_load(path.read_text())["resources"][0]["providers"][0]["aescbc"]["keys"]
    assert [k["name"] for k in keys] == ["key2", "key1"]
    assert config.rotate(path) == "key3"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secrets = config.load(path).transformer_for("", "secrets")
    assert secrets is not None and getattr(secrets.writer, "name", "") == "key3"


def test_rotate_needs_a_keyed_provider(tmp_path: Path) -> None:
    path = tmp_path / "enc.yaml"
    path.write_text(yaml.safe_dump(_doc({"resources": ["secrets"], "providers": [{"identity": {}}]})))
    with pytest.raises(config.ConfigError, match="no entry has"):
        config.rotate(path)
