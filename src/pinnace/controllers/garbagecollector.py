"""The garbage collector: dependents go with their owners, as ownerReferences and deletion policies say.

It watches every resource that can be listed, watched and deleted (one shared
informer each, from the manager's cache, indexed by owner uid) and works on
one object at a time from a rate-limited queue:

- **dangling dependents**: an object whose owners are all gone (not found, or
  found with another uid) is deleted (Background); owners that are gone while
  others remain are dropped from its ownerReferences. A namespaced owner is
  looked for in the dependent's own namespace — a cross-namespace reference
  resolves to nothing, as upstream; a cluster-scoped dependent naming a
  namespaced owner kind is unresolvable: it is kept and a warning event
  (``OwnerRefInvalidNamespace``) says why.
- **Orphan** (``orphan`` finalizer on a deleting owner): its dependents lose
  their reference to it, then the finalizer is removed.
- **Foreground** (``foregroundDeletion`` finalizer): its dependents are deleted
  (themselves in the foreground); once none with ``blockOwnerDeletion`` is
  left, the finalizer is removed and the owner goes.

Owner lookups read the cache first and confirm a miss with the API, so a
lagging cache never gets a live dependent deleted.

The set of watched resources follows discovery, as upstream's monitors do: it
is read again every :data:`RESYNC_PERIOD` seconds and whenever a
CustomResourceDefinition changes, so the kinds of CRDs installed after start
are collected too (and their owners are answered from a cache, not by a GET per
dependent); a resource no longer served stops being watched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from pinnace.api import errors
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.client.restmapper import GVK, RESTMapping, split_api_version
from pinnace.runtime.cache.delta_fifo import DeletedFinalStateUnknown
from pinnace.runtime.cache.informer import EventHandler, Informer
from pinnace.runtime.manager import Manager
from pinnace.runtime.tasks import cancel_and_wait
from pinnace.runtime.workqueue import ShutDown, WorkQueue

__all__ = ["GarbageCollector", "add_garbage_collector"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
OWNER_UID_INDEX = "gc:owner-uid"
#: Resources the collector leaves alone (upstream ignores events too: they are never owned).
IGNORED = frozenset({("", "events"), ("events.k8s.io", "events")})
#: How often discovery is read again for resources to watch (kube-controller-manager's garbage collector: 30 s).
RESYNC_PERIOD = 30.0
CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")


@dataclass(frozen=True, order=True)
class Item:
    """One object to look at: its kind and where it lives."""

    group: str
    version: str
    kind: str
    namespace: str
    name: str


def _owner_uids(obj: Obj) -> list[str]:
    return [str(r["uid"]) for r in (obj.get("metadata") or {}).get("ownerReferences") or [] if r.get("uid")]


async def add_garbage_collector(manager: Manager, *, workers: int = 4) -> GarbageCollector:
    """Add the garbage collector to ``manager``."""
    gc = GarbageCollector(manager, workers=workers)
    manager.add(gc)
    return gc


class GarbageCollector:
    """Deletes what lost its owners and carries out Orphan and Foreground deletion."""

    name = "garbage-collector"

    def __init__(self, manager: Manager, *, workers: int = 4) -> None:
        self.manager = manager
        self.rest: RestClient = manager.rest
        self.workers = workers
        self.queue: WorkQueue[Item] = WorkQueue(self.name, clock=manager.clock)
        self.recorder = manager.get_event_recorder(self.name)
        self._informers: dict[GVK, Informer] = {}
        self._mappings: dict[GVK, RESTMapping] = {}
        self._resync_wanted = asyncio.Event()

    # ---- wiring -----------------------------------------------------------------
    async def run(self) -> None:
        """Watch every deletable resource and work the queue until cancelled."""
        await self._sync_monitors(wait=True)
        tasks = [asyncio.create_task(self._work(), name=f"{self.name} worker {i}") for i in range(self.workers)]
        tasks.append(asyncio.create_task(self._resync_monitors(), name=f"{self.name} monitors"))
        try:
            await asyncio.gather(*tasks)
        finally:
            await self.queue.shut_down_with_drain(10)
            await cancel_and_wait(tasks)

    async def _sync_monitors(self, *, wait: bool) -> None:
        """Watch every deletable resource discovery serves now, and stop watching those it no longer does.

        ``wait``: wait for the informers to sync (at start); later, new ones sync in the background."""
        await self.manager.mapper.refresh()
        served: dict[GVK, RESTMapping] = {}
        for mapping in self.manager.mapper.known():
            ref = mapping.ref
            if (ref.group, ref.plural) in IGNORED or not {"list", "watch", "delete"} <= mapping.verbs:
                continue
            if mapping.gvk in self._mappings or not any(m.ref == ref for m in served.values()):
                served[mapping.gvk] = mapping
        for gvk in [g for g in self._mappings if g not in served]:
            log.info("garbage collector: %s is no longer served; not watching it any more", gvk)
            del self._mappings[gvk], self._informers[gvk]
            await self.manager.cache.remove_informer(gvk)
        for gvk, mapping in served.items():
            if gvk in self._mappings or any(m.ref == mapping.ref for m in self._mappings.values()):
                continue
            informer = await self.manager.cache.informer_for(gvk, wait=False)
            informer.indexer.add_indexers({OWNER_UID_INDEX: _owner_uids})
            informer.add_event_handler(self._handler(gvk))
            if (mapping.ref.group, mapping.ref.plural) == CRDS:
                informer.add_event_handler(
                    EventHandler(on_add=self._crds_changed, on_update=self._crds_changed, on_delete=self._crds_changed)
                )
            self._mappings[gvk] = mapping
            self._informers[gvk] = informer
        if wait:
            for informer in self._informers.values():
                await informer.wait_for_sync(60)

    def _crds_changed(self, *_: Any) -> None:
        self._resync_wanted.set()

    async def _resync_monitors(self) -> None:
        """Follow discovery: every :data:`RESYNC_PERIOD`, and soon after a CRD changes."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._resync_wanted.wait(), RESYNC_PERIOD)
            self._resync_wanted.clear()
            try:
                await self._sync_monitors(wait=False)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # discovery failed: keep the monitors we have, try again later
                log.warning("garbage collector: re-reading discovery failed (%s); will retry", exc)

    def _handler(self, gvk: GVK) -> EventHandler:
        def item_of(obj: Obj) -> Item:
            meta = obj.get("metadata") or {}
            return Item(gvk.group, gvk.version, gvk.kind, meta.get("namespace") or "", meta.get("name") or "")

        def interesting(obj: Obj) -> bool:
            meta = obj.get("metadata") or {}
            deleting = meta.get("deletionTimestamp") and {ORPHAN, FOREGROUND} & set(meta.get("finalizers") or [])
            return bool(meta.get("ownerReferences") or deleting)

        def added(obj: Obj, _initial: bool) -> None:
            if interesting(obj):
                self.queue.add(item_of(obj))

        def updated(old: Obj, new: Obj) -> None:
            if interesting(new):
                self.queue.add(item_of(new))

        def deleted(obj: Obj | DeletedFinalStateUnknown) -> None:
            last = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
            uid = (last.get("metadata") or {}).get("uid")
            if uid:  # its dependents may now be dangling
                for dependent_gvk, dependent in self._dependents(str(uid)):
                    meta = dependent.get("metadata") or {}
                    self.queue.add(
                        Item(
                            dependent_gvk.group,
                            dependent_gvk.version,
                            dependent_gvk.kind,
                            meta.get("namespace") or "",
                            meta.get("name") or "",
                        )
                    )
            for owner in self._owners_of(last):  # an owner in foreground deletion may be waiting for it
                self.queue.add(owner)

        return EventHandler(on_add=added, on_update=updated, on_delete=deleted)

    def _owners_of(self, obj: Obj) -> list[Item]:
        meta = obj.get("metadata") or {}
        out = []
        for ref in meta.get("ownerReferences") or []:
            group, version = split_api_version(str(ref.get("apiVersion") or ""))
            mapping = self._mappings.get(GVK(group, version, str(ref.get("kind") or "")))
            namespace = (meta.get("namespace") or "") if mapping is not None and mapping.ref.namespaced else ""
            out.append(Item(group, version, str(ref.get("kind") or ""), namespace, str(ref.get("name") or "")))
        return out

    def _dependents(self, uid: str) -> list[tuple[GVK, Obj]]:
        return [
            (gvk, obj) for gvk, inf in self._informers.items() for obj in inf.indexer.by_index(OWNER_UID_INDEX, uid)
        ]

    # ---- work -------------------------------------------------------------------
    async def _work(self) -> None:
        while True:
            try:
                item = await self.queue.get()
            except ShutDown:
                return
            try:
                requeue = await self.process(item)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("garbage collector: processing %s failed; will retry", item)
                self.queue.add_rate_limited(item)
            else:
                if requeue:
                    self.queue.add_after(item, 1.0)
                else:
                    self.queue.forget(item)
            finally:
                self.queue.done(item)

    async def process(self, item: Item) -> bool:
        """Look at one object; True to look again later."""
        gvk = GVK(item.group, item.version, item.kind)
        mapping = self._mappings.get(gvk)
        if mapping is None:
            return False
        obj = self._informers[gvk].indexer.get(f"{item.namespace}/{item.name}" if item.namespace else item.name)
        if obj is None:
            return False
        meta = obj.get("metadata") or {}
        finalizers = set(meta.get("finalizers") or [])
        if meta.get("deletionTimestamp") and ORPHAN in finalizers:
            await self._orphan_dependents(mapping.ref, obj)
            return False
        if meta.get("deletionTimestamp") and FOREGROUND in finalizers:
            return await self._delete_dependents_first(mapping.ref, obj)
        if meta.get("ownerReferences") and not meta.get("deletionTimestamp"):
            await self._collect_if_dangling(mapping, obj)
        return False

    async def _owner_state(self, dependent_mapping: RESTMapping, dependent: Obj, ref: Obj) -> str:
        """``present``, ``absent`` or ``invalid`` (cluster-scoped dependent, namespaced owner kind)."""
        group, version = split_api_version(str(ref.get("apiVersion") or ""))
        gvk = GVK(group, version, str(ref.get("kind") or ""))
        try:
            owner_mapping = self._mappings.get(gvk) or await self.manager.mapper.mapping(gvk)
        except errors.NotFound:
            return "absent"  # a kind nobody serves any more
        namespace = (dependent.get("metadata") or {}).get("namespace") or None
        if owner_mapping.ref.namespaced and namespace is None:
            return "invalid"
        owner_ns = namespace if owner_mapping.ref.namespaced else None
        informer = self._informers.get(owner_mapping.gvk)
        key = f"{owner_ns}/{ref.get('name')}" if owner_ns else str(ref.get("name"))
        cached = informer.indexer.get(key) if informer is not None else None
        if cached is not None and (cached.get("metadata") or {}).get("uid") == ref.get("uid"):
            return "present"
        try:  # the cache may lag behind: ask the server before deleting anything
            live = await self.rest.get(owner_mapping.ref, str(ref.get("name")), owner_ns)
        except errors.NotFound:
            return "absent"
        return "present" if (live.get("metadata") or {}).get("uid") == ref.get("uid") else "absent"

    async def _collect_if_dangling(self, mapping: RESTMapping, obj: Obj) -> None:
        meta = obj["metadata"]
        refs = list(meta.get("ownerReferences") or [])
        states = [await self._owner_state(mapping, obj, ref) for ref in refs]
        if "invalid" in states:
            self.recorder.event(
                obj,
                "Warning",
                "OwnerRefInvalidNamespace",
                f"ownerRef {refs[states.index('invalid')]} does not resolve: a cluster-scoped object cannot be "
                "owned by a namespaced kind",
            )
            return
        if all(s == "absent" for s in states):
            log.debug(  # routine work (upstream logs it at V(2)): at INFO, every cascade filled the cluster's log
                "garbage collector: deleting %s %s/%s: its owners are gone",
                mapping.gvk.kind,
                meta.get("namespace", ""),
                meta.get("name"),
            )
            with contextlib.suppress(errors.NotFound):
                await self.rest.delete(
                    mapping.ref,
                    meta["name"],
                    meta.get("namespace"),
                    propagationPolicy="Background",
                    preconditions={"uid": meta["uid"]},
                )
            return
        if "absent" in states:
            kept = [r for r, s in zip(refs, states, strict=True) if s != "absent"]
            await self._set_owner_refs(mapping.ref, obj, kept)

    async def _set_owner_refs(self, ref: ResourceRef, obj: Obj, owner_refs: list[Obj]) -> None:
        meta = obj["metadata"]
        patch = [
            {"op": "test", "path": "/metadata/uid", "value": meta["uid"]},
            {"op": "replace", "path": "/metadata/ownerReferences", "value": owner_refs},
        ]
        with contextlib.suppress(errors.NotFound, errors.Invalid):
            await self.rest.patch(
                ref, meta["name"], patch, meta.get("namespace"), patch_type="application/json-patch+json"
            )

    async def _remove_finalizer(self, ref: ResourceRef, obj: Obj, finalizer: str) -> None:
        meta = obj["metadata"]
        finalizers = [f for f in meta.get("finalizers") or [] if f != finalizer]
        patch = [
            {"op": "test", "path": "/metadata/uid", "value": meta["uid"]},
            {"op": "replace", "path": "/metadata/finalizers", "value": finalizers},
        ]
        with contextlib.suppress(errors.NotFound, errors.Invalid):
            await self.rest.patch(
                ref, meta["name"], patch, meta.get("namespace"), patch_type="application/json-patch+json"
            )

    async def _orphan_dependents(self, ref: ResourceRef, owner: Obj) -> None:
        uid = owner["metadata"]["uid"]
        for gvk, dependent in self._dependents(uid):
            mapping = self._mappings[gvk]
            kept = [r for r in dependent["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
            await self._set_owner_refs(mapping.ref, dependent, kept)
        await self._remove_finalizer(ref, owner, ORPHAN)

    async def _delete_dependents_first(self, ref: ResourceRef, owner: Obj) -> bool:
        uid = owner["metadata"]["uid"]
        blocking = 0
        for gvk, dependent in self._dependents(uid):
            dmeta = dependent["metadata"]
            if any(r.get("uid") == uid and r.get("blockOwnerDeletion") for r in dmeta.get("ownerReferences") or []):
                blocking += 1
            if not dmeta.get("deletionTimestamp"):
                with contextlib.suppress(errors.NotFound):
                    await self.rest.delete(
                        self._mappings[gvk].ref,
                        dmeta["name"],
                        dmeta.get("namespace"),
                        propagationPolicy="Foreground",
                        preconditions={"uid": dmeta["uid"]},
                    )
        if blocking:
            return True  # their deletion events bring us back; look again later in any case
        await self._remove_finalizer(ref, owner, FOREGROUND)
        return False
