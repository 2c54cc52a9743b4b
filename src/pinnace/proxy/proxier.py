"""The service proxy a node agent runs: kube-proxy's iptables mode on the runtime SDK.

:class:`ServiceProxy` keeps two informers (Services and EndpointSlices, all
namespaces, minus those another proxy owns by the
``service.kubernetes.io/service-proxy-name`` label, as upstream), and on any
change re-renders the whole ruleset (:mod:`.rules`) and applies it in one
``iptables-restore --noflush`` transaction (:mod:`.iptables`). Syncs are rate
limited as upstream's BoundedFrequencyRunner limits them: at most one per
``min_sync_period`` (1 s), and one at least every ``sync_period`` (30 s) even
without changes, which also repairs rules someone else flushed. After the
rules, a sync deletes the UDP conntrack entries the change left stale
(:mod:`.stale`, :mod:`.conntrack`): flows to endpoints that are gone, and flows
to service IPs that were never DNAT'ed (a deletion that fails is tried again
at the next syncs); the first sync, with no earlier state to compare with,
looks at the table for them.

One network namespace, one proxy per cluster: several node agents can share
one (the ``process`` runtime's nodes all live in the host's), so the proxy
first takes an exclusive lock named after its namespace and its chain prefix
(``/run/pinnace/proxy-net-<inode>.lock``; ``proxy-net-<inode>-KUBE1.lock`` for
the chains ``KUBE1-*``); the others wait for it, and take over if the owner
goes. Two clusters on one host sharing a namespace use two chain prefixes
(:mod:`.rules`), each its own lock, and their proxies run side by side. The owner removes its
chains and jumps when it stops; after a crash the lock is released by the
kernel, and the next proxy's first sync replaces or deletes what was left.

:func:`service_proxy` is what the agent calls: a proxy, or None (logged: service
routing is off) where it cannot run — without CAP_NET_ADMIN or the iptables tools.
Cluster DNS (CoreDNS, ``*.svc.cluster.local`` names) is not part of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import math
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import IO, Any

from pinnace.client.rest import ResourceRef, RestClient
from pinnace.proxy.conntrack import Conntrack, ConntrackError
from pinnace.proxy.iptables import Iptables, IptablesError
from pinnace.proxy.rules import DEFAULT_PREFIX, chain_prefix, cleanup_input, render
from pinnace.proxy.stale import Flush, UdpPort, stale_flushes, udp_ports, unserved_flushes
from pinnace.runtime.cache.informer import EventHandler, Informer
from pinnace.runtime.cache.reflector import RestListerWatcher
from pinnace.runtime.clock import Clock, RealClock

__all__ = ["NetnsLock", "ServiceProxy", "SyncRunner", "service_proxy"]

log = logging.getLogger(__name__)

SERVICES = ResourceRef("", "v1", "services")
ENDPOINT_SLICES = ResourceRef("discovery.k8s.io", "v1", "endpointslices")
#: Upstream's selector: objects another proxy implementation claims, and headless ones, are not ours.
PROXY_SELECTOR = "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless"
LOCK_DIR = Path("/run/pinnace")
CAP_NET_ADMIN = 12


class SyncRunner:
    """Runs a sync when asked, at most once per ``min_interval``, and at least once per ``max_interval``.

    ``sync(periodic)`` is told whether it runs only because ``max_interval`` passed. A sync that raises is
    logged and retried after ``min_interval``, then after twice as long each time it fails again (up to
    ``max_interval``).
    """

    def __init__(self, min_interval: float, max_interval: float, *, clock: Clock | None = None) -> None:
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.clock: Clock = clock or RealClock()
        self._wanted = asyncio.Event()
        #: How many syncs ran (ok or not).
        self.runs = 0

    def request(self) -> None:
        """Ask for a sync (many requests before it runs make one sync)."""
        self._wanted.set()

    async def run(self, sync: Callable[[bool], Awaitable[None]]) -> None:
        """Sync until cancelled; the first sync runs at once."""
        last = -math.inf
        failures = 0
        self._wanted.set()
        while True:
            periodic = not await self._wait_for_request(last + self.max_interval - self.clock.now())
            # After failures, back off (doubling from min_interval, at most max_interval) instead of hammering.
            pause = min(self.min_interval * 2 ** max(0, failures - 1), self.max_interval) if failures else 0.0
            wait = last + max(self.min_interval, pause) - self.clock.now()
            if wait > 0:
                await self.clock.sleep(wait)
            self._wanted.clear()
            last = self.clock.now()
            self.runs += 1
            try:
                await sync(periodic)
                failures = 0
            except Exception as exc:
                failures += 1
                if failures == 1:
                    log.exception("service proxy: sync failed; retrying")
                else:
                    log.warning("service proxy: sync failed again (%d in a row): %s", failures, exc)
                self._wanted.set()

    async def _wait_for_request(self, timeout: float) -> bool:
        if self._wanted.is_set():
            return True
        requested = asyncio.ensure_future(self._wanted.wait())
        timer = asyncio.ensure_future(self.clock.sleep(max(0.0, timeout)))
        try:
            await asyncio.wait({requested, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            requested.cancel()
            timer.cancel()
        return self._wanted.is_set()


class NetnsLock:
    """An exclusive lock per network namespace and chain prefix (flock: the kernel drops it when its holder dies)."""

    def __init__(self, netns: str | None = None, lock_dir: Path = LOCK_DIR, prefix: str = DEFAULT_PREFIX) -> None:
        inode = os.stat(netns or "/proc/self/ns/net").st_ino
        scope = "" if prefix == DEFAULT_PREFIX else f"-{prefix.rstrip('-')}"
        self.path = lock_dir / f"proxy-net-{inode}{scope}.lock"
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        """Take the lock if free; whether this holder has it now."""
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")  # noqa: SIM115 - held open for as long as the lock is
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        self._file = f
        return True

    def release(self) -> None:
        """Let the lock go."""
        if self._file is not None:
            self._file.close()
            self._file = None


class ServiceProxy:
    """Service routing for one node (see the module docstring)."""

    def __init__(
        self,
        rest: RestClient,
        node_name: str,
        *,
        local_cidr: str = "",
        prefix: str = DEFAULT_PREFIX,
        node_port_addresses: Sequence[str] = (),
        iptables: Iptables | None = None,
        conntrack: Conntrack | None = None,
        lock: NetnsLock | None = None,
        clock: Clock | None = None,
        min_sync_period: float = 1.0,
        sync_period: float = 30.0,
        lock_retry: float = 5.0,
    ) -> None:
        self.node_name = node_name
        self.local_cidr = local_cidr
        #: The chain prefix (``KUBE-``; another one for a second cluster sharing the namespace).
        self.prefix = chain_prefix(prefix)
        #: The CIDRs NodePorts answer on (kube-proxy's ``--nodeport-addresses``; empty: every local address).
        self.node_port_addresses = tuple(node_port_addresses)
        self.iptables = iptables or Iptables()
        self.conntrack = conntrack or Conntrack(self.iptables.netns)
        self.lock = lock or NetnsLock(self.iptables.netns, prefix=self.prefix)
        self.clock: Clock = clock or RealClock()
        self.lock_retry = lock_retry
        self.runner = SyncRunner(min_sync_period, sync_period, clock=self.clock)
        self.services = Informer(RestListerWatcher(rest, SERVICES, label_selector=PROXY_SELECTOR), clock=self.clock)
        self.slices = Informer(
            RestListerWatcher(rest, ENDPOINT_SLICES, label_selector=PROXY_SELECTOR), clock=self.clock
        )
        self._applied = ""
        #: The UDP ports as of the last sync (what conntrack deletions are computed from); None before the first.
        self._udp: dict[str, UdpPort] | None = None
        #: Set once the first sync is done (the first ruleset in place, stale UDP flows cut).
        self.synced = asyncio.Event()

    async def run(self) -> None:
        """Take the namespace's lock, then keep the rules in step until cancelled; then remove them."""
        waited = False
        while not self.lock.try_acquire():
            if not waited:
                log.info("node %s: another service proxy owns %s; waiting for it", self.node_name, self.lock.path)
                waited = True
            await self.clock.sleep(self.lock_retry)
        tasks: list[asyncio.Task[Any]] = []
        try:
            changed = EventHandler(
                on_add=lambda _obj, _initial: self.runner.request(),
                on_update=lambda _old, _new: self.runner.request(),
                on_delete=lambda _obj: self.runner.request(),
            )
            for informer in (self.services, self.slices):
                informer.add_event_handler(changed)
                tasks.append(asyncio.create_task(informer.run(), name=f"proxy {informer.description}"))
            try:
                await self.iptables.enable_route_localnet()
            except IptablesError as exc:
                log.warning("node %s: service endpoints on 127.0.0.1 will be unreachable: %s", self.node_name, exc)
            await self.services.wait_for_sync()
            await self.slices.wait_for_sync()
            log.info("node %s: service proxy (iptables) is routing Services", self.node_name)
            await self.runner.run(self.sync)
        finally:
            try:
                # To its end even if cancelled again meanwhile: the agent stopping cancels its companions twice
                # (its gather, then its stop), and rules left behind would route Services of a cluster that is gone.
                await _to_the_end(self._stop(tasks))
            finally:
                self.lock.release()

    async def _stop(self, tasks: list[asyncio.Task[Any]]) -> None:
        """Stop the informers, then remove the rules."""
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await self.cleanup()
        except (IptablesError, OSError) as exc:
            log.warning("node %s: removing the service proxy's rules failed: %s", self.node_name, exc)

    async def sync(self, periodic: bool = False) -> None:
        """Render the ruleset from the informers' caches and apply it (the same as last time: skipped, unless
        periodic — the periodic sync repairs rules someone else changed); then delete the conntrack entries
        the change left stale."""
        services, slices = self.services.indexer.objects(), self.slices.indexer.objects()
        ruleset = render(services, slices, node_name=self.node_name, local_cidr=self.local_cidr, prefix=self.prefix,
                         node_port_addresses=self.node_port_addresses)  # fmt: skip
        rendered = ruleset.restore_input()
        # Unchanged rules (a change to some other field): not even iptables-save.
        if rendered != self._applied or periodic:
            state = await self.iptables.state(self.prefix)
            await self.iptables.restore(ruleset.restore_input(state.chains, state.jumps, state.misplaced))
            self._applied = rendered
        # After the rules are in place, so that the flows' next packets meet the new rules.
        udp = udp_ports(services, slices)
        flushes = stale_flushes(self._udp, udp) if self._udp is not None else await self._unserved(udp)
        await self.conntrack.flush(flushes)
        self._udp = udp
        self.synced.set()

    async def _unserved(self, udp: dict[str, UdpPort]) -> set[Flush]:
        """The first sync's deletions: the entries to ``udp``'s frontends not answered by their serving endpoints,
        or, where the table cannot be read, every entry of a frontend that has endpoints (as upstream's v1.31)."""
        if not udp or not self.conntrack.available():
            return set()
        try:
            return unserved_flushes(udp, await self.conntrack.entries())
        except (ConntrackError, OSError) as exc:
            log.warning(
                "node %s: cannot list conntrack entries (%s); deleting all UDP service flows", self.node_name, exc
            )
            return stale_flushes({}, udp)

    async def cleanup(self) -> None:
        """Remove every chain and jump of ours (our prefix's) from the namespace."""
        state = await self.iptables.state(self.prefix)
        await self.iptables.restore(cleanup_input(state.chains, state.jump_lines, self.prefix))
        self._applied = ""


