"""Streams through the API server: ``pods/log``, ``pods/exec``, ``pods/attach``, ``pods/portforward``, ``nodes/proxy``.

kube-apiserver serves none of these itself: it finds the kubelet of the pod's
node (the Node's InternalIP and ``status.daemonEndpoints.kubeletEndpoint.Port``)
and relays. Logs are a streaming GET to ``/containerLogs/…``; exec, attach and
port-forward are upgrades relayed as they are — a WebSocket to the client is
paired with a WebSocket to the kubelet under the subprotocol the kubelet chose
(channel protocols, or SPDY tunnelled in WebSocket), and a plain ``Upgrade:
SPDY/3.1`` is relayed byte for byte. ``nodes/proxy/{path}`` forwards any
request to the kubelet's ``/{path}``.

Given the API server's kubelet client certificate (kube-apiserver's
``--kubelet-client-certificate``/``--kubelet-client-key``: kubeadm's
``apiserver-kubelet-client``, CN ``kube-apiserver-kubelet-client``), kubelets are
reached over HTTPS presenting it, and their self-signed serving certificates
are not verified (kubeadm sets no ``--kubelet-certificate-authority``); the
kubelet authorizes that user with a SubjectAccessReview (``nodes/proxy`` …).
Without one (an in-process server with no PKI, whose kubelets serve plain
HTTP), kubelets are reached over plain HTTP.

Before relaying, the request is checked as upstream does (404 for a missing
pod, 400 ``container X is not valid for pod Y``, ``a container name must be
specified …``, ``pod X does not have a host assigned``); what the kubelet
answers (its own errors included, as metav1.Status) goes back unchanged. The
dispatcher has already authenticated and authorized the request like any
other (``get``/``create`` on ``pods/exec`` …), so nothing here checks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from aiohttp import WSMsgType, web
from multidict import CIMultiDict
from yarl import URL

from pinnace.api import errors
from pinnace.api.params import query_bool
from pinnace.api.podutil import ANNOTATION_SIMULATED_NODE
from pinnace.api.registry import subresource_kind
from pinnace.apiserver.admission import Operation
from pinnace.apiserver.httputil import NO_CACHE
from pinnace.apiserver.request_info import RequestInfo
from pinnace.apiserver.rest import RestStore, not_found

__all__ = [
    "KubeletProxy",
    "RelayPool",
    "admit_connect",
    "proxied_path",
    "relay_http",
    "relay_raw_upgrade",
    "stored_object",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

#: Query parameters of pods/log the kubelet understands (upstream's PodLogOptions).
_LOG_PARAMS = ("follow", "previous", "sinceSeconds", "sinceTime", "timestamps", "tailLines", "limitBytes")
#: Request headers not passed on to the kubelet (hop-by-hop, or the client's credentials).
_DROP_REQUEST = frozenset(
    h.lower()
    for h in (
        "Authorization",
        "Connection",
        "Upgrade",
        "Host",
        "Content-Length",
        "Transfer-Encoding",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Protocol",
        "Impersonate-User",
        "Impersonate-Group",
    )
)
_DROP_RESPONSE = frozenset(h.lower() for h in ("Connection", "Transfer-Encoding", "Content-Length", "Keep-Alive"))
#: Headers of an upgrade's 101 answer that are not relayed (the relay frames nothing itself).
_HOP_BY_HOP = frozenset(("content-length", "transfer-encoding", "keep-alive"))
_WEBSOCKET_HEADERS = frozenset(h for h in _DROP_REQUEST if h.startswith("sec-websocket-"))
_CHUNK = 64 * 1024
_CONNECT_TIMEOUT = 10.0


def _container_names(pod: Obj) -> list[str]:
    spec = pod.get("spec") or {}
    return [c["name"] for key in ("containers", "initContainers", "ephemeralContainers") for c in spec.get(key) or []]


def validate_container(pod: Obj, container: str) -> str:
    """The container a request is for, as upstream's ValidateContainer chooses and words it."""
    name = pod["metadata"]["name"]
    if container:
        if container not in _container_names(pod):
            raise errors.BadRequest(f"container {container} is not valid for pod {name}")
        return container
    containers = (pod.get("spec") or {}).get("containers") or []
    if len(containers) == 1:
        return str(containers[0]["name"])
    if not containers:
        raise errors.BadRequest(f"pod {name} does not have a container")
    names = " ".join(_container_names(pod))
    raise errors.BadRequest(f"a container name must be specified for pod {name}, choose one of: [{names}]")


