"""CRI log files read back with pods/log's options: tail, since, timestamps, limitBytes, partial lines, follow."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from pinnace.node.crilog import CRILog
from pinnace.node.streams import logs
from pinnace.node.streams.logs import LogOptions, read_log

LINES = [
    "2026-01-02T03:04:05.000000001Z stdout F one",
    "2026-01-02T03:04:06.5Z stderr F two",
    "2026-01-02T03:04:07.123456789+00:00 stdout P thr",
    "2026-01-02T03:04:07.2Z stdout F ee",
    "2026-01-02T03:04:08Z stdout F ",
    "garbage that is not a log line",
]


async def collect(path: Path, options: LogOptions) -> bytes:
    return b"".join([chunk async for chunk in read_log(path, options)])


def follow(path: Path, running: Callable[[], Awaitable[bool]]) -> tuple[asyncio.Task[None], list[bytes]]:
    """``logs -f`` of ``path`` in a task, and the chunks it has read so far."""
    got: list[bytes] = []

    async def read() -> None:
        async for chunk in read_log(path, LogOptions(follow=True), running):
            got.append(chunk)

    return asyncio.create_task(read()), got


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "0.log"
    path.write_text("\n".join(LINES) + "\n")
    return path


def test_timestamps_parse_to_nanoseconds_in_utc() -> None:
    seconds, text = logs.parse_timestamp("2026-01-02T04:04:05.5+01:00")
    assert text == "2026-01-02T03:04:05.500000000Z"
    assert logs.parse_timestamp(logs.format_timestamp(seconds))[1] == text
    entry = logs.parse_line(b"2026-01-02T03:04:05Z stderr P part")
    assert (entry.stream, entry.partial, entry.content) == ("stderr", True, b"part")
    with pytest.raises(ValueError):
        logs.parse_line(b"2026-01-02T03:04:05Z stdin F x")


async def test_the_whole_log_joins_partial_lines(log_file: Path) -> None:
    assert await collect(log_file, LogOptions()) == b"one\ntwo\nthree\n\n"


async def test_tail_lines_counts_entries_from_the_end(log_file: Path) -> None:
    assert await collect(log_file, LogOptions(tail_lines=2)) == b"ee\n\n"
    assert await collect(log_file, LogOptions(tail_lines=0)) == b""


async def test_since_and_timestamps(log_file: Path) -> None:
    since = logs.parse_timestamp("2026-01-02T03:04:06Z")[0]
    out = await collect(log_file, LogOptions(since=since, timestamps=True))
    assert out.decode().splitlines()[0] == "2026-01-02T03:04:06.500000000Z two"
    assert b"one" not in out


async def test_limit_bytes_cuts_the_output(log_file: Path) -> None:
    assert await collect(log_file, LogOptions(limit_bytes=6)) == b"one\ntw"


async def test_follow_streams_new_lines_until_the_container_ends(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_text(LINES[0] + "\n")
    running = True

    async def is_running() -> bool:
        return running

    task, got = follow(path, is_running)
    for _ in range(100):
        if got:
            break
        await asyncio.sleep(0.02)
    assert got == [b"one\n"]
    with path.open("a") as f:
        f.write("2026-01-02T03:04:09Z stdout F later\n2026-01-02T03:04:09Z stdout F half")
    for _ in range(100):
        if b"".join(got) == b"one\nlater\n":
            break
        await asyncio.sleep(0.02)
    assert b"".join(got) == b"one\nlater\n"
    assert not task.done()
    with path.open("a") as f:
        f.write("way\n")
    running = False
    await asyncio.wait_for(task, 5)
    assert b"".join(got) == b"one\nlater\nhalfway\n"


async def test_follow_goes_on_in_the_new_file_when_the_log_is_rotated(tmp_path: Path) -> None:
    """The shim rotates a long log (crilog: the file renamed, a new one started); ``logs -f`` reads the rest of
    the old file, then the new one from its start, as the kubelet's follower does."""
    path = tmp_path / "0.log"
    log = CRILog(str(path), max_size=200, max_files=3)
    partial = bytearray()
    log.write("stdout", b"first\n", partial)

    async def never_ends() -> bool:
        return True

    task, got = follow(path, never_ends)

    async def received(expected: bytes) -> bytes:
        for _ in range(250):
            if b"".join(got) == expected:
                break
            await asyncio.sleep(0.02)
        return b"".join(got)

    try:
        expected = b"first\n"
        for i in range(12):  # ~50 bytes a record: a rotation every 4 or so, each followed in order
            log.write("stdout", b"line %d\n" % i, partial)
            expected += b"line %d\n" % i
            assert await received(expected) == expected
        assert len(list(tmp_path.glob("0.log.*"))) == 2  # max_files 3: the current file and two rotated
    finally:
        task.cancel()
        log.close()
