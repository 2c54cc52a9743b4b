"""The CRI log writer both shims use: records, partial lines, rotation as the kubelet's, a full disk."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pinnace.node import crilog
from pinnace.node.crilog import MAX_LINE, CRILog, remove_log

RECORD = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) ([FP]) (.*)$")


def records(*paths: Path) -> list[tuple[bytes, bytes, bytes]]:
    out = []
    for path in paths:
        for line in path.read_bytes().splitlines():
            match = RECORD.match(line)
            assert match, line
            out.append((match.group(1), match.group(2), match.group(3)))
    return out


def test_lines_become_records_and_an_over_long_one_partial_records(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    log = CRILog(str(path))
    out, err = bytearray(), bytearray()
    log.write("stdout", b"one\ntw", out)
    log.write("stderr", b"oops\n", err)
    log.write("stdout", b"o\n" + b"x" * (MAX_LINE + 5), out)
    log.flush("stdout", out)
    log.flush("stderr", err)
    log.close()
    assert records(path) == [
        (b"stdout", b"F", b"one"),
        (b"stderr", b"F", b"oops"),
        (b"stdout", b"F", b"two"),
        (b"stdout", b"P", b"x" * MAX_LINE),
        (b"stdout", b"F", b"xxxxx"),
    ]


def test_rotation_keeps_the_newest_files_and_loses_no_line_between_them(tmp_path: Path) -> None:
    """Past max_size the file is renamed <file>.<UTC time> and a new one started; max_files counts them all."""
    path = tmp_path / "0.log"
    log = CRILog(str(path), max_size=1000, max_files=3)
    partial = bytearray()
    for i in range(100):  # ~50 bytes a record: ~5,000 bytes, five or so rotations
        log.write("stdout", b"line %03d\n" % i, partial)
    log.close()
    rotated = sorted(tmp_path.glob("0.log.*"), key=lambda p: p.stat().st_mtime_ns)
    assert len(rotated) == 2 and all(re.fullmatch(r"0\.log\.\d{8}-\d{6}(\.\d+)?", p.name) for p in rotated)
    assert all(1000 <= p.stat().st_size < 1100 for p in rotated) and path.stat().st_size < 1000
    lines = [text for _, _, text in records(*rotated, path)]
    first = int(lines[0].split()[1])
    assert lines == [b"line %03d" % i for i in range(first, 100)]  # the newest, in order, none missing
    assert first > 0  # the oldest went


def test_the_files_of_the_containers_other_instances_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / "0.log").write_bytes(b"the instance before the restart\n")
    (tmp_path / "10.log.20260101-000000").write_bytes(b"the eleventh's rotated file\n")
    log = CRILog(str(tmp_path / "1.log"), max_size=10, max_files=1)  # rotates, keeping none of its own
    log.write("stdout", b"line\n", bytearray())
    log.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.log", "1.log", "10.log.20260101-000000"]


def test_a_removed_containers_log_goes_with_its_rotated_files(tmp_path: Path) -> None:
    log = CRILog(str(tmp_path / "0.log"), max_size=10)
    log.write("stdout", b"one\ntwo\n", bytearray())
    log.close()
    (tmp_path / "1.log").write_bytes(b"the next instance's\n")
    assert len(list(tmp_path.glob("0.log*"))) == 2
    remove_log(str(tmp_path / "0.log"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.log"]


def test_output_that_cannot_be_written_is_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk: the line is lost, the writer (and the container it serves) goes on."""
    path = tmp_path / "0.log"
    log = CRILog(str(path))
    partial = bytearray()
    handle = log._handle
    assert handle is not None

    def full(data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(handle, "write", full)
    log.write("stdout", b"lost\n", partial)
    monkeypatch.undo()
    log.write("stdout", b"kept\n", partial)
    log.close()
    assert records(path) == [(b"stdout", b"F", b"kept")]


def test_the_defaults_are_the_kubelets() -> None:
    assert (crilog.MAX_SIZE, crilog.MAX_FILES) == (10 * 1024 * 1024, 5)
