"""ResourceQuota admission: a write that would take a namespace past a quota's hard limits is refused.

As upstream's ``ResourceQuota`` plugin (last in the chain): for each quota of
the namespace that covers the object (:func:`pinnace.api.quota.matches`), the
object's usage — on update, only what it adds over the old object — is added to
the quota's ``status.used``; past ``status.hard`` the write is 403 ``exceeded
quota: <name>, requested: pods=1, used: pods=2, limited: pods=2``. A quota the
controller has not yet counted is 403 ``status unknown for quota: …``; a pod
without explicit cpu/memory requests or limits that a quota limits is 403
``failed quota: <name>: must specify …``.

The charge is written to the quota's status with compare-and-swap before the
object is stored, each attempt re-checked against the quota as it is then, so
concurrent creates can never take the namespace past its quota (a write that
fails afterwards leaves an overcharge that the quota controller recounts away).
Concurrent charges of one quota are written together, as upstream's quota
evaluator batches them, so they do not all race for its status.
Dry-run requests are checked but charge nothing.
"""

from __future__ import annotations

import asyncio
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from pinnace.api import errors, quota
from pinnace.apiserver.admission import AdmissionRequest, Operation
from pinnace.apiserver.admission.chain import forbidden
from pinnace.apiserver.admission.lookup import has_none_now, objects_in

if TYPE_CHECKING:
    from pinnace.apiserver.rest import RestStore
    from pinnace.apiserver.server import APIServer

__all__ = ["ResourceQuotaAdmission"]

Obj = dict[str, Any]
_ZERO = Fraction(0)


class ResourceQuotaAdmission:
    """The ResourceQuota admission plugin (validating)."""

    name = "ResourceQuota"

    def __init__(self, rest: RestStore) -> None:
        """Quotas are read from and charged through ``rest``."""
        self.rest = rest
        self._chargers: dict[tuple[str, str], _Charger] = {}

    @classmethod
    def for_server(cls, server: APIServer) -> ResourceQuotaAdmission:
        """The plugin of an API server."""
        return cls(server.rest)

    def handles(self, request: AdmissionRequest) -> bool:
        """Creations and updates of namespaced objects (not subresources), unless there is no quota at all."""
        return (
            bool(request.namespace)
            and not request.subresource
            and request.obj is not None
            and request.operation in (Operation.CREATE, Operation.UPDATE)
            and not has_none_now(self.rest, "", "v1", "resourcequotas")
        )

    async def validate(self, request: AdmissionRequest) -> None:
        """Check the write against every covering quota and charge them."""
        quotas = await objects_in(self.rest, "", "v1", "resourcequotas", request.namespace)
        if not quotas:
            return
        assert request.obj is not None
        group, plural = request.info.group, request.info.plural
        covering = [q for q in quotas if quota.matches(q, group, plural, request.obj)]
        if not covering:
            return
        delta = quota.usage(group, plural, request.obj)
        if request.operation is Operation.UPDATE and request.old is not None:
            before = quota.usage(group, plural, request.old)
            delta = {k: max(v - before.get(k, _ZERO), _ZERO) for k, v in delta.items()}
        delta = {k: v for k, v in delta.items() if v}
        for q in covering:
            _check(request, q, delta)  # every quota first: a refusal must not leave an earlier one charged
        if not delta or request.dry_run:
            return
        for q in covering:
            key = (request.namespace, q["metadata"]["name"])
            charger = self._chargers.get(key)
            if charger is None:
                charger = self._chargers[key] = _Charger(self.rest, *key)
            try:
                await charger.charge(request, delta)
            except errors.NotFound:
                continue  # the quota went away meanwhile: nothing left to charge


class _Charger:
    """Charges one quota for the writes admitted against it, many at a time (upstream's quota evaluator).

    Concurrent requests queue their charges; one task takes every queued charge, checks them in
    order against the quota as it is in the store, and writes the sum with one compare-and-swap
    (retried on a lost race, re-checking every charge). Each request then learns its own outcome:
    a refusal if its charge no longer fits. Without this, every concurrent create would race every
    other for the same quota status, and most would lose.
    """

    def __init__(self, rest: RestStore, namespace: str, name: str) -> None:
        self.rest = rest
        self.namespace = namespace
        self.name = name
        self.pending: list[tuple[AdmissionRequest, quota.Usage, asyncio.Future[None]]] = []
        self.task: asyncio.Task[None] | None = None

    async def charge(self, request: AdmissionRequest, delta: quota.Usage) -> None:
        """Charge ``delta`` for ``request``; raises the request's refusal if it does not fit."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((request, delta, done))
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._drain(), name=f"quota-charge {self.namespace}/{self.name}")
        await done

    async def _drain(self) -> None:
        while self.pending:
            batch, self.pending = self.pending, []
            try:
                refusals = await self._write(batch)
            except BaseException as exc:  # the store failed, or the quota is gone: every waiter hears it
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for i, (_, _, done) in enumerate(batch):
                if not done.done():
                    if i in refusals:
                        done.set_exception(refusals[i])
                    else:
                        done.set_result(None)

    async def _write(
        self, batch: list[tuple[AdmissionRequest, quota.Usage, asyncio.Future[None]]]
    ) -> dict[int, errors.StatusError]:
        info = self.rest.registry.get("", "v1", "resourcequotas")
        assert info is not None
        refusals: dict[int, errors.StatusError] = {}

        def charge(current: Obj) -> Obj:
            refusals.clear()
            status = current.setdefault("status", {})
            for i, (request, delta, _) in enumerate(batch):
                try:
                    charged = _check(request, current, delta)
                except errors.StatusError as exc:
                    refusals[i] = exc
                    continue
                if charged is not None:
                    status["used"] = charged
            return current

        await self.rest.mutate(info, self.namespace, self.name, charge, subresource="status")
        return refusals


def _check(request: AdmissionRequest, q: Obj, delta: quota.Usage) -> dict[str, str] | None:
    """Refuse the request if it breaks the quota; the quota's new ``status.used`` if it charges it."""
    assert request.obj is not None
    status = q.get("status") or {}
    hard_raw = status.get("hard") or {}
    name = q["metadata"]["name"]
    restricted = quota.covered_resources(request.info.group, request.info.plural, hard_raw)
    if request.info.plural == "pods" and not request.info.group:
        problem = quota.missing_explicit(request.obj, restricted)
        if problem:
            raise forbidden(request, f"failed quota: {name}: {problem}")
    used_raw = status.get("used") or {}
    missing = [r for r in restricted if r not in used_raw]
    if missing:
        raise forbidden(request, f"status unknown for quota: {name}, resources: {','.join(missing)}")
    requested = {k: v for k, v in delta.items() if k in hard_raw}
    if not requested:
        return None
    hard, used = quota.parse_list(hard_raw), quota.parse_list(used_raw)
    new_used = quota.add(used, requested)
    exceeded = sorted(k for k in requested if new_used[k] > hard[k])
    if exceeded:

        def shown(amounts: quota.Usage) -> str:
            return quota.pretty(quota.render({k: amounts.get(k, _ZERO) for k in exceeded}, hard_raw))

        raise forbidden(
            request,
            f"exceeded quota: {name}, requested: {shown(requested)}, used: {shown(used)}, limited: {shown(hard)}",
        )
    return {**used_raw, **quota.render({k: new_used[k] for k in requested}, hard_raw)}
