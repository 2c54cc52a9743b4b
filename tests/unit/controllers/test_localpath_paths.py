"""What the local-path provisioner agrees to remove: only what lies strictly under a node's published root."""

from __future__ import annotations

import os
from pathlib import Path

from pinnace.controllers.localpath import removable_path, volume_directory


def test_a_volume_directory_is_named_after_the_claim(tmp_path: Path) -> None:
    claim = {"metadata": {"uid": "abc", "namespace": "ns", "name": "data"}}
    assert volume_directory(str(tmp_path), claim) == f"{tmp_path}/pvc-abc_ns_data"


def test_only_paths_strictly_under_the_root_are_removable(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "pvc-1").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    assert removable_path(str(root), str(root / "pvc-1")) == root / "pvc-1"
    assert removable_path(str(root), str(root / "a" / "b")) == root / "a" / "b"
    assert removable_path(str(root), str(root)) is None
    assert removable_path(str(root), str(root) + "/") is None
    assert removable_path(str(root), str(tmp_path / "outside")) is None
    assert removable_path(str(root), str(root) + "-sibling/pvc-1") is None
    assert removable_path(str(root), f"{root}/../outside") is None
    assert removable_path(str(root), "relative/pvc-1") is None
    assert removable_path("", str(root / "pvc-1")) is None


def test_links_are_never_followed_out_of_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    (outside / "victim").mkdir(parents=True)
    os.symlink(outside, root / "escape")
    # a directory reached through a link that leaves the root is refused
    assert removable_path(str(root), str(root / "escape" / "victim")) is None
    # a link as the last component is itself the target (removed as a link, not followed)
    assert removable_path(str(root), str(root / "escape")) == root / "escape"
    # a root that is itself a link (e.g. /tmp on some systems) is fine
    os.symlink(root, tmp_path / "root-link")
    assert removable_path(str(tmp_path / "root-link"), str(tmp_path / "root-link" / "pvc-1")) == root / "pvc-1"
