"""The local APIServices: one ``apiregistration.k8s.io/v1`` APIService per group-version this server serves.

kube-apiserver's aggregator registers every built-in group-version it serves
as an APIService with no ``spec.service`` (label
``kube-aggregator.kubernetes.io/automanaged: onstart``, the aggregator's
priorities), and every group-version a CRD serves (label ``…: true``, group
priority 1000, version priority 100), and removes the CRD ones when no CRD
serves them any more. Its availability controller marks an APIService without a
service ``Available`` (reason ``Local``). ``kubectl get apiservices`` lists them,
and tools read them to see which group-versions a cluster has.

:func:`sync_local_apiservices` makes the stored APIServices match what the
registry serves; :class:`LocalAPIServices` runs it at start, after every CRD
change and periodically (an APIService someone deleted comes back), and marks
a local APIService a user creates Available as soon as it is stored.
APIServices with a ``spec.service`` are not this module's: the aggregation
layer (:mod:`pinnace.apiserver.aggregator`) relays their group-versions to
their extension API servers and keeps their ``Available`` condition.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

from pinnace.api import errors, strategy
from pinnace.api.registry import ResourceInfo, ResourceRegistry
from pinnace.apiserver.background import cancel
from pinnace.apiserver.deleteoptions import DeleteOptions
from pinnace.apiserver.rest import RestStore

__all__ = ["AUTOMANAGED", "LocalAPIServices", "apiservice_name", "sync_local_apiservices"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

GROUP = "apiregistration.k8s.io"
#: The label the aggregator's autoregistration puts on the APIServices it manages.
AUTOMANAGED = "kube-aggregator.kubernetes.io/automanaged"

#: (group priority minimum, version priority) of the built-in group-versions, as kube-apiserver 1.32 registers them.
BUILTIN_PRIORITIES: dict[tuple[str, str], tuple[int, int]] = {
    ("", "v1"): (18000, 1),
    ("apiregistration.k8s.io", "v1"): (18000, 15),
    ("apps", "v1"): (17800, 15),
    ("events.k8s.io", "v1"): (17750, 15),
    ("authentication.k8s.io", "v1"): (17700, 15),
    ("authorization.k8s.io", "v1"): (17600, 15),
    ("autoscaling", "v1"): (17500, 15),
    ("autoscaling", "v2"): (17500, 30),
    ("batch", "v1"): (17400, 15),
    ("certificates.k8s.io", "v1"): (17300, 15),
    ("networking.k8s.io", "v1"): (17200, 15),
    ("policy", "v1"): (17100, 15),
    ("rbac.authorization.k8s.io", "v1"): (17000, 15),
    ("storage.k8s.io", "v1"): (16800, 15),
    ("admissionregistration.k8s.io", "v1"): (16700, 15),
    ("apiextensions.k8s.io", "v1"): (16700, 15),
    ("scheduling.k8s.io", "v1"): (16600, 15),
    ("coordination.k8s.io", "v1"): (16500, 15),
    ("node.k8s.io", "v1"): (16300, 15),
    ("discovery.k8s.io", "v1"): (16200, 15),
    ("flowcontrol.apiserver.k8s.io", "v1"): (16100, 21),
}
#: The priorities of a group-version a CRD serves (low: built-ins win a name both have).
CRD_PRIORITIES = (1000, 100)

_LOCAL = {
    "type": "Available",
    "status": "True",
    "reason": "Local",
    "message": "Local APIServices are always available",
}


def apiservice_name(group: str, version: str) -> str:
    """``version.group`` (``v1.`` for the core group), as the aggregator names APIServices."""
    return f"{version}.{group}"


def _wanted(registry: ResourceRegistry) -> dict[str, Obj]:
    """The automanaged APIServices the served group-versions call for, by name."""
    out: dict[str, Obj] = {}
    for group in registry.groups():
        for version in group.versions:
            builtin = BUILTIN_PRIORITIES.get((group.name, version))
            group_priority, version_priority = builtin or CRD_PRIORITIES
            out[apiservice_name(group.name, version)] = {
                "apiVersion": f"{GROUP}/v1",
                "kind": "APIService",
                "metadata": {
                    "name": apiservice_name(group.name, version),
                    "labels": {AUTOMANAGED: "onstart" if builtin else "true"},
                },
                "spec": {
                    "group": group.name,
                    "version": version,
                    "groupPriorityMinimum": group_priority,
                    "versionPriority": version_priority,
                },
            }
    return out


async def sync_local_apiservices(rest: RestStore) -> None:
    """Create, correct or delete the automanaged APIServices, and mark every local one Available.

    The writes of one step go out together (a first start makes some forty: together they share the
    store's commits instead of waiting for one each)."""
    info = rest.registry.get(GROUP, "v1", "apiservices")
    if info is None:  # pragma: no cover - the kind is always served
        return
    wanted = _wanted(rest.registry)
    cache = await rest.fresh_cache(info)
    existing = {o.obj["metadata"]["name"]: o.obj for o in cache.list(None)}

    async def ensure(name: str, obj: Obj) -> None:
        current = existing.get(name)
        try:
            if current is None:
                existing[name] = await rest.create(info, None, obj)
            elif _differs(current, obj):
                existing[name] = await rest.mutate(info, None, name, functools.partial(_adopt, wanted=obj))
        except (errors.AlreadyExists, errors.Conflict, errors.NotFound):
            pass  # another server (or a user) changed it meanwhile: the next sync looks again

    async def settle(name: str, current: Obj) -> None:
        labels = (current.get("metadata") or {}).get("labels") or {}
        if name not in wanted and labels.get(AUTOMANAGED) in ("true", "onstart"):
            with contextlib.suppress(errors.NotFound, errors.Conflict):
                await rest.delete(info, None, name, DeleteOptions())
        elif not (current.get("spec") or {}).get("service") and not _is_local(current):
            await _mark_local(rest, info, name)

    await asyncio.gather(*(ensure(name, obj) for name, obj in wanted.items()))
    await asyncio.gather(*(settle(name, current) for name, current in list(existing.items())))


def _differs(current: Obj, wanted: Obj) -> bool:
    labels = (current.get("metadata") or {}).get("labels") or {}
    return bool(
        current.get("spec") != wanted["spec"] or labels.get(AUTOMANAGED) != wanted["metadata"]["labels"][AUTOMANAGED]
    )


def _adopt(current: Obj, wanted: Obj) -> Obj:
    meta = current.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), **wanted["metadata"]["labels"]}
    current["spec"] = dict(wanted["spec"])
    return current


