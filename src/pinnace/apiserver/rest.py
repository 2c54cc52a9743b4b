"""The generic REST store: every verb for every resource, over a Store.

One implementation serves all kinds; kind behaviour comes from the resource
table (``api.registry``) and strategy hooks (``api.strategy``). Writes go to
the store with compare-and-swap on the revision (a read-modify-CAS loop for
patches, as upstream's GuaranteedUpdate); reads come from the watch cache once
it has applied the caller's own writes. Every write goes through the admission
chain (:mod:`pinnace.apiserver.admission`): the mutating plugins before the
object's defaulting and validation, the validating plugins after them, inside
the CAS loop so each attempt is admitted against the object it replaces.
Nothing is written unless the whole object is valid and admitted; a failed
write changes nothing.

The store is composed of one module per job: :mod:`~pinnace.apiserver.rest_base`
(state, freshness, storage writes, checks, shared helpers), this module (get,
create, PUT's entry point, subresource admission),
:mod:`~pinnace.apiserver.rest_update` (the guaranteed-update loop of PUT and PATCH)
and :mod:`~pinnace.apiserver.rest_delete` (delete).
"""

from __future__ import annotations

from pinnace.api import conversion, errors, managedfields, names, strategy, typed
from pinnace.api.jsondata import json_copy
from pinnace.api.registry import ResourceInfo, subresource_kind
from pinnace.apiserver.admission import Operation
from pinnace.apiserver.admission.chain import request_for
from pinnace.apiserver.codec import with_resource_version
from pinnace.apiserver.deleteoptions import DeleteOptions
from pinnace.apiserver.rest_base import (
    MODIFIED,
    AdmissionView,
    Finish,
    Mutation,
    Obj,
    StorageHooks,
    check_name,
    conflict,
    not_found,
    parse_resource_version,
)
from pinnace.apiserver.rest_delete import RestDeleter
from pinnace.apiserver.rest_update import RestUpdater
from pinnace.apiserver.watch_cache import CachedObject
from pinnace.storage import KeyExists

__all__ = [
    "AdmissionView",
    "DeleteOptions",
    "Finish",
    "Mutation",
    "Obj",
    "RestStore",
    "StorageHooks",
    "conflict",
    "not_found",
    "parse_resource_version",
]


