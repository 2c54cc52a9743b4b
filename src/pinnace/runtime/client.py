"""The runtime client: reads from the cache, writes to the API server.

As controller-runtime's default client, it is two objects behind one front:

- a **reader** — :class:`~pinnace.runtime.cache.cache.Cache` when one is
  given (no request per read), else the API (:class:`APIReader`);
- a **writer** — create, update, patch, delete, delete_all_of, straight to the
  API, plus :meth:`Client.status` for the status subresource.

Objects are plain dicts that carry their ``apiVersion`` and ``kind``, or
typed custom resources (:mod:`pinnace.runtime.typed`): pass the model class as
the kind and reads return instances of it; pass an instance to a write and
the answer is one too. The REST mapper turns kinds into URLs. :class:`MergeFrom` computes a merge patch
from the object as it was read to the object as changed, which is how a
reconciler updates without clobbering concurrent writers' fields.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pinnace.api.patch import create_merge_patch
from pinnace.client.rest import RestClient
from pinnace.client.restmapper import KindRef, RESTMapper, gvk_of
from pinnace.runtime.cache.cache import Cache

__all__ = [
    "APIReader",
    "Apply",
    "Client",
    "JSONPatch",
    "MergeFrom",
    "MergePatch",
    "Patch",
    "Reader",
    "StatusWriter",
    "SubResourceWriter",
]

Obj = dict[str, Any]
Kind = KindRef
if TYPE_CHECKING:
    from pinnace.runtime.typed import CustomResource

    #: An object as the client takes it: a wire dict or a typed custom resource.
    AnyObj = Obj | CustomResource


def _typed_module() -> Any:
    """:mod:`pinnace.runtime.typed` if anything imported it (a typed kind or object cannot exist before), else None.

    The client does not import it itself: it brings pydantic, which untyped users (the controller manager, node
    agents) need not pay for.
    """
    return sys.modules.get("pinnace.runtime.typed")


def _typed(kind: Any, obj: Obj) -> Any:
    """``obj`` as an instance of ``kind`` when ``kind`` is a typed model, else as is."""
    typed = _typed_module()
    return kind.model_validate(obj) if typed is not None and typed.is_typed(kind) else obj


def to_object(obj: Any) -> Obj:
    """The wire dict of a typed object (dicts pass through)."""
    typed = _typed_module()
    if typed is not None and isinstance(obj, typed.CustomResource):
        wire: Obj = obj.to_object()
        return wire
    return dict(obj)


def _like(original: AnyObj, obj: Obj) -> Any:
    """``obj`` in the form ``original`` had: typed in, typed out."""
    typed = _typed_module()
    return type(original).model_validate(obj) if typed and isinstance(original, typed.CustomResource) else obj


JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"


class Reader(Protocol):
    """Reads objects (from a cache or from the API)."""

    async def get(self, kind: Kind, name: str, namespace: str | None = None) -> Obj:
        """One object, or NotFound."""
        ...

    async def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> list[Obj]:
        """The matching objects."""
        ...


class Patch(Protocol):
    """A patch: its media type and body, computed for the object it applies to."""

    def patch_type(self) -> str:
        """The Content-Type of the PATCH request."""
        ...

    def data(self, obj: Obj) -> Any:
        """The patch body for ``obj``."""
        ...


@dataclass(frozen=True)
class MergeFrom:
    """A merge patch from ``original`` (as read) to the object as changed since.

    With ``optimistic_lock`` the patch carries the original resourceVersion, so
    it fails with 409 if someone else wrote in between.
    """

    original: Obj
    optimistic_lock: bool = False

    def patch_type(self) -> str:
        """Merge patch."""
        return MERGE_PATCH

    def data(self, obj: Obj) -> Any:
        """The difference from the original to ``obj``."""
        diff = create_merge_patch(self.original, obj)
        if self.optimistic_lock:
            rv = (self.original.get("metadata") or {}).get("resourceVersion")
            diff.setdefault("metadata", {})["resourceVersion"] = rv
        return diff


@dataclass(frozen=True)
class _LiteralPatch:
    """A patch body sent as given; subclasses name its media type."""

    body: Any
    media_type: ClassVar[str]

    def patch_type(self) -> str:
        """The patch's media type."""
        return self.media_type

    def data(self, obj: Obj) -> Any:
        """The body as given."""
        return self.body