def _is_local(obj: Obj) -> bool:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Available":
            return all(condition.get(k) == v for k, v in _LOCAL.items())
    return False


async def _mark_local(rest: RestStore, info: ResourceInfo, name: str) -> None:
    now = strategy.now_rfc3339()

    def set_available(current: Obj) -> Obj:
        if _is_local(current):  # marked meanwhile (a replayed event, another server): nothing to write
            return current
        status = current.setdefault("status", {})
        others = [c for c in status.get("conditions") or [] if c.get("type") != "Available"]
        status["conditions"] = [*others, {**_LOCAL, "lastTransitionTime": now}]
        return current

    with contextlib.suppress(errors.NotFound, errors.Conflict):
        await rest.mutate(info, None, name, set_available, subresource="status")


class LocalAPIServices:
    """The aggregator's autoregistration and availability controllers for local APIServices, in the server."""

    def __init__(self, rest: RestStore) -> None:
        self.rest = rest
        self._synced_generation = -1
        self._task: asyncio.Task[None] | None = None

    async def sync(self, *, force: bool = False) -> None:
        """:func:`sync_local_apiservices`, when the served resources changed since the last sync (or ``force``)."""
        generation = self.rest.registry.generation
        if force or generation != self._synced_generation:
            await sync_local_apiservices(self.rest)
            self._synced_generation = generation

    async def start(self) -> None:
        """Sync (unless the CRD controller's start did already), then mark each local APIService stored later
        (a user's) Available."""
        await self.sync()
        self._task = asyncio.create_task(self._follow(), name="local-apiservices")

    async def stop(self) -> None:
        """Stop following APIServices."""
        await cancel(self._task)
        self._task = None

    async def _follow(self) -> None:
        info = self.rest.registry.get(GROUP, "v1", "apiservices")
        assert info is not None
        while True:
            cache = await self.rest.fresh_cache(info, consistent=True)
            watcher = cache.watch(None, None, after_revision=cache.revision)
            while not watcher.closed:
                await watcher.wait(None)
                for event in watcher.drain():
                    obj = event.object.obj
                    if event.type != "DELETED" and not (obj.get("spec") or {}).get("service") and not _is_local(obj):
                        await _mark_local(self.rest, info, obj["metadata"]["name"])
            log.warning("APIService watch ended (%s); watching again", watcher.error)
            await asyncio.sleep(0.5)
