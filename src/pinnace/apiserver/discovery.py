"""Discovery documents, built from the resource registry.

``/api`` and ``/apis`` (legacy APIVersions / APIGroupList, or the aggregated
``apidiscovery.k8s.io/v2`` APIGroupDiscoveryList that kubectl 1.32 asks for
first), ``/apis/<group>`` and the per-group-version APIResourceLists. Documents
are rebuilt only when the registry changes (CRDs) or the aggregation layer's
group-versions do (:meth:`Discovery.set_external`).

The group-versions of extension API servers (APIServices with a
``spec.service``, :mod:`pinnace.apiserver.aggregator`) are listed beside the
local ones: ``/apis`` orders every group as kube-aggregator does (by
``groupPriorityMinimum``, highest first, then by name; the versions of a group
by ``versionPriority``, then Kubernetes version order), and the aggregated
document carries the resources each extension last reported, ``Current`` or
``Stale``. Their ``/apis/<group>/<version>`` documents are the extension's own,
proxied.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from pinnace.api import errors
from pinnace.api.registry import (
    CONNECT_SUBRESOURCES,
    SUBRESOURCE_VERBS,
    ResourceInfo,
    ResourceRegistry,
    subresource_kind,
    version_priority,
)
from pinnace.apiserver.apiservices import BUILTIN_PRIORITIES, CRD_PRIORITIES

__all__ = ["Discovery", "ExternalVersion", "started_at"]

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ExternalVersion:
    """A group-version an extension API server serves (an APIService with a service), as discovery lists it."""

    group: str
    version: str
    #: The APIService's ``groupPriorityMinimum`` and ``versionPriority``.
    group_priority: int
    version_priority: int
    #: Its resources in the aggregated form (APIResourceDiscovery), as last fetched from the extension.
    resources: tuple[Obj, ...] = ()
    #: Whether the last fetch failed (or none succeeded yet): the resources are the last known ones, if any.
    stale: bool = True


def _local_priorities(group: str, version: str) -> tuple[int, int]:
    """(group priority, version priority) of a locally served group-version, as its APIService has them."""
    return BUILTIN_PRIORITIES.get((group, version), CRD_PRIORITIES)


def _subresources(info: ResourceInfo) -> list[tuple[str, tuple[str, ...]]]:
    """The resource's subresources with their verbs: the stored ones and the relayed ones. Built-ins in name order
    (kube-apiserver's), a custom resource's as apiextensions lists them (status, then scale)."""
    subs = [(sub, SUBRESOURCE_VERBS.get(sub, ("get",))) for sub in info.subresources]
    if info.custom:
        return subs
    return sorted(subs + list(CONNECT_SUBRESOURCES.get((info.group, info.kind), {}).items()))


def _storage_version_hash(info: ResourceInfo) -> str:
    """Upstream's hash of the stored group/version/kind: resources stored together (Events) share it."""
    group = info.group if info.storage_group is None else info.storage_group
    digest = hashlib.sha256(f"{group}/{info.storage_version or info.version}/{info.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


class Discovery:
    """Builds and caches the discovery documents of one registry."""

    def __init__(self, registry: ResourceRegistry) -> None:
        self.registry = registry
        self._generation: tuple[int, int] = (-1, -1)
        self._docs: dict[str, bytes] = {}
        self._external: tuple[ExternalVersion, ...] = ()
        self._external_generation = 0

    def _fresh(self) -> dict[str, bytes]:
        generation = (self.registry.generation, self._external_generation)
        if self._generation != generation:
            self._docs = {}
            self._generation = generation
        return self._docs

    # ---- extension API servers --------------------------------------------
    def set_external(self, versions: Sequence[ExternalVersion]) -> None:
        """The group-versions extension API servers serve now (every one: those not given are gone); the cached
        documents are rebuilt if this changes them."""
        new = tuple(sorted(versions, key=lambda v: (v.group, v.version)))
        if new != self._external:
            self._external = new
            self._external_generation += 1

    @property
    def external(self) -> tuple[ExternalVersion, ...]:
        """The extension API servers' group-versions, as last set."""
        return self._external

    def _ordered_groups(self) -> list[tuple[str, list[tuple[str, ExternalVersion | None]]]]:
        """Every named group with its versions (None: served here; else the extension's), as kube-aggregator
        orders them: by group priority (the highest of its versions'), then name; versions by priority, then
        Kubernetes version order."""
        groups: dict[str, dict[str, tuple[int, int, ExternalVersion | None]]] = {}
        for gi in self.registry.groups():
            for v in gi.versions:
                groups.setdefault(gi.name, {})[v] = (*_local_priorities(gi.name, v), None)
        for ext in self._external:
            known = groups.setdefault(ext.group, {})
            if ext.version not in known:  # a version served here wins (its request never reaches the proxy)
                known[ext.version] = (ext.group_priority, ext.version_priority, ext)
        out = []
        for name, versions in groups.items():
            ordered = sorted(versions.items(), key=lambda kv: (-kv[1][1], version_priority(kv[0])))
            priority = max(p[0] for p in versions.values())
            out.append((-priority, name, [(v, p[2]) for v, p in ordered]))
        out.sort(key=lambda g: (g[0], g[1]))
        return [(name, versions) for _, name, versions in out]

    def _cached(self, key: str, build: Any) -> bytes:
        docs = self._fresh()
        if key not in docs:
            docs[key] = orjson.dumps(build())
        return docs[key]

    # ---- legacy documents ---------------------------------------------------
    def api_versions(self, server_address: str) -> bytes:
        """``/api``."""
        return orjson.dumps(
            {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
            }
        )

    def _group(self, name: str) -> Obj | None:
        if self._external:
            for group, gvs in self._ordered_groups():
                if group == name:
                    return _api_group(name, [v for v, _ in gvs])
            return None
        for gi in self.registry.groups():
            if gi.name == name:
                return _api_group(name, list(gi.versions))
        return None

    def api_group_list(self) -> bytes:
        """``/apis``."""

        def build() -> Obj:
            if self._external:
                groups = [_api_group(name, [v for v, _ in gvs]) for name, gvs in self._ordered_groups() if name]
            else:
                groups = [_api_group(gi.name, list(gi.versions)) for gi in self.registry.groups() if gi.name]
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

        return self._cached("apis", build)

    def api_group(self, name: str) -> bytes:
        """``/apis/<group>``, or 404."""
        group = self._group(name)
        if group is None or not name:
            raise errors.NotFound("the server could not find the requested resource")
        return orjson.dumps({"kind": "APIGroup", "apiVersion": "v1", **group})

    def resource_list(self, group: str, version: str) -> bytes:
        """``/api/v1`` or ``/apis/<group>/<version>``, or 404."""
        if not self.registry.has_group_version(group, version):
            raise errors.NotFound("the server could not find the requested resource")

        def build() -> Obj:
            resources: list[Obj] = []
            for info in self.registry.in_group_version(group, version):
                entry: Obj = {
                    "name": info.plural,
                    "singularName": info.singular,
                    "namespaced": info.namespaced,
                    "kind": info.kind,
                    "verbs": list(info.verbs),
                }
                if info.short_names:
                    entry["shortNames"] = list(info.short_names)
                if info.categories:
                    entry["categories"] = list(info.categories)
                entry["storageVersionHash"] = _storage_version_hash(info)
                resources.append(entry)
                for sub, verbs in _subresources(info):
                    sub_entry: Obj = {
                        "name": f"{info.plural}/{sub}",
                        "singularName": "",
                        "namespaced": info.namespaced,
                        "kind": info.kind,
                        "verbs": list(verbs),
                    }
                    other = subresource_kind(info, sub)
                    if other is not None:
                        sub_entry.update(other if other["group"] else {"kind": other["kind"]})
                    resources.append(sub_entry)
            gv = f"{group}/{version}" if group else version
            return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}

        return self._cached(f"rl:{group}/{version}", build)

    # ---- aggregated discovery ----------------------------------------------
    def aggregated(self, core: bool, version: str = "v2") -> bytes:
        """The APIGroupDiscoveryList for ``/api`` (core) or ``/apis`` (named groups)."""

        def build() -> Obj:
            items = []
            if self._external and not core:
                ordered = self._ordered_groups()
            else:
                ordered = [(gi.name, [(v, None) for v in gi.versions]) for gi in self.registry.groups()]
            for name, gvs in ordered:
                if (name == "") != core:
                    continue
                versions = []
                for v, ext in gvs:
                    if ext is not None:
                        resources = [dict(r) for r in ext.resources]
                        freshness = "Stale" if ext.stale else "Current"
                    else:
                        resources = [
                            self._aggregated_resource(info) for info in self.registry.in_group_version(name, v)
                        ]
                        freshness = "Current"
                    versions.append({"version": v, "resources": resources, "freshness": freshness})
                meta: Obj = {"creationTimestamp": None}
                if name:
                    meta["name"] = name
                items.append({"metadata": meta, "versions": versions})
            return {
                "kind": "APIGroupDiscoveryList",
                "apiVersion": f"apidiscovery.k8s.io/{version}",
                "metadata": {},
                "items": items,
            }

        return self._cached(f"agg:{core}:{version}", build)

    @staticmethod
    def _aggregated_resource(info: ResourceInfo) -> Obj:
        out: Obj = {
            "resource": info.plural,
            "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
            "scope": "Namespaced" if info.namespaced else "Cluster",
            "singularResource": info.singular,
            "verbs": list(info.verbs),
        }
        if info.short_names:
            out["shortNames"] = list(info.short_names)
        if info.categories:
            out["categories"] = list(info.categories)
        subs = []
        for sub, verbs in _subresources(info):
            kind = subresource_kind(info, sub) or {"group": info.group, "version": info.version, "kind": info.kind}
            subs.append({"subresource": sub, "responseKind": kind, "verbs": list(verbs)})
        if subs:
            out["subresources"] = subs
        return out


def _api_group(name: str, versions: list[str]) -> Obj:
    """An APIGroup of the legacy discovery documents: its versions, the first preferred."""
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def started_at() -> str:
    """A timestamp for documents that carry one."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