def kubelet_address(node: Obj) -> str:
    """``host:port`` of a Node's kubelet (InternalIP first, as the API server prefers it); 400 if unknown."""
    status = node.get("status") or {}
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = next(
        (addresses[t] for t in ("InternalIP", "Hostname", "ExternalIP", "InternalDNS") if addresses.get(t)), None
    )
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    name = node["metadata"]["name"]
    if not host or not port:
        raise errors.BadRequest(f"node {name} does not report its kubelet's address and port")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def simulated(node: Obj) -> bool:
    """Whether a Node is one of Pinnace's simulated nodes, which no kubelet serves (its address is made up)."""
    return ((node.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_SIMULATED_NODE) == "true"


def _not_dialled(kubelet: str | None, node: str) -> str:
    """A simulated node's kubelet is not dialled: the dial error a real unreachable one gives, with the reason."""
    return f"dial tcp {kubelet}: node {node} is simulated: no kubelet serves it"


def dial_error(address: str, exc: BaseException) -> str:
    """A failed dial of ``address`` (``host:port``) in Go's words: ``dial tcp ADDRESS: connect: connection refused``,
    ``… i/o timeout``."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        exc = exc.os_error
    if isinstance(exc, TimeoutError):
        return f"dial tcp {address}: i/o timeout"
    code = exc.errno if isinstance(exc, OSError) else None
    return f"dial tcp {address}: connect: {os.strerror(code).lower()}" if code else f"dial tcp {address}: {exc}"


def _backend_unreachable(dial: str) -> errors.Unknown:
    """What upstream's exec, attach and port-forward answer when the kubelet cannot be dialled (a bare 500)."""
    return errors.Unknown(f"error dialing backend: {dial}")


def unverified_client_context() -> ssl.SSLContext:
    """A TLS client context that does not verify the server (a kubelet's or a pod's own certificate, as upstream).

    It loads no CA certificates: nothing would check against them, and loading the system's costs ~40 ms.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def kubelet_client_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """The TLS context the API server dials kubelets with: its client certificate; the kubelet's is not verified."""
    ctx = unverified_client_context()
    ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx


class RelayPool:
    """The HTTP client of plain relays: connections (TLS handshakes included) kept alive and reused, not made
    anew per request; opened on first use."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The pooled client."""
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=_CONNECT_TIMEOUT)
            self._session = aiohttp.ClientSession(
                timeout=timeout, auto_decompress=False, connector=aiohttp.TCPConnector(limit=0)
            )
        return self._session

    async def close(self) -> None:
        """Close the pooled connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class KubeletProxy:
    """The handlers of the relayed subresources (see the module docstring), keyed for ``subresource_handlers``."""

    def __init__(self, rest: RestStore, *, client_cert: tuple[Path, Path] | None = None) -> None:
        """``client_cert``: (certificate, key) files to reach kubelets over HTTPS with; None: plain HTTP."""
        self.rest = rest
        self.tls = kubelet_client_context(*client_cert) if client_cert is not None else None
        self.scheme = "https" if self.tls is not None else "http"
        # Plain relays (logs, node proxy) reuse kept-alive connections to kubelets; upgraded streams (exec,
        # attach, port-forward) keep a connection of their own.
        self._pool = RelayPool()

    async def close(self) -> None:
        """Close the pooled connections."""
        await self._pool.close()

    def handlers(self) -> dict[tuple[str, str, str], Any]:
        """(group, resource, subresource) → handler, for :attr:`APIServer.subresource_handlers`."""
        return {
            ("", "pods", "log"): self.log,
            ("", "pods", "exec"): self.exec,
            ("", "pods", "attach"): self.attach,
            ("", "pods", "portforward"): self.port_forward,
            ("", "nodes", "proxy"): self.node_proxy,
        }

    # ---- lookups ------------------------------------------------------------------------------
    async def _object(self, resource: str, namespace: str | None, name: str) -> Obj:
        return await stored_object(self.rest, resource, namespace, name)

    async def _pod_and_kubelet(self, ri: RequestInfo, *, need_host: bool) -> tuple[Obj, str | None, bool]:
        """The pod, its kubelet's ``host:port`` (None: no node yet) and whether that node is simulated."""
        assert ri.name is not None
        pod = await self._object("pods", ri.namespace, ri.name)
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            if need_host:
                raise errors.BadRequest(f"pod {ri.name} does not have a host assigned")
            return pod, None, False
        node = await self._object("nodes", None, node_name)
        return pod, kubelet_address(node), simulated(node)

    @staticmethod
    def _check_method(request: web.BaseRequest, *allowed: str) -> None:
        if request.method not in allowed:
            raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")

    # ---- pods/log -----------------------------------------------------------------------------
    async def log(self, request: web.BaseRequest, ri: RequestInfo) -> web.StreamResponse:
        """GET pods/log: the container's log from its kubelet, streamed (empty for a pod with no node yet)."""
        self._check_method(request, "GET")
        pod, kubelet, sim = await self._pod_and_kubelet(ri, need_host=False)
        container = validate_container(pod, request.query.get("container", ""))
        _check_log_options(request.query)
        if kubelet is None:
            return web.Response(body=b"", content_type="text/plain")
        params = [(k, v) for k, v in request.query.items() if k in _LOG_PARAMS]
        path = "/containerLogs/" + "/".join(quote(p, safe="") for p in (ri.namespace or "", ri.name or "", container))
        url = f"{self.scheme}://{kubelet}{path}" + (f"?{urlencode(params)}" if params else "")

        def dial_failed(dial: str) -> errors.StatusError:
            return errors.Unknown(f'Get "{url}": {dial}')  # upstream's log streamer: a bare 500

        if sim:
            raise dial_failed(_not_dialled(kubelet, pod["spec"]["nodeName"]))
        return await relay_http(self._pool.session(), request, "GET", url, self.tls, dial_failed=dial_failed)

    # ---- exec, attach, port-forward -------------------------------------------------------------
    async def exec(self, request: web.BaseRequest, ri: RequestInfo) -> web.StreamResponse:
        """GET/POST pods/exec: relay the upgrade to the kubelet's ``/exec``."""
        return await self._remote_command(request, ri, "exec")

    async def attach(self, request: web.BaseRequest, ri: RequestInfo) -> web.StreamResponse:
        """GET/POST pods/attach: relay the upgrade to the kubelet's ``/attach``."""
        return await self._remote_command(request, ri, "attach")

    async def _remote_command(self, request: web.BaseRequest, ri: RequestInfo, verb: str) -> web.StreamResponse:
        self._check_method(request, "GET", "POST")
        pod, kubelet, sim = await self._pod_and_kubelet(ri, need_host=True)
        container = validate_container(pod, request.query.get("container", ""))
        query = request.query
        options: Obj = {name: _flag(query, name) for name in ("stdin", "stdout", "stderr", "tty")}
        options["container"] = container
        if verb == "exec":
            options["command"] = query.getall("command", [])
        await admit_connect(self.rest, "pods", ri, options)
        if sim:
            raise _backend_unreachable(_not_dialled(kubelet, pod["spec"]["nodeName"]))
        params = [(k, v) for k, v in request.query.items() if k != "container"]
        parts = (ri.namespace or "", ri.name or "", container)
        path = f"/{verb}/" + "/".join(quote(p, safe="") for p in parts)
        return await _relay_upgrade(request, f"{kubelet}", f"{path}?{urlencode(params)}", self.tls)

    async def port_forward(self, request: web.BaseRequest, ri: RequestInfo) -> web.StreamResponse:
        """GET/POST pods/portforward: relay the upgrade to the kubelet's ``/portForward``."""
        self._check_method(request, "GET", "POST")
        pod, kubelet, sim = await self._pod_and_kubelet(ri, need_host=True)
        ports = [int(p) for p in request.query.getall("ports", []) if p.isdigit()]
        await admit_connect(self.rest, "pods", ri, {"ports": ports} if ports else {})
        if sim:
            raise _backend_unreachable(_not_dialled(kubelet, pod["spec"]["nodeName"]))
        path = "/portForward/" + "/".join(quote(p, safe="") for p in (ri.namespace or "", ri.name or ""))
        query = urlencode(list(request.query.items()))
        return await _relay_upgrade(request, f"{kubelet}", f"{path}?{query}" if query else path, self.tls)

    # ---- nodes/proxy --------------------------------------------------------------------------
    async def node_proxy(self, request: web.BaseRequest, ri: RequestInfo) -> web.StreamResponse:
        """Any method on nodes/NAME/proxy/PATH: the kubelet's /PATH (its logs, stats, pods, healthz)."""
        assert ri.name is not None
        node = await self._object("nodes", None, ri.name)
        path = proxied_path(request, ri)
        await admit_connect(self.rest, "nodes", ri, {"path": path})
        if simulated(node):
            raise _unavailable("the kubelet")(_not_dialled(kubelet_address(node), ri.name))
        query = request.query_string
        url = f"{self.scheme}://{kubelet_address(node)}{path}" + (f"?{query}" if query else "")
        return await relay_http(self._pool.session(), request, request.method, url, self.tls)


