"""Manifest validation and platform selection (krew's v1alpha2 Plugin)."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.plugins.manifest import API_VERSION, ManifestError, parse_manifest, select_platform

SHA = "a" * 64


def manifest(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "version": "v1.2.3",
        "shortDescription": "does things",
        "platforms": [
            {
                "selector": {"matchLabels": {"os": "linux", "arch": "amd64"}},
                "uri": "https://example.com/x-linux.tar.gz",
                "sha256": SHA,
                "bin": "kubectl-x",
            },
            {
                "selector": {"matchLabels": {"os": "darwin"}},
                "uri": "https://example.com/x-darwin.zip",
                "sha256": "b" * 64,
                "files": [{"from": "bin/*", "to": "."}],
                "bin": "kubectl-x",
            },
        ],
    }
    base.update(spec)
    return {"apiVersion": API_VERSION, "kind": "Plugin", "metadata": {"name": "x"}, "spec": base}


def test_a_valid_manifest_parses() -> None:
    plugin = parse_manifest(manifest(homepage="https://x"))
    assert (plugin.name, plugin.version, plugin.homepage) == ("x", "v1.2.3", "https://x")
    assert plugin.platforms[1].files[0].from_ == "bin/*"


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"apiVersion": "krew.googlecontainertools.github.com/v1alpha1"}, "apiVersion"),
        ({"kind": "Thing"}, "kind must be"),
        ({"metadata": {"name": "Bad_Name"}}, "metadata.name"),
    ],
)
def test_bad_header_fields_are_named(change: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ManifestError, match=complaint):
        parse_manifest({**manifest(), **change})


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ({"version": "1.2.3"}, "spec.version"),
        ({"shortDescription": ""}, "shortDescription"),
        ({"platforms": []}, "at least one platform"),
        ({"platforms": [{"uri": "u", "sha256": "nothex", "bin": "b"}]}, "sha256"),
        ({"platforms": [{"uri": "u", "sha256": SHA, "bin": "../../evil"}]}, "bin"),
        ({"platforms": [{"uri": "u", "sha256": SHA, "bin": "/usr/bin/evil"}]}, "bin"),
        ({"platforms": [{"uri": "u", "sha256": SHA, "bin": "b", "files": [{"from": "../x", "to": "."}]}]}, "files"),
        ({"platforms": [{"sha256": SHA, "bin": "b"}]}, "uri is required"),
    ],
)
def test_bad_spec_fields_are_named(spec: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ManifestError, match=complaint):
        parse_manifest(manifest(**spec))


def test_every_problem_is_reported_at_once() -> None:
    doc = manifest(version="nope", shortDescription="")
    with pytest.raises(ManifestError) as info:
        parse_manifest(doc)
    assert "spec.version" in str(info.value) and "shortDescription" in str(info.value)


def test_platform_selection_by_os_and_arch() -> None:
    plugin = parse_manifest(manifest())
    assert select_platform(plugin, {"os": "linux", "arch": "amd64"}).uri.endswith("x-linux.tar.gz")
    assert select_platform(plugin, {"os": "darwin", "arch": "arm64"}).uri.endswith("x-darwin.zip")
    with pytest.raises(ManifestError, match="no build for this platform"):
        select_platform(plugin, {"os": "linux", "arch": "arm64"})
    with pytest.raises(ManifestError, match="os=windows"):
        select_platform(plugin, {"os": "windows", "arch": "amd64"})


def test_match_expressions_select_too() -> None:
    platform = {
        "selector": {"matchExpressions": [{"key": "os", "operator": "In", "values": ["linux", "darwin"]}]},
        "uri": "file:///x.tar.gz",
        "sha256": SHA,
        "bin": "kubectl-x",
    }
    plugin = parse_manifest(manifest(platforms=[platform]))
    assert select_platform(plugin, {"os": "darwin", "arch": "arm64"}).uri == "file:///x.tar.gz"
    with pytest.raises(ManifestError):
        select_platform(plugin, {"os": "windows", "arch": "amd64"})


def test_this_machine_has_a_platform_in_our_own_index(tmp_path: Any) -> None:
    from pinnace.plugins.manifest import load_manifest
    from pinnace.plugins.publish import build_index

    for path in build_index(tmp_path):
        select_platform(load_manifest(path))


def test_the_committed_index_matches_a_fresh_build(tmp_path: Any) -> None:
    from pathlib import Path

    import yaml

    from pinnace.plugins.publish import build_index

    repo_index = Path(__file__).parents[3] / "plugins" / "index" / "plugins"
    base = "https://github.com/pinnace/pinnace/releases/download/v0.1.0"
    for path in build_index(tmp_path, base_uri=base):
        committed = yaml.safe_load((repo_index / path.name).read_text())
        assert committed == yaml.safe_load(path.read_text()), f"rebuild {path.name}: python -m pinnace.plugins.publish"
