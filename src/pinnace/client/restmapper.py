"""Kinds to resources: which URL serves a group/version/kind, learned from discovery.

Objects name themselves by ``apiVersion`` and ``kind``; URLs name resources by
plural (``apps/v1`` ``Deployment`` → ``/apis/apps/v1/.../deployments``). The
:class:`RESTMapper` learns the mapping from the server's aggregated discovery
(two requests: ``/api`` and ``/apis``), caches it, and asks again once when it
meets a kind it does not know — a CRD created after it last looked.

:class:`GVK` is how the runtime names a kind; :func:`gvk_of` accepts a GVK,
``"apps/v1/Deployment"``, ``"v1/ConfigMap"``, an object dict, or a typed
kind class (anything with a ``gvk()`` classmethod).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pinnace.api import errors
from pinnace.client.rest import ResourceRef, RestClient

__all__ = ["GVK", "KindRef", "RESTMapper", "RESTMapping", "gvk_of", "split_api_version"]

_AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


@dataclass(frozen=True, slots=True)
class GVK:
    """A group, version and kind (``group`` is "" for the core group)."""

    group: str
    version: str
    kind: str

    @property
    def api_version(self) -> str:
        """``group/version``, or just ``version`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def __str__(self) -> str:
        return f"{self.api_version}, Kind={self.kind}"


#: Anything that names a kind: a GVK, ``"group/version/Kind"``, an object dict, or a typed kind class.
KindRef = GVK | str | Mapping[str, Any] | type[Any]


def split_api_version(api_version: str) -> tuple[str, str]:
    """``"apps/v1"`` → ("apps", "v1"); ``"v1"`` → ("", "v1")."""
    group, _, version = api_version.rpartition("/")
    return group, version


def gvk_of(kind: KindRef) -> GVK:
    """The GVK named by a GVK, a ``"group/version/Kind"`` string, an object's apiVersion/kind, or a typed kind."""
    if isinstance(kind, GVK):
        return kind
    typed = getattr(kind, "gvk", None)
    if callable(typed):  # a typed kind (pinnace.runtime.typed.CustomResource) names itself
        found = typed()
        if isinstance(found, GVK):
            return found
    if isinstance(kind, str):
        gvk = _PARSED.get(kind)
        if gvk is None:
            api_version, _, name = kind.rpartition("/")
            if not api_version or not name:
                raise ValueError(f"not a kind: {kind!r} (expected e.g. 'apps/v1/Deployment' or 'v1/ConfigMap')")
            gvk = _remember(kind, GVK(*split_api_version(api_version), name))
        return gvk
    obj_api_version = kind.get("apiVersion")
    obj_kind = kind.get("kind")
    if not obj_api_version or not obj_kind:
        raise ValueError("the object has no apiVersion and kind")
    key = f"{obj_api_version}/{obj_kind}"
    return _PARSED.get(key) or _remember(key, GVK(*split_api_version(str(obj_api_version)), str(obj_kind)))


#: Kind strings (``"v1/ConfigMap"``, an object's ``apiVersion/kind``) already parsed: every cached read and
#: every write names its kind, and a controller names the same few kinds over and over.
_PARSED: dict[str, GVK] = {}
_PARSED_MAX = 4096


def _remember(text: str, gvk: GVK) -> GVK:
    if len(_PARSED) >= _PARSED_MAX:  # a bound against a caller that makes up kinds
        _PARSED.clear()
    _PARSED[text] = gvk
    return gvk


@dataclass(frozen=True, slots=True)
class RESTMapping:
    """Where a kind is served: its resource, whether namespaced, and its verbs and subresources."""

    gvk: GVK
    ref: ResourceRef
    verbs: frozenset[str]
    subresources: frozenset[str]
    short_names: tuple[str, ...] = ()
    singular: str = ""


class RESTMapper:
    """Maps kinds to resources from discovery, refreshed on a miss."""

    def __init__(self, client: RestClient) -> None:
        self.client = client
        self._by_gvk: dict[GVK, RESTMapping] = {}
        self._by_resource: dict[tuple[str, str], list[RESTMapping]] = {}
        self._loaded = False
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Read discovery again."""
        by_gvk: dict[GVK, RESTMapping] = {}
        for path in ("/api", "/apis"):
            doc = await self.client.request("GET", path, accept=_AGGREGATED)
            for group in doc.get("items") or []:
                group_name = (group.get("metadata") or {}).get("name") or ""
                for version in group.get("versions") or []:
                    for res in version.get("resources") or []:
                        m = _mapping(group_name, str(version.get("version")), res)
                        if m is not None:
                            by_gvk.setdefault(m.gvk, m)
        by_resource: dict[tuple[str, str], list[RESTMapping]] = {}
        for m in by_gvk.values():
            by_resource.setdefault((m.ref.group, m.ref.plural), []).append(m)
        self._by_gvk, self._by_resource, self._loaded = by_gvk, by_resource, True

    async def mapping(self, kind: KindRef) -> RESTMapping:
        """Where ``kind`` is served; NotFound if the server does not serve it."""
        gvk = gvk_of(kind)
        found = self._by_gvk.get(gvk)
        if found is None:
            async with self._lock:
                found = self._by_gvk.get(gvk)
                if found is None:
                    await self.refresh()
                    found = self._by_gvk.get(gvk)
        if found is None:
            raise errors.NotFound(f'no matches for kind "{gvk.kind}" in version "{gvk.api_version}"')
        return found

    async def ref(self, kind: KindRef) -> ResourceRef:
        """The resource that serves ``kind``."""
        return (await self.mapping(kind)).ref

    async def kinds_for(self, group: str, plural: str) -> list[GVK]:
        """Every served kind of a group's resource (one per version)."""
        if not self._loaded:
            await self.refresh()
        return [m.gvk for m in self._by_resource.get((group, plural), [])]

    def known(self) -> list[RESTMapping]:
        """Every mapping learned so far."""
        return list(self._by_gvk.values())


def _mapping(group: str, version: str, res: Mapping[str, Any]) -> RESTMapping | None:
    plural = res.get("resource")
    kind_info = res.get("responseKind") or {}
    kind = kind_info.get("kind")
    if not plural or not kind:
        return None
    gvk = GVK(group, version, str(kind))
    return RESTMapping(
        gvk=gvk,
        ref=ResourceRef(group, version, str(plural), res.get("scope") == "Namespaced"),
        verbs=frozenset(res.get("verbs") or ()),
        subresources=frozenset(s.get("subresource") for s in res.get("subresources") or () if s.get("subresource")),
        short_names=tuple(res.get("shortNames") or ()),
        singular=str(res.get("singularResource") or ""),
    )
