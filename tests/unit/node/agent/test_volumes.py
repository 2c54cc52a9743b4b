"""The AtomicWriter: a volume's files change all at once, through a ``..data`` symlink."""

from __future__ import annotations

import os
from pathlib import Path

from pinnace.node.agent.volumes import AtomicWriter


def test_atomic_writer_publishes_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "vol"
    writer = AtomicWriter(target)
    assert writer.write({"a": (b"1", 0o644), "dir/b": (b"2", 0o400)})
    assert (target / "a").read_bytes() == b"1" and (target / "dir" / "b").read_bytes() == b"2"
    assert os.readlink(target / "a") == "..data/a"
    assert oct((target / "dir" / "b").stat().st_mode & 0o777) == "0o400"
    first = os.readlink(target / "..data")
    assert not writer.write({"a": (b"1", 0o644), "dir/b": (b"2", 0o400)})  # unchanged: nothing written
    assert writer.write({"a": (b"changed", 0o644)})
    assert (target / "a").read_bytes() == b"changed"
    assert not (target / "dir").exists()  # keys that went away go
    assert not (target / first).exists()  # the old payload directory is removed
    assert sorted(p.name for p in target.iterdir() if not p.name.startswith("..")) == ["a"]