async def _to_the_end(work: Awaitable[None]) -> None:
    """Await ``work`` until it is done, however often the awaiting task is cancelled meanwhile; then re-raise the
    cancellation (if any)."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    task.result()
    if cancelled:
        raise asyncio.CancelledError


def _has_net_admin() -> bool:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    except (OSError, ValueError):
        pass
    return os.geteuid() == 0


def service_proxy(
    rest: RestClient,
    node_name: str,
    *,
    local_cidr: str = "",
    prefix: str = DEFAULT_PREFIX,
    node_port_addresses: Sequence[str] = (),
) -> ServiceProxy | None:
    """The node's service proxy, or None — logged, service routing is then off — where it cannot run."""
    if not _has_net_admin():
        log.warning(
            "node %s: service routing is off: the service proxy needs CAP_NET_ADMIN (run the node as root); "
            "ClusterIPs and NodePorts will not reach pods",
            node_name,
        )
        return None
    if not Iptables.available():
        log.warning("node %s: service routing is off: iptables-restore/iptables-save are not installed", node_name)
        return None
    with contextlib.suppress(OSError):
        NetnsLock()  # the namespace must be statable
        return ServiceProxy(
            rest, node_name, local_cidr=local_cidr, prefix=prefix, node_port_addresses=node_port_addresses
        )
    log.warning("node %s: service routing is off: cannot identify the network namespace", node_name)
    return None
