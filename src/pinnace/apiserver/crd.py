"""Serving CustomResourceDefinitions: the apiextensions controllers, inside the API server.

As upstream's apiextensions-apiserver (which runs inside kube-apiserver), one
:class:`CRDController` follows every CRD through the watch cache and keeps
the resource registry in step with them:

* naming: the names a CRD asks for are accepted unless another CRD of the
  group (or a built-in resource) holds them — ``NamesAccepted`` True
  (``NoConflicts``) or False (``PluralConflict``, ``KindConflict`` …);
* establishing: a CRD with accepted names has its served versions added to
  the registry (discovery and OpenAPI follow, their caches keyed by the
  registry's generation), then ``Established`` True (``InitialNamesAccepted``);
* finalizing: a deleted CRD (held by ``customresourcecleanup.apiextensions.k8s.io``,
  condition ``Terminating``) refuses new objects, has all its objects
  deleted, then loses its finalizer and goes; its resources stop being served.

At start every stored CRD is reconciled before the server reports ready, so
custom resources survive a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pinnace.api import crd, crd_status, errors
from pinnace.api.registry import ResourceInfo, ResourceRegistry
from pinnace.apiserver.background import cancel
from pinnace.apiserver.rest import DeleteOptions, RestStore
from pinnace.apiserver.watch_cache import ResourceCache, Watcher

log = logging.getLogger(__name__)

Obj = dict[str, Any]

#: How often a terminating CRD's remaining objects are looked at again.
CLEANUP_INTERVAL = 0.1


class CRDController:
    """Keeps the registry serving exactly the established CRDs' resources."""

    def __init__(self, rest: RestStore, registry: ResourceRegistry) -> None:
        self.rest = rest
        self.registry = registry
        info = registry.get(crd.GROUP, "v1", "customresourcedefinitions")
        if info is None:
            raise RuntimeError("the registry does not serve customresourcedefinitions")
        self.info: ResourceInfo = info
        #: CRD name → the (group, version, plural) it has in the registry.
        self._served: dict[str, list[tuple[str, str, str]]] = {}
        self._cleanups: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._cache: ResourceCache | None = None
        #: Called after each batch of CRD changes is handled (the server's APIService sync).
        self.on_change: Callable[[], Awaitable[None]] | None = None

    # ---- lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Serve every stored CRD, then follow changes in the background."""
        cache = self._cache = await self.rest.fresh_cache(self.info, consistent=True)
        watcher = cache.watch(None, None, after_revision=None)
        await self._handle(watcher.drain())
        self._task = asyncio.create_task(self._run(watcher), name="crd-controller")

    async def stop(self) -> None:
        """Stop following CRDs (what is served stays)."""
        tasks = [t for t in (self._task, *self._cleanups.values()) if t is not None]
        await cancel(*tasks)
        self._task = None
        self._cleanups.clear()

    async def _run(self, watcher: Watcher) -> None:
        while True:
            if watcher.closed:
                log.warning("CRD watch ended (%s); resyncing", watcher.error)
                cache = self._cache = await self.rest.fresh_cache(self.info, consistent=True)
                watcher = cache.watch(None, None, after_revision=None)
            await watcher.wait(None)
            try:
                await self._handle(watcher.drain())
            except asyncio.CancelledError:
                watcher.terminate()
                raise
            except Exception:
                log.exception("CRD controller failed to reconcile; retrying shortly")
                await asyncio.sleep(0.5)
                watcher.terminate("reconcile failed")

    async def _handle(self, events: list[Any]) -> None:
        names: list[str] = []
        groups: set[str] = set()
        for ev in events:
            if ev.object.name not in names:
                names.append(ev.object.name)
            groups.add(str((ev.object.obj.get("spec") or {}).get("group") or ""))
            if ev.prev is not None:
                groups.add(str((ev.prev.obj.get("spec") or {}).get("group") or ""))
        for name in names:
            await self.reconcile(name)
        # A change may free names another CRD of the group waits for.
        for other in self._all():
            name = other["metadata"]["name"]
            if name not in names and (other.get("spec") or {}).get("group") in groups and name not in self._served:
                await self.reconcile(name)
        if self.on_change is not None:
            await self.on_change()

    def _all(self) -> list[Obj]:
        return [o.obj for o in self._cache.list(None)] if self._cache is not None else []

    # ---- one CRD -------------------------------------------------------------------------------------------
    async def reconcile(self, name: str) -> None:
        """Bring one CRD's status and serving in line with its spec."""
        cached = await self.rest.get_cached(self.info, None, name)
        if cached is None:
            self._unserve(name)
            return
        obj = cached.obj
        if (obj.get("metadata") or {}).get("deletionTimestamp"):
            self._serve(obj, terminating=True)
            if name not in self._cleanups or self._cleanups[name].done():
                self._cleanups[name] = asyncio.create_task(self._finalize(name), name=f"crd-cleanup-{name}")
            return
        others = [o for o in self._all() if o["metadata"]["name"] != name]
        accepted, names_accepted = crd_status.name_conflicts(obj, others, self.registry.all())
        if names_accepted["status"] == "True":
            self._serve(obj)
            established = {
                "type": "Established",
                "status": "True",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
            }
        else:
            self._unserve(name)
            established = {
                "type": "Established",
                "status": "False",
                "reason": "NotAccepted",
                "message": "not all names are accepted",
            }

        def set_status(current: Obj) -> Obj:
            status = current.setdefault("status", {})
            status["acceptedNames"] = accepted
            crd_status.set_condition(status, names_accepted)
            previous = crd_status.condition(current, "Established")
            if not (previous and previous.get("status") == "True" and established["status"] == "False"):
                crd_status.set_condition(status, established)
            return current

        if _would_change(obj, set_status):
            with contextlib.suppress(errors.NotFound):
                await self.rest.mutate(self.info, None, name, set_status, subresource="status")

    def _serve(self, obj: Obj, *, terminating: bool = False) -> None:
        name = obj["metadata"]["name"]
        infos = crd.resource_infos(obj)
        if terminating:
            infos = [_terminating(i) for i in infos]
        wanted = {(i.group, i.version, i.plural) for i in infos}
        for gvr in self._served.get(name, []):
            if gvr not in wanted:
                self.registry.remove(*gvr)
        for info in infos:
            current = self.registry.get(info.group, info.version, info.plural)
            if current is None or current != info or current.extra != info.extra:
                self.registry.add(info)
        self._served[name] = sorted(wanted)

    def _unserve(self, name: str) -> None:
        for gvr in self._served.pop(name, []):
            self.registry.remove(*gvr)

    # ---- deletion ---------------------------------------------------------------------------------------
    async def _finalize(self, name: str) -> None:
        """Delete every object of a terminating CRD, then let the CRD go."""
        try:
            cached = await self.rest.get_cached(self.info, None, name)
            if cached is None:
                return
            storage = crd.storage_info(cached.obj)
            if storage is not None:
                while True:
                    cache = await self.rest.fresh_cache(storage)
                    remaining = cache.list(None)
                    if not remaining:
                        break
                    for item in remaining:
                        if (item.obj.get("metadata") or {}).get("deletionTimestamp"):
                            continue
                        with contextlib.suppress(errors.NotFound, errors.Conflict):
                            await self.rest.delete(
                                storage,
                                item.namespace or None,
                                item.name,
                                DeleteOptions(propagation_policy="Background"),
                            )
                    await asyncio.sleep(CLEANUP_INTERVAL)

            def release(current: Obj) -> Obj:
                meta = current.setdefault("metadata", {})
                meta["finalizers"] = [f for f in meta.get("finalizers") or [] if f != crd.CLEANUP_FINALIZER]
                if not meta["finalizers"]:
                    del meta["finalizers"]
                return current

            def completed(current: Obj) -> Obj:
                crd_status.set_condition(
                    current.setdefault("status", {}),
                    {
                        "type": "Terminating",
                        "status": "False",
                        "reason": "InstanceDeletionCompleted",
                        "message": "removed all instances",
                    },
                )
                return current

            with contextlib.suppress(errors.NotFound):
                await self.rest.mutate(self.info, None, name, completed, subresource="status")
                await self.rest.mutate(self.info, None, name, release)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("cleaning up the custom resources of CRD %s failed", name)
        finally:
            self._cleanups.pop(name, None)
        self._unserve_if_gone(name)

    def _unserve_if_gone(self, name: str) -> None:
        if self._cache is not None and self._cache.get(self.info.key(None, name)) is None:
            self._unserve(name)


def _terminating(info: ResourceInfo) -> ResourceInfo:
    cv = crd.custom_version(info)
    if cv is None:
        return info
    return dataclasses.replace(info, extra={"crd": dataclasses.replace(cv, terminating=True)})


def _would_change(obj: Obj, mutation: Any) -> bool:
    before = copy.deepcopy(obj)
    after = mutation(copy.deepcopy(obj))
    return bool(before != after)
