"""Reads the admission plugins share: the objects of one kind in a namespace, from the watch cache."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pinnace.apiserver.rest import RestStore

__all__ = ["objects_in"]


async def objects_in(rest: RestStore, group: str, version: str, plural: str, namespace: str) -> list[dict[str, Any]]:
    """The objects of a resource in a namespace (LimitRanges, ResourceQuotas …), as of this server's own writes.

    Cheap when the kind has no objects at all, which is what most writes meet."""
    info = rest.registry.get(group, version, plural)
    if info is None:
        return []
    cache = await rest.fresh_cache(info)
    if not cache.objects:
        return []
    return [cached.obj for cached in cache.list(namespace)]
