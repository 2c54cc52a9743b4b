"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it.

Candidates share one Lease. A candidate becomes leader by writing its identity
into ``spec.holderIdentity`` (compare-and-swap on the resourceVersion, so only
one wins), then keeps it by renewing ``spec.renewTime`` every
``retry_period``. Others wait until the lease has not changed for
``lease_duration`` *as they observe it on their own clock* (no trust in other
machines' clocks), then take over, counting ``leaseTransitions``.

A leader that cannot renew within ``renew_deadline`` gives up: its
``on_stopped_leading`` runs and :meth:`LeaderElector.run` returns, so the
process stops its controllers before another leader can start (the deadline
is shorter than the lease duration). On a clean stop the leader releases the
lease (empty holder) so a successor takes over at once.

Timing defaults are controller-runtime's: lease 15 s, renew deadline 10 s,
retry period 2 s. All waiting is on the injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from pinnace.api import errors
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.runtime.clock import Clock, RealClock

__all__ = ["LEASES", "LeaderElectionConfig", "LeaderElector", "micro_time"]

log = logging.getLogger(__name__)

LEASES = ResourceRef("coordination.k8s.io", "v1", "leases")

Obj = dict[str, Any]
Callback = Callable[[], Coroutine[Any, Any, None]]


def micro_time(clock: Clock) -> str:
    """The clock's wall time as a metav1.MicroTime string."""
    return clock.wall().strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaderElectionConfig:
    """Which lease, who we are, and the timings (seconds)."""

    name: str
    namespace: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = True

    def __post_init__(self) -> None:
        if not self.identity:
            raise ValueError("leader election needs a non-empty identity")
        if self.lease_duration <= self.renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if self.renew_deadline <= self.retry_period * 1.2:
            raise ValueError("renew_deadline must be greater than retry_period * 1.2")


class LeaderElector:
    """Campaigns for a lease, holds it, and says when leadership starts and ends."""

    def __init__(
        self,
        client: RestClient,
        config: LeaderElectionConfig,
        *,
        on_started_leading: Callback | None = None,
        on_stopped_leading: Callback | None = None,
        on_new_leader: Callable[[str], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.clock: Clock = clock or RealClock()
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self._observed: Obj | None = None
        self._observed_at = 0.0
        self._leading = asyncio.Event()
        self._last_leader = ""

    @property
    def is_leader(self) -> bool:
        """Whether this candidate holds the lease right now."""
        return self._leading.is_set()

    async def wait_until_leader(self) -> None:
        """Return once this candidate leads."""
        await self._leading.wait()

    @property
    def leader(self) -> str:
        """The identity that last held the lease, as observed."""
        return self._last_leader

    async def run(self) -> None:
        """Acquire, lead (renewing) until the lease is lost, then return; release it if cancelled."""
        await self._acquire()
        self._leading.set()
        log.info("%s: became leader of lease %s/%s", self.config.identity, self.config.namespace, self.config.name)
        started: asyncio.Task[None] | None = None
        if self.on_started_leading is not None:
            started = asyncio.create_task(self.on_started_leading(), name="on_started_leading")
        try:
            await self._renew_until_lost()
            log.warning("%s: lost the lease %s/%s", self.config.identity, self.config.namespace, self.config.name)
        except asyncio.CancelledError:
            if self.config.release_on_cancel:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.release())
            raise
        finally:
            self._leading.clear()
            if started is not None:
                started.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await started
            if self.on_stopped_leading is not None:
                await self.on_stopped_leading()

    async def _acquire(self) -> None:
        while not await self.try_acquire_or_renew():
            await self.clock.sleep(self.config.retry_period * (1 + 0.2 * random.random()))

    async def _renew_until_lost(self) -> None:
        while True:
            await self.clock.sleep(self.config.retry_period)
            deadline = self.clock.now() + self.config.renew_deadline
            while not await self.try_acquire_or_renew():
                if self.clock.now() >= deadline:
                    return
                await self.clock.sleep(self.config.retry_period)

    async def try_acquire_or_renew(self) -> bool:
        """One attempt to take or keep the lease; True if we hold it afterwards."""
        now = micro_time(self.clock)
        cfg = self.config
        try:
            lease = await self.client.get(LEASES, cfg.name, cfg.namespace)
        except errors.NotFound:
            return await self._create(now)
        except errors.StatusError as exc:
            log.warning("%s: cannot read lease %s/%s: %s", cfg.identity, cfg.namespace, cfg.name, exc)
            return False
        except Exception as exc:
            log.warning("%s: cannot reach the API server for the lease: %r", cfg.identity, exc)
            return False
        spec: Obj = dict(lease.get("spec") or {})
        if spec != self._observed:
            self._observed, self._observed_at = spec, self.clock.now()
            self._note_leader(str(spec.get("holderIdentity") or ""))
        holder = spec.get("holderIdentity") or ""
        duration = float(spec.get("leaseDurationSeconds") or cfg.lease_duration)
        if holder and holder != cfg.identity and self._observed_at + duration > self.clock.now():
            return False
        if holder == cfg.identity:
            spec["renewTime"] = now
            spec["leaseDurationSeconds"] = self._lease_duration_seconds()
        else:
            spec = self._taken(now, int(spec.get("leaseTransitions") or 0) + (1 if holder else 0))
        return await self._write(self.client.update(LEASES, {**lease, "spec": spec}), errors.Conflict)

    async def _create(self, now: str) -> bool:
        cfg = self.config
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": cfg.name, "namespace": cfg.namespace},
            "spec": self._taken(now, 0),
        }
        return await self._write(self.client.create(LEASES, lease, cfg.namespace), errors.AlreadyExists)

    def _lease_duration_seconds(self) -> int:
        """The duration as the Lease holds it: whole seconds, at least 1 (the API refuses 0)."""
        return max(1, int(self.config.lease_duration))

    def _taken(self, now: str, transitions: int) -> Obj:
        """The lease spec of this candidate taking the lease now."""
        return {
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": self._lease_duration_seconds(),
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    async def _write(self, write: Awaitable[Obj], lost: type[errors.StatusError]) -> bool:
        """Send a lease write; True if it stuck (``lost``: someone else won the race)."""
        cfg = self.config
        try:
            written = await write
        except lost:
            return False
        except Exception as exc:
            log.warning("%s: cannot write lease %s/%s: %r", cfg.identity, cfg.namespace, cfg.name, exc)
            return False
        self._observed, self._observed_at = dict(written.get("spec") or {}), self.clock.now()
        self._note_leader(cfg.identity)
        return True

    async def release(self) -> None:
        """Give the lease up (empty holder, 1 s duration) if we hold it."""
        cfg = self.config
        lease = await self.client.get(LEASES, cfg.name, cfg.namespace)
        spec = lease.get("spec") or {}
        if spec.get("holderIdentity") != cfg.identity:
            return
        now = micro_time(self.clock)
        released = {
            "leaseDurationSeconds": 1,
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": int(spec.get("leaseTransitions") or 0),
        }
        await self.client.update(LEASES, {**lease, "spec": released})
        log.info("%s: released the lease %s/%s", cfg.identity, cfg.namespace, cfg.name)

    def _note_leader(self, holder: str) -> None:
        if holder and holder != self._last_leader:
            self._last_leader = holder
            if self.on_new_leader is not None:
                self.on_new_leader(holder)
