"""The Ingresses' ``status.loadBalancer``: the controller's address on those it serves, none on those it stopped
serving.

:func:`status_changes` compares what each Ingress says with what it should (pure); :class:`StatusWriter` writes the
differences through the ``status`` subresource (a merge patch of ``status.loadBalancer``), one pass per
:meth:`StatusWriter.kick`, retrying with backoff after a failed write. An Ingress not served is cleared only while
its status is exactly what this controller writes: one that another controller reports on is left alone.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pinnace.api import errors
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.ingress.selection import ingress_key

__all__ = ["INGRESSES", "StatusChange", "StatusWriter", "load_balancer_ingress", "status_changes"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
INGRESSES = ResourceRef("networking.k8s.io", "v1", "ingresses")
#: Backoff after a failed status write: first and longest wait, in seconds.
RETRY_FIRST, RETRY_MAX = 0.5, 30.0


def load_balancer_ingress(address: str) -> list[Obj]:
    """``status.loadBalancer.ingress`` for ``address``: an ``ip`` entry for an IP address, else a ``hostname``."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return [{"hostname": address}]
    return [{"ip": address}]


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One write: the Ingress and its new ``status.loadBalancer.ingress`` (None: cleared)."""

    namespace: str
    name: str
    ingress: list[Obj] | None


def _current(ingress: Obj) -> list[Obj]:
    lb = ((ingress.get("status") or {}).get("loadBalancer")) or {}
    return [
        {k: v for k, v in entry.items() if k in ("ip", "hostname") and v}
        for entry in lb.get("ingress") or []
        if isinstance(entry, dict)
    ]


def status_changes(ingresses: Iterable[Obj], served: Iterable[str], address: str) -> list[StatusChange]:
    """The writes that make the served Ingresses (by ``namespace/name``) show ``address``, and clear it from the
    others that show exactly it."""
    wanted = load_balancer_ingress(address)
    served_keys = set(served)
    changes = []
    for ingress in ingresses:
        meta = ingress.get("metadata") or {}
        current = _current(ingress)
        if ingress_key(ingress) in served_keys:
            if current != wanted:
                changes.append(StatusChange(meta.get("namespace") or "", meta.get("name") or "", wanted))
        elif current == wanted:
            changes.append(StatusChange(meta.get("namespace") or "", meta.get("name") or "", None))
    return changes


class StatusWriter:
    """Keeps the Ingresses' status in step; :meth:`run` until cancelled, :meth:`kick` after every change."""

    def __init__(
        self, rest: RestClient, address: str, snapshot: Callable[[], tuple[list[Obj], tuple[str, ...]]]
    ) -> None:
        """``snapshot``: the Ingresses known now and the keys of those served."""
        self.rest = rest
        self.address = address
        self.snapshot = snapshot
        self._dirty = asyncio.Event()
        #: The last write to each Ingress: the resourceVersion it was computed from, and what was written.
        self._written: dict[str, tuple[Any, list[Obj] | None]] = {}

    def kick(self) -> None:
        """Ask for a pass (several kicks before it starts make one)."""
        self._dirty.set()

    async def run(self) -> None:
        """Write the changes after each kick; after a failure, try again with backoff."""
        delay = RETRY_FIRST
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            ingresses, served = self.snapshot()
            versions = {ingress_key(ing): (ing.get("metadata") or {}).get("resourceVersion") for ing in ingresses}
            failed = 0
            for change in status_changes(ingresses, served, self.address):
                key = f"{change.namespace}/{change.name}"
                if self._written.get(key) == (versions.get(key), change.ingress):
                    continue  # written already; the informer has not seen the write yet
                if await self._write(change):
                    self._written[key] = (versions.get(key), change.ingress)
                else:
                    failed += 1
            for gone in self._written.keys() - versions.keys():
                del self._written[gone]
            if not failed:
                delay = RETRY_FIRST
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)
            self._dirty.set()

    async def _write(self, change: StatusChange) -> bool:
        patch = {"status": {"loadBalancer": {"ingress": change.ingress}}}
        try:
            await self.rest.patch(INGRESSES, change.name, patch, change.namespace, subresource="status")
        except errors.NotFound:
            return True  # deleted meanwhile
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("ingress %s/%s: status not written: %s", change.namespace, change.name, exc)
            return False
        log.info("ingress %s/%s: status.loadBalancer.ingress = %s", change.namespace, change.name, change.ingress)
        return True