def _flag(query: Any, name: str) -> bool:
    """A boolean query parameter as upstream's query decoding reads it (:func:`query_bool`)."""
    return query_bool(query.get(name))


def _check_log_options(query: Any) -> None:
    """The PodLogOptions checks upstream's validation makes before anything reaches a kubelet."""
    causes = []
    for name, minimum in (("tailLines", 0), ("limitBytes", 1), ("sinceSeconds", 1)):
        value = query.get(name)
        if value is None:
            continue
        try:
            ok = int(value) >= minimum
        except ValueError:
            raise errors.BadRequest(f'invalid value "{value}" for {name}') from None
        if not ok:
            word = "greater than or equal to 0" if minimum == 0 else "greater than 0"
            causes.append(errors.Cause(errors.CAUSE_INVALID, f"Invalid value: {value}: must be {word}", name))
    if query.get("sinceSeconds") is not None and query.get("sinceTime") is not None:
        causes.append(
            errors.Cause(
                errors.CAUSE_FORBIDDEN, "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified", ""
            )
        )
    if causes:
        raise errors.invalid("PodLogOptions", "", causes)


def _forward_headers(request: web.BaseRequest) -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k.lower() not in _DROP_REQUEST}


def _ssl_arg(tls: ssl.SSLContext | None) -> ssl.SSLContext | bool:
    return tls if tls is not None else True


