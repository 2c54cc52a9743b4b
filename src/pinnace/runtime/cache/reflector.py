"""The reflector: keeps a delta FIFO in step with the server by list, then watch.

Its loop, as client-go's:

1. **list** the resource (in pages of ``page_size``) and ``replace`` the FIFO's
   content with the result; remember the list's resourceVersion;
2. **watch** from that resourceVersion (with bookmarks, and a server-side
   timeout of 5 to 10 minutes so connections are recycled), feeding each event
   to the FIFO and remembering each event's resourceVersion;
3. when the watch ends normally, watch again from the last resourceVersion;
   when the server answers **410 Gone** (the version was compacted), go back
   to 1 — the relist's ``replace`` turns objects deleted meanwhile into
   deletions, so nothing is lost; on any other error, wait with exponential
   backoff (on the injected clock) and try again.

Errors are logged with the resource they concern; they never end the loop
silently. :attr:`Reflector.healthy` is False from a failure until list or
watch work again (the manager's readiness probe reports it), and
:attr:`Reflector.last_error` says what went wrong. A connection that dies
without closing (a network cut) is noticed by an idle timeout: the server
sends a bookmark at least every minute, so ``watch_idle_timeout`` of silence
means the stream is dead.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from pinnace.api import errors
from pinnace.client.rest import ResourceRef, RestClient, WatchEvent
from pinnace.runtime.cache.delta_fifo import DeltaFIFO
from pinnace.runtime.clock import Clock, RealClock

__all__ = ["ListerWatcher", "Reflector", "RestListerWatcher"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]


class ListerWatcher(Protocol):
    """Lists and watches one resource (with the reflector's scoping applied)."""

    description: str

    async def list(self, params: dict[str, str]) -> Obj:
        """One page of the list (``limit``/``continue``/``resourceVersion`` in ``params``)."""
        ...

    def watch(
        self,
        resource_version: str,
        timeout_seconds: int,
        *,
        idle_timeout: float | None = None,
        on_open: Callable[[], None] | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """Events from ``resource_version`` on; ends when the server closes the stream."""
        ...


class RestListerWatcher:
    """A :class:`ListerWatcher` over the REST client, optionally scoped by namespace and selectors."""

    def __init__(
        self,
        client: RestClient,
        ref: ResourceRef,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> None:
        self.client = client
        self.ref = ref
        self.namespace = namespace
        self._selectors: dict[str, str] = {}
        if label_selector:
            self._selectors["labelSelector"] = label_selector
        if field_selector:
            self._selectors["fieldSelector"] = field_selector
        where = f" in {namespace}" if namespace else ""
        self.description = f"{ref.plural}.{ref.group or 'core'}/{ref.version}{where}"

    async def list(self, params: dict[str, str]) -> Obj:
        """One page from the server."""
        return await self.client.list(self.ref, self.namespace, **self._selectors, **params)

    def watch(
        self,
        resource_version: str,
        timeout_seconds: int,
        *,
        idle_timeout: float | None = None,
        on_open: Callable[[], None] | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """A watch stream from the server."""
        return self.client.watch(
            self.ref,
            self.namespace,
            resource_version=resource_version,
            timeout_seconds=timeout_seconds,
            idle_timeout=idle_timeout,
            on_open=on_open,
            **self._selectors,
        )


class Reflector:
    """Runs list+watch for one resource into a :class:`DeltaFIFO`, until cancelled."""

    def __init__(
        self,
        lister_watcher: ListerWatcher,
        fifo: DeltaFIFO,
        *,
        clock: Clock | None = None,
        page_size: int = 500,
        min_watch_timeout: int = 300,
        initial_backoff: float = 0.8,
        max_backoff: float = 30.0,
        watch_idle_timeout: float | None = 150.0,
    ) -> None:
        self.lister_watcher = lister_watcher
        self.fifo = fifo
        self.clock: Clock = clock or RealClock()
        self.page_size = page_size
        self.min_watch_timeout = min_watch_timeout
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.watch_idle_timeout = watch_idle_timeout
        #: False from a list/watch failure until list or watch work again.
        self.healthy = True
        #: The resourceVersion the local state is at ("" before the first list).
        self.last_resource_version = ""
        #: The last error that interrupted list or watch (None once things work again).
        self.last_error: BaseException | None = None
        #: How many full lists were made (1 + one per relist).
        self.lists = 0

    async def run(self) -> None:
        """List, then watch; relist on 410; back off on errors. Runs until cancelled."""
        backoff = self.initial_backoff
        need_list = True
        while True:
            try:
                if need_list:
                    await self._list()
                    need_list = False
                await self._watch()
                backoff = self.initial_backoff
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except errors.Gone as exc:
                self.healthy = False  # until the relist has brought the state back
                log.info(
                    "%s: resourceVersion %s is too old (%s); relisting",
                    self.description,
                    self.last_resource_version,
                    exc,
                )
                need_list = True
            except errors.StatusError as exc:
                self.last_error = exc
                self.healthy = False
                log.warning("%s: list/watch failed (%s %s): %s", self.description, exc.code, exc.reason, exc)
                await self.clock.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                need_list = need_list or exc.code in (403, 404)
            except Exception as exc:  # connection refused, reset, cut, bad body: never silent, never fatal
                self.last_error = exc
                self.healthy = False
                log.warning("%s: list/watch failed: %r; retrying in %.1fs", self.description, exc, backoff)
                await self.clock.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    @property
    def description(self) -> str:
        """What this reflector reflects, for logs."""
        return self.lister_watcher.description

    async def _list(self) -> None:
        items: list[Obj] = []
        params: dict[str, str] = {"limit": str(self.page_size)} if self.page_size else {}
        resource_version = ""
        while True:
            try:
                page = await self.lister_watcher.list(params)
            except errors.Gone:
                if "continue" not in params:
                    raise
                # The snapshot we were paging through was compacted: start over in one request.
                log.info("%s: continue token expired; listing in one request", self.description)
                items, params = [], {}
                continue
            items.extend(page.get("items") or [])
            meta = page.get("metadata") or {}
            resource_version = str(meta.get("resourceVersion") or "")
            token = meta.get("continue")
            if not token:
                break
            params = {"limit": str(self.page_size), "continue": str(token)}
        self.fifo.replace(items)
        self.last_resource_version = resource_version
        self.lists += 1
        self._recovered()

    async def _watch(self) -> None:
        timeout = int(self.min_watch_timeout * (1 + random.random()))
        stream = self.lister_watcher.watch(
            self.last_resource_version, timeout, idle_timeout=self.watch_idle_timeout, on_open=self._recovered
        )
        async for event in stream:
            obj = event.object
            if event.type == "ADDED":
                self.fifo.add(obj)
            elif event.type == "MODIFIED":
                self.fifo.update(obj)
            elif event.type == "DELETED":
                self.fifo.delete(obj)
            elif event.type != "BOOKMARK":
                log.warning("%s: unexpected watch event type %r", self.description, event.type)
                continue
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if rv:
                self.last_resource_version = str(rv)

    def _recovered(self) -> None:
        """List or watch work (again)."""
        if not self.healthy:
            log.info(
                "%s: list/watch re-established at resourceVersion %s", self.description, self.last_resource_version
            )
        self.healthy = True
        self.last_error = None