class MergePatch(_LiteralPatch):
    """A literal merge patch (an object)."""

    media_type = MERGE_PATCH


class JSONPatch(_LiteralPatch):
    """A literal JSON patch (a list of operations)."""

    media_type = JSON_PATCH


@dataclass(frozen=True)
class Apply:
    """Server-side apply: the object as this manager wants it (fields it omits it gives up)."""

    field_manager: str
    force: bool = False


def _name_ns(obj: Obj) -> tuple[str, str | None]:
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not name:
        raise ValueError("the object has no metadata.name")
    return str(name), meta.get("namespace") or None


def _patch_target(obj: AnyObj, patch: Patch) -> tuple[Kind, str, str | None, Any]:
    """The kind, name and namespace ``obj`` names, and ``patch``'s body for it.

    A literal patch does not look at the object, so a typed object is not serialized for it (a reconciler's
    status patch is the hot path); a computed one (:class:`MergeFrom`) gets the wire form.
    """
    typed = _typed_module()
    if isinstance(patch, _LiteralPatch) and typed is not None and isinstance(obj, typed.CustomResource):
        name, namespace = _name_ns({"metadata": obj.metadata})
        return type(obj), name, namespace, patch.body
    wire = to_object(obj)
    name, namespace = _name_ns(wire)
    return wire, name, namespace, patch.data(wire)


class APIReader:
    """Reads straight from the API server (for when the cache will not do)."""

    def __init__(self, rest: RestClient, mapper: RESTMapper) -> None:
        self.rest = rest
        self.mapper = mapper

    async def get(self, kind: Kind, name: str, namespace: str | None = None) -> Obj:
        """One object from the server."""
        ref = await self.mapper.ref(kind)
        return await self.rest.get(ref, name, namespace if ref.namespaced else None)

    async def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> list[Obj]:
        """Every matching object, across pages."""
        ref = await self.mapper.ref(kind)
        params: dict[str, str] = {"limit": "500"}
        if label_selector:
            params["labelSelector"] = label_selector
        if fields:
            params["fieldSelector"] = ",".join(f"{k}={v}" for k, v in fields.items())
        items: list[Obj] = []
        while True:
            page = await self.rest.list(ref, namespace if ref.namespaced else None, **params)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
            params["continue"] = token


class SubResourceWriter:
    """Writes one subresource of objects (``status``, or another such as a CSR's ``approval``)."""

    def __init__(self, rest: RestClient, mapper: RESTMapper, subresource: str = "status") -> None:
        self.rest = rest
        self.mapper = mapper
        self.subresource = subresource

    async def update(self, obj: AnyObj) -> Any:
        """Replace the object's subresource (PUT .../<subresource>)."""
        wire = to_object(obj)
        ref = await self.mapper.ref(wire)
        return _like(obj, await self.rest.update(ref, wire, subresource=self.subresource))

    async def patch(self, obj: AnyObj, patch: Patch) -> Any:
        """Patch the object's subresource (PATCH .../<subresource>)."""
        kind, name, namespace, body = _patch_target(obj, patch)
        ref = await self.mapper.ref(kind)
        answer = await self.rest.patch(
            ref, name, body, namespace, patch_type=patch.patch_type(), subresource=self.subresource
        )
        return _like(obj, answer)


#: The writer of the status subresource (what :meth:`Client.status` returns).
StatusWriter = SubResourceWriter