def proxied_path(request: web.BaseRequest, ri: RequestInfo) -> str:
    """The path a ``…/proxy/PATH`` request asks the far end for (``/`` for none; a trailing slash kept)."""
    path = "/" + "/".join(quote(p) for p in ri.extra_parts)
    if request.path.endswith("/") and not path.endswith("/"):
        path += "/"
    return path


async def admit_connect(rest: RestStore, resource: str, ri: RequestInfo, options: Obj) -> None:
    """The CONNECT admission of a relayed core/v1 subresource (webhooks and policies may refuse it), before
    anything is dialled; ``options`` is the PodExecOptions-like object of the request (its kind is added)."""
    info = rest.registry.get("", "v1", resource)
    assert info is not None and ri.subresource is not None
    kind = (subresource_kind(info, ri.subresource) or {})["kind"]
    connect = {"kind": kind, "apiVersion": "v1", **options}
    await rest.admit_subresource(Operation.CONNECT, info, ri.namespace, ri.name or "", ri.subresource, connect)


async def stored_object(rest: RestStore, resource: str, namespace: str | None, name: str) -> Obj:
    """The current core/v1 ``resource`` object of that name (from the watch cache); 404 as upstream words it."""
    info = rest.registry.get("", "v1", resource)
    assert info is not None
    cached = await rest.get_cached(info, namespace, name)
    if cached is None:
        raise not_found(info, name)
    return cached.obj


