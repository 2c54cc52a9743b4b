"""Install, upgrade and uninstall into a plugin root; refused archives leave nothing; upgrades are atomic."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from pinnace.plugins import archive, installer
from pinnace.plugins import index as indexes
from pinnace.plugins.archive import ArchiveError, sha256_of
from pinnace.plugins.manifest import API_VERSION, Plugin, load_manifest
from pinnace.plugins.root import PluginRoot


def publish(index_dir: Path, name: str, version: str, members: dict[str, bytes], *, sha: str | None = None) -> Path:
    """Write an archive and its manifest into an index directory."""
    (index_dir / "plugins").mkdir(parents=True, exist_ok=True)
    tarball = index_dir / f"{name}-{version}.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    doc = {
        "apiVersion": API_VERSION,
        "kind": "Plugin",
        "metadata": {"name": name},
        "spec": {
            "version": version,
            "shortDescription": f"{name} does things",
            "platforms": [
                {
                    "selector": {"matchExpressions": [{"key": "os", "operator": "Exists"}]},
                    "uri": tarball.as_uri(),
                    "sha256": sha or sha256_of(tarball),
                    "bin": "kubectl-" + name.replace("-", "_"),
                }
            ],
        },
    }
    path = index_dir / "plugins" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def script(version: str) -> bytes:
    return f"#!/bin/sh\necho {version}\n".encode()


def run_bin(root: PluginRoot, name: str) -> str:
    return subprocess.run([root.bin / installer.bin_name(name)], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def root(tmp_path: Path) -> PluginRoot:
    return PluginRoot(tmp_path / "root")


def test_install_upgrade_uninstall(root: PluginRoot, tmp_path: Path) -> None:
    ix = tmp_path / "ix"
    publish(ix, "hello-world", "v0.1.0", {"kubectl-hello_world": script("one")})
    indexes.add(root, "default", str(ix))
    ix_name, plugin = indexes.find(root, "hello-world")
    done = installer.install(root, plugin, index=ix_name)
    assert done.link == root.bin / "kubectl-hello_world" and run_bin(root, "hello-world") == "one\n"
    assert [r.plugin.version for r in root.installed()] == ["v0.1.0"]
    with pytest.raises(installer.InstallError, match="already installed"):
        installer.install(root, plugin)

    publish(ix, "hello-world", "v0.2.0", {"kubectl-hello_world": script("two")})
    upgraded = installer.upgrade(root, indexes.find(root, "default/hello-world")[1])
    assert upgraded is not None and upgraded.previous == "v0.1.0"
    assert run_bin(root, "hello-world") == "two\n"
    assert sorted(p.name for p in (root.store / "hello-world").iterdir()) == ["v0.2.0"]
    assert root.read_receipt("hello-world").plugin.version == "v0.2.0"  # type: ignore[union-attr]
    assert installer.upgrade(root, indexes.find(root, "hello-world")[1]) is None

    installer.uninstall(root, "hello-world")
    assert not (root.bin / "kubectl-hello_world").exists() and root.installed() == []
    assert not (root.store / "hello-world").exists()


def assert_nothing_installed(root: PluginRoot) -> None:
    assert root.installed() == []
    assert list(root.bin.iterdir()) == []
    assert [p for p in root.store.iterdir()] == []


def test_a_tampered_archive_is_refused_before_unpacking(
    root: PluginRoot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = publish(tmp_path / "ix", "x", "v1.0.0", {"kubectl-x": b"ok"}, sha="0" * 64)
    monkeypatch.setattr(archive, "extract", lambda *a, **k: pytest.fail("unpacked before the digest was checked"))
    with pytest.raises(ArchiveError, match="sha256 mismatch"):
        installer.install(root, load_manifest(manifest))
    assert_nothing_installed(root)


def test_an_archive_with_traversal_is_refused(root: PluginRoot, tmp_path: Path) -> None:
    manifest = publish(tmp_path / "ix", "x", "v1.0.0", {"kubectl-x": b"ok", "../../evil": b"boom"})
    with pytest.raises(ArchiveError, match="outside"):
        installer.install(root, load_manifest(manifest))
    assert_nothing_installed(root)
    assert not (root.path.parent / "evil").exists() and not (root.store.parent / "evil").exists()


def test_an_archive_without_the_bin_is_refused(root: PluginRoot, tmp_path: Path) -> None:
    manifest = publish(tmp_path / "ix", "x", "v1.0.0", {"README": b"no binary"})
    with pytest.raises(installer.InstallError, match="no 'kubectl-x'"):
        installer.install(root, load_manifest(manifest))
    assert_nothing_installed(root)


def test_a_failed_upgrade_leaves_the_old_version_working(
    root: PluginRoot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ix = tmp_path / "ix"
    installer.install(root, load_manifest(publish(ix, "x", "v1.0.0", {"kubectl-x": script("old")})))
    new: Plugin = load_manifest(publish(ix, "x", "v2.0.0", {"kubectl-x": script("new")}))
    real_extract = archive.extract

    def half_extract(src: Path, target: Path, *, uri: str = "") -> None:
        real_extract(src, target, uri=uri)
        (target / "kubectl-x").write_bytes(b"#!/bin/sh\necho half\n")
        raise KeyboardInterrupt  # killed midway

    monkeypatch.setattr(archive, "extract", half_extract)
    with pytest.raises(KeyboardInterrupt):
        installer.upgrade(root, new)
    assert run_bin(root, "x") == "old\n"
    assert root.read_receipt("x").plugin.version == "v1.0.0"  # type: ignore[union-attr]
    assert sorted(p.name for p in root.store.iterdir()) == ["x"]  # no staging left
    monkeypatch.undo()
    installer.upgrade(root, new)
    assert run_bin(root, "x") == "new\n"


def test_files_operations_copy_and_rename(root: PluginRoot, tmp_path: Path) -> None:
    path = publish(tmp_path / "ix", "x", "v1.0.0", {"dist/linux/kubectl-x-linux": script("renamed"), "LICENSE": b"L"})
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["platforms"][0]["files"] = [
        {"from": "dist/*/kubectl-x-linux", "to": "kubectl-x"},
        {"from": "LICENSE", "to": "doc/"},
    ]
    path.write_text(yaml.safe_dump(doc))
    installer.install(root, load_manifest(path))
    assert run_bin(root, "x") == "renamed\n"
    assert (root.version_dir("x", "v1.0.0") / "doc/LICENSE").read_bytes() == b"L"
    assert not (root.version_dir("x", "v1.0.0") / "dist").exists()


def test_git_indexes_are_cloned_and_updated(root: PluginRoot, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    publish(repo, "x", "v1.0.0", {"kubectl-x": script("one")})
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    entry = indexes.add(root, "team", str(repo))
    assert entry.git and indexes.find(root, "team/x")[1].version == "v1.0.0"
    publish(repo, "x", "v1.1.0", {"kubectl-x": script("two")})
    subprocess.run([*git, "commit", "-q", "-am", "two"], check=True)
    assert indexes.find(root, "x")[1].version == "v1.0.0"  # not until update
    [(_, what)] = indexes.update(root)
    assert what.startswith("updated") and indexes.find(root, "x")[1].version == "v1.1.0"
    indexes.remove(root, "team")
    assert indexes.list_indexes(root) == []


def test_a_directory_without_plugins_is_not_an_index(root: PluginRoot, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(indexes.PluginIndexError, match="not a plugin index"):
        indexes.add(root, "x", str(tmp_path / "empty"))
    assert indexes.list_indexes(root) == []


def test_leftovers_of_a_killed_install_are_swept_and_a_version_moved_aside_comes_back(
    root: PluginRoot, tmp_path: Path
) -> None:
    ix = tmp_path / "ix"
    installer.install(root, load_manifest(publish(ix, "x", "v1.0.0", {"kubectl-x": script("old")})))
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = root.store / f".tmp-{dead.pid}-x-abc"
    stale.mkdir()
    # killed after moving v1.0.0 aside for a forced reinstall, before moving the new one in
    os.rename(root.version_dir("x", "v1.0.0"), root.store / "x" / f".old-{dead.pid}-v1.0.0")
    mine = root.store / f".tmp-{os.getpid()}-y-running"
    mine.mkdir()
    installer.install(root, load_manifest(publish(ix, "y", "v1.0.0", {"kubectl-y": script("y")})))
    assert not stale.exists() and mine.exists()
    assert run_bin(root, "x") == "old\n"


def test_a_file_url_to_a_plain_directory_is_linked_not_cloned(root: PluginRoot, tmp_path: Path) -> None:
    publish(tmp_path / "ix", "x", "v1.0.0", {"kubectl-x": b"x"})
    entry = indexes.add(root, "local", (tmp_path / "ix").as_uri())
    assert not entry.git and entry.path.is_symlink() and indexes.find(root, "local/x")[1].name == "x"