class Client:
    """Cached reads, direct writes, one front."""

    def __init__(self, rest: RestClient, mapper: RESTMapper, cache: Cache | None = None) -> None:
        self.rest = rest
        self.mapper = mapper
        self.cache = cache
        self.api_reader = APIReader(rest, mapper)
        self.reader: Reader = cache if cache is not None else self.api_reader
        self._status = StatusWriter(rest, mapper)

    # ---- reads ------------------------------------------------------------------
    async def get(self, kind: Kind, name: str, namespace: str | None = None) -> Any:
        """One object (from the cache when there is one); typed if ``kind`` is a model."""
        return _typed(kind, await self.reader.get(kind, name, namespace))

    async def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> list[Any]:
        """The matching objects (from the cache when there is one); typed if ``kind`` is a model."""
        found = await self.reader.list(kind, namespace, label_selector=label_selector, fields=fields)
        return [_typed(kind, o) for o in found]

    # ---- writes -----------------------------------------------------------------
    async def create(self, obj: AnyObj) -> Any:
        """Create ``obj`` (which names its apiVersion and kind); returns what the server stored."""
        wire = to_object(obj)
        ref = await self.mapper.ref(wire)
        namespace = (wire.get("metadata") or {}).get("namespace") if ref.namespaced else None
        return _like(obj, await self.rest.create(ref, wire, namespace))

    async def update(self, obj: AnyObj) -> Any:
        """Replace ``obj`` (409 Conflict if its resourceVersion is stale)."""
        wire = to_object(obj)
        ref = await self.mapper.ref(wire)
        return _like(obj, await self.rest.update(ref, wire))

    async def patch(self, obj: AnyObj, patch: Patch) -> Any:
        """Patch the object ``obj`` names with ``patch`` computed for it."""
        kind, name, namespace, body = _patch_target(obj, patch)
        ref = await self.mapper.ref(kind)
        return _like(obj, await self.rest.patch(ref, name, body, namespace, patch_type=patch.patch_type()))

    async def apply(self, obj: AnyObj, how: Apply) -> Any:
        """Server-side apply ``obj`` (created if absent); 409 on conflicts with other managers unless forced."""
        wire = to_object(obj)
        ref = await self.mapper.ref(wire)
        return _like(obj, await self.rest.apply(ref, wire, field_manager=how.field_manager, force=how.force))

    async def delete(
        self,
        obj: AnyObj,
        *,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
        preconditions: Mapping[str, str] | None = None,
    ) -> Obj:
        """Delete the object ``obj`` names."""
        wire = to_object(obj)
        ref = await self.mapper.ref(wire)
        name, namespace = _name_ns(wire)
        options: dict[str, Any] = {}
        if propagation_policy is not None:
            options["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if preconditions:
            options["preconditions"] = dict(preconditions)
        return await self.rest.delete(ref, name, namespace if ref.namespaced else None, **options)

    async def delete_all_of(
        self, kind: Kind, namespace: str | None = None, *, label_selector: str | None = None
    ) -> Obj:
        """Delete every object of ``kind`` (in ``namespace``) matching the selector."""
        ref = await self.mapper.ref(kind)
        params = {"labelSelector": label_selector} if label_selector else {}
        return await self.rest.delete_collection(ref, namespace if ref.namespaced else None, **params)

    def status(self) -> StatusWriter:
        """The writer for the status subresource."""
        return self._status

    def subresource(self, name: str) -> SubResourceWriter:
        """The writer for another subresource (controller-runtime's ``SubResource``), e.g. ``approval``."""
        return SubResourceWriter(self.rest, self.mapper, name)


def with_kind(obj: Obj, kind: Kind) -> Obj:
    """A copy of ``obj`` with apiVersion and kind set from ``kind``."""
    gvk = gvk_of(kind)
    out = copy.deepcopy(obj)
    out["apiVersion"], out["kind"] = gvk.api_version, gvk.kind
    return out
