"""A container's CRI log file, as both runtimes' shims write it: records, and rotation.

Each line of output is a record ``<RFC3339Nano> stdout|stderr F|P <text>``; a line
longer than 16 KiB is cut into ``P`` (partial) records whose last part is ``F``, as
containerd does. The file is rotated as the kubelet's container log manager does it
(``--container-log-max-size`` 10Mi, ``--container-log-max-files`` 5): once it has
grown past the size, it is renamed ``<file>.<UTC time>`` and a new one started, and
only the newest rotated files are kept, so a container that prints without end
cannot fill the disk (the API server's store is often on the same one). ``kubectl
logs`` reads the current file, as upstream's does. Output that cannot be written (a
full disk) is dropped; the container is never held up by its log.

Stdlib only: the process runtime's shim, run by path (``python -S``), imports it as a
top-level module; the ``oci`` runtime's shim imports it from the package.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

__all__ = ["MAX_FILES", "MAX_LINE", "MAX_SIZE", "CRILog", "remove_log", "rfc3339nano"]

#: Longest partial line kept before it is written as a ``P`` record (containerd's 16 KiB).
MAX_LINE = 16 * 1024
#: The kubelet's defaults: rotate past 10 MiB, keep 5 files in all (the current one included).
MAX_SIZE = 10 * 1024 * 1024
MAX_FILES = 5


def rfc3339nano(ns: int) -> str:
    """A CRI log timestamp: RFC 3339, UTC, nanoseconds."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{nanos:09d}Z"


def _rotated(path: str) -> list[str]:
    """The rotated files of the log at ``path``, oldest first."""
    directory, name = os.path.split(path)
    found = []
    try:
        for entry in os.scandir(directory or "."):
            if entry.name.startswith(name + "."):
                with contextlib.suppress(OSError):  # gone meanwhile
                    found.append((entry.stat().st_mtime_ns, entry.path))
    except OSError:
        return []
    return [rotated for _, rotated in sorted(found)]


def remove_log(path: str) -> None:
    """Delete a removed container's log and its rotated files (the kubelet's container GC does the same)."""
    for doomed in [path, *_rotated(path)]:
        with contextlib.suppress(OSError):
            os.remove(doomed)


class CRILog:
    """One container's log file: :meth:`write` a stream's output, :meth:`flush` what is left of a line at its end.

    Thread-safe (the ``oci`` shim pumps stdout and stderr on threads of their own). A ``path`` of "" writes
    nothing (a container with no log)."""

    def __init__(self, path: str, max_size: int = MAX_SIZE, max_files: int = MAX_FILES) -> None:
        self.path = path
        self.max_size = max_size
        self.max_files = max(1, max_files)
        self._lock = threading.Lock()
        self._handle = open(path, "ab", buffering=0) if path else None  # noqa: SIM115
        self._size = os.fstat(self._handle.fileno()).st_size if self._handle is not None else 0

    def write(self, stream: str, data: bytes, partial: bytearray) -> None:
        """Append ``stream``'s ``data``: its complete lines as ``F`` records, a line that reached :data:`MAX_LINE`
        without ending as ``P`` records; the rest stays in ``partial`` (the stream's own) for the next call."""
        partial += data
        records = []
        stamp = b"%s %s " % (rfc3339nano(time.time_ns()).encode(), stream.encode())
        while True:
            newline = partial.find(b"\n")
            if newline < 0:
                break
            records.append(stamp + b"F " + bytes(partial[:newline]) + b"\n")
            del partial[: newline + 1]
        while len(partial) >= MAX_LINE:
            records.append(stamp + b"P " + bytes(partial[:MAX_LINE]) + b"\n")
            del partial[:MAX_LINE]
        if records:
            self._append(b"".join(records))

    def flush(self, stream: str, partial: bytearray) -> None:
        """At the end of ``stream``, what is left in ``partial`` is a last full line."""
        if partial:
            self._append(b"%s %s F %s\n" % (rfc3339nano(time.time_ns()).encode(), stream.encode(), bytes(partial)))
            partial.clear()

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    def _append(self, data: bytes) -> None:
        with self._lock:
            if self._handle is None:
                return
            with contextlib.suppress(OSError):  # a full disk: the output is lost, the container goes on
                self._handle.write(data)
                self._size += len(data)
            if self._size >= self.max_size:
                self._rotate()

    def _rotate(self) -> None:
        """Rename the current file ``<path>.<UTC time>``, start a new one, and keep the newest rotated files."""
        assert self._handle is not None
        rotated = f"{self.path}.{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
        n = 0
        while os.path.exists(rotated if not n else f"{rotated}.{n}"):  # rotated twice in one second
            n += 1
        try:
            os.rename(self.path, rotated if not n else f"{rotated}.{n}")
            handle = open(self.path, "ab", buffering=0)  # noqa: SIM115
        except OSError:  # the directory is gone or full: go on appending where we are
            return
        self._handle.close()
        self._handle, self._size = handle, 0
        older = _rotated(self.path)
        for path in older[: max(0, len(older) - (self.max_files - 1))]:
            with contextlib.suppress(OSError):
                os.remove(path)
