"""The cache: one shared informer per kind, and reads served from memory.

``Cache.get`` and ``Cache.list`` answer from the informers' indexers without a
request to the API server; the first read of a kind starts its informer (list
+ watch) and waits for it to sync, as controller-runtime's informer cache does.
Every controller of a manager shares these informers, so a kind is watched
once per process however many controllers look at it.

Reads return deep copies: a reconciler may change what it got without
corrupting the cache. Cached objects are JSON trees, so the copy is an orjson
round trip (several times faster than ``copy.deepcopy``, which was most of a
cached read's cost). ``index_field`` adds a field index (controller-runtime's
``IndexField``) so that ``list(..., fields={"spec.nodeName": "n1"})`` is a
lookup instead of a scan.

Scoping: a cache may be limited to one namespace, and any kind to a label
selector (``label_selectors``), which the informer passes to the server. A
``transform`` trims objects before they are stored (client-go's
TransformFunc), e.g. :func:`strip_managed_fields`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from pinnace.api import errors
from pinnace.api.jsondata import json_copy
from pinnace.api.selectors import parse_label_selector
from pinnace.client.rest import RestClient
from pinnace.client.restmapper import GVK, KindRef, RESTMapper, gvk_of
from pinnace.runtime.cache.indexer import NAMESPACE_INDEX
from pinnace.runtime.cache.informer import Informer
from pinnace.runtime.cache.reflector import RestListerWatcher
from pinnace.runtime.clock import Clock, RealClock
from pinnace.runtime.tasks import cancel_and_wait

__all__ = ["ALL_NAMESPACES", "Cache", "field_index_name", "json_copy", "strip_managed_fields"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Kind = KindRef

#: The namespace part of a field-index value that matches across namespaces.
ALL_NAMESPACES = "__all_namespaces"


def field_index_name(field: str) -> str:
    """The indexer name a field index is kept under."""
    return f"field:{field}"


class Cache:
    """Informers per kind, started on first use, and reads from their indexers."""

    def __init__(
        self,
        client: RestClient,
        mapper: RESTMapper,
        *,
        namespace: str | None = None,
        label_selectors: Mapping[Kind, str] | None = None,
        resync_period: float = 0.0,
        sync_timeout: float = 30.0,
        clock: Clock | None = None,
        transform: Callable[[Obj], Obj] | None = None,
    ) -> None:
        self.client = client
        self.transform = transform
        self.mapper = mapper
        self.namespace = namespace
        self.label_selectors = {gvk_of(k): v for k, v in (label_selectors or {}).items()}
        self.resync_period = resync_period
        self.sync_timeout = sync_timeout
        self.clock: Clock = clock or RealClock()
        self._informers: dict[GVK, Informer] = {}
        self._tasks: dict[GVK, asyncio.Task[None]] = {}
        self._creating: dict[GVK, asyncio.Lock] = {}
        self._started = False

    # ---- informers --------------------------------------------------------------
    async def informer_for(self, kind: Kind, *, wait: bool = True) -> Informer:
        """The shared informer of ``kind`` (created, and started once the cache is)."""
        gvk = gvk_of(kind)
        informer = self._informers.get(gvk)
        if informer is None:
            lock = self._creating.setdefault(gvk, asyncio.Lock())
            async with lock:
                informer = self._informers.get(gvk)
                if informer is None:
                    mapping = await self.mapper.mapping(gvk)
                    lw = RestListerWatcher(
                        self.client,
                        mapping.ref,
                        namespace=self.namespace if mapping.ref.namespaced else None,
                        label_selector=self.label_selectors.get(gvk),
                    )
                    informer = Informer(
                        lw, resync_period=self.resync_period, clock=self.clock, transform=self.transform
                    )
                    self._informers[gvk] = informer
                    if self._started:
                        self._run(gvk, informer)
        if wait:
            if not self._started:
                raise errors.ServiceUnavailable(f"the cache is not started: cannot read {gvk} from it yet")
            await self._wait_synced(gvk, informer)
        return informer

    async def remove_informer(self, kind: Kind) -> None:
        """Stop and forget the informer of ``kind`` (for a resource the server no longer serves)."""
        gvk = gvk_of(kind)
        self._informers.pop(gvk, None)
        self._creating.pop(gvk, None)
        task = self._tasks.pop(gvk, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _run(self, gvk: GVK, informer: Informer) -> None:
        self._tasks[gvk] = asyncio.create_task(informer.run(), name=f"informer {gvk}")

    async def _wait_synced(self, gvk: GVK, informer: Informer) -> None:
        if informer.has_synced:
            return
        if not await informer.wait_for_sync(self.sync_timeout):
            cause = informer.reflector.last_error
            raise errors.Timeout(f"timed out waiting for the cache of {gvk} to sync" + (f": {cause}" if cause else ""))

    async def start(self) -> None:
        """Start every informer created so far, and any created later."""
        if self._started:
            return
        self._started = True
        for gvk, informer in self._informers.items():
            self._run(gvk, informer)

    @property
    def synced(self) -> bool:
        """Whether every informer created so far has synced."""
        return all(i.has_synced for i in self._informers.values())

    def problems(self) -> list[str]:
        """What keeps the cache from being ready: informers not synced, or whose watch is broken."""
        out = []
        for gvk, informer in self._informers.items():
            if not informer.has_synced:
                out.append(f"{gvk}: not synced")
            elif not informer.reflector.healthy:
                out.append(f"{gvk}: watch broken ({informer.reflector.last_error!r}), re-establishing")
        return out

    async def wait_for_cache_sync(self, timeout: float | None = None) -> bool:
        """Wait until every started informer has synced; False on timeout."""
        waits = [i.wait_for_sync(timeout) for i in self._informers.values()]
        return all(await asyncio.gather(*waits))

    async def stop(self) -> None:
        """Stop every informer."""
        await cancel_and_wait(list(self._tasks.values()))
        self._tasks.clear()
        self._started = False

    # ---- indexes ----------------------------------------------------------------
    async def index_field(self, kind: Kind, field: str, extract: Callable[[Obj], list[str]]) -> None:
        """Index ``kind`` by ``field`` (values from ``extract``), for ``list(..., fields=...)``."""
        informer = await self.informer_for(kind, wait=False)

        def index(obj: Obj) -> list[str]:
            values = extract(obj)
            namespace = (obj.get("metadata") or {}).get("namespace")
            out = [f"{ALL_NAMESPACES}/{v}" for v in values]
            if namespace:
                out += [f"{namespace}/{v}" for v in values]
            return out

        informer.indexer.add_indexers({field_index_name(field): index})

    # ---- reads ------------------------------------------------------------------
    async def get(self, kind: Kind, name: str, namespace: str | None = None) -> Obj:
        """A copy of one cached object; NotFound as the API would say it."""
        informer = await self.informer_for(kind)
        key = f"{namespace}/{name}" if namespace else name
        obj = informer.indexer.get(key)
        if obj is None:
            mapping = await self.mapper.mapping(kind)
            resource = mapping.ref.plural + (f".{mapping.ref.group}" if mapping.ref.group else "")
            raise errors.NotFound(f'{resource} "{name}" not found', group=mapping.ref.group, kind=mapping.ref.plural)
        copied: Obj = json_copy(obj)
        return copied

    async def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> list[Obj]:
        """Copies of the cached objects of ``kind`` that match (sorted by key)."""
        informer = await self.informer_for(kind)
        indexer = informer.indexer
        candidates: list[Obj]
        if fields:
            (field, value), *rest = fields.items()
            name = field_index_name(field)
            if name not in indexer.index_names():
                raise errors.BadRequest(f"no index for field {field!r} of {gvk_of(kind)}: call index_field first")
            candidates = indexer.by_index(name, f"{namespace or ALL_NAMESPACES}/{value}")
            for field, value in rest:
                other = field_index_name(field)
                if other not in indexer.index_names():
                    raise errors.BadRequest(f"no index for field {field!r} of {gvk_of(kind)}: call index_field first")
                keys = set(indexer.index_keys(other, f"{namespace or ALL_NAMESPACES}/{value}"))
                candidates = [o for o in candidates if _key(o) in keys]
        elif namespace:
            candidates = indexer.by_index(NAMESPACE_INDEX, namespace)
        else:
            candidates = sorted(indexer.objects(), key=_key)
        if label_selector:
            selector = parse_label_selector(label_selector)
            candidates = [o for o in candidates if selector.matches((o.get("metadata") or {}).get("labels"))]
        copies: list[Obj] = json_copy(candidates)
        return copies


def strip_managed_fields(obj: Obj) -> Obj:
    """A cache transform that drops ``metadata.managedFields`` (controller-runtime's TransformStripManagedFields).

    Every object carries them and a reconciler rarely reads them: without them a
    cache of many small objects takes markedly less memory.
    """
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        del meta["managedFields"]
    return obj


def _key(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"
