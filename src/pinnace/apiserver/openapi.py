"""Serving ``/openapi/v2`` and ``/openapi/v3`` (index and per group-version documents).

Documents are built lazily from the registry and cached until it changes.
JSON is served, and ``/openapi/v2`` also in gnostic's protobuf form
(:mod:`pinnace.api.openapi_proto`), which kubectl asks for when a kind is missing
from the v3 documents it fetched; the v3 protobuf form is refused with 406, so
that clients fall back to JSON (kubectl uses v3 JSON). The v3 index links each
group-version document with a content hash, as upstream does, so clients can
cache them.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from pinnace.api import errors, openapi, openapi_proto
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

    def _v2_protobuf(self) -> bytes:
        cache = self._cache()
        if "v2-protobuf" not in cache:
            cache["v2-protobuf"] = openapi_proto.document(orjson.loads(self._v2()))
        return cache["v2-protobuf"]

    def handle(self, request: web.BaseRequest, parts: list[str]) -> web.Response:
        """Answer a GET under ``/openapi``."""
        accept = request.headers.get("Accept", "")
        content_type = "application/json"
        wanted = _first_served(accept, v2=parts[1:] == ["v2"])
        if wanted is None:
            raise errors.NotAcceptable(f"only application/json is served for this OpenAPI document, not {accept!r}")
        if parts[1:] == ["v2"]:
            if wanted == "application/json":
                body = self._v2()
            else:
                body, content_type = self._v2_protobuf(), V2_PROTOBUF[1]  # Go's mime parser rejects the "@" spelling
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
        headers = {"Content-Type": content_type, "ETag": f'"{openapi.etag(body)}"'}
        if request.query.get("hash"):
            headers["Cache-Control"] = "public, immutable"
        response = web.Response(body=body, headers=headers)
        if len(body) > 8192:
            response.enable_compression()
        return response


#: The media types of the v2 document in gnostic's protobuf form: upstream accepts both spellings and answers
#: with the second.
V2_PROTOBUF = ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
               "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")  # fmt: skip


def _first_served(accept: str, *, v2: bool) -> str | None:
    """The first media type of ``accept`` that is served (JSON; for v2 also protobuf); None if none is."""
    if not accept:
        return "application/json"
    for item in accept.split(","):
        media = item.split(";", 1)[0].strip().lower()
        if media in ("application/json", "*/*", "application/*"):
            return "application/json"
        if v2 and media in V2_PROTOBUF:
            return media
    return None
