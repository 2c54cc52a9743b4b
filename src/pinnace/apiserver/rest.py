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
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pinnace.api import conversion, errors, managedfields, names, strategy, typed
from pinnace.api.jsondata import json_copy
from pinnace.api.registry import SUBRESOURCE_KINDS, ResourceInfo, ResourceRegistry
from pinnace.apiserver.admission import AdmissionRequest, Operation
from pinnace.apiserver.admission.chain import AdmissionChain, request_for
from pinnace.apiserver.cacheset import CacheSet
from pinnace.apiserver.codec import decode_from_storage, encode_for_storage, with_resource_version
from pinnace.apiserver.deleteoptions import DeleteOptions as DeleteOptions
from pinnace.apiserver.watch_cache import CachedObject, ResourceCache
from pinnace.storage import Compacted, KeyExists, KeyNotFound, KeyValue, RevisionMismatch, Store

Obj = dict[str, Any]
#: Turns the current object into the desired one (may raise StatusError).
Mutation = Callable[[Obj], Obj]


@dataclass(frozen=True, slots=True)
class AdmissionView:
    """How admission sees an update through a subresource that is a view of its object, as upstream:
    ``deployments/scale`` is admitted as an ``autoscaling/v1`` Scale (object and oldObject), and what the
    mutating plugins change in the view is carried back into the object."""

    kind: dict[str, str]
    #: The view of an object.
    view: Callable[[Obj], Obj]
    #: The object with a (mutated) view applied to it.
    apply: Callable[[Obj, Obj], Obj]


#: How often a patch/update loop retries after losing a CAS race.
_MAX_RETRIES = 20

#: Commits (True) or undoes (False) what a begin-hook did, once the write's outcome is known.
Finish = Callable[[bool], Awaitable[None]]


class StorageHooks(Protocol):
    """Kind behaviour that needs the server's state, around the generic writes (upstream's store hooks).

    ``begin_create`` / ``begin_update`` run after validation and may change the object (a
    Service's allocated cluster IP); the write then calls the returned finish with its outcome.
    ``after_delete`` runs once the object is gone. Subresource writes do not call them.
    """

    async def begin_create(self, obj: Obj, *, dry_run: bool) -> Finish:
        """Prepare a create; the finish undoes it if the write fails."""
        ...

    async def begin_update(self, new: Obj, old: Obj, *, dry_run: bool) -> Finish:
        """Prepare an update; the finish commits or undoes it."""
        ...

    async def after_delete(self, obj: Obj) -> None:
        """Clean up after a deleted object."""
        ...


def not_found(info: ResourceInfo, name: str) -> errors.NotFound:
    """Upstream's 404 for a missing object."""
    return errors.NotFound(f'{info.group_resource} "{name}" not found', group=info.group, kind=info.plural, name=name)


def conflict(info: ResourceInfo, name: str, why: str) -> errors.Conflict:
    """Upstream's 409 for a lost optimistic-concurrency race."""
    return errors.Conflict(
        f'Operation cannot be fulfilled on {info.group_resource} "{name}": {why}',
        group=info.group,
        kind=info.plural,
        name=name,
    )


_MODIFIED = "the object has been modified; please apply your changes to the latest version and try again"


