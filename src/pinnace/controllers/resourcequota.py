"""The resource-quota controller: every ResourceQuota's status says what its namespace uses.

As upstream's ``resourcequota`` controller: ``status.hard`` mirrors
``spec.hard``, and ``status.used`` is recounted from the objects of the
namespace with the same rules the ResourceQuota admission plugin charges by
(:mod:`pinnace.api.quota`). Admission charges a quota before the object is
stored; this controller is what gives back what deleted (or never stored)
objects had been charged. Pods, Services, ConfigMaps, Secrets, claims and
ReplicationControllers are watched, so a change to one recounts its namespace's
quotas at once; other ``count/<resource>.<group>`` entries are recounted on the
periodic resync. Written on the runtime SDK as a user would write it.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import Any

from pinnace.api import errors, quota
from pinnace.runtime.builder import Builder
from pinnace.runtime.client import Client
from pinnace.runtime.controller import Controller
from pinnace.runtime.handler import EnqueueRequestsFromMapFunc
from pinnace.runtime.manager import Manager
from pinnace.runtime.predicate import Predicate
from pinnace.runtime.reconcile import Request, Result

__all__ = ["RESYNC_SECONDS", "ResourceQuotaReconciler", "add_resourcequota_controller"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

#: How often every quota is recounted in full (upstream's --resource-quota-sync-period: 5 minutes).
RESYNC_SECONDS = 300.0
#: Recount period of quotas with object counts of kinds that are not watched.
UNWATCHED_RESYNC_SECONDS = 10.0

#: The kinds whose changes recount their namespace's quotas at once: (plural, kind ref).
WATCHED: dict[str, str] = {
    "pods": "v1/Pod",
    "services": "v1/Service",
    "configmaps": "v1/ConfigMap",
    "secrets": "v1/Secret",
    "persistentvolumeclaims": "v1/PersistentVolumeClaim",
    "replicationcontrollers": "v1/ReplicationController",
    "resourcequotas": "v1/ResourceQuota",
}


def _hard_differs(rq: Obj) -> bool:
    return ((rq.get("spec") or {}).get("hard") or {}) != ((rq.get("status") or {}).get("hard") or {})


#: A quota is recounted when it is new or its hard limits changed, not when admission charged it: a recount
#: from an informer that has not yet seen the object just charged for would hand the charge back.
QUOTA_CHANGED = Predicate(update=lambda _old, new: _hard_differs(new), delete=lambda _obj: False)


def usage_changed(plural: str) -> Predicate:
    """An object's events that change what it uses: deletes, and updates that change its usage (a pod that
    finished); not creates, which admission has already charged (upstream's replenishment)."""
    return Predicate(
        create=lambda _obj: False,
        update=lambda old, new: quota.usage("", plural, old) != quota.usage("", plural, new),
    )


async def add_resourcequota_controller(manager: Manager, *, workers: int = 2) -> Controller:
    """Add the resource-quota controller to ``manager``."""

    def namespace_of(obj: Obj) -> list[Request]:
        namespace = (obj.get("metadata") or {}).get("namespace")
        return [Request(str(namespace), "")] if namespace else []

    builder = Builder(manager).named("resourcequota").for_("v1/ResourceQuota", QUOTA_CHANGED)
    for plural, kind in WATCHED.items():
        if plural != "resourcequotas":
            builder = builder.watches(kind, EnqueueRequestsFromMapFunc(namespace_of), usage_changed(plural))
    return await builder.with_options(max_concurrent_reconciles=workers).complete(
        ResourceQuotaReconciler(manager.client)
    )


class ResourceQuotaReconciler:
    """Recounts the quotas of one namespace (a request names a quota, or just the namespace)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def reconcile(self, request: Request) -> Result:
        """Bring ``status.hard`` and ``status.used`` of every quota in the namespace up to date."""
        namespace = request.namespace
        quotas = await self.client.list("v1/ResourceQuota", namespace)
        if not quotas:
            return Result()
        counted: dict[tuple[str, str], list[Obj]] = {}
        resync = RESYNC_SECONDS
        for rq in quotas:
            hard = dict((rq.get("spec") or {}).get("hard") or {})
            used = await self._used(namespace, rq, hard, counted)
            if any(r[0] not in WATCHED or r[1] for r in counted):
                resync = UNWATCHED_RESYNC_SECONDS
            status = rq.get("status") or {}
            if status.get("hard") == hard and status.get("used") == used:
                continue
            updated = {**rq, "status": {**status, "hard": hard, "used": used}}
            try:
                await self.client.status().update(updated)
            except errors.NotFound:
                continue
            log.debug("quota %s/%s used %s", namespace, rq["metadata"]["name"], used)
        return Result(requeue_after=resync)

    async def _used(
        self, namespace: str, rq: Obj, hard: dict[str, Any], counted: dict[tuple[str, str], list[Obj]]
    ) -> dict[str, str]:
        """The quota's usage of each hard resource, counting each resource's objects once per reconcile."""
        total: quota.Usage = dict.fromkeys(hard, Fraction(0))
        for plural, group in _resources_of(hard):
            key = (plural, group)
            if key not in counted:
                counted[key] = await self._objects(namespace, plural, group)
            mask = set(quota.covered_resources(group, plural, hard))
            for obj in counted[key]:
                if quota.matches({**rq, "status": {"hard": hard}}, group, plural, obj):
                    usage = quota.usage(group, plural, obj)
                    total = quota.add(total, {k: v for k, v in usage.items() if k in mask})
        return quota.render(total, hard)

    async def _objects(self, namespace: str, plural: str, group: str) -> list[Obj]:
        if not group and plural in WATCHED:
            return list(await self.client.list(WATCHED[plural], namespace))
        kinds = await self.client.mapper.kinds_for(group, plural)
        if not kinds:
            return []
        return list(await self.client.api_reader.list(kinds[0], namespace))


def _resources_of(hard: dict[str, Any]) -> list[tuple[str, str]]:
    """The (plural, group) resources whose objects a quota's hard names count."""
    out: set[tuple[str, str]] = set()
    for name in hard:
        if name.startswith("count/"):
            plural, _, group = name[len("count/") :].partition(".")
            out.add((plural, group))
        elif name in ("pods", "cpu", "memory", "ephemeral-storage") or name.startswith(
            ("requests.", "limits.", "hugepages-")
        ):
            out.add(("persistentvolumeclaims", "") if name == "requests.storage" else ("pods", ""))
        elif ".storageclass.storage.k8s.io/" in name or name == "persistentvolumeclaims":
            out.add(("persistentvolumeclaims", ""))
        elif name.startswith("services"):
            out.add(("services", ""))
        elif name in WATCHED:
            out.add((name, ""))
    return sorted(out)
