"""DELETE: an object goes at once, or is marked for deletion while finalizers or a grace period hold it.

Checks the caller's preconditions (uid, resourceVersion), admits the delete, adds
the finalizer of the Orphan or Foreground propagation policy, and then either marks
the object (deletionTimestamp, and for a pod bound to a node its grace period) or
deletes it, with compare-and-swap on the revision it was read at, retrying lost
races. :class:`RestDeleter` is a part of :class:`~pinnace.apiserver.rest.RestStore`.
"""

from __future__ import annotations

from pinnace.api import conversion, strategy
from pinnace.api.jsondata import json_copy
from pinnace.api.registry import ResourceInfo
from pinnace.apiserver.admission import Operation
from pinnace.apiserver.admission.chain import request_for
from pinnace.apiserver.codec import decode_from_storage, with_resource_version
from pinnace.apiserver.deleteoptions import DeleteOptions
from pinnace.apiserver.rest_base import MAX_RETRIES, Obj, RestBase, conflict, not_found
from pinnace.storage import KeyNotFound, RevisionMismatch


class RestDeleter(RestBase):
    """Delete, honouring finalizers, propagation policies and pods' grace periods."""

    async def delete(
        self, info: ResourceInfo, namespace: str | None, name: str, options: DeleteOptions
    ) -> tuple[Obj, bool]:
        """Delete an object. Returns the object and whether it is gone now.

        Objects with finalizers (or deleted with the Orphan / Foreground
        policies, which add theirs) and pods bound to a node with a grace
        period are only marked (deletionTimestamp); others go at once.
        """
        key = info.key(namespace, name)
        for _ in range(MAX_RETRIES):
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
                strategy.mark_deleting(info, desired, grace_seconds=grace)
                if cmeta.get("deletionTimestamp") and desired == current:
                    return current, False  # pending already, and this delete changes nothing (no shorter grace)
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
            return with_resource_version(current, deleted.mod_revision), True  # at its deletion's revision
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
