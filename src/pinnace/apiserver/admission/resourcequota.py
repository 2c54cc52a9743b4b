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
Dry-run requests are checked but charge nothing.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

from pinnace.api import errors, quota
from pinnace.apiserver.admission import AdmissionRequest, Operation
from pinnace.apiserver.admission.chain import forbidden
from pinnace.apiserver.admission.lookup import objects_in

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

    @classmethod
    def for_server(cls, server: APIServer) -> ResourceQuotaAdmission:
        """The plugin of an API server."""
        return cls(server.rest)

    def handles(self, request: AdmissionRequest) -> bool:
        """Creations and updates of namespaced objects (not subresources)."""
        return (
            bool(request.namespace)
            and not request.subresource
            and request.obj is not None
            and request.operation in (Operation.CREATE, Operation.UPDATE)
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
        info = self.rest.registry.get("", "v1", "resourcequotas")
        assert info is not None
        for q in covering:
            name = q["metadata"]["name"]

            def charge(current: Obj) -> Obj:
                charged = _check(request, current, delta)
                if charged is not None:
                    current.setdefault("status", {})["used"] = charged
                return current

            try:
                await self.rest.mutate(info, request.namespace, name, charge, subresource="status")
            except errors.NotFound:
                continue  # the quota went away meanwhile: nothing left to charge


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
