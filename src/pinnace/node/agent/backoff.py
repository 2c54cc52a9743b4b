"""CrashLoopBackOff: how long a container that keeps exiting waits before its next restart.

The kubelet's rule (``flowcontrol.Backoff`` keyed by pod and container): the
first restart is immediate; each later exit that comes within the current
back-off of the previous one waits out the rest of it, and the back-off
doubles (10 s, 20 s, 40 s … capped at 5 min). A container that ran for longer
than the reset window (10 min) starts again from the initial back-off. Times
are wall-clock seconds (a container's finishedAt), read from an injected clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from pinnace.runtime.clock import Clock, RealClock

__all__ = ["CrashBackoff"]


@dataclass
class _Entry:
    delay: float
    last: float


class CrashBackoff:
    """Per-container restart back-off (see the module docstring)."""

    def __init__(
        self, base: float = 10.0, cap: float = 300.0, *, reset_after: float = 600.0, clock: Clock | None = None
    ) -> None:
        self.base = base
        self.cap = cap
        self.reset_after = reset_after
        self.clock: Clock = clock or RealClock()
        self._entries: dict[tuple[str, str], _Entry] = {}

    def remaining(self, key: tuple[str, str], finished_at: float) -> float:
        """Seconds until the container that finished at ``finished_at`` may restart (0: now)."""
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        return max(0.0, entry.delay - (self.clock.wall().timestamp() - finished_at))

    def current(self, key: tuple[str, str]) -> float:
        """The back-off now in force for ``key`` (for the CrashLoopBackOff message)."""
        entry = self._entries.get(key)
        return entry.delay if entry is not None else self.base

    def restarted(self, key: tuple[str, str], finished_at: float, ran_for: float) -> None:
        """Record a restart of the container that finished at ``finished_at`` after running ``ran_for`` seconds."""
        entry = self._entries.get(key)
        if entry is None or ran_for > self.reset_after or finished_at - entry.last > 2 * self.cap:
            self._entries[key] = _Entry(self.base, finished_at)
        else:
            entry.delay = min(entry.delay * 2, self.cap)
            entry.last = finished_at

    def forget_pod(self, uid: str) -> None:
        """Drop every entry of a pod that is gone."""
        for key in [k for k in self._entries if k[0] == uid]:
            del self._entries[key]
