"""The admission request as JSON (admission.k8s.io/v1 AdmissionRequest), and the objects admission reads.

Webhooks receive it inside an AdmissionReview; ValidatingAdmissionPolicies see
it as their ``request`` variable. :class:`ConfigSource` gives the plugins
their configuration objects (webhook configurations, policies, bindings)
from the server's watch caches, compiled once per change of the set.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pinnace.api import errors
from pinnace.apiserver.admission import AdmissionRequest, Operation

if TYPE_CHECKING:
    from pinnace.apiserver.rest import RestStore

__all__ = ["ConfigSource", "request_json", "status_error"]

Obj = dict[str, Any]
T = TypeVar("T")

_OPTIONS_KIND = {
    Operation.CREATE: "CreateOptions",
    Operation.UPDATE: "UpdateOptions",
    Operation.DELETE: "DeleteOptions",
}


def request_json(request: AdmissionRequest, uid: str) -> Obj:
    """The AdmissionRequest upstream sends for ``request`` (``uid`` identifies this one call)."""
    info = request.info
    kind = request.kind or {"group": info.group, "version": info.version, "kind": info.kind}
    resource = {"group": info.group, "version": info.version, "resource": info.plural}
    out: Obj = {
        "uid": uid,
        "kind": kind,
        "resource": resource,
        "requestKind": kind,
        "requestResource": resource,
        "name": request.name,
        "operation": request.operation.value,
        "userInfo": request.user.to_json() if request.user is not None else {},
        "object": request.obj,
        "oldObject": request.old,
        "dryRun": request.dry_run,
    }
    if request.subresource:
        out["subResource"] = out["requestSubResource"] = request.subresource
    if request.namespace:
        out["namespace"] = request.namespace
    options = request.options
    if options is None and request.operation in _OPTIONS_KIND:
        options = {"kind": _OPTIONS_KIND[request.operation], "apiVersion": "meta.k8s.io/v1"}
    out["options"] = options
    return out


@functools.cache
def _status_class(code: int, reason: str) -> type[errors.StatusError]:
    return type("AdmissionRefusal", (errors.StatusError,), {"code": code, "reason": reason})


def status_error(code: int, reason: str, message: str, causes: list[errors.Cause] | None = None) -> errors.StatusError:
    """A refusal with the code and reason a webhook or a policy chose (not only the ones errors has classes for)."""
    return _status_class(code, reason)(message, causes=causes)


class ConfigSource(Generic[T]):
    """The compiled objects of one resource, rebuilt only when the cached set of objects changed."""

    def __init__(self, rest: RestStore, group: str, version: str, plural: str, compile_all: Callable[[list[Obj]], T]):
        self.rest = rest
        self.info = rest.registry.get(group, version, plural)
        self.compile_all = compile_all
        self._fingerprint: tuple[int, int] | None = None
        self._compiled: T | None = None

    async def get(self) -> T:
        """The compiled form of the current objects (as of this server's own writes)."""
        objects: list[Obj] = []
        fingerprint = (0, 0)
        if self.info is not None:
            cache = await self.rest.fresh_cache(self.info)
            cached = cache.objects
            fingerprint = _fingerprint(cached)
            if fingerprint == self._fingerprint and self._compiled is not None:
                return self._compiled
            objects = [c.obj for c in sorted(cached.values(), key=lambda c: c.name)]
        elif self._compiled is not None:
            return self._compiled
        self._compiled = self.compile_all(objects)
        self._fingerprint = fingerprint
        return self._compiled

    def current(self) -> T | None:
        """What :meth:`get` would return, if that is known without awaiting or compiling (else None).

        Plugins ask it in ``handles`` to skip the requests no configuration can concern (most of them)."""
        if self.info is None:
            return self._compiled
        cache = self.rest.fresh_cache_now(self.info)
        if cache is None or _fingerprint(cache.objects) != self._fingerprint:
            return None
        return self._compiled


def _fingerprint(cached: dict[str, Any]) -> tuple[int, int]:
    """What changes when the set of cached objects does: how many, and the newest revision among them."""
    return (len(cached), max(c.revision for c in cached.values()) if cached else 0)