class RestStore:
    """Create, read, update, patch and delete any resource."""

    def __init__(
        self, store: Store, registry: ResourceRegistry, caches: CacheSet | None = None, *, shared: bool = False
    ) -> None:
        """``shared``: other API servers write to the same store (etcd), so a GET without a resourceVersion
        must catch the cache up to the store's current revision, not just to this server's own writes."""
        self.store = store
        self.registry = registry
        self.caches = caches or CacheSet(store)
        self.shared = shared
        self._last_write: dict[str, int] = {}
        #: Per (group, kind): hooks around writes that need server state (see :class:`StorageHooks`).
        self.hooks: dict[tuple[str, str], StorageHooks] = {}
        #: The admission plugins every write goes through (None: none at all, not even NamespaceLifecycle).
        self.admission: AdmissionChain | None = None

    # ---- freshness ---------------------------------------------------------
    def _wrote(self, info: ResourceInfo, revision: int) -> None:
        prefix = info.storage_prefix
        if revision > self._last_write.get(prefix, 0):
            self._last_write[prefix] = revision

    async def fresh_cache(
        self, info: ResourceInfo, min_revision: int = 0, *, consistent: bool = False
    ) -> ResourceCache:
        """The resource's cache once it reflects every write this server made (and ``min_revision``).

        ``consistent``: at least the store's current revision, as upstream's consistent reads from the
        cache — a list then carries the latest revision, never an older one its prefix happened to stop at.
        """
        # Every read and write passes here, mostly with a started cache that is caught up: no await then.
        cache = self.caches.started(info) or await self.caches.get(info)
        target = max(self._last_write.get(info.storage_prefix, 0), min_revision)
        if consistent:
            target = max(target, await self.store.current_revision())
        if target and not cache.caught_up(target) and not await cache.wait_for(target):
            raise errors.Timeout(
                f"Too large resource version: {target}, current: {cache.revision}",
                causes=[errors.Cause("ResourceVersionTooLarge", "Too large resource version")],
                retry_after_seconds=1,
            )
        return cache

    def fresh_cache_now(self, info: ResourceInfo) -> ResourceCache | None:
        """:meth:`fresh_cache` without awaiting: the started cache if it already reflects every write this server
        made, else None (then await that). For synchronous fast paths that must read their own writes."""
        cache = self.caches.started(info)
        if cache is None:
            return None
        target = self._last_write.get(info.storage_prefix, 0)
        return cache if not target or cache.caught_up(target) else None

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

    async def _read_current(self, info: ResourceInfo, namespace: str | None, name: str) -> tuple[Obj, int]:
        kv = await self.store.get(info.key(namespace, name))
        if kv is None:
            raise not_found(info, name)
        return decode_from_storage(kv), kv.mod_revision

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
        chain = self.admission
        request = None
        defaulted = False
        if chain:
            strategy.default(info, obj)  # admission sees the object defaulted, as upstream's decoding leaves it
            request = request_for(
                Operation.CREATE, info, meta.get("namespace"), meta.get("name") or "", obj, None, dry_run=dry_run
            )
            await chain.admit(request)
            obj = self._admitted(info, request)
            meta = obj["metadata"]
            normal = normal and not request.mutated
            defaulted = not request.mutated  # a changed object is defaulted again, as upstream does a webhook's
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
        strategy.prepare_for_create(info, obj, normal=normal, defaulted=defaulted)
        self._validate(info, obj)
        if chain and request is not None:
            request.name = meta["name"]
            await chain.validate(request)
        if manager is not None:
            managedfields.track_create(info, obj, manager, now=meta["creationTimestamp"])
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
            return obj
        name = meta["name"]
        for attempt in range(5):
            try:
                kv = await self._put(info.key(meta.get("namespace"), name), conversion.to_storage(info, obj), None)
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
            meta["resourceVersion"] = str(kv.mod_revision)  # ``obj`` is what was stored: no need to decode it
            return obj
        raise AssertionError("unreachable")

    async def _put(self, key: str, stored: Obj, expected_revision: int | None) -> KeyValue:
        """Write ``stored`` (the object at its storage version) at ``key``: a create if
        ``expected_revision`` is None, else a compare-and-swap update. The watch caches
        are handed the object itself, so they do not decode what was just encoded."""
        value = encode_for_storage(stored)
        self.caches.hints.offer(value, stored)
        try:
            if expected_revision is None:
                return await self.store.create(key, value)
            return await self.store.update(key, value, expected_revision)
        except BaseException:
            self.caches.hints.withdraw(value)
            raise

    # ---- update / patch ----------------------------------------------------
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
        obj = json_copy(obj)
        self._check_type(info, obj)
        meta = strategy.meta(obj)
        if meta.get("name") and meta["name"] != name:
            raise errors.BadRequest(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        meta["name"] = name
        if info.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise errors.BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        wanted_rv = meta.get("resourceVersion") or None
        if wanted_rv is not None:
            parse_resource_version(wanted_rv)
        kv = await self.store.get(info.key(namespace, name))
        if kv is None:
            if info.create_on_update and subresource is None:
                return await self.create(info, namespace, obj, dry_run=dry_run, manager=manager), True
            raise not_found(info, name)
        if wanted_rv is None and not self._allows_unconditional_update(info):
            raise errors.invalid(
                info.kind,
                name,
                [
                    errors.Cause(
                        errors.CAUSE_INVALID,
                        "Invalid value: 0x0: must be specified for an update",
                        "metadata.resourceVersion",
                    )
                ],
                group=info.group,
            )

        def replace(current: Obj) -> Obj:
            if wanted_rv is not None and current["metadata"]["resourceVersion"] != wanted_rv:
                raise conflict(info, name, _MODIFIED)
            replacement: Obj = json_copy(obj)
            return replacement

        result = await self._guaranteed_update(
            info, namespace, name, replace, subresource=subresource, dry_run=dry_run, first=kv, manager=manager
        )
        return result, False

    @staticmethod
    def _allows_unconditional_update(info: ResourceInfo) -> bool:
        return True

    async def mutate(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        mutation: Mutation,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        manager: str | None = None,
        prepared: bool = False,
        view: AdmissionView | None = None,
    ) -> Obj:
        """Apply ``mutation`` to the current object and write it, retrying lost races (PATCH).

        A resourceVersion the patch sets is a precondition: 409 unless it is the current one.
        ``prepared``: the mutation itself enforces every rule of the write (a subresource such as
        ``pods/binding`` that sets fields a plain update may not touch), so the kind's update strategy
        and validation are skipped. ``view``: admission sees the write as this view of the object (scale).
        """

        def checked(current: Obj) -> Obj:
            current_rv = current["metadata"]["resourceVersion"]
            desired = mutation(current)
            wanted_rv = (desired.get("metadata") or {}).get("resourceVersion")
            if wanted_rv and wanted_rv != current_rv:
                raise conflict(info, name, _MODIFIED)
            return desired

        return await self._guaranteed_update(
            info,
            namespace,
            name,
            checked,
            subresource=subresource,
            dry_run=dry_run,
            manager=manager,
            prepared=prepared,
            view=view,
        )

    async def _guaranteed_update(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        mutation: Mutation,
        *,
        subresource: str | None,
        dry_run: bool,
        first: KeyValue | None = None,
        manager: str | None = None,
        prepared: bool = False,
        view: AdmissionView | None = None,
    ) -> Obj:
        key = info.key(namespace, name)
        kv = first
        # The first attempt may start from the watch cache's copy (upstream's cachedExistingObject): no read
        # of the store. The write is a compare-and-swap on its revision, so a stale copy cannot be written
        # over the truth; and as upstream, an attempt on a copy that fails or would change nothing is
        # repeated on the stored object before it is believed.
        guess = first is None
        for _ in range(_MAX_RETRIES):
            from_cache = False
            if kv is None:
                kv = self._cached_current(info, key) if guess else None
                from_cache = guess = kv is not None
                if kv is None:
                    kv = await self.store.get(key)
                if kv is None:
                    raise not_found(info, name)
            try:
                outcome = await self._try_update(
                    info, kv, mutation, namespace, subresource, dry_run, manager, prepared, from_cache, view
                )
            except errors.StatusError:
                if not from_cache:
                    raise
                outcome = None
            if outcome is None:
                kv = None  # lost a race, or worked on a cached copy that must be checked: read the object again
                guess = False
                continue
            return outcome[0]
        raise conflict(info, name, "too many concurrent writers; please try again")

    def _cached_current(self, info: ResourceInfo, key: str) -> KeyValue | None:
        """The watch cache's copy of ``key`` as a KeyValue, if the cache has it and has seen every write this
        server made to the resource (no waiting: otherwise the store is read)."""
        cache = self.caches.started(info)
        if cache is None or not cache.caught_up(self._last_write.get(info.storage_prefix, 0)):
            return None
        cached = cache.get(key)
        return None if cached is None else KeyValue(key, cached.json, 0, cached.revision)

    async def _try_update(
        self,
        info: ResourceInfo,
        kv: KeyValue,
        mutation: Mutation,
        namespace: str | None,
        subresource: str | None,
        dry_run: bool,
        manager: str | None,
        prepared: bool,
        from_cache: bool,
        view: AdmissionView | None = None,
    ) -> tuple[Obj, bool] | None:
        """One attempt of a guaranteed update on ``kv``: the outcome, or None to read the object and try again."""
        current = conversion.to_version(info, decode_from_storage(kv), owned=True)
        name = current["metadata"]["name"]
        desired = mutation(json_copy(current))
        self._check_type(info, desired)
        dmeta = strategy.meta(desired)
        if dmeta.get("name", name) != name:
            raise errors.BadRequest(f"metadata.name: Invalid value: {dmeta.get('name')!r}: field is immutable")
        dmeta["name"] = name
        if info.namespaced:
            if dmeta.get("namespace", namespace) != namespace:
                raise errors.BadRequest("metadata.namespace: Invalid value: field is immutable")
            dmeta["namespace"] = namespace
        chain = self.admission
        request = None
        defaulted = False
        if chain:
            if not prepared:
                strategy.default(info, desired)  # as a decoded body or patch result reaches admission upstream
            if view is None:
                request = request_for(
                    Operation.UPDATE, info, namespace, name, desired, current, subresource=subresource, dry_run=dry_run
                )
                await chain.admit(request)
                desired = self._admitted(info, request)
            else:
                old_view, new_view = view.view(current), view.view(desired)
                request = request_for(
                    Operation.UPDATE,
                    info,
                    namespace,
                    name,
                    new_view,
                    old_view,
                    subresource=subresource,
                    dry_run=dry_run,
                )
                request.kind = view.kind
                await chain.admit(request)
                if request.mutated:
                    if not isinstance(request.obj, dict):
                        raise errors.InternalError(f"admission left no valid {view.kind['kind']} object")
                    desired = view.apply(desired, request.obj)
            defaulted = not prepared and not request.mutated
        if not prepared:
            strategy.prepare_for_update(info, desired, current, subresource=subresource, defaulted=defaulted)
            self._validate(info, desired, current)
        if chain and request is not None:
            await chain.validate(request)
        hooks = self.hooks.get((info.group, info.kind)) if subresource is None else None
        if hooks is None:
            return await self._write_update(info, kv, current, desired, manager, subresource, dry_run, from_cache)
        finish = await hooks.begin_update(desired, current, dry_run=dry_run)
        try:
            outcome = await self._write_update(info, kv, current, desired, manager, subresource, dry_run, from_cache)
        except BaseException:
            await finish(False)
            raise
        await finish(outcome is not None)
        if outcome is not None and outcome[1]:
            await hooks.after_delete(outcome[0])
        return outcome

    async def _write_update(
        self,
        info: ResourceInfo,
        kv: KeyValue,
        current: Obj,
        desired: Obj,
        manager: str | None,
        subresource: str | None,
        dry_run: bool,
        from_cache: bool = False,
    ) -> tuple[Obj, bool] | None:
        """One attempt to write an update: the result and whether it deleted the object; None if the CAS lost
        (or, ``from_cache``: ``current`` is the watch cache's copy, the update would change nothing, and the
        store has a newer version)."""
        key, name = kv.key, current["metadata"]["name"]
        if manager is not None:
            managedfields.track_update(
                info, current, desired, manager, subresource=subresource, now=strategy.now_rfc3339()
            )
        else:
            managedfields.carry_over(current, desired)
        # A stale value (read with an old encryption key) is rewritten even when nothing changed: re-encryption.
        if strategy.semantically_equal(desired, current):
            # Nothing to write, if ``current`` is what is stored: a cached copy is checked against the store.
            latest = await self.store.get(key) if from_cache else kv
            if latest is not None and latest.mod_revision == kv.mod_revision and not getattr(latest, "stale", False):
                return current, False
            if from_cache:
                return None  # a stale copy, or a value to re-encrypt: try again on the stored object
        if dry_run:
            return desired, False
        dmeta = strategy.meta(desired)
        if (
            dmeta.get("deletionTimestamp")
            and not strategy.has_finalizers(info, desired)
            and int(dmeta.get("deletionGracePeriodSeconds") or 0) == 0
        ):
            try:
                deleted = await self.store.delete(key, expected_revision=kv.mod_revision)
            except RevisionMismatch:
                return None
            except KeyNotFound:
                raise not_found(info, name) from None
            self._wrote(info, deleted.mod_revision)
            return _deleted_view(desired, deleted.mod_revision), True
        try:
            stored = conversion.to_storage(info, desired)
            new_kv = await self._put(key, stored, kv.mod_revision)
        except RevisionMismatch:
            return None
        except KeyNotFound:
            raise not_found(info, name) from None
        self._wrote(info, new_kv.mod_revision)
        written = with_resource_version(stored, new_kv.mod_revision)
        # Stored at its own version, ``desired`` (decoded and defaulted) is what a read would give back.
        return (written if stored is desired else conversion.to_version(info, written)), False

    # ---- delete ------------------------------------------------------------
    async def delete(
        self, info: ResourceInfo, namespace: str | None, name: str, options: DeleteOptions
    ) -> tuple[Obj, bool]:
        """Delete an object. Returns the object and whether it is gone now.

        Objects with finalizers (or deleted with the Orphan / Foreground
        policies, which add theirs) and pods bound to a node with a grace
        period are only marked (deletionTimestamp); others go at once.
        """
        key = info.key(namespace, name)
        for _ in range(_MAX_RETRIES):
            kv = await self.store.get(key)
            if kv is None:
                raise not_found(info, name)
            current = conversion.to_version(info, decode_from_storage(kv), owned=True)
            strategy.check_delete(info, current)
            cmeta = current["metadata"]
            if options.precondition_uid is not None and options.precondition_uid != cmeta.get("uid"):
                raise conflict(
                    info,
                    name,
                    f"Precondition failed: UID in precondition: {options.precondition_uid}, "
                    f"UID in object meta: {cmeta.get('uid')}",
                )
            if options.precondition_resource_version is not None and options.precondition_resource_version != cmeta.get(
                "resourceVersion"
            ):
                raise conflict(
                    info,
                    name,
                    f"Precondition failed: ResourceVersion in precondition: "
                    f"{options.precondition_resource_version}, ResourceVersion in object meta: "
                    f"{cmeta.get('resourceVersion')}",
                )
            if self.admission:
                request = request_for(
                    Operation.DELETE,
                    info,
                    namespace,
                    name,
                    None,
                    current,
                    dry_run=options.dry_run,
                    options=options.to_json(),
                )
                await self.admission.review(request)
            desired = json_copy(current)
            strategy.prepare_for_delete(info, desired)
            dmeta = desired["metadata"]
            finalizers = list(dmeta.get("finalizers") or [])
            policy = options.propagation_policy
            if policy == "Orphan" and "orphan" not in finalizers:
                finalizers.append("orphan")
            elif policy == "Foreground" and "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
            if policy in ("Orphan", "Foreground"):
                dmeta["finalizers"] = finalizers
            grace = self._grace_period(info, current, options)
            pending = strategy.has_finalizers(info, desired) or grace > 0
            if pending:
                if cmeta.get("deletionTimestamp") and desired == current:
                    return current, False
                strategy.mark_deleting(info, desired, grace_seconds=grace)
                if options.dry_run:
                    return desired, False
                stored = conversion.to_storage(info, desired)
                try:
                    new_kv = await self._put(key, stored, kv.mod_revision)
                except (RevisionMismatch, KeyNotFound):
                    continue
                self._wrote(info, new_kv.mod_revision)
                return conversion.to_version(info, with_resource_version(stored, new_kv.mod_revision)), False
            if options.dry_run:
                return current, True
            try:
                deleted = await self.store.delete(key, expected_revision=kv.mod_revision)
            except RevisionMismatch:
                continue
            except KeyNotFound:
                raise not_found(info, name) from None
            self._wrote(info, deleted.mod_revision)
            hooks = self.hooks.get((info.group, info.kind))
            if hooks is not None:
                await hooks.after_delete(current)
            return _deleted_view(current, deleted.mod_revision), True
        raise conflict(info, name, "too many concurrent writers; please try again")

    @staticmethod
    def _grace_period(info: ResourceInfo, obj: Obj, options: DeleteOptions) -> int:
        if (info.group, info.kind) != ("", "Pod"):
            return 0
        spec = obj.get("spec") or {}
        if not spec.get("nodeName"):
            return 0  # never scheduled: nothing to stop, deleted at once (as upstream)
        phase = (obj.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            return 0
        if options.grace_period_seconds is not None:
            return max(0, options.grace_period_seconds)
        existing = (obj.get("metadata") or {}).get("deletionGracePeriodSeconds")
        if existing is not None:
            return int(existing)
        return int(spec.get("terminationGracePeriodSeconds", 30))

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
        request.kind = SUBRESOURCE_KINDS.get(subresource)
        await self.admission.review(request)

    def _admitted(self, info: ResourceInfo, request: AdmissionRequest) -> Obj:
        """The object a mutating phase left behind, checked to still be an object of the kind."""
        obj = request.obj
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
            raise errors.InternalError(f"admission left no valid {info.kind} object")
        self._check_type(info, obj)
        return obj

    # ---- checks ------------------------------------------------------------
    @staticmethod
    def _check_type(info: ResourceInfo, obj: Obj) -> None:
        api_version = obj.get("apiVersion")
        kind = obj.get("kind")
        if api_version is None and kind is None:
            obj["apiVersion"], obj["kind"] = info.api_version, info.kind
            return
        if kind is not None and kind != info.kind:
            raise errors.BadRequest(f"the kind in the data ({kind}) does not match the expected kind ({info.kind})")
        if api_version is not None and api_version != info.api_version:
            raise errors.BadRequest(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({info.api_version})"
            )
        obj["apiVersion"], obj["kind"] = info.api_version, info.kind

    @staticmethod
    def _validate(info: ResourceInfo, obj: Obj, old: Obj | None = None) -> None:
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            raise errors.BadRequest("metadata must be an object")
        causes = names.validate_object_meta(meta, namespaced=info.namespaced, name_rule=info.name_rule)
        causes += strategy.validate(info, obj, old)
        if causes:
            raise errors.invalid(info.kind, str(meta.get("name") or ""), causes, group=info.group)


def _deleted_view(obj: Obj, revision: int) -> Obj:
    out: Obj = json_copy(obj)
    out.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return out


def parse_resource_version(value: str) -> int:
    """A resourceVersion as a revision, or 400 if it is not one."""
    try:
        rev = int(value)
    except ValueError:
        raise errors.BadRequest(f"invalid resource version: {value!r}") from None
    if rev < 0:
        raise errors.BadRequest(f"invalid resource version: {value!r}")
    return rev


def is_compacted(exc: BaseException) -> bool:
    """Whether a storage error means the requested revision is gone."""
    return isinstance(exc, Compacted)


def utcnow() -> datetime:
    """Now, in UTC (one place to inject a clock later)."""
    return datetime.now(UTC)
