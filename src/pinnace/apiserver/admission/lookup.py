"""Reads the admission plugins share: objects of the watch cache (the store when the cache lacks one)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pinnace.api import errors

if TYPE_CHECKING:
    from pinnace.apiserver.rest import RestStore

__all__ = ["has_none_now", "namespace_named", "object_named", "objects_in"]


async def objects_in(
    rest: RestStore, group: str, version: str, plural: str, namespace: str | None
) -> list[dict[str, Any]]:
    """The objects of a resource in a namespace (LimitRanges, ResourceQuotas …), or all of them for None (a
    cluster-scoped kind: StorageClasses), as of this server's own writes.

    Cheap when the kind has no objects at all, which is what most writes meet."""
    info = rest.registry.get(group, version, plural)
    if info is None:
        return []
    cache = await rest.fresh_cache(info)
    if not cache.objects:
        return []
    return [cached.obj for cached in cache.list(namespace)]


def has_none_now(rest: RestStore, group: str, version: str, plural: str) -> bool:
    """Whether the resource is known, without awaiting, to have no objects at all (as of this server's own
    writes): False when that cannot be told now. Plugins ask it in ``handles`` to skip what no object of the
    kind (a ResourceQuota, a LimitRange) can concern."""
    info = rest.registry.get(group, version, plural)
    if info is None:
        return True
    cache = rest.fresh_cache_now(info)
    return cache is not None and not cache.objects


async def object_named(rest: RestStore, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None:
    """A core (v1) object, from the watch cache, else from a read of the store (one another API server created
    moments ago may not be in this server's cache yet); None if it does not exist."""
    info = rest.registry.get("", "v1", plural)
    if info is None:
        return None
    cache = rest.fresh_cache_now(info)  # no await when the cache is caught up, as it mostly is
    cached = cache.get(info.key(namespace, name)) if cache is not None else await rest.get_cached(info, namespace, name)
    if cached is not None:
        return cached.obj
    try:
        return await rest.get(info, namespace, name, None)
    except errors.NotFound:
        return None


async def namespace_named(rest: RestStore, name: str) -> dict[str, Any] | None:
    """The namespace (see :func:`object_named`); None if it does not exist."""
    return await object_named(rest, "namespaces", None, name)
