"""Turning a request path into what it asks for (upstream's RequestInfo).

``/api/v1/namespaces/ns/pods/name/status`` → group "", version v1, namespace
ns, resource pods, name, subresource status; the verb comes from the method and
whether a name is present (GET → get or list, or watch with ``watch=true``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pinnace.api.params import query_bool

#: Subresources of a namespace itself, not resources inside it.
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
#: A path whose namespace segment is empty, up to that segment: ``/api/v1/namespaces//``, ``/apis/g/v/watch/…``.
_EMPTY_NAMESPACE = re.compile(r"/(?:api/[^/]+|apis/[^/]+/[^/]+)/(?:watch/)?namespaces//(?=[^/])")
#: What stands for the empty segment while the path is split (no real segment can hold it).
_EMPTY = "\x00"


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What a resource request is about."""

    verb: str
    group: str
    version: str
    namespace: str | None
    resource: str
    name: str | None
    subresource: str | None
    extra_parts: tuple[str, ...] = ()

    @property
    def is_list_like(self) -> bool:
        """True for list, watch and deletecollection (no name in the URL)."""
        return self.name is None


def parse_request_info(method: str, path: str, query: Mapping[str, str]) -> RequestInfo | None:
    """Parse a resource URL; None if the path is not a resource request.

    Paths like ``/api``, ``/apis/apps`` or ``/apis/apps/v1`` (discovery) are not
    resource requests. Methods are case-sensitive, as Go's: any other method (``get``, ``BREW``, ``OPTIONS``) has
    the verb "" (upstream's RequestInfo), which no resource serves.
    """
    return _parse(method, path, method == "GET" and query_bool(query.get("watch")))


@functools.lru_cache(maxsize=4096)
def _parse(method: str, path: str, watch_param: bool) -> RequestInfo | None:
    """The request info of a method and path (clients repeat the same few paths: parsed once each)."""
    head = path.rstrip("/").partition("/proxy/")[0]
    empty_namespace = False
    if "//" in head:
        # An empty segment matches no route (go-restful trims only the ends; a proxy's tail is its own), except
        # the {namespace} parameter's: go-restful matches it to "", which upstream reads as no namespace (a list
        # or watch of every namespace's objects, as clients that format an empty namespace into the path get).
        empty = _EMPTY_NAMESPACE.match(path)
        if empty is None or "//" in head[empty.end() :]:
            return None
        empty_namespace = True
        path = path[: empty.end() - 1] + _EMPTY + path[empty.end() - 1 :]
    parts = [p for p in path.split("/") if p]
    if not parts:
        return None
    if parts[0] == "api":
        if len(parts) < 3:
            return None
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis":
        if len(parts) < 4:
            return None
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None

    watch_prefix = False
    if rest and rest[0] == "watch":
        watch_prefix = True
        rest = rest[1:]
        if not rest:
            return None

    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
        elif empty_namespace:
            return None  # the nameless namespace itself
        if empty_namespace:
            namespace = ""
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    extra = tuple(rest[3:])
    if resource == "namespaces" and name is not None:
        # /api/v1/namespaces/{name}[/{status|finalize}]: the namespace object itself.
        namespace = name

    if watch_prefix or watch_param:
        verb = "watch"
    elif method in ("GET", "HEAD"):
        verb = "get" if name is not None else "list"
    elif method == "POST":
        verb = "create"
    elif method == "PUT":
        verb = "update"
    elif method == "PATCH":
        verb = "patch"
    elif method == "DELETE":
        verb = "delete" if name is not None else "deletecollection"
    else:
        verb = ""
    return RequestInfo(verb, group, version, namespace, resource, name, subresource, extra)
