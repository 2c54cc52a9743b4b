"""Discovery documents, built from the resource registry.

``/api`` and ``/apis`` (legacy APIVersions / APIGroupList, or the aggregated
``apidiscovery.k8s.io/v2`` APIGroupDiscoveryList that kubectl 1.32 asks for
first), ``/apis/<group>`` and the per-group-version APIResourceLists. Documents
are rebuilt only when the registry changes (CRDs).
"""

from __future__ import annotations

import base64
import hashlib
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
)

Obj = dict[str, Any]


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
        self._generation = -1
        self._docs: dict[str, bytes] = {}

    def _fresh(self) -> dict[str, bytes]:
        if self._generation != self.registry.generation:
            self._docs = {}
            self._generation = self.registry.generation
        return self._docs

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
        for gi in self.registry.groups():
            if gi.name == name:
                versions = [{"groupVersion": f"{name}/{v}", "version": v} for v in gi.versions]
                return {"name": name, "versions": versions, "preferredVersion": versions[0]}
        return None

    def api_group_list(self) -> bytes:
        """``/apis``."""

        def build() -> Obj:
            groups = [self._group(gi.name) for gi in self.registry.groups() if gi.name]
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
            for gi in self.registry.groups():
                if (gi.name == "") != core:
                    continue
                versions = []
                for v in gi.versions:
                    resources = [self._aggregated_resource(info) for info in self.registry.in_group_version(gi.name, v)]
                    versions.append({"version": v, "resources": resources, "freshness": "Current"})
                meta: Obj = {"creationTimestamp": None}
                if gi.name:
                    meta["name"] = gi.name
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


def started_at() -> str:
    """A timestamp for documents that carry one."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