async def relay_http(
    session: aiohttp.ClientSession,
    request: web.BaseRequest,
    method: str,
    url: str | URL,
    tls: ssl.SSLContext | None,
    *,
    target: str = "the kubelet",
    rewrite_headers: Callable[[CIMultiDict[str]], None] | None = None,
    dial_failed: Callable[[str], errors.StatusError] | None = None,
    headers: CIMultiDict[str] | None = None,
    server_hostname: str | None = None,
    failed: Callable[[aiohttp.ClientError], errors.StatusError] | None = None,
) -> web.StreamResponse:
    """Forward one plain HTTP request and stream the answer back (status, headers and body).

    ``target`` names what was dialled in the 503 a refused or failed connection gets, unless ``dial_failed`` makes
    the refusal of a failed dial (from its Go wording, :func:`dial_error`), or ``failed`` the refusal of any failure
    to get an answer; ``rewrite_headers`` may change the answer's headers (in place) before they are sent.
    ``headers``: the request's headers as sent (default: the client's, less credentials and hop-by-hop ones);
    ``server_hostname``: the name the far end's certificate is verified for (default: the URL's host); ``tls``
    None uses the session's own TLS settings. An answer that breaks off once begun just ends (a watch whose far
    end went away); a request of the fast front (not streamed) gets the answer whole."""
    body = await request.read() if request.can_read_body else None
    try:
        async with session.request(
            method,
            url,
            data=body,
            headers=headers if headers is not None else _forward_headers(request),
            allow_redirects=False,
            ssl=_ssl_arg(tls),
            server_hostname=server_hostname,
        ) as upstream:
            answer = CIMultiDict((k, v) for k, v in upstream.headers.items() if k.lower() not in _DROP_RESPONSE)
            if rewrite_headers is not None:
                rewrite_headers(answer)
            answer.setdefault("Cache-Control", NO_CACHE)  # set before the relay upstream; the backend's wins
            if not isinstance(request, web.BaseRequest):  # the fast front's request: answered whole
                return web.Response(status=upstream.status, headers=answer, body=await upstream.read())
            response = web.StreamResponse(status=upstream.status, headers=answer)
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except aiohttp.ClientError as exc:  # the answer has begun: it can only end
                log.info("%s %s: the relayed answer broke off: %s", method, request.path, exc)
                return response
            await response.write_eof()
            return response
    except aiohttp.ClientError as exc:
        if failed is not None:
            raise failed(exc) from None
        if isinstance(exc, aiohttp.ClientConnectorError):  # as Go words a failed dial
            dial = dial_error(f"{exc.host}:{exc.port}", exc)
            raise (dial_failed or _unavailable(target))(dial) from None
        if isinstance(exc, aiohttp.ClientConnectionError):
            raise errors.ServiceUnavailable(f"error trying to reach {target}: {exc}") from None
        raise


def _unavailable(target: str) -> Callable[[str], errors.StatusError]:
    """The 503 of a proxy (pod, service, node) whose target cannot be dialled."""
    return lambda dial: errors.ServiceUnavailable(f"error trying to reach {target}: {dial}")


async def _relay_upgrade(
    request: web.BaseRequest, kubelet: str, path_qs: str, tls: ssl.SSLContext | None
) -> web.StreamResponse:
    """Relay an exec/attach/port-forward upgrade: WebSocket to WebSocket, or SPDY byte for byte."""
    upgrade = request.headers.get("Upgrade", "").lower()
    if upgrade == "websocket":
        return await _relay_websocket(request, kubelet, f"{'https' if tls else 'http'}://{kubelet}{path_qs}", tls)
    if upgrade.startswith("spdy/"):
        return await relay_raw_upgrade(request, kubelet, path_qs, tls, dial_failed=_backend_unreachable)
    raise errors.BadRequest("Upgrade request required")


async def _relay_websocket(
    request: web.BaseRequest, kubelet: str, url: str, tls: ssl.SSLContext | None
) -> web.StreamResponse:
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    timeout = aiohttp.ClientWSTimeout(ws_close=5.0)
    # No overall timeout: an exec or port-forward lives as long as its client wants.
    no_limit = aiohttp.ClientTimeout(total=None, sock_connect=_CONNECT_TIMEOUT)
    async with aiohttp.ClientSession(timeout=no_limit) as session:
        try:
            upstream = await session.ws_connect(
                url,
                protocols=offered,
                headers=_forward_headers(request),
                timeout=timeout,
                max_msg_size=0,
                autoping=True,
                ssl=_ssl_arg(tls),
            )
        except aiohttp.WSServerHandshakeError as exc:
            # The kubelet refused (its Status is lost by aiohttp here): ask again plainly to relay its answer.
            return await _relay_refusal(request, url, exc, tls)
        except aiohttp.ClientConnectorError as exc:
            raise _backend_unreachable(dial_error(kubelet, exc)) from None
        except aiohttp.ClientConnectionError as exc:
            raise _backend_unreachable(str(exc)) from None
        async with upstream:
            chosen = upstream.protocol
            client = web.WebSocketResponse(protocols=(chosen,) if chosen else (), max_msg_size=0)
            await client.prepare(request)
            await _pipe_websockets(client, upstream)
            return client


