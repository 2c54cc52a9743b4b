"""The kubelet API: the HTTP server each node agent runs for logs, exec, attach and port-forward.

The API server relays ``pods/log``, ``pods/exec``, ``pods/attach``,
``pods/portforward`` and ``nodes/proxy`` here (it finds this server from the
Node's InternalIP and ``status.daemonEndpoints.kubeletEndpoint.Port``). Paths,
as upstream's kubelet serves them::

    GET       /healthz                                     "ok"
    GET       /pods                                        the pods this node runs (a PodList)
    GET       /stats/summary                               node, pod and container CPU and memory, node fs
                                                           (only_cpu_and_memory=true: without fs)
    GET       /metrics/resource                            the same CPU and memory, Prometheus text
    GET       /logs/[path]                                 the node's log directory: listing or file
    GET       /containerLogs/{ns}/{pod}/{container}        follow, previous, tailLines, timestamps,
                                                           sinceSeconds, sinceTime, limitBytes
    GET|POST  /exec/{ns}/{pod}[/{uid}]/{container}         command=…&stdin&stdout&stderr&tty (WebSocket)
    GET|POST  /attach/{ns}/{pod}[/{uid}]/{container}       stdin&stdout&stderr&tty (WebSocket)
    GET|POST  /portForward/{ns}/{pod}[/{uid}]              SPDY/3.1 (upgrade, or tunnelled in a WebSocket),
                                                           or WebSocket channels with ports=…

Errors are ``metav1.Status`` JSON, so the API server can pass them on. Exec and
attach speak the WebSocket channel protocols (``v5.channel.k8s.io`` …
``channel.k8s.io``, what kubectl 1.30+ uses) and SPDY/3.1 (``v4.channel.k8s.io``
… ``channel.k8s.io``: older clients, and kubectl's fallback).

Secured as kubeadm's kubelet is (``tls`` and ``auth`` given, what the node
agent does whenever its cluster has a CA): HTTPS with the node's self-signed
serving certificate (:mod:`pinnace.node.kubeletcert`), and every request —
``/healthz`` included — authenticated (client certificate of the cluster CA,
or a bearer token checked by TokenReview; else 401) and authorized by a
SubjectAccessReview on ``nodes/<subresource>`` (else 403), see
:mod:`pinnace.node.kubeletauth`. Without them (in-process tests of a cluster
with no PKI), plain HTTP and no checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from pinnace.api import errors
from pinnace.api.params import query_bool
from pinnace.node import cri
from pinnace.node.cri import ContainerState, ContainerStatus, RuntimeService, SandboxState, StreamSession
from pinnace.node.kubeletauth import KubeletAuth
from pinnace.node.kubeletstats import SummaryProvider
from pinnace.node.resourcemetrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from pinnace.node.resourcemetrics import resource_metrics
from pinnace.node.streams import channels, logs
from pinnace.node.streams.portforward import PortForwardSession, serve_channels
from pinnace.node.streams.remotecommand import StreamOptions, serve_session
from pinnace.node.streams.spdy import SpdyConnection
from pinnace.node.streams.spdyexec import SPDY_REMOTE_COMMAND_PROTOCOLS, negotiate_spdy, serve_spdy_session
from pinnace.node.streams.upgrade import RawUpgrade, WebSocketTransport

__all__ = ["KubeletServer", "PodLister"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
#: The pods bound to this node as the agent knows them (API objects).
PodLister = Callable[[], Iterable[Obj]]

_JSON = {"Content-Type": "application/json"}
_SPDY_PORT_FORWARD = "portforward.k8s.io"


def _status(err: errors.StatusError) -> web.Response:
    return web.Response(status=err.code, body=orjson.dumps(err.status()), headers=_JSON)


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def _is_spdy(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower().startswith("spdy/3")


class KubeletServer:
    """The kubelet API of one node over its runtime (see the module docstring)."""

    def __init__(
        self,
        runtime: RuntimeService,
        pods: PodLister,
        host: str = "127.0.0.1",
        port: int = 10250,
        *,
        node_name: str = "",
        log_dir: Path | None = None,
        tls: ssl.SSLContext | None = None,
        auth: KubeletAuth | None = None,
    ) -> None:
        """``tls``: serve HTTPS with this context; ``auth``: authenticate and authorize every request."""
        self.runtime = runtime
        self.pods = pods
        self.host = host
        self.port = port
        self.node_name = node_name
        #: What ``/logs/`` serves (upstream: /var/log); None serves nothing.
        self.log_dir = log_dir
        self.started_at = time.time()
        #: The stats of ``/stats/summary`` and ``/metrics/resource``, with the samples their CPU rates come from.
        self.stats = SummaryProvider(node_name, runtime, self.started_at, log_dir)
        self.tls = tls
        self.auth = auth
        self._runner: web.AppRunner | None = None
        middlewares: list[Any] = [auth.middleware] if auth is not None else []
        self.app = web.Application(middlewares=[*middlewares, self._errors])
        get, post = ("GET",), ("GET", "POST")
        routes = [
            (get, "/healthz", self._healthz),
            (get, "/pods", self._pods),
            (get, "/stats/summary", self._stats),
            (get, "/metrics/resource", self._resource_metrics),
            (get, "/logs/{path:.*}", self._logs),
            (get, "/containerLogs/{ns}/{pod}/{container}", self._container_logs),
            (post, "/exec/{ns}/{pod}/{container}", self._exec),
            (post, "/exec/{ns}/{pod}/{uid}/{container}", self._exec),
            (post, "/attach/{ns}/{pod}/{container}", self._attach),
            (post, "/attach/{ns}/{pod}/{uid}/{container}", self._attach),
            (post, "/portForward/{ns}/{pod}", self._port_forward),
            (post, "/portForward/{ns}/{pod}/{uid}", self._port_forward),
        ]
        for methods, path, handler in routes:
            for method in methods:
                self.app.router.add_route(method, path, handler)

    # ---- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen on host:port (port 0 picks a free one, then stored in :attr:`port`)."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True, ssl_context=self.tls)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            self._runner = None
            raise
        sockets = getattr(site._server, "sockets", None)
        if sockets:
            self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and end open streams."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls is not None else 'http'}://{host}:{self.port}"

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except errors.StatusError as exc:
            return _status(exc)
        except cri.NotFoundError as exc:
            return _status(errors.NotFound(str(exc)))
        except cri.CRIError as exc:
            return _status(errors.InternalError(str(exc)))

    # ---- lookups ------------------------------------------------------------------------------
    def _pod(self, namespace: str, name: str, uid: str | None = None) -> Obj:
        for pod in self.pods():
            meta = pod.get("metadata", {})
            same = meta.get("namespace") == namespace and meta.get("name") == name
            if same and (uid is None or meta.get("uid") == uid):
                return pod
        raise errors.NotFound(f'pods "{name}" not found', kind="pods", name=name)

    async def _containers(self, pod: Obj, container: str) -> list[ContainerStatus]:
        """The runtime's containers of ``container`` in ``pod``, oldest attempt first (400 if not in its spec)."""
        spec = pod.get("spec", {})
        names = [
            c.get("name")
            for key in ("initContainers", "containers", "ephemeralContainers")
            for c in spec.get(key) or []
        ]
        meta = pod["metadata"]
        if container not in names:
            raise errors.BadRequest(f"container {container} is not valid for pod {meta['name']}")
        found = [
            c
            for c in await self.runtime.list_containers()
            if c.labels.get(cri.LABEL_POD_UID) == meta.get("uid")
            and c.labels.get(cri.LABEL_CONTAINER_NAME) == container
        ]
        found.sort(key=lambda c: (c.attempt, c.created_at))
        return found

    async def _running(self, request: web.Request) -> tuple[Obj, ContainerStatus]:
        info = request.match_info
        pod = self._pod(info["ns"], info["pod"], info.get("uid"))
        found = await self._containers(pod, info["container"])
        if not found or found[-1].state is not ContainerState.RUNNING:
            raise errors.BadRequest(f'container not found ("{info["container"]}")')
        return pod, found[-1]

    async def _sandbox(self, pod: Obj) -> str:
        uid = pod["metadata"].get("uid")
        ready = [
            s for s in await self.runtime.list_pod_sandboxes() if s.config.uid == uid and s.state is SandboxState.READY
        ]
        if not ready:
            raise errors.BadRequest(f"pod {pod['metadata']['name']} has no running sandbox")
        return max(ready, key=lambda s: s.created_at).id

    # ---- simple endpoints ---------------------------------------------------------------------
    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _pods(self, request: web.Request) -> web.Response:
        body = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": list(self.pods())}
        return web.Response(body=orjson.dumps(body), headers=_JSON)

    async def _stats(self, request: web.Request) -> web.Response:
        summary = await self.stats.summary(only_cpu_and_memory=query_bool(request.query.get("only_cpu_and_memory")))
        return web.Response(body=orjson.dumps(summary), headers=_JSON)

    async def _resource_metrics(self, request: web.Request) -> web.Response:
        body = await resource_metrics(self.stats)
        return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        if self.log_dir is None:
            raise errors.NotFound("the node serves no log directory")
        root = self.log_dir.resolve()
        target = (root / request.match_info["path"]).resolve()
        if target != root and root not in target.parents:
            raise errors.NotFound("no such log")
        if target.is_dir():
            entries = sorted(p.name + ("/" if p.is_dir() else "") for p in target.iterdir())
            links = "".join(f'<a href="{html.escape(e)}">{html.escape(e)}</a>\n' for e in entries)
            return web.Response(text=f"<pre>\n{links}</pre>\n", content_type="text/html")
        if not target.is_file():
            raise errors.NotFound(f"no log {request.match_info['path']!r}")
        return web.FileResponse(target)

    # ---- logs ---------------------------------------------------------------------------------
    async def _container_logs(self, request: web.Request) -> web.StreamResponse:
        info, query = request.match_info, request.query
        pod = self._pod(info["ns"], info["pod"])
        name = info["container"]
        found = await self._containers(pod, name)
        options = _log_options(query)
        if query_bool(query.get("previous")):
            if len(found) < 2:
                raise errors.BadRequest(f'previous terminated container "{name}" in pod "{info["pod"]}" not found')
            target, live = found[-2], False
        else:
            if not found:
                raise errors.BadRequest(
                    f'container "{name}" in pod "{info["pod"]}" is waiting to start: ContainerCreating'
                )
            target, live = found[-1], True
        path = Path(target.log_path)
        if not target.log_path or not path.exists():
            raise errors.BadRequest(f'no log for container "{name}" in pod "{info["pod"]}"')

        async def running() -> bool:
            with contextlib.suppress(cri.NotFoundError):
                return (await self.runtime.container_status(target.id)).state is ContainerState.RUNNING
            return False

        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        async for chunk in logs.read_log(path, options, running if live else None):
            await response.write(chunk)
        await response.write_eof()
        return response

    # ---- exec and attach ----------------------------------------------------------------------
    async def _exec(self, request: web.Request) -> web.StreamResponse:
        command = request.query.getall("command", [])
        if not command:
            raise errors.BadRequest("you must specify at least one command for the container")
        return await self._remote_command(request, command)

    async def _attach(self, request: web.Request) -> web.StreamResponse:
        return await self._remote_command(request, None)

    async def _remote_command(self, request: web.Request, command: list[str] | None) -> web.StreamResponse:
        query = request.query
        tty = query_bool(query.get("tty"))
        options = StreamOptions(
            stdin=query_bool(query.get("stdin")) or query_bool(query.get("input")),
            stdout=query_bool(query.get("stdout")) or query_bool(query.get("output")),
            stderr=query_bool(query.get("stderr")) or query_bool(query.get("error")),
            tty=tty,
        )
        if not (options.stdin or options.stdout or options.stderr):
            raise errors.BadRequest("you must specify at least 1 of stdin, stdout, stderr")
        _pod, container = await self._running(request)

        async def start() -> StreamSession:
            if command is not None:
                return await self.runtime.exec(container.id, command, tty=tty, stdin=options.stdin)
            return await self.runtime.attach(container.id, tty=tty, stdin=options.stdin)

        if _is_spdy(request):
            return await self._spdy_remote_command(request, options, start, command or ())
        if not _is_websocket(request):
            raise errors.BadRequest("Upgrade request required: exec and attach speak WebSocket or SPDY/3.1")
        protocol = _negotiate(request, channels.REMOTE_COMMAND_PROTOCOLS)
        session = await start()
        ws = web.WebSocketResponse(protocols=(protocol.name,) if protocol.name else (), max_msg_size=0)
        try:
            await ws.prepare(request)
            await serve_session(ws, protocol, session, options, command or ())
        finally:
            await session.close()
        return ws

    async def _spdy_remote_command(
        self,
        request: web.Request,
        options: StreamOptions,
        start: Callable[[], Awaitable[StreamSession]],
        command: list[str] | tuple[str, ...],
    ) -> web.StreamResponse:
        offered = request.headers.getall("X-Stream-Protocol-Version", [])
        protocol = negotiate_spdy(offered)
        if protocol is None:
            supported = list(SPDY_REMOTE_COMMAND_PROTOCOLS)
            why = f"unable to negotiate protocol: client supports {offered}, server supports {supported}"
            raise errors.Forbidden(f"unable to upgrade: {why}")
        upgrade = RawUpgrade(request)
        headers = {"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}
        if protocol:
            headers["X-Stream-Protocol-Version"] = protocol
        await upgrade.accept(headers)
        await serve_spdy_session(upgrade, protocol, options, start, command)
        return upgrade.response

    # ---- port-forward -------------------------------------------------------------------------
    async def _port_forward(self, request: web.Request) -> web.StreamResponse:
        info = request.match_info
        pod = self._pod(info["ns"], info["pod"], info.get("uid"))
        sandbox = await self._sandbox(pod)
        meta = pod["metadata"]

        async def dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await self.runtime.port_forward(sandbox, port)

        handler = PortForwardSession(dial, meta["name"], meta.get("uid", ""))
        if _is_spdy(request):
            upgrade = RawUpgrade(request)
            await upgrade.accept(
                {"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": _SPDY_PORT_FORWARD}
            )
            await SpdyConnection(upgrade, handler.on_stream).serve()
            return upgrade.response
        if not _is_websocket(request):
            raise errors.BadRequest("port-forward needs an upgrade: SPDY/3.1 or a WebSocket")
        offered = _offered(request)
        if channels.SPDY_TUNNEL_PROTOCOL in offered:
            ws = web.WebSocketResponse(protocols=(channels.SPDY_TUNNEL_PROTOCOL,), max_msg_size=0)
            await ws.prepare(request)
            await SpdyConnection(WebSocketTransport(ws), handler.on_stream).serve()
            return ws
        protocol = _negotiate(request, channels.PORT_FORWARD_PROTOCOLS)
        ports = _ports(request.query.getall("ports", []) + request.query.getall("port", []))
        ws = web.WebSocketResponse(protocols=(protocol.name,) if protocol.name else (), max_msg_size=0)
        await ws.prepare(request)
        await serve_channels(ws, protocol, ports, dial, meta["name"], meta.get("uid", ""))
        return ws


def _offered(request: web.Request) -> list[str]:
    header = request.headers.get("Sec-WebSocket-Protocol", "")
    return [p.strip() for p in header.split(",") if p.strip()]


def _negotiate(request: web.Request, supported: dict[str, channels.ChannelProtocol]) -> channels.ChannelProtocol:
    offered = _offered(request)
    protocol = channels.negotiate(offered, supported)
    if protocol is None:
        raise errors.BadRequest(f"none of the offered subprotocols {offered} is supported")
    return protocol


def _ports(values: list[str]) -> list[int]:
    ports = []
    for value in values:
        for part in value.split(","):
            try:
                port = int(part)
            except ValueError:
                raise errors.BadRequest(f"invalid port {part!r}") from None
            if not 0 < port < 65536:
                raise errors.BadRequest(f"port {port} must be between 1 and 65535")
            ports.append(port)
    if not ports:
        raise errors.BadRequest("at least one port must be given (ports=…)")
    return ports


def _log_options(query: Any) -> logs.LogOptions:
    def number(name: str) -> int | None:
        value = query.get(name)
        if value is None:
            return None
        try:
            result = int(value)
        except ValueError:
            raise errors.BadRequest(f"{name}: invalid value {value!r}") from None
        if result < 0 or (result == 0 and name != "tailLines"):
            raise errors.BadRequest(f"{name}: must be greater than 0")
        return result

    since: float | None = None
    seconds = number("sinceSeconds")
    if seconds is not None:
        since = time.time() - seconds
    elif query.get("sinceTime"):
        try:
            since = logs.parse_timestamp(query["sinceTime"])[0]
        except ValueError:
            raise errors.BadRequest(f"sinceTime: invalid time {query['sinceTime']!r}") from None
    return logs.LogOptions(
        follow=query_bool(query.get("follow")),
        tail_lines=number("tailLines"),
        since=since,
        timestamps=query_bool(query.get("timestamps")),
        limit_bytes=number("limitBytes"),
    )
