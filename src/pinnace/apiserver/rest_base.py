"""The foundation every verb of the generic REST store stands on.

:class:`RestBase` holds the store's state (the Store, the resource registry, the
watch caches, the per-kind storage hooks and the admission chain), keeps track of
this server's own writes so reads can wait for the cache to reflect them, writes
objects to storage, and checks that a body is an object of the kind and valid.
The verbs build on it: create and get in :mod:`pinnace.apiserver.rest`, the
guaranteed-update loop of PUT and PATCH in :mod:`pinnace.apiserver.rest_update`,
delete in :mod:`pinnace.apiserver.rest_delete`. The module-level helpers here are
the errors, types and parsing those modules (and their callers) share.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pinnace.api import errors, names, strategy
from pinnace.api.patch import go_json_type
from pinnace.api.registry import ResourceInfo, ResourceRegistry
from pinnace.apiserver import request_warnings
from pinnace.apiserver.admission import AdmissionRequest
from pinnace.apiserver.admission.chain import AdmissionChain
from pinnace.apiserver.cacheset import CacheSet
from pinnace.apiserver.codec import encode_for_storage
from pinnace.apiserver.watch_cache import ResourceCache
from pinnace.storage import KeyValue, Store

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


#: How often a patch/update/delete loop retries after losing a CAS race.
MAX_RETRIES = 20

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


def check_name(meta: dict[str, Any], name: str, namespace: str | None) -> None:
    """Refuse an update or patch result whose name is not the URL's (a missing one included) or whose namespace,
    if it has one, is not the request's: upstream's ``checkName``, 400 before anything is written."""
    for field in ("name", "namespace"):
        value = meta.get(field)
        if value is not None and not isinstance(value, str):  # a patch or apply configuration may make it so
            raise errors.BadRequest(
                f"json: cannot unmarshal {go_json_type(value)} into Go struct field ObjectMeta.metadata.{field} "
                "of type string"
            )
    found = meta.get("name") or ""
    if found != name:
        raise errors.BadRequest(f"the name of the object ({found}) does not match the name on the URL ({name})")
    found_namespace = meta.get("namespace") or ""
    if namespace and found_namespace and found_namespace != namespace:
        raise errors.BadRequest(
            f"the namespace of the object ({found_namespace}) does not match the namespace on the request ({namespace})"
        )


#: Why an update whose resourceVersion is not the current one is refused (upstream's wording).
MODIFIED = "the object has been modified; please apply your changes to the latest version and try again"


class RestBase:
    """The REST store's state and the steps its verbs share: freshness, storage writes, checks."""

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

    # ---- storage writes ----------------------------------------------------
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

    # ---- admission ---------------------------------------------------------
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
    def _validate(info: ResourceInfo, obj: Obj, old: Obj | None = None, subresource: str | None = None) -> None:
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            raise errors.BadRequest("metadata must be an object")
        causes = names.validate_object_meta(meta, namespaced=info.namespaced, name_rule=info.name_rule)
        causes += strategy.validate(info, obj, old, subresource=subresource)
        if causes:
            raise errors.invalid(info.kind, str(meta.get("name") or ""), causes, group=info.group)
        if subresource is None:  # (status and other subresources warn of nothing, upstream)
            request_warnings.add(strategy.warnings(info, obj, old))


def parse_resource_version(value: str) -> int:
    """A resourceVersion as a revision, or 400 if it is not one."""
    try:
        rev = int(value)
    except ValueError:
        raise errors.BadRequest(f"invalid resource version: {value!r}") from None
    if rev < 0:
        raise errors.BadRequest(f"invalid resource version: {value!r}")
    return rev
