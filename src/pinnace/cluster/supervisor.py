"""Supervised child processes: what ``pinnace up`` runs beside its API server, kept alive as static pods are.

:class:`SupervisedProcess` starts a ``pinnace …`` child (its output goes to
this process's stderr; it gets SIGTERM when its parent dies, so nothing
outlives its cluster), restarts it with exponential backoff whenever it exits,
logging each exit loudly, and stops it with SIGTERM then SIGKILL. The
controller manager and every node agent run under one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

__all__ = ["SupervisedProcess", "die_with_parent"]

log = logging.getLogger(__name__)

#: Linux prctl option: signal this process when its parent dies.
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the parent dies (Linux), so no child outlives its cluster."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class SupervisedProcess:
    """One child process, restarted whenever it exits (see the module docstring)."""

    def __init__(self, what: str, argv: Sequence[str], *, env: dict[str, str] | None = None) -> None:
        #: What the child is, for logs ("the controller manager", "node agent node-1").
        self.what = what
        self.argv = list(argv)
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the child; its output goes where this process's stderr goes."""
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=sys.stderr.fileno(),
            stderr=sys.stderr.fileno(),
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(self.env or {})},
        )

    async def supervise(self, *, max_backoff: float = 30.0) -> None:
        """Restart the child whenever it exits, with exponential backoff, until cancelled."""
        backoff = 1.0
        while True:
            if self.proc is None:
                self.start()
            assert self.proc is not None
            started = time.monotonic()
            code = await asyncio.to_thread(self.proc.wait)
            log.error("%s (pid %d) exited with code %d; restarting it", self.what, self.proc.pid, code)
            if time.monotonic() - started > 2 * max_backoff:
                backoff = 1.0
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff)
            self.proc = None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to ``timeout`` for a graceful shutdown, then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s (pid %d) did not stop in %.0fs; killing it", self.what, self.proc.pid, timeout)
            self.proc.kill()
            self.proc.wait()
