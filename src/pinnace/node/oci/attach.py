"""The wire format between a shim's attach socket and its clients, and the terminal resize both use.

A client sends one JSON line ``{"stdin": bool}``; then frames
``<kind:1><length:4 big-endian><data>`` flow both ways: kinds :data:`STDOUT`
and :data:`STDERR` go to the client, :data:`STDIN` comes from it (empty data:
end of stdin) and :data:`RESIZE` carries two big-endian uint16 (width, height).
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
import struct
import termios

STDIN, STDOUT, STDERR, RESIZE = 0, 1, 2, 3
HEADER = struct.Struct(">BI")


def frame(kind: int, data: bytes) -> bytes:
    """One attach frame."""
    return HEADER.pack(kind, len(data)) + data


def read_frame(sock: socket.socket) -> tuple[int, bytes] | None:
    """The next attach frame from a blocking socket, or None at its end."""
    header = _recv_exact(sock, HEADER.size)
    if header is None:
        return None
    kind, length = HEADER.unpack(header)
    data = _recv_exact(sock, length) if length else b""
    return None if data is None else (kind, data)


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def set_winsize(fd: int, width: int, height: int) -> None:
    """Resize the terminal behind ``fd``."""
    with contextlib.suppress(OSError):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
