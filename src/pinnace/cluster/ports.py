"""Free TCP ports for child processes to listen on, chosen so that nothing else takes them meanwhile.

A port is chosen in one process and bound later in another (an etcd member, a node
agent). Between the two, the kernel hands out local ports to outgoing connections
from its ephemeral range (``net.ipv4.ip_local_port_range``), so a port found free
by binding port 0 -- which draws from that same range -- can be taken by any
connection opened in the meantime: etcd peers dialing each other while a
cluster starts did exactly that (``bind: address already in use``). Ports are
therefore chosen below the ephemeral range, where only listeners live, and a
process never hands out the same port twice.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

__all__ = ["free_port"]

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 20000
"""Below this sit ports that well-known servers use (6443, 10250, 2379, 5000, ...)."""

_handed_out: set[tuple[str, int]] = set()


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for the local ports of outgoing connections (Linux's default if unreadable)."""
    try:
        low, high = (int(part) for part in _RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def _candidates(count: int) -> list[int]:
    """Up to ``count`` random ports outside the ephemeral range and above the well-known ones."""
    low, high = _ephemeral_range()
    spans = [span for span in (range(_LOWEST, low), range(high + 1, 65536)) if len(span)]
    if not spans:
        return []
    return [random.choice(random.choices(spans, weights=[len(s) for s in spans])[0]) for _ in range(count)]


def _bindable(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on now and no outgoing connection will take.

    When the ephemeral range leaves no room (a kernel configured to use nearly every
    port for it), the kernel's own pick (port 0) is the fallback.
    """
    for port in _candidates(200):
        if (host, port) not in _handed_out and _bindable(host, port):
            _handed_out.add((host, port))
            return port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port = int(probe.getsockname()[1])
    _handed_out.add((host, port))
    return port
