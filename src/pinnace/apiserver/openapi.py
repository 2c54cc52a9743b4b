"""Serving ``/openapi/v2`` and ``/openapi/v3`` (index and per group-version documents).

Documents are built lazily from the registry and cached until it changes.
JSON is served; the protobuf forms some clients ask for first are refused with
406 so that they fall back (kubectl uses v3 JSON). The v3 index links each
group-version document with a content hash, as upstream does, so clients can
cache them.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from pinnace.api import errors, openapi
from pinnace.api.registry import ResourceRegistry


class OpenAPIServer:
    """Builds, caches and answers the OpenAPI documents of one registry."""

    def __init__(self, registry: ResourceRegistry) -> None:
        self.registry = registry
        self._generation = -1
        self._docs: dict[str, bytes] = {}

    def _cache(self) -> dict[str, bytes]:
        if self._generation != self.registry.generation:
            self._docs = {}
            self._generation = self.registry.generation
        return self._docs

    def _group_version_doc(self, group: str, version: str) -> bytes:
        cache = self._cache()
        key = f"v3:{group}/{version}"
        if key not in cache:
            cache[key] = orjson.dumps(openapi.group_version_v3(self.registry, group, version))
        return cache[key]

    def _index(self) -> bytes:
        cache = self._cache()
        if "v3-index" not in cache:
            paths = {}
            for gi in self.registry.groups():
                for version in gi.versions:
                    path = openapi.v3_path_of(gi.name, version)
                    digest = openapi.etag(self._group_version_doc(gi.name, version))
                    paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
            cache["v3-index"] = orjson.dumps({"paths": paths})
        return cache["v3-index"]

    def _v2(self) -> bytes:
        cache = self._cache()
        if "v2" not in cache:
            cache["v2"] = orjson.dumps(openapi.swagger_v2(self.registry))
        return cache["v2"]

    def handle(self, request: web.BaseRequest, parts: list[str]) -> web.Response:
        """Answer a GET under ``/openapi``."""
        accept = request.headers.get("Accept", "")
        if not _accepts_json(accept):
            raise errors.NotAcceptable(f"only application/json is served for OpenAPI documents, not {accept!r}")
        if parts[1:] == ["v2"]:
            body = self._v2()
        elif parts[1:] == ["v3"]:
            body = self._index()
        elif len(parts) >= 4 and parts[1] == "v3":
            rest = parts[2:]
            if rest[0] == "api" and len(rest) == 2:
                group, version = "", rest[1]
            elif rest[0] == "apis" and len(rest) == 3:
                group, version = rest[1], rest[2]
            else:
                raise errors.NotFound("the server could not find the requested resource")
            if not self.registry.has_group_version(group, version):
                raise errors.NotFound("the server could not find the requested resource")
            body = self._group_version_doc(group, version)
        else:
            raise errors.NotFound("the server could not find the requested resource")
        headers = {"Content-Type": "application/json", "ETag": f'"{openapi.etag(body)}"'}
        if request.query.get("hash"):
            headers["Cache-Control"] = "public, immutable"
        response = web.Response(body=body, headers=headers)
        if len(body) > 8192:
            response.enable_compression()
        return response


def _accepts_json(accept: str) -> bool:
    if not accept:
        return True
    for item in accept.split(","):
        media = item.split(";", 1)[0].strip().lower()
        if media in ("application/json", "*/*", "application/*"):
            return True
    return False
