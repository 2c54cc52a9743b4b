"""The edge to the kernel's connection tracking table: ``conntrack -L`` and ``-D`` (the conntrack-tools CLI).

:class:`Conntrack` lists the UDP entries (:meth:`Conntrack.entries`, for the
proxy's first sync) and deletes the entries each :class:`~.stale.Flush` describes,
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

from pinnace.proxy.stale import Entry, Flush

__all__ = ["Conntrack", "ConntrackError", "parse_entries"]

log = logging.getLogger(__name__)

#: How many times in all a failing deletion is tried (once per :meth:`Conntrack.flush` call).
ATTEMPTS = 3
_DELETED = re.compile(rb"(\d+) flow entries have been deleted")


class ConntrackError(RuntimeError):
    """``conntrack`` failed (the message has its stderr)."""


def parse_entries(text: str) -> list[Entry]:
    """Read ``conntrack -L`` output: each line's first ``dst=``/``dport=`` (the original direction) and second
    ``src=`` (the reply direction); lines without ports (not UDP) are left out."""
    out: list[Entry] = []
    for line in text.splitlines():
        fields: dict[str, list[str]] = {}
        for word in line.split():
            key, sep, value = word.partition("=")
            if sep:
                fields.setdefault(key, []).append(value)
        srcs, dsts, dports = fields.get("src", []), fields.get("dst", []), fields.get("dport", [])
        if len(srcs) >= 2 and dsts and dports:
            out.append(Entry(dsts[0], int(dports[0]), srcs[1]))
    return out


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

    async def _run(self, *argv: str) -> tuple[int, bytes, bytes]:
        proc = await asyncio.create_subprocess_exec(
            *self.prefix,
            self.tool,
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        return proc.returncode or 0, out, err

    @staticmethod
    def _error(argv: Sequence[str], code: int, err: bytes) -> ConntrackError:
        return ConntrackError(f"conntrack {' '.join(argv)} failed ({code}): {err.decode(errors='replace').strip()}")

    async def entries(self) -> list[Entry]:
        """The namespace's IPv4 UDP entries."""
        argv = ("-L", "-p", "udp", "-f", "ipv4")
        code, out, err = await self._run(*argv)
        if code != 0:
            raise self._error(argv, code, err)
        return parse_entries(out.decode(errors="replace"))

    async def delete(self, flush: Flush) -> int:
        """Delete the entries ``flush`` matches; how many there were."""
        argv = ("-D", *flush.args())
        code, _, err = await self._run(*argv)
        found = _DELETED.search(err)
        if code == 0 or (code == 1 and found is not None):
            return int(found.group(1)) if found else 0
        raise self._error(argv, code, err)

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
