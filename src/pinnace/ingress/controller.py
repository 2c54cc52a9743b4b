"""The Ingress controller: informers, the routing table they feed, the listeners, and the status writer.

:class:`IngressController` watches Ingresses, IngressClasses, Services, EndpointSlices and ``kubernetes.io/tls``
Secrets through the SDK's informers (so it runs against any conformant cluster). Any change schedules a rebuild of
the :class:`~pinnace.ingress.routes.RoutingTable` a few milliseconds later (one rebuild per burst of changes); the
rebuild also swaps the SNI certificates (:mod:`.tls`) and asks the :class:`~pinnace.ingress.status.StatusWriter`
for a pass. Requests in flight keep the table they were routed with; the next request sees the new one.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from pinnace.client.rest import ResourceRef, RestClient
from pinnace.ingress.proxy import IngressProxy
from pinnace.ingress.routes import RoutingTable, build_table
from pinnace.ingress.status import INGRESSES, StatusWriter
from pinnace.ingress.tls import CertificateStore
from pinnace.runtime.cache.informer import EventHandler, Informer
from pinnace.runtime.cache.reflector import RestListerWatcher
from pinnace.runtime.tasks import cancel_and_wait

__all__ = ["IngressConfig", "IngressController"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
INGRESS_CLASSES = ResourceRef("networking.k8s.io", "v1", "ingressclasses", namespaced=False)
SERVICES = ResourceRef("", "v1", "services")
ENDPOINT_SLICES = ResourceRef("discovery.k8s.io", "v1", "endpointslices")
SECRETS = ResourceRef("", "v1", "secrets")
#: How long :meth:`IngressController.start` waits for the informers' first lists.
SYNC_TIMEOUT = 60.0
#: How long after a change the table is rebuilt (changes meanwhile join the same rebuild).
REBUILD_DELAY = 0.005


@dataclass(frozen=True, slots=True)
class IngressConfig:
    """Which Ingresses the controller serves, what address it reports for them, and its backend timeouts."""

    #: The class name of the legacy ``kubernetes.io/ingress.class`` annotation.
    class_name: str = "pinnace"
    #: The ``spec.controller`` of the IngressClasses that are this controller's.
    controller_name: str = "pinnace.dev/ingress"
    #: Reported in each served Ingress's ``status.loadBalancer.ingress[].ip`` (a hostname: ``.hostname``).
    address: str = "127.0.0.1"
    #: Serve only this namespace's Ingresses (None: every namespace).
    watch_namespace: str | None = None
    #: How long connecting to a backend may take (ingress-nginx's ``proxy-connect-timeout``), seconds.
    connect_timeout: float = 5.0
    #: How long a backend may stay silent before its answer (or its next bytes) (``proxy-read-timeout``), seconds.
    read_timeout: float = 60.0


def _secret_view(secret: Obj) -> Obj:
    """What is kept of a TLS Secret: its name, version, type and the two keys the certificate needs."""
    meta = secret.get("metadata") or {}
    data = secret.get("data") or {}
    return {
        "metadata": {k: meta.get(k) for k in ("name", "namespace", "resourceVersion")},
        "type": secret.get("type"),
        "data": {k: data[k] for k in ("tls.crt", "tls.key") if k in data},
    }


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class IngressController:
    """Routes HTTP(S) from the host to Services' endpoints as the cluster's Ingresses say."""

    def __init__(self, rest: RestClient, config: IngressConfig = IngressConfig()) -> None:
        self.rest = rest
        self.config = config
        namespace = config.watch_namespace

        def informer(
            ref: ResourceRef, field_selector: str | None = None, transform: Callable[[Obj], Obj] | None = None
        ) -> Informer:
            scoped = namespace if ref.namespaced else None
            lister = RestListerWatcher(rest, ref, namespace=scoped, field_selector=field_selector)
            return Informer(lister, transform=transform)

        self.ingresses = informer(INGRESSES)
        self.classes = informer(INGRESS_CLASSES)
        self.services = informer(SERVICES)
        self.slices = informer(ENDPOINT_SLICES)
        self.secrets = informer(SECRETS, field_selector="type=kubernetes.io/tls", transform=_secret_view)
        self._informers = (self.ingresses, self.classes, self.services, self.slices, self.secrets)
        self.table = RoutingTable()
        self.certificates: CertificateStore | None = None
        self.status = StatusWriter(rest, config.address, lambda: (self.ingresses.indexer.objects(), self.table.served))
        self.http_port = 0
        self.https_port: int | None = None
        self._proxy: IngressProxy | None = None
        self._runner: web.ServerRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._rebuild: asyncio.TimerHandle | None = None
        self._built = False
        changed = EventHandler(
            on_add=lambda _obj, _initial: self._changed(),
            on_update=lambda _old, _new: self._changed(),
            on_delete=lambda _obj: self._changed(),
        )
        for each in self._informers:
            each.add_event_handler(changed)

    @property
    def synced(self) -> bool:
        """Whether every informer has its first full list."""
        return all(each.has_synced for each in self._informers)

    # ---- the table ----------------------------------------------------------------------------------
    def _changed(self) -> None:
        if self._rebuild is None and self._built:
            self._rebuild = asyncio.get_running_loop().call_later(REBUILD_DELAY, self.rebuild)

    def rebuild(self) -> None:
        """Build the routing table from the informers' objects now, swap the certificates, and update statuses."""
        self._rebuild = None
        try:
            table = build_table(
                self.ingresses.indexer.objects(),
                self.classes.indexer.objects(),
                self.services.indexer.objects(),
                self.slices.indexer.objects(),
                class_name=self.config.class_name,
                controller_name=self.config.controller_name,
            )
            if self.certificates is not None:
                self.certificates.update(table.tls, self.secrets.indexer.get)
        except Exception:
            log.exception("ingress controller: the routing table could not be rebuilt; serving the previous one")
            return
        self.table = table
        self.status.kick()

    # ---- life cycle ---------------------------------------------------------------------------------
    async def start(self, host: str, http_port: int, https_port: int | None) -> tuple[int, int | None]:
        """Sync the informers (TimeoutError after 60 s), build the table, serve HTTP on ``host:http_port`` and HTTPS
        on ``host:https_port`` (None: no HTTPS; 0: any free port); return the bound ports."""
        try:
            for each in self._informers:
                self._tasks.append(asyncio.create_task(each.run(), name=f"ingress {each.description}"))
            deadline = asyncio.get_running_loop().time() + SYNC_TIMEOUT
            for each in self._informers:
                if not await each.wait_for_sync(max(0.0, deadline - asyncio.get_running_loop().time())):
                    raise TimeoutError(f"ingress controller: {each.description} did not sync in {SYNC_TIMEOUT:.0f}s")
            if https_port is not None:
                self.certificates = CertificateStore()
            self.rebuild()
            self._built = True
            self._tasks.append(asyncio.create_task(self.status.run(), name="ingress status"))
            self._proxy = IngressProxy(
                lambda: self.table,
                lambda: self.https_port,
                connect_timeout=self.config.connect_timeout,
                read_timeout=self.config.read_timeout,
            )
            # handler_cancellation: a client that hangs up ends its request, and so the backend connection.
            server = web.Server(self._proxy.handle, access_log=None, handler_cancellation=True)
            self._runner = web.ServerRunner(server, shutdown_timeout=1.0)
            await self._runner.setup()
            http_sock = _bind(host, http_port)
            self.http_port = int(http_sock.getsockname()[1])
            await web.SockSite(self._runner, http_sock).start()
            if https_port is not None and self.certificates is not None:
                https_sock = _bind(host, https_port)
                self.https_port = int(https_sock.getsockname()[1])
                await web.SockSite(self._runner, https_sock, ssl_context=self.certificates.context).start()
        except BaseException:
            await self.stop()
            raise
        where = f"http {host}:{self.http_port}" + (f", https {host}:{self.https_port}" if self.https_port else "")
        log.info("ingress controller %s: serving class %s on %s", self.config.controller_name,
                 self.config.class_name, where)  # fmt: skip
        return self.http_port, self.https_port

    async def stop(self) -> None:
        """Close the listeners and the backend connections, and stop the informers and the status writer."""
        self._built = False
        if self._rebuild is not None:
            self._rebuild.cancel()
            self._rebuild = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._proxy is not None:
            await self._proxy.close()
            self._proxy = None
        tasks, self._tasks = self._tasks, []
        await cancel_and_wait(tasks)
        self.https_port = None

    async def run(
        self,
        host: str,
        http_port: int,
        https_port: int | None,
        on_serving: Callable[[int, int | None], Awaitable[None]] | None = None,
    ) -> None:
        """start(), then await on_serving(http_port, https_port) if given, serve until cancelled, then stop()."""
        ports = await self.start(host, http_port, https_port)
        try:
            if on_serving is not None:
                await on_serving(*ports)
            await asyncio.Event().wait()
        finally:
            await asyncio.shield(self.stop())
