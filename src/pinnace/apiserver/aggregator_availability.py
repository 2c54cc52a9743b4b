"""The ``Available`` condition of APIServices with a service (upstream's remote availability controller).

:func:`check` decides it: ``ServiceNotFound``, ``ServicePortError`` and
``MissingEndpoints`` when the Service cannot be resolved to a ready endpoint
(:func:`~pinnace.apiserver.aggregator_proxy.resolve`), ``FailedDiscoveryCheck``
when none of :data:`ATTEMPTS` probes of ``/apis/<group>/<version>``, each at an
endpoint picked at random, is answered with a 2xx, and
True (``Passed``, ``all checks passed``) otherwise. :func:`write_condition`
stores it in ``status.conditions`` only when it changed (the transition time
moves only when the status does), so the frequent re-checks write nothing.
The aggregator (:mod:`pinnace.apiserver.aggregator`) decides when to check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from pinnace.api import errors, strategy
from pinnace.apiserver.aggregator_discovery import discovery_check
from pinnace.apiserver.aggregator_proxy import Backend, BackendPool, Unresolved, resolve, service_ref
from pinnace.apiserver.rest import RestStore

__all__ = ["available", "available_condition", "check", "write_condition"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

AVAILABLE = "Available"
#: Probes per check (upstream's): the APIService is available if any of them passes.
ATTEMPTS = 5


def available_condition(obj: Obj) -> Obj | None:
    """An APIService's ``Available`` condition, if it has one."""
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == AVAILABLE:
            return dict(condition)
    return None


def available(obj: Obj) -> bool:
    """Whether an APIService is marked Available."""
    condition = available_condition(obj)
    return condition is not None and condition.get("status") == "True"


def _condition(status: str, reason: str, message: str) -> Obj:
    return {"type": AVAILABLE, "status": status, "reason": reason, "message": message}


async def check(rest: RestStore, pool: BackendPool, apiservice: Obj) -> tuple[Obj, Backend | None]:
    """The ``Available`` condition an APIService with a service has now (no transition time), and the backend
    that was checked (None if none resolved)."""
    ref = service_ref(apiservice)
    assert ref is not None
    spec = apiservice.get("spec") or {}
    group, version = str(spec.get("group") or ""), str(spec.get("version") or "")
    try:
        backends = [await resolve(rest, ref) for _ in range(ATTEMPTS)]
    except Unresolved as exc:
        return _condition("False", exc.reason, exc.condition_message), None
    # As upstream, several probes at once, each to a backend picked at random: one that passes is enough.
    failures = await asyncio.gather(*(discovery_check(pool, backend, group, version) for backend in backends))
    for backend, failure in zip(backends, failures, strict=True):
        if failure is None:
            return _condition("True", "Passed", "all checks passed"), backend
    return _condition("False", "FailedDiscoveryCheck", str(failures[-1])), backends[-1]


def _same(current: Obj | None, wanted: Obj) -> bool:
    return current is not None and all(current.get(k) == v for k, v in wanted.items())


async def write_condition(rest: RestStore, name: str, wanted: Obj) -> Obj | None:
    """Store ``wanted`` as the APIService's ``Available`` condition unless it is already so; the APIService as
    stored (None if it is gone, or nothing was written)."""
    info = rest.registry.get("apiregistration.k8s.io", "v1", "apiservices")
    assert info is not None
    now = strategy.now_rfc3339()
    changed = False

    def set_condition(current: Obj) -> Obj:
        nonlocal changed
        existing = available_condition(current)
        if _same(existing, wanted):
            changed = False
            return current
        changed = True
        status = current.setdefault("status", {})
        moved = existing is None or existing.get("status") != wanted["status"]
        since = now if moved or existing is None else existing.get("lastTransitionTime") or now
        others = [c for c in status.get("conditions") or [] if c.get("type") != AVAILABLE]
        status["conditions"] = [*others, {**wanted, "lastTransitionTime": since}]
        return current

    with contextlib.suppress(errors.NotFound, errors.Conflict):
        stored = await rest.mutate(info, None, name, set_condition, subresource="status")
        if changed:
            log.info("APIService %s: %s %s %s", name, wanted["status"], wanted["reason"], wanted["message"])
            return stored
    return None