class RestStore(RestUpdater, RestDeleter):
    """Create, read, update, patch and delete any resource."""

    # ---- reads -------------------------------------------------------------
    async def get(
        self, info: ResourceInfo, namespace: str | None, name: str, resource_version: str | None = None
    ) -> Obj:
        """One object, as of at least ``resource_version`` ("0": any cached state)."""
        min_rev = 0
        if resource_version not in (None, "", "0"):
            min_rev = parse_resource_version(resource_version)
        if resource_version == "0":
            cache = await self.caches.get(info)
        else:  # a GET without a resourceVersion is a consistent read (upstream: a quorum read)
            cache = await self.fresh_cache(info, min_rev, consistent=self.shared and not resource_version)
        cached = cache.get(info.key(namespace, name))
        if cached is None:
            raise not_found(info, name)
        return conversion.to_version(info, cached.obj)

    async def get_cached(self, info: ResourceInfo, namespace: str | None, name: str) -> CachedObject | None:
        """The cached version of one object after this server's own writes, or None."""
        cache = await self.fresh_cache(info)
        return cache.get(info.key(namespace, name))

    # ---- create ------------------------------------------------------------
    async def create(
        self, info: ResourceInfo, namespace: str | None, obj: Obj, *, dry_run: bool = False, manager: str | None = None
    ) -> Obj:
        """Create an object (201 upstairs); AlreadyExists if the name is taken.

        Takes ownership of ``obj`` (a freshly decoded body): it is changed in place, not copied.
        ``manager``: the field manager the write is recorded for in managedFields (None: not recorded).
        """
        normal = typed.take_normal(obj)  # its decode check found it normal; what admission changes is not
        self._check_type(info, obj)
        meta = strategy.meta(obj)
        if info.namespaced:
            ns = meta.get("namespace") or namespace
            if namespace and ns != namespace:
                raise errors.BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            if not ns:
                raise errors.BadRequest("the server could not find the requested resource: namespace is required")
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        # Admission sees the object as upstream's decoder leaves it (defaults, normal form, Go's zero values), and
        # the creator's fields are recorded now: upstream's field manager runs before mutating admission and the
        # kind's own preparation, so what those add (a service account's volume, a namespace's finalizer) is nobody's.
        strategy.decode(info, obj, normal=normal)
        stamp = strategy.now_rfc3339()  # the creation's time, and its managedFields entry's
        if manager is not None:
            managedfields.track_create(info, obj, manager, now=stamp)
        chain = self.admission
        request = None
        decoded = True
        if chain:
            request = request_for(
                Operation.CREATE, info, meta.get("namespace"), meta.get("name") or "", obj, None, dry_run=dry_run
            )
            await chain.admit(request)
            obj = self._admitted(info, request)
            meta = obj["metadata"]
            decoded = not request.mutated  # a changed object is decoded (defaulted) again, as upstream does a webhook's
        if not meta.get("name"):
            base = meta.get("generateName")
            if not base:
                raise errors.invalid(
                    info.kind,
                    "",
                    [
                        errors.Cause(
                            errors.CAUSE_REQUIRED,
                            "Required value: name or generateName is required",
                            "metadata.name",
                        )
                    ],
                    group=info.group,
                )
            meta["name"] = names.generate_name(str(base))
        strategy.prepare_for_create(info, obj, decoded=decoded, created=stamp)
        self._validate(info, obj)
        if chain and request is not None:
            request.name = meta["name"]
            await chain.validate(request)
        hooks = self.hooks.get((info.group, info.kind))
        if hooks is None:
            return await self._store_new(info, obj, dry_run=dry_run)
        finish = await hooks.begin_create(obj, dry_run=dry_run)
        try:
            created = await self._store_new(info, obj, dry_run=dry_run)
        except BaseException:
            await finish(False)
            raise
        await finish(True)
        return created

    async def _store_new(self, info: ResourceInfo, obj: Obj, *, dry_run: bool) -> Obj:
        """Write a prepared, valid new object (a fresh generated name if a generated one is taken)."""
        meta = obj["metadata"]
        if dry_run:
            stored = conversion.to_storage(info, obj)
            return obj if stored is obj else conversion.to_version(info, stored)
        name = meta["name"]
        for attempt in range(5):
            stored = conversion.to_storage(info, obj)
            try:
                kv = await self._put(info.key(meta.get("namespace"), name), stored, None)
            except KeyExists:
                if meta.get("generateName") and attempt < 4 and name == meta["name"]:
                    meta["name"] = name = names.generate_name(str(meta["generateName"]))
                    continue
                raise errors.AlreadyExists(
                    f'{info.group_resource} "{name}" already exists',
                    group=info.group,
                    kind=info.plural,
                    name=name,
                ) from None
            self._wrote(info, kv.mod_revision)
            if stored is not obj:  # stored at another version: what a read gives back is the stored one's view
                return conversion.to_version(info, with_resource_version(stored, kv.mod_revision))
            meta["resourceVersion"] = str(kv.mod_revision)  # ``obj`` is what was stored: no need to decode it
            return obj
        raise AssertionError("unreachable")

    # ---- update (PUT) ------------------------------------------------------
    async def update(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        obj: Obj,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        manager: str | None = None,
    ) -> tuple[Obj, bool]:
        """Replace an object (PUT). Returns the result and whether it was created."""
        normal = typed.take_normal(obj)  # its decode check found it normal: so are the copies written
        obj = json_copy(obj)
        self._check_type(info, obj)
        meta = strategy.meta(obj)
        check_name(meta, name, namespace if info.namespaced else None)
        if info.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        wanted_rv = meta.get("resourceVersion") or None
        if wanted_rv is not None:
            parse_resource_version(wanted_rv)
        kv = await self.store.get(info.key(namespace, name))
        if kv is None:
            if info.create_on_update and subresource is None:
                if normal:
                    typed.mark_normal(obj)
                return await self.create(info, namespace, obj, dry_run=dry_run, manager=manager), True
            raise not_found(info, name)

        def replace(current: Obj) -> Obj:
            if wanted_rv is not None and current["metadata"]["resourceVersion"] != wanted_rv:
                raise conflict(info, name, MODIFIED)
            replacement: Obj = json_copy(obj)
            if normal:
                typed.mark_normal(replacement)
            return replacement

        result = await self._guaranteed_update(
            info, namespace, name, replace, subresource=subresource, dry_run=dry_run, first=kv, manager=manager
        )
        return result, False

    # ---- admission ---------------------------------------------------------
    async def admit_subresource(
        self,
        operation: Operation,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        subresource: str,
        obj: Obj | None,
        *,
        dry_run: bool = False,
    ) -> None:
        """Admit a write to a subresource that is not a stored object, before its handler acts: a CREATE of
        ``pods/binding`` or ``pods/eviction`` (``obj`` the Binding or Eviction), or a CONNECT of ``pods/exec``,
        ``pods/attach``, ``pods/portforward``, ``nodes/proxy`` … (``obj`` the PodExecOptions-like query as
        JSON). Raises the plugins' StatusError to refuse it."""
        if not self.admission:
            return
        # A CONNECT's options object is its object (upstream passes no operation options for it).
        request = request_for(operation, info, namespace, name, obj, None, subresource=subresource, dry_run=dry_run)
        request.kind = subresource_kind(info, subresource)
        await self.admission.review(request)
