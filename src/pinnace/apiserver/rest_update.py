"""PUT and PATCH's guaranteed update: a read-modify-CAS loop over one object.

As upstream's ``GuaranteedUpdate``: read the current object (first from the watch
cache, then from the store), apply the caller's mutation, default, admit, prepare
and validate the result, and write it with compare-and-swap on the revision it was
read at; a lost race reads the object again and repeats. An update that clears the
last finalizer of an object being deleted deletes it. :class:`RestUpdater` is a part
of :class:`~pinnace.apiserver.rest.RestStore`.
"""

from __future__ import annotations

from pinnace.api import conversion, errors, managedfields, strategy, typed
from pinnace.api.jsondata import json_copy
from pinnace.api.registry import ResourceInfo
from pinnace.apiserver.admission import Operation
from pinnace.apiserver.admission.chain import request_for
from pinnace.apiserver.codec import decode_from_storage, with_resource_version
from pinnace.apiserver.rest_base import (
    MAX_RETRIES,
    MODIFIED,
    AdmissionView,
    Mutation,
    Obj,
    RestBase,
    check_name,
    conflict,
    not_found,
)
from pinnace.storage import KeyNotFound, KeyValue, RevisionMismatch


class RestUpdater(RestBase):
    """Update and patch through the guaranteed-update loop."""

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
            meta = desired.get("metadata")  # what a patch left there: not always an object
            wanted_rv = meta.get("resourceVersion") if isinstance(meta, dict) else None
            if wanted_rv and wanted_rv != current_rv:
                raise conflict(info, name, MODIFIED)
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
        for _ in range(MAX_RETRIES):
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
        normal = typed.take_normal(desired)  # the mutation's decode check found it normal (a patch's result)
        self._check_type(info, desired)
        dmeta = strategy.meta(desired)
        check_name(dmeta, name, namespace if info.namespaced else None)
        if info.namespaced:
            dmeta["namespace"] = namespace
        # Admission sees the body or patch result as upstream's decoder leaves it, and the writer's fields are
        # recorded now: upstream's field manager runs before mutating admission, whose changes are nobody's.
        if not prepared:
            strategy.decode(info, desired, normal=normal)
        if manager is not None:
            managedfields.track_update(
                info, current, desired, manager, subresource=subresource, now=strategy.now_rfc3339()
            )
        chain = self.admission
        request = None
        decoded = True
        if chain:
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
            decoded = not request.mutated  # a changed object is decoded (defaulted) again
        if not prepared:
            strategy.prepare_for_update(info, desired, current, subresource=subresource, decoded=decoded)
            self._validate(info, desired, current, subresource)
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
        store has a newer version). ``manager``'s write is recorded in ``desired`` already (None: nobody's, and
        the live managedFields stay)."""
        key, name = kv.key, current["metadata"]["name"]
        if manager is None:
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
            return with_resource_version(desired, deleted.mod_revision), True  # at its deletion's revision
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
