"""The API aggregation layer (kube-aggregator inside kube-apiserver): extension API servers behind this one.

An ``apiregistration.k8s.io/v1`` APIService with a ``spec.service`` hands its
group-version to an extension API server (metrics-server's
``v1beta1.metrics.k8s.io``, say). From then on every request under
``/apis/<group>/<version>`` is relayed to it by :meth:`Aggregator.proxy`, after
this server authenticated and authorized it as any other (RBAC on
``metrics.k8s.io`` ``pods`` applies); the extension learns the user from the
``X-Remote-*`` headers and trusts them by the front-proxy client certificate
(:mod:`~pinnace.apiserver.aggregator_proxy`, and the ConfigMap of
:mod:`~pinnace.apiserver.extension_auth`). Group-versions without such an
APIService are served as before: the dispatcher's only extra cost is one dict
lookup in :attr:`Aggregator.routes`.

The pieces:

* routing — :attr:`Aggregator.routes`, (group, version) → APIService name, follows
  the APIServices in the watch cache; each request reads its APIService from the
  cache, so it is refused (503 ``service unavailable``) while not Available;
* availability — :mod:`~pinnace.apiserver.aggregator_availability`, run for each
  APIService with a service when it, its Service or its EndpointSlices change,
  and every :data:`RESYNC_INTERVAL` seconds;
* discovery — after each check that passed, the extension's APIResourceList is
  fetched (:mod:`~pinnace.apiserver.aggregator_discovery`) and its group-version
  given to :class:`~pinnace.apiserver.discovery.Discovery` (``Current``; ``Stale``
  with the last resources when the fetch or the check failed): ``/apis`` lists it,
  ``/apis/<group>`` is answered here, ``/apis/<group>/<version>`` is the extension's.

Upgrade requests (``kubectl exec``-like websockets or SPDY) to an extension are
refused with a 400 Status: not relayed yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from pinnace.api import errors
from pinnace.apiserver.aggregator_availability import available, available_condition, check, write_condition
from pinnace.apiserver.aggregator_discovery import DiscoveryFailed, fetch_resources
from pinnace.apiserver.aggregator_proxy import (
    SERVICE_NAME_LABEL,
    BackendPool,
    Unresolved,
    relay,
    resolve,
    service_ref,
    tls_config,
)
from pinnace.apiserver.background import cancel
from pinnace.apiserver.discovery import Discovery, ExternalVersion
from pinnace.apiserver.extension_auth import ExtensionAuthentication
from pinnace.apiserver.rest import RestStore
from pinnace.apiserver.user import ALL_AUTHENTICATED, MASTERS, UserInfo, current_user

__all__ = ["RESYNC_INTERVAL", "Aggregator"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

#: How often every extension is checked and its discovery fetched again (upstream: 30 s and 1 min).
RESYNC_INTERVAL = 30.0
#: Changes arriving together are checked once, this long after the first.
_SETTLE = 0.05
#: Who a request is when this server authenticates no one (kube-apiserver's old insecure port's user).
UNSECURED_USER = UserInfo("system:unsecured", groups=(MASTERS, ALL_AUTHENTICATED))
_GROUP = "apiregistration.k8s.io"


class Aggregator:
    """The aggregation layer of one API server: routes, proxy, availability and discovery of extensions."""

    def __init__(
        self,
        rest: RestStore,
        discovery: Discovery,
        *,
        proxy_client_cert: tuple[Path, Path] | None = None,
        authentication: ExtensionAuthentication | None = None,
        resync_interval: float = RESYNC_INTERVAL,
    ) -> None:
        """``proxy_client_cert``: the front-proxy client certificate and key files (kube-apiserver's
        ``--proxy-client-cert-file``/``--proxy-client-key-file``) presented to extensions; None presents none.
        ``authentication``: the ``extension-apiserver-authentication`` publisher run with the aggregator."""
        self.rest = rest
        self.discovery = discovery
        self.pool = BackendPool(proxy_client_cert)
        self.authentication = authentication
        self.resync_interval = resync_interval
        #: (group, version) → the name of the APIService that hands it to an extension.
        self.routes: dict[tuple[str, str], str] = {}
        self._info = rest.registry.get(_GROUP, "v1", "apiservices")
        self._versions: dict[str, ExternalVersion] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # ---- serving ------------------------------------------------------------------------------
    def routed_path(self, path: str) -> str | None:
        """The APIService a non-resource path (``/apis/<group>/<version>``) is relayed by, if any."""
        parts = path.split("/", 4)
        if len(parts) < 4 or parts[1] != "apis":
            return None
        return self.routes.get((parts[2], parts[3]))

    async def proxy(self, request: web.BaseRequest, name: str) -> web.StreamResponse:
        """Relay an authorized request to the extension of APIService ``name`` (503 while it is not Available)."""
        assert self._info is not None
        cache = self.rest.fresh_cache_now(self._info) or await self.rest.fresh_cache(self._info)
        cached = cache.get(self._info.key(None, name))
        ref = service_ref(cached.obj) if cached is not None else None
        if cached is None or ref is None:  # deleted (or made local) a moment ago
            raise errors.NotFound("the server could not find the requested resource")
        if not available(cached.obj):
            raise errors.ServiceUnavailable("service unavailable")
        try:
            backend = await resolve(self.rest, ref)
        except Unresolved as exc:
            raise errors.ServiceUnavailable(exc.message) from None
        user = current_user.get() or UNSECURED_USER
        return await relay(self.pool, tls_config(cached.obj), backend, request, user)

    # ---- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Publish the authentication ConfigMap (if configured) and start following APIServices."""
        if self.authentication is not None:
            await self.authentication.start()
        if self._info is None:  # pragma: no cover - the kind is always served
            return
        cache = await self.rest.fresh_cache(self._info)
        for cached in cache.list(None):
            self._observe(cached.obj["metadata"]["name"], cached.obj)
        self._tasks = [
            asyncio.create_task(self._follow_apiservices(), name="aggregator-apiservices"),
            asyncio.create_task(self._follow("", "v1", "services", _service_key), name="aggregator-services"),
            asyncio.create_task(
                self._follow("discovery.k8s.io", "v1", "endpointslices", _slice_key), name="aggregator-slices"
            ),
            asyncio.create_task(self._run(), name="aggregator-availability"),
        ]

    async def stop(self) -> None:
        """Stop checking and following, and close the connections to extensions."""
        await cancel(*self._tasks)
        self._tasks = []
        if self.authentication is not None:
            await self.authentication.stop()
        await self.pool.close()

    # ---- following the APIServices, Services and EndpointSlices ------------------------------
    def _observe(self, name: str, obj: Obj | None) -> None:
        """Take note of an APIService as it is now (None: deleted): its route, and a check soon."""
        for gv, routed in list(self.routes.items()):
            if routed == name:
                del self.routes[gv]
        spec = (obj or {}).get("spec") or {}
        if obj is not None and service_ref(obj) is not None:
            self.routes[(str(spec.get("group") or ""), str(spec.get("version") or ""))] = name
            self._mark(name)
        elif self._versions.pop(name, None) is not None:
            self._publish()

    def _mark(self, *names: str) -> None:
        self._dirty.update(names)
        if names:
            self._wake.set()

    def _apiservices_of(self, namespace: str, service: str) -> list[str]:
        """The routed APIServices whose Service is ``namespace/service``."""
        assert self._info is not None
        cache = self.rest.caches.started(self._info)
        out = []
        for name in set(self.routes.values()):
            cached = cache.get(self._info.key(None, name)) if cache is not None else None
            ref = service_ref(cached.obj) if cached is not None else None
            if ref is not None and (ref.namespace, ref.name) == (namespace, service):
                out.append(name)
        return out

    async def _follow_apiservices(self) -> None:
        assert self._info is not None
        while True:
            cache = await self.rest.fresh_cache(self._info)
            watcher = cache.watch(None, None, after_revision=cache.revision)
            while not watcher.closed:
                await watcher.wait(None)
                for event in watcher.drain():
                    obj = event.object.obj
                    self._observe(obj["metadata"]["name"], None if event.type == "DELETED" else obj)
            log.warning("APIService watch ended (%s); watching again", watcher.error)
            self._resync_all(await self.rest.fresh_cache(self._info))
            await asyncio.sleep(0.5)

    def _resync_all(self, cache: Any) -> None:
        names = {c.obj["metadata"]["name"]: c.obj for c in cache.list(None)}
        for name in set(self.routes.values()) - set(names):
            self._observe(name, None)
        for name, obj in names.items():
            self._observe(name, obj)

    async def _follow(self, group: str, version: str, resource: str, key: Any) -> None:
        """Mark the APIServices whose Service (or its EndpointSlices) a change of ``resource`` touches."""
        info = self.rest.registry.get(group, version, resource)
        assert info is not None
        while True:
            cache = await self.rest.fresh_cache(info)
            watcher = cache.watch(None, None, after_revision=cache.revision)
            while not watcher.closed:
                await watcher.wait(None)
                for event in watcher.drain():
                    if not self.routes:
                        continue
                    for obj in (event.object.obj, event.prev.obj if event.prev is not None else None):
                        found = key(obj) if obj is not None else None
                        if found is not None:
                            self._mark(*self._apiservices_of(*found))
            log.warning("%s watch ended (%s); watching again", resource, watcher.error)
            self._mark(*self.routes.values())
            await asyncio.sleep(0.5)

    # ---- checking -----------------------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_resync = loop.time() + self.resync_interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_resync - loop.time()))
            if loop.time() >= next_resync:
                next_resync = loop.time() + self.resync_interval
                self._dirty.update(self.routes.values())
            await asyncio.sleep(_SETTLE)
            self._wake.clear()
            names, self._dirty = self._dirty, set()
            results = await asyncio.gather(*(self.sync(name) for name in names), return_exceptions=True)
            for name, result in zip(names, results, strict=True):
                if isinstance(result, Exception):
                    log.error("checking APIService %s failed", name, exc_info=result)

    async def sync(self, name: str) -> None:
        """Check one APIService: its Available condition (written if it changed), then its discovery."""
        assert self._info is not None
        cache = await self.rest.fresh_cache(self._info)
        cached = cache.get(self._info.key(None, name))
        if cached is None or service_ref(cached.obj) is None:
            if self._versions.pop(name, None) is not None:
                self._publish()
            return
        obj = cached.obj
        wanted, backend = await check(self.rest, self.pool, obj)
        current = available_condition(obj)
        if current is None or any(current.get(k) != v for k, v in wanted.items()):
            obj = await write_condition(self.rest, name, wanted) or obj
        spec = obj.get("spec") or {}
        group, version = str(spec.get("group") or ""), str(spec.get("version") or "")
        previous = self._versions.get(name)
        resources = previous.resources if previous is not None and previous.group == group else ()
        fresh = False
        if wanted["status"] == "True" and backend is not None:
            try:
                resources = await fetch_resources(self.pool, tls_config(obj), backend, group, version)
                fresh = True
            except DiscoveryFailed as exc:
                log.info("APIService %s: discovery failed: %s", name, exc)
        self._versions[name] = ExternalVersion(
            group=group,
            version=version,
            group_priority=int(spec.get("groupPriorityMinimum") or 0),
            version_priority=int(spec.get("versionPriority") or 0),
            resources=resources,
            stale=not fresh,
        )
        self._publish()

    def _publish(self) -> None:
        self.discovery.set_external(list(self._versions.values()))


def _service_key(obj: Obj) -> tuple[str, str] | None:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _slice_key(obj: Obj) -> tuple[str, str] | None:
    meta = obj.get("metadata") or {}
    service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return (str(meta.get("namespace") or ""), str(service)) if service else None
