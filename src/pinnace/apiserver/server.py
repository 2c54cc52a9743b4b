"""The API server: one aiohttp application over a Store.

:class:`APIServer` wires the pieces: the resource registry, the generic REST
store with its watch caches, discovery, health and metrics, and the aggregation
layer (:mod:`~pinnace.apiserver.aggregator`: group-versions whose APIService
names a service are relayed to that extension API server). Every request goes
through one dispatcher; every error becomes a ``metav1.Status`` (a bug in the
server is logged and answered 500, never a crash). The server creates the
system namespaces on start, as kube-apiserver does, and the ``kubernetes``
Service once it listens; Services get their cluster IPs and node ports from
ranges kept in the store (:mod:`pinnace.apiserver.services`), repaired at start
and periodically.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from ssl import SSLContext
from typing import cast

import orjson
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from pinnace.api import errors
from pinnace.api.buildinfo import version_info
from pinnace.api.field_selectors import parse_field_selector
from pinnace.api.registry import ResourceRegistry, builtin_registry
from pinnace.apiserver import health, negotiation, oidc
from pinnace.apiserver.admission.chain import warning_sink
from pinnace.apiserver.admission.plugins import MINIMAL_PLUGINS, build_chain
from pinnace.apiserver.aggregator import Aggregator
from pinnace.apiserver.apiservices import LocalAPIServices
from pinnace.apiserver.background import cancel
from pinnace.apiserver.certificates import CSR, RequesterIdentity
from pinnace.apiserver.componentstatus import ComponentStatuses
from pinnace.apiserver.crd import CRDController
from pinnace.apiserver.discovery import Discovery
from pinnace.apiserver.event_ttl import DEFAULT_EVENT_TTL, EventExpiry
from pinnace.apiserver.fasthttp import FAST_METHODS, Dispatch, FastFront, FastRequest
from pinnace.apiserver.handlers import _warn as add_warning_headers
from pinnace.apiserver.handlers import handle_resource
from pinnace.apiserver.httputil import CLIENT_ERROR_LOG_FILTER, NO_CACHE, internal_error_response, status_response
from pinnace.apiserver.kubernetes_service import ensure_kubernetes_service
from pinnace.apiserver.metrics import InstrumentedStore, ServerMetrics
from pinnace.apiserver.negotiation import Output
from pinnace.apiserver.openapi import OpenAPIServer
from pinnace.apiserver.podproxy import PodProxy
from pinnace.apiserver.priority import PodPriority, ensure_system_priority_classes
from pinnace.apiserver.proxy import KubeletProxy
from pinnace.apiserver.request_info import RequestInfo, parse_request_info
from pinnace.apiserver.rest import RestStore
from pinnace.apiserver.serviceaccount_token import TokenIssuer
from pinnace.apiserver.services import DEFAULT_NODE_PORT_RANGE, DEFAULT_SERVICE_CIDR, ServiceStorage
from pinnace.apiserver.user import (
    ANONYMOUS_USER,
    Attributes,
    Authenticator,
    Authorizer,
    Decision,
    UserInfo,
    current_user,
)
from pinnace.apiserver.virtual import VirtualResources
from pinnace.storage import CorruptValue, StorageError, Store, ValueTooLarge

log = logging.getLogger(__name__)

#: The longest request line or header line served (Go's ``http.DefaultMaxHeaderBytes``, kube-apiserver's limit).
MAX_HEADER_BYTES = 1 << 20

#: Namespaces kube-apiserver keeps in existence.
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
#: How often missing system namespaces are recreated (upstream: every minute).
SYSTEM_NAMESPACES_INTERVAL = 60.0
#: How often the service IP and node port ranges are checked against the Services (upstream: 3 minutes).
SERVICE_REPAIR_INTERVAL = 180.0

_JSON = {"Content-Type": "application/json"}

#: Serves one kind of request the generic REST handler does not: a connect subresource
#: (pods/log, pods/exec, serviceaccounts/token, …) or a virtual resource (TokenReview, SubjectAccessReview, …).
RequestHandler = Callable[[web.BaseRequest, RequestInfo], Awaitable[web.StreamResponse]]
#: Replaces the authenticated user with the one the request impersonates (after authorizing that).
Impersonation = Callable[[web.BaseRequest, UserInfo], Awaitable[UserInfo]]


class APIServer:
    """A Kubernetes API server over ``store`` (not listening until :meth:`listen`)."""

    def __init__(
        self,
        store: Store,
        registry: ResourceRegistry | None = None,
        *,
        service_cidr: str = DEFAULT_SERVICE_CIDR,
        node_port_range: str = DEFAULT_NODE_PORT_RANGE,
        service_repair_interval: float = SERVICE_REPAIR_INTERVAL,
        service_account_key: rsa.RSAPrivateKey | Path | None = None,
        authenticator: Authenticator | None = None,
        authorizer: Authorizer | None = None,
        anonymous: bool = True,
        admission_plugins: Sequence[str] | None = None,
        event_ttl: float = DEFAULT_EVENT_TTL,
    ) -> None:
        """``service_account_key``: the token signing key, or its PEM file (made there, 0600, if missing);
        None signs with a key of this process only, so its tokens die with it.

        ``authenticator`` None serves every request unauthenticated and unchecked (no user at all);
        with one, a request without credentials is ``system:anonymous`` when ``anonymous``, else 401.
        ``authorizer`` None allows every authenticated request.

        ``admission_plugins``: the admission plugins every write goes through, by upstream name
        (:mod:`pinnace.apiserver.admission.plugins`); None enables only NamespaceLifecycle.

        ``event_ttl``: seconds an Event lives after its last write (:mod:`~pinnace.apiserver.event_ttl`;
        0 keeps them for ever)."""
        self.metrics = ServerMetrics()
        self.store: Store = InstrumentedStore(store, self.metrics)
        self.registry = registry or builtin_registry()
        self.rest = RestStore(self.store, self.registry, shared=store.shared)
        self.services = ServiceStorage(self.store, service_cidr=service_cidr, node_port_range=node_port_range)
        self.rest.hooks[("", "Service")] = self.services
        self.rest.hooks[("", "Pod")] = PodPriority(self.rest)
        self.rest.hooks[CSR] = RequesterIdentity()
        self.service_repair_interval = service_repair_interval
        self._service_repair_task: asyncio.Task[None] | None = None
        self.event_ttl = event_ttl
        self._event_expiry: EventExpiry | None = None
        self.tokens = TokenIssuer(service_account_key)
        self.authenticator = authenticator
        self.authorizer = authorizer
        self.anonymous = anonymous
        self.impersonation: Impersonation | None = None
        #: (group, resource, subresource) → handler, for subresources that are not stored objects.
        self.subresource_handlers: dict[tuple[str, str, str], RequestHandler] = {
            ("", "serviceaccounts", "token"): lambda request, ri: self.tokens.handle(request, self.rest, ri),
        }
        # pods/log, exec, attach, portforward and nodes/proxy are relayed to the node's kubelet.
        self.kubelets = KubeletProxy(self.rest)
        self.subresource_handlers.update(self.kubelets.handlers())
        # pods/proxy and services/proxy are relayed to a pod.
        self.pod_proxy = PodProxy(self.rest)
        self.subresource_handlers.update(self.pod_proxy.handlers())
        #: Subresources answered with a stream (relayed from a kubelet or a pod): served by aiohttp, never the fast
        #: front.
        self._streaming_subresources = frozenset({**self.kubelets.handlers(), **self.pod_proxy.handlers()})
        #: (group, resource) → handler, for resources that are never stored (reviews, componentstatuses).
        self.virtual_resources = VirtualResources(self.registry)
        #: ``kubectl get componentstatuses``: the embedding registers its components' probes.
        self.component_statuses = ComponentStatuses()
        self.virtual_resources[("", "componentstatuses")] = self.component_statuses.handle
        self.discovery = Discovery(self.registry)
        self.openapi = OpenAPIServer(self.registry)
        self.crds = CRDController(self.rest, self.registry)
        #: Every served group-version as a local APIService (kubectl get apiservices).
        self.apiservices = LocalAPIServices(self.rest)
        #: The aggregation layer: APIServices with a service, relayed to their extension API servers (secure_server
        #: replaces it with one that presents the front-proxy client certificate).
        self.aggregator = Aggregator(self.rest, self.discovery)
        self.shutting_down = False
        self.started = False
        self.rest.admission = build_chain(self, MINIMAL_PLUGINS if admission_plugins is None else admission_plugins)
        # aiohttp's low-level server: every request goes to one dispatcher, so the Application's router,
        # middlewares and signals would only cost time (the body limit is enforced by read_body).
        # A request line or header may be as long as Go's http.Server allows the whole head (DefaultMaxHeaderBytes,
        # 1 MiB): a label selector naming many values, a long bearer token (aiohttp's default is 8190 bytes).
        self.http = web.Server(
            self._dispatch, access_log=None, max_line_size=MAX_HEADER_BYTES, max_field_size=MAX_HEADER_BYTES
        )
        logging.getLogger("aiohttp.server").addFilter(CLIENT_ERROR_LOG_FILTER)  # a client's bad request: no ERROR
        self._runner: web.ServerRunner | None = None
        self._listener: asyncio.AbstractServer | None = None
        self._front: FastFront | None = None
        self._system_namespaces_task: asyncio.Task[None] | None = None
        self.address = ""
        self.port = 0
        self.scheme = "http"
        # Upstream's check names: the storage check is "etcd" whatever the store (k3s keeps the name over SQLite
        # too), so probes written for kube-apiserver (/livez/etcd, /readyz/etcd-readiness) find it.
        self._checks: dict[str, health.Check] = {
            "ping": self._ok,
            "log": self._ok,
            "etcd": self.check_storage,
        }
        self._ready_checks: dict[str, health.Check] = {
            **self._checks,
            "etcd-readiness": self.check_storage,
            "informer-sync": self._check_caches,
            "shutdown": self._check_shutdown,
        }

    # ---- lifecycle ----------------------------------------------------------
    async def start(self) -> None:
        """Warm the watch caches and create the system namespaces (and keep them there)."""
        for info in self.registry.all():
            try:
                await self.rest.caches.get(info)
            except CorruptValue as exc:  # its requests answer the error (a 500) until the value is readable again
                log.error("the cache of %s did not start: %s", info.plural, exc)
        await self.ensure_system_namespaces()
        await ensure_system_priority_classes(self.rest)
        await self.services.repair()
        self.crds.on_change = self.apiservices.sync
        await self.crds.start()
        await self.apiservices.start()
        await self.aggregator.start()
        self._system_namespaces_task = asyncio.create_task(self._keep_system_namespaces(), name="system-namespaces")
        self._service_repair_task = asyncio.create_task(self._repair_services(), name="service-repair")
        events = self.registry.get("", "v1", "events")
        if self.event_ttl > 0 and events is not None:
            self._event_expiry = EventExpiry(await self.rest.caches.get(events), ttl=self.event_ttl)
            self._event_expiry.start()
        self.started = True

    async def ensure_system_namespaces(self) -> None:
        """Create whichever of the system namespaces is missing (as kube-apiserver's controller does)."""
        ns = self.registry.get("", "v1", "namespaces")
        assert ns is not None
        for name in SYSTEM_NAMESPACES:
            if await self.rest.get_cached(ns, None, name) is None:
                with contextlib.suppress(errors.AlreadyExists):
                    await self.rest.create(ns, None, {"metadata": {"name": name}})

    async def ensure_kubernetes_service(self) -> None:
        """Create or correct the ``kubernetes`` Service and its endpoints (once listening)."""
        if not self.port:
            return
        host = self.address.rsplit(":", 1)[0]
        address = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
        await ensure_kubernetes_service(self.rest, self.services.kubernetes_service_ip, address, self.port)

    async def _keep_system_namespaces(self) -> None:
        while True:
            await asyncio.sleep(SYSTEM_NAMESPACES_INTERVAL)
            try:
                await self.ensure_system_namespaces()
                await ensure_system_priority_classes(self.rest)
                await self.ensure_kubernetes_service()
                await self.apiservices.sync(force=True)  # someone may have deleted one
            except errors.StatusError as exc:
                log.warning("could not recreate a system namespace or the kubernetes service: %s", exc)

    async def _repair_services(self) -> None:
        while True:
            await asyncio.sleep(self.service_repair_interval)
            try:
                await self.services.repair()
            except Exception:
                log.exception("the service IP and node port repair failed; retrying later")

    async def listen(
        self, host: str = "127.0.0.1", port: int = 6443, *, ssl: SSLContext | None = None, fast_front: bool = True
    ) -> None:
        """Start serving on host:port (port 0 picks a free one): HTTPS with ``ssl`` (see authn.serving_context).

        ``fast_front=False`` serves every request through aiohttp's protocol (benchmarks/http_front.py compares)."""
        if not self.started:
            await self.start()
        # Connections start on the fast front (fasthttp), which hands to aiohttp's protocol (self.http, whose
        # runner ends those connections at shutdown) whatever it does not serve itself.
        self._runner = web.ServerRunner(self.http, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        self.scheme = "https" if ssl is not None else "http"
        # The fast front's request has every attribute of aiohttp's that the handlers of the requests
        # _fast_routing admits read (see fasthttp.FastRequest): it goes to the dispatcher as it is.
        self._front = FastFront(self.http, self._fast_routing, cast(Dispatch, self._dispatch))
        loop = asyncio.get_running_loop()
        factory: Callable[[], asyncio.BaseProtocol] = self._front if fast_front else self.http
        self._listener = await loop.create_server(factory, host, port, reuse_address=True, ssl=ssl, backlog=128)
        sockets = self._listener.sockets
        self.port = int(sockets[0].getsockname()[1]) if sockets else port
        self.address = f"{host}:{self.port}"
        await self.ensure_kubernetes_service()

    async def stop(self) -> None:
        """Stop serving (ending open watches) and stop the caches; the store stays open."""
        self.shutting_down = True
        await cancel(self._system_namespaces_task, self._service_repair_task)
        self._system_namespaces_task = self._service_repair_task = None
        if self._event_expiry is not None:
            await self._event_expiry.stop()
            self._event_expiry = None
        await self.crds.stop()
        await self.apiservices.stop()
        await self.aggregator.stop()
        chain = self.rest.admission
        if chain is not None:  # plugins that hold connections (the webhooks' pools) release them
            for plugin in {id(p): p for p in (*chain.mutating, *chain.validating)}.values():
                close = getattr(plugin, "close", None)
                if close is not None:
                    await close()
        await self.kubelets.close()
        await self.pod_proxy.close()
        await self.rest.caches.stop()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._front is not None:
            await self._front.shutdown(1.0)
            self._front = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        """The base URL clients use."""
        return f"{self.scheme}://{self.address}"

    # ---- health -------------------------------------------------------------
    async def _ok(self) -> str | None:
        return None

    async def check_storage(self) -> str | None:
        """The storage health check (None: it answers), for /healthz and the storage's ComponentStatus."""
        try:
            await asyncio.wait_for(self.store.current_revision(), 2.0)
        except Exception as exc:
            return f"storage is not responding: {exc}"
        return None

    async def _check_caches(self) -> str | None:
        bad = [c.prefix for c in self.rest.caches.all() if not c.healthy]
        return f"watch caches not synced: {', '.join(bad)}" if bad else None

    async def _check_shutdown(self) -> str | None:
        return "the server is shutting down" if self.shutting_down else None

    # ---- dispatch -----------------------------------------------------------
    def _fast_routing(self, request: FastRequest) -> tuple[RequestInfo | None] | None:
        """The fast front's question: the request's routing if its answer is a plain response (None: a stream,
        an upgrade or a relayed subresource, which aiohttp serves)."""
        ri = parse_request_info(request.method, request.path, request.query)
        routes = self.aggregator.routes
        if ri is None:  # the OpenAPI documents are large and sent compressed: aiohttp's writer does that
            if routes and self.aggregator.routed_path(request.path) is not None:
                return None  # an extension's discovery document, relayed as a stream
            if request.method == "GET":
                return None if request.path.startswith("/openapi/") else (None,)
            return (None,) if request.method not in FAST_METHODS else None  # an odd method's 404 or 405
        if routes and (ri.group, ri.version) in routes:
            return None  # relayed to an extension API server: streamed
        if not ri.verb:
            return (ri,)  # an odd method: its 404 or 405, never a stream
        if ri.verb == "watch" or (ri.group, ri.resource, ri.subresource or "") in self._streaming_subresources:
            return None
        return (ri,)

    async def _dispatch(self, request: web.BaseRequest, routing: object = None) -> web.StreamResponse:
        started = time.perf_counter()
        ri = None
        code = 500
        token = None
        try:
            path = request.path
            # Routed already if it came by the fast front (_fast_routing); else here.
            ri = routing[0] if isinstance(routing, tuple) else parse_request_info(request.method, path, request.query)
            authenticator = self.authenticator
            if authenticator is not None:
                # Fast path: an authenticator that knows the user from its caches (authn.union's) and a request
                # that impersonates no one need not await anything; the answer is the full path's.
                cached = getattr(authenticator, "authenticate_cached", None)
                found = cached(request) if cached is not None else None
                if isinstance(found, UserInfo) and not self._may_impersonate(request):
                    user = found
                else:
                    user = await self._authenticate(request, found if isinstance(found, UserInfo) else None)
                token = current_user.set(user)
                authorizer = self.authorizer
                if authorizer is not None:
                    # Likewise, a decision the authorizer remembers (authz.chain's) is looked up by what fixes the
                    # request's attributes, without building them or awaiting (plain fields hash in C).
                    if ri is not None:
                        name = ri.name or _selected_name(ri, request)
                        key: tuple[object, ...] = (
                            user.name, user.groups, ri.verb, ri.group, ri.version, ri.resource, ri.subresource,
                            ri.namespace, name,
                        )  # fmt: skip
                    else:
                        key = (user.name, user.groups, request.method, path)
                    remembered = getattr(authorizer, "remembered", None)
                    answer = remembered(key) if remembered is not None else None
                    if answer is None:
                        answer = await self._authorize(authorizer, user, ri, request, key)
                    if answer[0] is not Decision.ALLOW:
                        raise forbidden(self._attributes(user, ri, request), answer[1])
            if ri is not None:
                response = await self._resource(request, ri)
            else:
                response = await self._non_resource(request, path)
            code = response.status
            if not response.prepared and "Cache-Control" not in response.headers:
                response.headers["Cache-Control"] = NO_CACHE
            return response
        except errors.StatusError as exc:
            code = exc.code
            return status_response(exc)
        except ValueTooLarge as exc:  # the store's limit (etcd's): the client's object is too big, no server fault
            code = 413
            return status_response(errors.RequestEntityTooLarge(f"{exc}: the object is larger than the store takes"))
        except StorageError as exc:
            # The store failed (a full disk, a lost encryption key): as upstream's NewInternalError, a 500 that says
            # what failed, logged once without a traceback, and every other request still served.
            log.error("%s %s: %s", request.method, request.path_qs, exc)
            code = 500
            return status_response(errors.InternalError(f"Internal error occurred: {exc}"))
        except web.HTTPException:
            raise
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("internal error serving %s %s", request.method, request.path_qs)
            code = 500
            return internal_error_response()
        finally:
            if token is not None:
                current_user.reset(token)
            if ri is not None:
                labels = (
                    ri.verb.upper() if ri.verb != "watch" else "WATCH",
                    ri.group,
                    ri.version,
                    ri.resource,
                    ri.subresource or "",
                )
                seconds = time.perf_counter() - started if ri.verb != "watch" else None
                self.metrics.observe_request(labels, code, seconds)

    def _may_impersonate(self, request: web.BaseRequest) -> bool:
        impersonation = self.impersonation
        if impersonation is None:
            return False
        applies = getattr(impersonation, "applies", None)  # authz.impersonation's tells without awaiting
        return applies is None or bool(applies(request))

    async def _authenticate(self, request: web.BaseRequest, known: UserInfo | None = None) -> UserInfo:
        """The request's user (``known``: already found by the cached path), after impersonation."""
        assert self.authenticator is not None
        user = known if known is not None else await self.authenticator.authenticate(request)
        if user is None:
            if not self.anonymous:
                raise errors.Unauthorized("Unauthorized")
            user = ANONYMOUS_USER
        if self.impersonation is not None:
            user = await self.impersonation(request, user)
        return user

    async def _authorize(
        self, authorizer: Authorizer, user: UserInfo, ri: RequestInfo | None, request: web.BaseRequest, key: object
    ) -> tuple[Decision, str]:
        """The authorizer's decision on the request, which it may remember under ``key``."""
        attrs = self._attributes(user, ri, request)
        cached = getattr(authorizer, "authorize_cached", None)  # authz.chain's answers without awaiting if it can
        answer = cached(attrs) if cached is not None else None
        if answer is None:
            answer = await authorizer.authorize(attrs)
        remember = getattr(authorizer, "remember", None)
        if remember is not None:
            remember(key, attrs, answer)
        return answer

    def _attributes(self, user: UserInfo, ri: RequestInfo | None, request: web.BaseRequest) -> Attributes:
        """What the request asks to do, for the authorizer."""
        if ri is None:
            verb = {"GET": "get", "HEAD": "get", "POST": "post", "PUT": "put", "PATCH": "patch", "DELETE": "delete"}
            attrs = Attributes(user, verb.get(request.method, request.method.lower()), False, path=request.path)
        else:
            attrs = Attributes(
                user,
                ri.verb,
                True,
                api_group=ri.group,
                api_version=ri.version,
                resource=ri.resource,
                subresource=ri.subresource or "",
                namespace=ri.namespace or "",
                name=ri.name or _selected_name(ri, request),
            )
        return attrs

    async def _resource(self, request: web.BaseRequest, ri: RequestInfo) -> web.StreamResponse:
        if ri.verb == "watch":
            gauge = self.metrics.longrunning.labels("WATCH", ri.group, ri.version, ri.resource)
            gauge.inc()
            try:
                return await self._resource_handler(request, ri)
            finally:
                gauge.dec()
        if ri.verb in ("get", "list"):
            return await self._resource_handler(request, ri)
        warnings: list[str] = []
        token = warning_sink.set(warnings)
        try:
            response = await self._resource_handler(request, ri)
        finally:
            warning_sink.reset(token)
        if warnings and isinstance(response, web.Response) and not response.prepared:
            add_warning_headers(response, warnings)  # admission's warnings (kubectl prints them)
        return response

    def _resource_handler(self, request: web.BaseRequest, ri: RequestInfo) -> Awaitable[web.StreamResponse]:
        """The handler call that serves a resource request (not awaited here: one coroutine less per request)."""
        routes = self.aggregator.routes
        if routes and (apiservice := routes.get((ri.group, ri.version))) is not None:
            return self.aggregator.proxy(request, apiservice)
        if not ri.verb:  # a method no route has: its 405 (or resolve's 404 for a path no route has)
            if ri.subresource is not None and (ri.group, ri.resource, ri.subresource) in self.subresource_handlers:
                raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
            return handle_resource(request, self.rest, ri)
        if ri.subresource is not None:
            special = self.subresource_handlers.get((ri.group, ri.resource, ri.subresource))
            if special is not None:
                return special(request, ri)
        elif (virtual := self.virtual_resources.handler_for(ri.group, ri.resource, ri.verb)) is not None:
            return virtual(request, ri)
        return handle_resource(request, self.rest, ri)

    async def _non_resource(self, request: web.BaseRequest, path: str) -> web.StreamResponse:
        path = path.rstrip("/") or "/"
        if "//" in path:
            # Upstream's muxes match paths as sent (no cleaning, no redirect), and go-restful's routes have no
            # empty segment: //api, /api//v1 and /api/v1//namespaces/… are its 404.
            raise errors.NotFound("the server could not find the requested resource")
        parts = [p for p in path.split("/") if p]
        if self.aggregator.routes and (apiservice := self.aggregator.routed_path(path)) is not None:
            return await self.aggregator.proxy(request, apiservice)  # /apis/<group>/<version>: the extension's
        if request.method not in ("GET", "HEAD"):
            # go-restful's web services (/api, /apis, /version) route by method: a 405. The health checks and the
            # metrics are plain handlers of upstream's mux, which serve any method; other paths are its 404.
            if parts[:1] in (["api"], ["apis"]) or path == "/version":
                raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
            if not (parts and parts[0] in ("healthz", "livez", "readyz")) and path != "/metrics":
                raise errors.NotFound("the server could not find the requested resource")
        if parts and parts[0] in ("healthz", "livez", "readyz"):
            checks = self._ready_checks if parts[0] == "readyz" else self._checks
            return await health.run_checks(
                parts[0],
                checks,
                parts[1] if len(parts) > 1 else None,
                request.query,
                request.query.getall("exclude", []),
            )
        if path == "/metrics":
            return web.Response(
                body=self.metrics.exposition(),
                headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
            )
        if path == "/version":
            return web.Response(body=orjson.dumps(version_info()), headers=_JSON)
        if path in oidc.PATHS:
            return oidc.respond(path, self.tokens.issuer, self.address, [self.tokens.key.public_key()])
        if path == "/":
            return web.Response(body=orjson.dumps({"paths": self._paths()}), headers=_JSON)
        if parts[0] in ("api", "apis"):
            return self._discovery(request, parts)
        if parts[0] == "openapi":
            return self.openapi.handle(request, parts)
        raise errors.NotFound("the server could not find the requested resource")

    def _discovery(self, request: web.BaseRequest, parts: list[str]) -> web.Response:
        accept = request.headers.get("Accept")
        if len(parts) == 1:
            wanted = negotiation.negotiate(accept, discovery=True)
            if wanted.output is Output.DISCOVERY_V2:
                body = self.discovery.aggregated(parts[0] == "api", wanted.discovery_version)
                return web.Response(body=body, headers={"Content-Type": wanted.content_type})
            if parts[0] == "api":
                return web.Response(body=self.discovery.api_versions(self.address), headers=_JSON)
            return web.Response(body=self.discovery.api_group_list(), headers=_JSON)
        negotiation.negotiate(accept)
        if parts[0] == "api" and len(parts) == 2:
            return web.Response(body=self.discovery.resource_list("", parts[1]), headers=_JSON)
        if parts[0] == "apis" and len(parts) == 2:
            return web.Response(body=self.discovery.api_group(parts[1]), headers=_JSON)
        if parts[0] == "apis" and len(parts) == 3:
            return web.Response(body=self.discovery.resource_list(parts[1], parts[2]), headers=_JSON)
        raise errors.NotFound("the server could not find the requested resource")

    def _paths(self) -> list[str]:
        paths = {"/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/metrics", "/version", *oidc.PATHS}
        for gi in self.registry.groups():
            if gi.name:
                paths.add(f"/apis/{gi.name}")
                paths.update(f"/apis/{gi.name}/{v}" for v in gi.versions)
        for group, version in self.aggregator.routes:
            paths.update((f"/apis/{group}", f"/apis/{group}/{version}"))
        return sorted(paths)


def _selected_name(ri: RequestInfo, request: web.BaseRequest) -> str:
    """The one name a list or watch selects with ``fieldSelector=metadata.name=x``: upstream authorizes it as a
    request for that name, so a rule limited to the name allows the single-object list/watch (kubelets, ``-w``)."""
    selector = request.query.get("fieldSelector") if ri.verb in ("list", "watch") else None
    if not selector:
        return ""
    try:
        return parse_field_selector(selector).exact_value("metadata.name") or ""
    except errors.BadRequest:
        return ""  # the handler refuses it with the reason


def forbidden(attrs: Attributes, reason: str) -> errors.Forbidden:
    """kube-apiserver's 403 for a request its authorizer denied: upstream's message, and the resource (its group,
    without the subresource) and name in the details."""
    return errors.Forbidden(
        forbidden_message(attrs, reason), group=attrs.api_group, kind=attrs.resource, name=attrs.name
    )


def forbidden_message(attrs: Attributes, reason: str) -> str:
    """kube-apiserver's 403 message: ``pods is forbidden: User "u" cannot list resource "pods" in …``."""
    who = f'User "{attrs.user.name}"'
    if not attrs.resource_request:
        message = f'forbidden: {who} cannot {attrs.verb} path "{attrs.path}"'
    else:
        resource = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
        qualified = attrs.resource + (f".{attrs.api_group}" if attrs.api_group else "")
        subject = f'{qualified} "{attrs.name}"' if attrs.name else qualified
        message = f'{subject} is forbidden: {who} cannot {attrs.verb} resource "{resource}"'
        message += f' in API group "{attrs.api_group}"'
        message += f' in the namespace "{attrs.namespace}"' if attrs.namespace else " at the cluster scope"
    return f"{message}: {reason}" if reason else message
