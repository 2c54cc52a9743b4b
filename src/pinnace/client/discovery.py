"""Reading what a server serves, for tools that act on every resource (namespace cleanup, GC)."""

from __future__ import annotations

from pinnace.client.rest import ResourceRef, RestClient


async def namespaced_resources(
    client: RestClient, verbs: frozenset[str] = frozenset({"list", "delete"})
) -> list[ResourceRef]:
    """Every namespaced resource (preferred version of each group) that supports ``verbs``."""
    refs: list[ResourceRef] = []
    core = await client.request("GET", "/api/v1")
    refs.extend(_refs("", "v1", core, verbs))
    groups = await client.request("GET", "/apis")
    for group in groups.get("groups") or []:
        version = (group.get("preferredVersion") or {}).get("version")
        if not version:
            continue
        listing = await client.request("GET", f"/apis/{group['name']}/{version}")
        refs.extend(_refs(group["name"], version, listing, verbs))
    return refs


def _refs(group: str, version: str, listing: dict[str, object], verbs: frozenset[str]) -> list[ResourceRef]:
    out = []
    for res in listing.get("resources") or []:  # type: ignore[attr-defined]
        if "/" in res["name"] or not res.get("namespaced"):
            continue
        if not verbs.issubset(set(res.get("verbs") or [])):
            continue
        out.append(ResourceRef(group, version, res["name"], True))
    return out
