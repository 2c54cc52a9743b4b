"""The edge to the kernel's connection tracking table: ``conntrack -D`` (the conntrack-tools CLI).

:class:`Conntrack` deletes the entries each :class:`~.stale.Flush` describes,
in the current network namespace or, through ``nsenter``, in another one (the
table is per namespace, as the iptables rules are). ``conntrack`` exits 1 when
no entry matched; that is not an error. A deletion that fails is tried again
with the next call's, up to :data:`ATTEMPTS` times in all. Without the tool
installed the proxy still routes Services (only stale UDP flows are not cut):
it says so once and deletes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
from collections.abc import Iterable, Sequence

from pinnace.proxy.stale import Flush

__all__ = ["Conntrack", "ConntrackError"]

log = logging.getLogger(__name__)

#: How many times in all a failing deletion is tried (once per :meth:`Conntrack.flush` call).
ATTEMPTS = 3
_DELETED = re.compile(rb"(\d+) flow entries have been deleted")


class ConntrackError(RuntimeError):
    """``conntrack -D`` failed (the message has its stderr)."""


class Conntrack:
    """``conntrack -D`` in one network namespace (``netns``: its path; None: this one)."""

    def __init__(self, netns: str | None = None, *, tool: str = "conntrack") -> None:
        self.netns = netns
        self.tool = tool
        self.prefix: Sequence[str] = ("nsenter", f"--net={netns}", "--") if netns else ()
        self._missing_said = False
        #: Deletions that failed, with how many times they were tried.
        self._failed: dict[Flush, int] = {}

    def available(self) -> bool:
        """Whether the tool is installed (if not: logged once, as a warning)."""
        if shutil.which(self.tool) is not None:
            return True
        if not self._missing_said:
            log.warning(
                "service proxy: %r (conntrack-tools) is not installed: UDP clients may keep sending to endpoints "
                "that are gone until their flows time out",
                self.tool,
            )
            self._missing_said = True
        return False

    async def delete(self, flush: Flush) -> int:
        """Delete the entries ``flush`` matches; how many there were."""
        proc = await asyncio.create_subprocess_exec(
            *self.prefix,
            self.tool,
            "-D",
            *flush.args(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
        found = _DELETED.search(err)
        if proc.returncode == 0 or (proc.returncode == 1 and found is not None):
            return int(found.group(1)) if found else 0
        raise ConntrackError(f"conntrack -D {' '.join(flush.args())} failed ({proc.returncode}): "
                             f"{err.decode(errors='replace').strip()}")  # fmt: skip

    async def flush(self, flushes: Iterable[Flush]) -> list[Flush]:
        """Delete the entries of each of ``flushes`` and of the earlier calls' failed ones (nothing if the tool is
        missing); those that failed this time (logged), to be tried again at the next call unless given up."""
        tried, self._failed = self._failed, {}
        todo = sorted({*flushes, *tried})
        if not todo or not self.available():
            return []
        failed: list[Flush] = []
        for flush in todo:
            try:
                deleted = await self.delete(flush)
            except (ConntrackError, OSError) as exc:
                failed.append(flush)
                attempts = tried.get(flush, 0) + 1
                if attempts < ATTEMPTS:
                    self._failed[flush] = attempts
                    log.warning("service proxy: deleting stale UDP conntrack entries failed (will retry): %s", exc)
                else:
                    log.warning("service proxy: deleting stale UDP conntrack entries failed, giving up: %s", exc)
                continue
            if deleted:
                log.info("service proxy: deleted %d stale UDP conntrack entries (%s)", deleted, " ".join(flush.args()))
        return failed