async def _relay_refusal(
    request: web.BaseRequest, url: str, exc: aiohttp.WSServerHandshakeError, tls: ssl.SSLContext | None
) -> web.Response:
    """The kubelet's answer to a request it would not upgrade (a Status), fetched without the upgrade."""
    headers = _forward_headers(request)
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, headers=headers, ssl=_ssl_arg(tls)) as again,
        ):
            body = await again.read()
            return web.Response(status=again.status, body=body, content_type=again.content_type)
    except aiohttp.ClientError:
        raise errors.BadRequest(f"the kubelet refused the upgrade: {exc.status} {exc.message}") from None


async def _pipe_websockets(client: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse) -> None:
    """Copy messages both ways until either side closes, then close the other."""

    async def pump(source: Any, target: Any) -> None:
        async for message in source:
            if message.type == WSMsgType.BINARY:
                await target.send_bytes(message.data)
            elif message.type == WSMsgType.TEXT:
                await target.send_str(message.data)
            elif message.type == WSMsgType.ERROR:
                break

    tasks = [asyncio.create_task(pump(client, upstream)), asyncio.create_task(pump(upstream, client))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
                await task
        with contextlib.suppress(ConnectionError, RuntimeError):
            await upstream.close()
            await client.close()


class _Bytes:
    """Takes an upgraded connection's incoming bytes from aiohttp (its payload-parser hook)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.queue.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self.queue.put_nowait(b"")


async def relay_raw_upgrade(
    request: web.BaseRequest,
    address: str,
    path_qs: str,
    tls: ssl.SSLContext | None,
    *,
    target: str = "the kubelet",
    pass_websocket_headers: bool = False,
    dial_failed: Callable[[str], errors.StatusError] | None = None,
) -> web.StreamResponse:
    """Relay an upgrade request (``Upgrade: SPDY/3.1``, or any upgrade to a pod) to ``address``: its 101 and
    headers, then every byte, both ways. Any other answer goes back as it is.

    ``pass_websocket_headers``: the client's ``Sec-WebSocket-*`` headers go along (a WebSocket the far end
    answers itself); for the kubelet they do not (its WebSockets are relayed message by message).
    ``target`` and ``dial_failed``: as :func:`relay_http`'s."""
    host, _, port = address.rpartition(":")
    try:
        connect = asyncio.open_connection(host.strip("[]"), int(port), ssl=tls)
        reader, writer = await asyncio.wait_for(connect, _CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise (dial_failed or _unavailable(target))(dial_error(address, exc)) from None
    dropped = _DROP_REQUEST - _WEBSOCKET_HEADERS if pass_websocket_headers else _DROP_REQUEST
    try:
        head = [f"{request.method} {path_qs} HTTP/1.1", f"Host: {address}", "Connection: Upgrade"]
        head.append(f"Upgrade: {request.headers['Upgrade']}")
        head += [f"{k}: {v}" for k, v in request.headers.items() if k.lower() not in dropped]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        status, headers = _parse_head(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _CONNECT_TIMEOUT))
        if status != 101:
            if "content-length" in headers:  # (an empty answer must not wait for bytes that never come)
                body = await reader.readexactly(int(headers["content-length"] or 0))
            else:
                body = await asyncio.wait_for(reader.read(_CHUNK), _CONNECT_TIMEOUT)
            content_type = headers.get("content-type", "application/json").split(";")[0]
            return web.Response(status=status, body=body, content_type=content_type)
        incoming = _Bytes()
        protocol = request.protocol
        assert protocol is not None and request.transport is not None
        protocol.set_parser(incoming)  # type: ignore[arg-type]
        protocol.keep_alive(False)
        response = web.StreamResponse(status=101)
        for name, value in headers.items():
            if name not in _HOP_BY_HOP:
                response.headers[name] = value
        await response.prepare(request)
        transport = request.transport

        async def upstream() -> None:
            while data := await incoming.queue.get():
                writer.write(data)
                await writer.drain()

        up = asyncio.create_task(upstream())
        try:
            while data := await reader.read(_CHUNK):
                if transport.is_closing():
                    break
                transport.write(data)
        finally:
            up.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await up
            transport.close()
        return response
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as exc:
        raise errors.ServiceUnavailable(f"error talking to {target}: {exc}") from None
    finally:
        writer.close()


def _parse_head(raw: bytes) -> tuple[int, dict[str, str]]:
    lines = raw.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        raise OSError(f"bad response from the kubelet: {lines[0]!r}") from None
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status, headers
