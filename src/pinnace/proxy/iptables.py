"""The edge to the kernel: ``iptables-save`` to read a network namespace's tables, ``iptables-restore`` to write.

(And the one sysctl the rules rely on: ``route_localnet``.)

:class:`Iptables` runs the two commands (in the current network namespace, or
through ``nsenter`` in another one) — two execs per sync, never one per rule:
:meth:`Iptables.state` reads which chains and jumps of ours exist, and
:meth:`Iptables.restore` applies a whole transaction with ``--noflush`` (so
the tables' other chains — CNI's, the host's — are left alone). A failed
restore changes nothing (the kernel commits the whole input or none of it) and
raises :class:`IptablesError` with iptables' message.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field

from pinnace.proxy.rules import DEFAULT_PREFIX, base_chains, jumps, owned_prefixes

__all__ = ["Iptables", "IptablesError", "TableState"]


class IptablesError(RuntimeError):
    """iptables-save or iptables-restore failed (the message has its stderr)."""


@dataclass
class TableState:
    """What of ours is in the tables now: chains per table, installed jumps and their saved lines."""

    chains: dict[str, set[str]] = field(default_factory=lambda: {"filter": set(), "nat": set()})
    jumps: set[tuple[str, str, str]] = field(default_factory=set)
    jump_lines: dict[str, list[str]] = field(default_factory=lambda: {"filter": [], "nat": []})
    #: Saved lines of our nat jumps to the services chain that come after the default prefix's (see parse_save).
    misplaced: dict[str, list[str]] = field(default_factory=lambda: {"filter": [], "nat": []})


def parse_save(text: str, prefix: str = DEFAULT_PREFIX) -> TableState:
    """Read ``iptables-save`` output: our chains (those of ``prefix``: KUBE-*) and the jumps from built-in chains
    into them.

    Under another prefix than ``KUBE-``, a nat jump of ours to our services chain that comes after the jump to
    ``KUBE-SERVICES`` in the same chain is *misplaced* (not counted as installed): that cluster's NodePorts match
    every local address, and would take traffic for ours to a node port number both gave out, so ours go first.
    """
    state = TableState()
    table = ""
    base, owned = base_chains(prefix), owned_prefixes(prefix)
    targets = {(t, chain, rule.rsplit("-j ", 1)[1]): (t, chain, rule) for t, chain, rule in jumps(prefix)}
    services, default_services = f"{prefix}SERVICES", f"{DEFAULT_PREFIX}SERVICES"
    after_default: set[str] = set()  # nat chains where the jump to KUBE-SERVICES was seen
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif table in state.chains and line.startswith(":"):
            name = line[1:].split(" ", 1)[0]
            if name in base[table] or name.startswith(owned):
                state.chains[table].add(name)
        elif table in state.chains and line.startswith("-A ") and " -j " in line:
            chain = line.split(" ", 2)[1]
            target = line.rsplit(" -j ", 1)[1].split(" ", 1)[0]
            jump = targets.get((table, chain, target))
            if table == "nat" and target == default_services and prefix != DEFAULT_PREFIX:
                after_default.add(chain)
            elif jump is not None and table == "nat" and target == services and chain in after_default:
                state.misplaced[table].append(line)
                state.jump_lines[table].append(line)
            elif jump is not None:
                state.jumps.add(jump)
                state.jump_lines[table].append(line)
    return state


class Iptables:
    """``iptables-save``/``iptables-restore`` in one network namespace (``netns``: its path; None: this one)."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self.prefix: Sequence[str] = ("nsenter", f"--net={netns}", "--") if netns else ()

    @staticmethod
    def available() -> bool:
        """Whether the iptables tools are installed."""
        return shutil.which("iptables-restore") is not None and shutil.which("iptables-save") is not None

    async def _run(self, *argv: str, stdin: bytes | None = None) -> str:
        proc = await asyncio.create_subprocess_exec(
            *self.prefix,
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(stdin)
        if proc.returncode != 0:
            raise IptablesError(f"{argv[0]} failed ({proc.returncode}): {err.decode(errors='replace').strip()}")
        return out.decode(errors="replace")

    async def save(self) -> str:
        """The ``filter`` and ``nat`` tables as ``iptables-save`` prints them."""
        return await self._run("iptables-save")

    async def state(self, prefix: str = DEFAULT_PREFIX) -> TableState:
        """Our chains and jumps (those of the chain ``prefix``), as they are now."""
        return parse_save(await self.save(), prefix)

    async def enable_route_localnet(self) -> None:
        """Let DNAT send traffic to 127.0.0.0/8 endpoints (``net.ipv4.conf.all.route_localnet=1``), as kube-proxy."""
        await self._run("sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet")

    async def restore(self, text: str) -> None:
        """Apply ``text`` as one ``iptables-restore --noflush`` transaction (waiting for the xtables lock)."""
        if text:
            await self._run("iptables-restore", "-w", "5", "--noflush", stdin=text.encode())
