"""The oci runtime's record cache: a record is parsed again only when its file was replaced."""

from __future__ import annotations

import os
from pathlib import Path

from pinnace.node.oci.records import RecordCache, write_record


def test_a_record_is_read_again_only_when_replaced(tmp_path: Path) -> None:
    cache = RecordCache()
    path = str(tmp_path / "c1" / "state.json")
    os.makedirs(os.path.dirname(path))
    assert cache.read(path) is None
    write_record(path, {"pid": 7})
    first = cache.read(path)
    assert first == {"pid": 7}
    assert cache.read(path) is first  # unchanged file: the parsed record is reused
    write_record(path, {"pid": 7, "exit_code": 0})  # replaced by rename, as the shim does
    assert cache.read(path) == {"pid": 7, "exit_code": 0}
    with open(path, "w") as handle:  # rewritten in place: size and times change
        handle.write('{"pid": 8}')
    assert cache.read(path) == {"pid": 8}
    os.unlink(path)
    assert cache.read(path) is None


def test_forgetting_a_directory_drops_its_records(tmp_path: Path) -> None:
    cache = RecordCache()
    kept, dropped = str(tmp_path / "c10" / "state.json"), str(tmp_path / "c1" / "state.json")
    for path in (kept, dropped):
        os.makedirs(os.path.dirname(path))
        write_record(path, {"path": path})
        cache.read(path)
    cache.forget_under(str(tmp_path / "c1"))
    assert list(cache._entries) == [kept]
