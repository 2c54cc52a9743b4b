"""Reading container logs in the CRI format, as ``kubectl logs`` asks for them.

A runtime writes one line per chunk of output: ``<RFC3339Nano time> <stdout|stderr>
<F|P> <text>``, P marking a partial line whose rest follows in the next entry.
:func:`read_log` turns such a file back into the container's output with the
options of ``pods/log``: tailLines, sinceSeconds/sinceTime, timestamps (each
entry prefixed with its time), limitBytes, and follow (keep reading while the
container runs; stop at its end).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

__all__ = ["LogEntry", "LogOptions", "format_timestamp", "parse_line", "parse_timestamp", "read_log"]

#: How often a followed log is polled for new lines, and how often the container is checked for its end.
FOLLOW_POLL = 0.1
RUNNING_CHECK = 1.0


@dataclass(frozen=True, slots=True)
class LogOptions:
    """The options of ``pods/log`` (upstream's PodLogOptions) that shape the output."""

    follow: bool = False
    tail_lines: int | None = None
    #: Only entries at or after this time (UNIX seconds; from sinceSeconds or sinceTime).
    since: float | None = None
    timestamps: bool = False
    limit_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One parsed CRI log line."""

    time: float
    #: The time as written, nanoseconds included, for ``timestamps=true``.
    timestamp: str
    stream: str
    partial: bool
    content: bytes

    def render(self, timestamps: bool) -> bytes:
        """The entry as the client sees it: its text, a newline unless partial, the time first if asked."""
        body = self.content if self.partial else self.content + b"\n"
        return f"{self.timestamp} ".encode() + body if timestamps else body


def parse_timestamp(value: str) -> tuple[float, str]:
    """An RFC 3339 time with up to nanoseconds: (UNIX seconds, RFC3339Nano normalised to UTC with 9 digits)."""
    head, frac, zone = value, "", "Z"
    if value.endswith("Z"):
        head = value[:-1]
    elif len(value) > 6 and value[-6] in "+-" and value[-3] == ":":
        head, zone = value[:-6], value[-6:]
    if "." in head:
        head, frac = head.split(".", 1)
    if not frac.isdigit() and frac:
        raise ValueError(f"bad timestamp {value!r}")
    moment = datetime.fromisoformat(head + ("+00:00" if zone == "Z" else zone)).astimezone(UTC)
    nanos = int((frac + "000000000")[:9])
    seconds = moment.timestamp() + nanos / 1e9
    return seconds, moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def format_timestamp(seconds: float) -> str:
    """UNIX seconds as RFC3339Nano in UTC (what runtimes write at the start of each log line)."""
    whole = int(seconds)
    nanos = round((seconds - whole) * 1e9)
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, nanos - 1_000_000_000
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def parse_line(line: bytes) -> LogEntry:
    """One CRI log line (without its newline); ValueError if it is not in that format."""
    parts = line.split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"F", b"P"):
        raise ValueError(f"not a CRI log line: {line[:80]!r}")
    seconds, stamp = parse_timestamp(parts[0].decode("ascii", "replace"))
    return LogEntry(seconds, stamp, parts[1].decode(), parts[2] == b"P", parts[3] if len(parts) > 3 else b"")


def _entries(lines: list[bytes]) -> list[LogEntry]:
    out = []
    for line in lines:
        if line:
            try:
                out.append(parse_line(line))
            except ValueError:
                continue  # a torn or foreign line: skipped, as the kubelet does
    return out


def _reopened(path: Path, current: BinaryIO) -> BinaryIO | None:
    """The file now at ``path`` if it is no longer the one ``current`` reads (rotated away), else None."""
    try:
        if os.stat(path).st_ino == os.fstat(current.fileno()).st_ino:
            return None
        return path.open("rb")
    except OSError:  # between the rename and the new file: the next poll finds it
        return None


async def read_log(
    path: Path, options: LogOptions, running: Callable[[], Awaitable[bool]] | None = None
) -> AsyncIterator[bytes]:
    """The container's output from its CRI log file, shaped by ``options``.

    With ``follow``, new lines are streamed as they are written, until ``running()``
    says the container has ended and the file has nothing more.
    """
    remaining = options.limit_bytes

    def clip(data: bytes) -> bytes:
        nonlocal remaining
        if remaining is None:
            return data
        data = data[:remaining]
        remaining -= len(data)
        return data

    f: BinaryIO = path.open("rb")  # rebound when the file is rotated while followed
    try:
        content = f.read()
        complete, _, rest = content.rpartition(b"\n")
        entries = _entries(complete.split(b"\n")) if complete or content.endswith(b"\n") else []
        offset = len(content) - len(rest)
        f.seek(offset)
        if options.since is not None:
            entries = [e for e in entries if e.time >= options.since]
        if options.tail_lines is not None:
            entries = entries[-options.tail_lines :] if options.tail_lines > 0 else []
        chunk = clip(b"".join(e.render(options.timestamps) for e in entries))
        if chunk:
            yield chunk
        if not options.follow:
            return
        pending = b""
        last_check = 0.0
        loop = asyncio.get_running_loop()
        while remaining is None or remaining > 0:
            data = f.read()
            if data:
                pending += data
                complete, _, pending = pending.rpartition(b"\n")
                entries = _entries(complete.split(b"\n"))
                if options.since is not None:
                    entries = [e for e in entries if e.time >= options.since]
                chunk = clip(b"".join(e.render(options.timestamps) for e in entries))
                if chunk:
                    yield chunk
                continue
            rotated = _reopened(path, f)
            if rotated is not None:  # the shim rotated the file (crilog): what it wrote since is in a new one
                f.close()
                f = rotated
                continue
            now = loop.time()
            if running is not None and now - last_check >= RUNNING_CHECK:
                last_check = now
                if not await running():
                    if f.read(1) == b"":
                        return
                    f.seek(-1, 1)
                    continue
            await asyncio.sleep(FOLLOW_POLL)
    finally:
        f.close()
