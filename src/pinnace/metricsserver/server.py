"""The metrics server: informers on Nodes and Pods, the scraper, and the HTTPS API the aggregator proxies to.

Served paths (GET only; everything else is a ``metav1.Status``)::

    /healthz /livez /readyz                                   health (readyz: informers synced, one round scraped)
    /apis  /apis/metrics.k8s.io  /apis/metrics.k8s.io/v1beta1 discovery
    /apis/metrics.k8s.io/v1beta1/nodes[/NAME]                 NodeMetrics
    /apis/metrics.k8s.io/v1beta1/pods                         PodMetrics of every namespace
    /apis/metrics.k8s.io/v1beta1/namespaces/NS/pods[/NAME]    PodMetrics of a namespace

Lists take ``labelSelector`` (on the node's or pod's labels) and ``fieldSelector`` (``metadata.name``,
``metadata.namespace``); a client that asks for a Table (``kubectl get podmetrics``) gets one. There is no watch
(405), as upstream.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from pinnace.api import errors
from pinnace.api.field_selectors import parse_field_selector
from pinnace.api.selectors import parse_label_selector
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.metricsserver import objects
from pinnace.metricsserver.auth import Attributes, DelegatedAuth, load_request_header_config
from pinnace.metricsserver.scraper import Scraper
from pinnace.metricsserver.storage import MetricsStorage
from pinnace.runtime.cache.informer import Informer
from pinnace.runtime.cache.reflector import RestListerWatcher
from pinnace.runtime.tasks import cancel_and_wait

__all__ = ["MetricsServer", "MetricsServerConfig"]

log = logging.getLogger(__name__)
Obj = dict[str, Any]
NODES = ResourceRef("", "v1", "nodes", namespaced=False)
PODS = ResourceRef("", "v1", "pods")
#: How long :meth:`MetricsServer.start` waits for its informers and for the request-header settings.
START_TIMEOUT = 60.0
_JSON = "application/json"
_HEALTH = frozenset({"healthz", "livez", "readyz"})


@dataclass(frozen=True, slots=True)
class MetricsServerConfig:
    """Where it serves (``port`` 0: any free one), with which certificate, and how often it scrapes
    (metrics-server's ``--metric-resolution``, 15 s)."""

    host: str = "127.0.0.1"
    port: int = 0
    cert_file: str = ""
    key_file: str = ""
    resolution: float = 15.0


def _node_view(node: Obj) -> Obj:
    """What is kept of a Node: its name, labels and kubelet endpoint."""
    meta = node.get("metadata") or {}
    status = node.get("status") or {}
    return {
        "metadata": {"name": meta.get("name"), "labels": meta.get("labels") or {}},
        "status": {"daemonEndpoints": status.get("daemonEndpoints") or {}},
    }


def _pod_view(pod: Obj) -> Obj:
    """What is kept of a Pod: its name, namespace and labels."""
    meta = pod.get("metadata") or {}
    return {"metadata": {"name": meta.get("name"), "namespace": meta.get("namespace"), "labels": meta.get("labels")}}


def _status_response(exc: errors.StatusError) -> web.Response:
    return web.Response(status=exc.code, body=orjson.dumps(exc.status()), content_type=_JSON)


class MetricsServer:
    """Serves ``metrics.k8s.io`` from the kubelets' Summaries; :meth:`run` until cancelled."""

    def __init__(self, rest: RestClient, config: MetricsServerConfig) -> None:
        self.rest = rest
        self.config = config
        self.nodes = Informer(RestListerWatcher(rest, NODES), transform=_node_view)
        self.pods = Informer(RestListerWatcher(rest, PODS), transform=_pod_view)
        self.storage = MetricsStorage()
        self.scraper = Scraper(rest, self.nodes.indexer.objects, self.storage, config.resolution)
        self.auth: DelegatedAuth | None = None
        self.port = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.ServerRunner | None = None

    # ---- life cycle -------------------------------------------------------------------------------
    async def start(self) -> int:
        """Sync the informers, read the front proxy's settings, start scraping and serving; return the port."""
        try:
            async with asyncio.timeout(START_TIMEOUT):
                for informer in (self.nodes, self.pods):
                    self._tasks.append(asyncio.create_task(informer.run(), name=f"metrics {informer.description}"))
                for informer in (self.nodes, self.pods):
                    await informer.wait_for_sync()
                header_config = await load_request_header_config(self.rest)
                while header_config is None:
                    await asyncio.sleep(1.0)
                    header_config = await load_request_header_config(self.rest)
            self.auth = DelegatedAuth(self.rest, header_config)
            context = self.auth.tls_context(self.config.cert_file, self.config.key_file)
            self._tasks.append(asyncio.create_task(self.scraper.run(), name="metrics scraper"))
            self._runner = web.ServerRunner(web.Server(self._handle, access_log=None))
            await self._runner.setup()
            family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.config.host, self.config.port))
            except OSError:
                sock.close()
                raise
            self.port = int(sock.getsockname()[1])
            await web.SockSite(self._runner, sock, ssl_context=context).start()
        except BaseException:
            await self.stop()
            raise
        log.info("metrics server: serving metrics.k8s.io on %s:%d", self.config.host, self.port)
        return self.port

    async def stop(self) -> None:
        """Stop serving and scraping."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        tasks, self._tasks = self._tasks, []
        await cancel_and_wait(tasks)

    async def run(self, on_serving: Callable[[int], Awaitable[None]] | None = None) -> None:
        """Start, tell ``on_serving`` the port, and serve until cancelled."""
        port = await self.start()
        try:
            if on_serving is not None:
                await on_serving(port)
            await asyncio.Event().wait()
        finally:
            await asyncio.shield(self.stop())

    @property
    def ready(self) -> bool:
        """Informers synced and one round of scrapes done."""
        return self.nodes.has_synced and self.pods.has_synced and self.scraper.rounds > 0

    # ---- requests ---------------------------------------------------------------------------------
    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        try:
            return await self._serve(request)
        except errors.StatusError as exc:
            return _status_response(exc)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("metrics server: internal error serving %s %s", request.method, request.path_qs)
            return _status_response(errors.InternalError("an error on the server has prevented the request"))

    async def _serve(self, request: web.BaseRequest) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if len(parts) == 1 and parts[0] in _HEALTH:
            ok = parts[0] != "readyz" or self.ready
            return web.Response(status=200 if ok else 500, text="ok" if ok else "not ready: no metrics scraped yet")
        assert self.auth is not None
        user = self.auth.authenticate(request)
        if request.method not in ("GET", "HEAD"):
            raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
        attrs, route = self._route(parts, request)
        if not await self.auth.authorize(user, attrs):
            what = f'"{attrs.resource}" in API group "metrics.k8s.io"' if attrs.resource else f'path "{attrs.path}"'
            scope = f' in the namespace "{attrs.namespace}"' if attrs.namespace else ""
            raise errors.Forbidden(f'User "{user.name}" cannot {attrs.verb} {what}{scope}')
        return route()

    def _route(self, parts: list[str], request: web.BaseRequest) -> tuple[Attributes, Callable[[], web.Response]]:
        """What the path asks (for the authorizer) and the handler that answers it."""
        path = request.path
        if parts in (["apis"], ["apis", objects.GROUP], ["apis", objects.GROUP, objects.VERSION]):
            document = {
                1: objects.API_GROUP_LIST,
                2: objects.api_group(),
                3: objects.api_resource_list(),
            }[len(parts)]
            return Attributes("get", path=path), lambda: self._json(document)
        if parts[:3] != ["apis", objects.GROUP, objects.VERSION]:
            raise errors.NotFound("the server could not find the requested resource")
        rest = parts[3:]
        namespace: str | None = None
        if rest[:1] == ["namespaces"] and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
            if rest[0] != "pods":
                raise errors.NotFound("the server could not find the requested resource")
        if not rest or rest[0] not in ("nodes", "pods") or len(rest) > 2:
            raise errors.NotFound("the server could not find the requested resource")
        resource, name = rest[0], (rest[1] if len(rest) == 2 else "")
        if resource == "nodes" and namespace is not None:
            raise errors.NotFound("the server could not find the requested resource")
        query = request.query
        watching = query.get("watch", "").lower() in ("1", "true")
        verb = "watch" if watching else ("get" if name else "list")
        attrs = Attributes(verb, resource=resource, namespace=namespace or "", name=name)
        if watching:

            def refuse() -> web.Response:
                raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")

            return attrs, refuse
        table = "as=Table" in request.headers.get("Accept", "")
        include = query.get("includeObject", "Metadata")
        if resource == "nodes":
            return attrs, lambda: self._nodes(name, query.get("labelSelector"), query.get("fieldSelector"),
                                              table, include)  # fmt: skip
        return attrs, lambda: self._pods(namespace, name, query.get("labelSelector"), query.get("fieldSelector"),
                                         table, include)  # fmt: skip

    @staticmethod
    def _json(body: Obj) -> web.Response:
        return web.Response(body=orjson.dumps(body), content_type=_JSON)

    def _answer(self, kind: str, items: list[Obj], table: bool, include: str) -> web.Response:
        if table:
            return self._json(objects.table(items, include_object=include))
        return self._json(objects.metrics_list(kind, items))

    def _nodes(self, name: str, labels: str | None, fields: str | None, table: bool, include: str) -> web.Response:
        now = time.time()
        if name:
            node = self.nodes.indexer.get(name)
            usage = self.storage.node(name) if node is not None else None
            if node is None or usage is None:
                raise errors.NotFound(f'nodemetrics.metrics.k8s.io "{name}" not found', group=objects.GROUP,
                                      kind="nodemetrics", name=name)  # fmt: skip
            found = objects.node_metrics(name, node["metadata"]["labels"], usage, now)
            return self._json(objects.table([found], include_object=include) if table else found)
        label_selector, field_selector = parse_label_selector(labels), parse_field_selector(fields)
        items = []
        for node_name, usage in sorted(self.storage.nodes().items()):
            node = self.nodes.indexer.get(node_name)
            if node is None:
                continue
            node_labels = node["metadata"]["labels"]
            if label_selector.matches(node_labels) and field_selector.matches({"metadata.name": node_name}):
                items.append(objects.node_metrics(node_name, node_labels, usage, now))
        return self._answer("NodeMetrics", items, table, include)

    def _pods(
        self, namespace: str | None, name: str, labels: str | None, fields: str | None, table: bool, include: str
    ) -> web.Response:
        now = time.time()
        if name:
            assert namespace is not None
            pod = self.pods.indexer.get(f"{namespace}/{name}")
            usage = self.storage.pod((namespace, name)) if pod is not None else None
            if pod is None or usage is None:
                raise errors.NotFound(f'podmetrics.metrics.k8s.io "{namespace}/{name}" not found',
                                      group=objects.GROUP, kind="podmetrics", name=name)  # fmt: skip
            found = objects.pod_metrics(namespace, name, pod["metadata"].get("labels"), usage, now)
            return self._json(objects.table([found], include_object=include) if table else found)
        label_selector, field_selector = parse_label_selector(labels), parse_field_selector(fields)
        items = []
        for key in sorted(self.storage.pod_keys()):
            pod_namespace, pod_name = key
            if namespace is not None and pod_namespace != namespace:
                continue
            pod = self.pods.indexer.get(f"{pod_namespace}/{pod_name}")
            if pod is None:
                continue
            pod_labels = pod["metadata"].get("labels") or {}
            selected = field_selector.matches({"metadata.name": pod_name, "metadata.namespace": pod_namespace})
            if not (selected and label_selector.matches(pod_labels)):
                continue
            usage = self.storage.pod(key)
            if usage is not None:
                items.append(objects.pod_metrics(pod_namespace, pod_name, pod_labels, usage, now))
        return self._answer("PodMetrics", items, table, include)
