"""The reverse proxy: one request in, routed by the current table, passed to an endpoint, the answer streamed back.

What a request gets, in order (ingress-nginx's behaviour and pages):

- plain HTTP for a host with TLS while the HTTPS listener runs → ``308 Permanent Redirect`` to ``https://``;
- no rule and no default backend → ``404 Not Found``;
- a backend without ready endpoints, or a ``resource`` backend → ``503 Service Temporarily Unavailable``;
- else the next endpoint of the backend, round-robin: method, path and query as received, headers less the
  hop-by-hop ones, plus ``X-Forwarded-For``/``-Host``/``-Port``/``-Proto``, ``X-Real-IP`` and ``X-Request-ID``;
  the body streamed both ways (chunked and server-sent-event answers reach the client as they are written).
  An endpoint that refuses the connection is skipped for the next (three tries at most, as nginx's
  ``proxy_next_upstream``); ``502 Bad Gateway`` when none answers, ``504 Gateway Time-out`` when the connection or
  the answer takes longer than the timeouts (5 s and 60 s by default, nginx's ``proxy-connect-timeout`` and
  ``proxy-read-timeout``). An answer that breaks off midway aborts the client's connection too.
- WebSocket upgrades are relayed message by message (:mod:`.websocket`).
"""

from __future__ import annotations

import asyncio
import html
import logging
import secrets
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from pinnace.ingress.backends import Target, Upstream
from pinnace.ingress.routes import RoutingTable, request_host
from pinnace.ingress.websocket import is_websocket_upgrade, relay_websocket

__all__ = ["HOP_BY_HOP", "IngressProxy", "error_page"]

log = logging.getLogger(__name__)

#: Headers that belong to one connection, never passed on (RFC 9110 §7.6.1), nor are those the Connection names.
HOP_BY_HOP = frozenset(
    ("connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade")
)  # fmt: skip
#: Headers the proxy sets itself (a client's own are not trusted, as ingress-nginx's ``use-forwarded-headers: false``).
_SET_BY_PROXY = frozenset(
    ("x-forwarded-for", "x-forwarded-host", "x-forwarded-port", "x-forwarded-proto", "x-forwarded-scheme",
     "x-real-ip", "x-scheme", "expect")
)  # fmt: skip
#: How many endpoints a request tries when connections fail.
MAX_TRIES = 3
_REASONS = {
    308: "Permanent Redirect",
    400: "Bad Request",
    404: "Not Found",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


def error_page(status: int, detail: str = "", headers: dict[str, str] | None = None) -> web.Response:
    """A small HTML page for ``status``, as nginx's, with ``detail`` below the title when given."""
    title = f"{status} {_REASONS.get(status, 'Error')}"
    lines = ["<html>", f"<head><title>{title}</title></head>", "<body>", f"<center><h1>{title}</h1></center>"]
    if detail:
        lines.append(f"<center>{html.escape(detail)}</center>")
    lines += ["<hr><center>pinnace-ingress</center>", "</body>", "</html>", ""]
    return web.Response(
        status=status, reason=_REASONS.get(status), text="\r\n".join(lines), content_type="text/html", headers=headers
    )


def _connection_tokens(headers: CIMultiDictProxy[str]) -> set[str]:
    return {t.strip().lower() for value in headers.getall("Connection", ()) for t in value.split(",") if t.strip()}


def _without_hop_by_hop(headers: CIMultiDictProxy[str], also: frozenset[str] = frozenset()) -> CIMultiDict[str]:
    drop = HOP_BY_HOP | _connection_tokens(headers) | also
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if name.lower() not in drop:
            out.add(name, value)
    return out


def upstream_headers(request: web.BaseRequest, scheme: str, port: int) -> CIMultiDict[str]:
    """The headers a request is passed on with: the client's less hop-by-hop ones, plus the forwarding ones."""
    headers = _without_hop_by_hop(request.headers, _SET_BY_PROXY)
    remote = request.remote or ""
    headers["X-Request-ID"] = request.headers.get("X-Request-ID") or secrets.token_hex(16)
    headers["X-Real-IP"] = remote
    headers["X-Forwarded-For"] = remote
    headers["X-Forwarded-Host"] = request.headers.get("Host", "")
    headers["X-Forwarded-Port"] = str(port)
    headers["X-Forwarded-Proto"] = scheme
    headers["X-Forwarded-Scheme"] = scheme
    headers["X-Scheme"] = scheme
    return headers


def _raw_target(request: web.BaseRequest) -> str | None:
    """The path and query as the client sent them (the path of an absolute-form target; None for another form, such
    as ``OPTIONS *``, which is not passed on)."""
    raw = request.raw_path
    if raw.startswith("/"):
        return raw
    try:
        url = URL(raw, encoded=True)
    except ValueError:
        return None
    return (url.raw_path_qs or "/") if url.absolute and url.raw_path.startswith("/") else None


class IngressProxy:
    """The listeners' request handler: routes by :meth:`table` and proxies with one pooled aiohttp client."""

    def __init__(
        self,
        table: Callable[[], RoutingTable],
        https_port: Callable[[], int | None],
        *,
        connect_timeout: float,
        read_timeout: float,
    ) -> None:
        """``table``: the current routing table; ``https_port``: where HTTPS is served (None: it is not)."""
        self.table = table
        self.https_port = https_port
        self.read_timeout = read_timeout
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, limit_per_host=256, ttl_dns_cache=10, enable_cleanup_closed=True),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )
        self._next: dict[str, int] = {}

    async def close(self) -> None:
        """Close the pooled connections to the backends."""
        await self._session.close()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one request (never raises but when cancelled)."""
        try:
            return await self._serve(request)
        except asyncio.CancelledError:
            raise
        except ConnectionResetError:  # the client went away: nothing more to tell it (nginx logs a 499)
            return web.Response(status=499, reason="Client Closed Request")
        except Exception:
            log.exception("ingress: internal error serving %s %s", request.method, request.raw_path)
            return error_page(500)

    async def _serve(self, request: web.BaseRequest) -> web.StreamResponse:
        scheme = "https" if request.secure else "http"
        sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
        port = int(sockname[1]) if sockname else 0
        host = request_host(request.headers.get("Host"))
        target = _raw_target(request)
        if target is None:
            return error_page(400)
        route = self.table().route(host, request.path)
        https_port = self.https_port()
        if route.tls and scheme == "http" and https_port is not None:
            authority = host if https_port == 443 else f"{host}:{https_port}"
            return error_page(308, headers={"Location": f"https://{authority}{target}"})
        if route.upstream is None:
            return error_page(404)
        upstream = route.upstream
        if not upstream.targets:
            log.debug("ingress %s: %s: %s", route.ingress, upstream.name, upstream.problem)
            return error_page(503, upstream.problem)
        headers = upstream_headers(request, scheme, port)
        if is_websocket_upgrade(request):
            url = URL(f"http://{self._pick(upstream)[0].authority}{target}", encoded=True)
            return await relay_websocket(request, self._session, url, headers)
        return await self._forward(request, upstream, target, headers)

    def _pick(self, upstream: Upstream) -> list[Target]:
        """The endpoints to try, in order: the next one round-robin, then the ones after it."""
        targets = upstream.targets
        start = self._next.get(upstream.name, -1) + 1
        self._next[upstream.name] = start % len(targets)
        return [targets[(start + i) % len(targets)] for i in range(min(MAX_TRIES, len(targets)))]

    async def _forward(
        self, request: web.BaseRequest, upstream: Upstream, path: str, headers: CIMultiDict[str]
    ) -> web.StreamResponse:
        if request.headers.get("Expect", "").lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body: Any = request.content if request.body_exists else None
        timed_out = False
        for target in self._pick(upstream):
            url = URL(f"http://{target.authority}{path}", encoded=True)
            try:
                response = await self._session.request(
                    request.method, url, headers=headers, data=body, allow_redirects=False
                )
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                timed_out = isinstance(exc, TimeoutError)
                log.info("ingress: %s: endpoint %s: %s", upstream.name, target.authority, exc or type(exc).__name__)
                continue  # the body is still unread: the next endpoint may take it
            except TimeoutError:
                log.info("ingress: %s: endpoint %s did not answer in %ss", upstream.name, target.authority,
                         self.read_timeout)  # fmt: skip
                return error_page(504)
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                log.info("ingress: %s: endpoint %s: %s", upstream.name, target.authority, exc or type(exc).__name__)
                return error_page(502)
            try:
                return await self._stream_back(request, response, upstream)
            finally:
                response.release()
        return error_page(504 if timed_out else 502)

    async def _stream_back(
        self, request: web.BaseRequest, response: aiohttp.ClientResponse, upstream: Upstream
    ) -> web.StreamResponse:
        headers = _without_hop_by_hop(response.headers)
        if "Transfer-Encoding" in response.headers:
            headers.popall("Content-Length", None)
        out = web.StreamResponse(status=response.status, reason=response.reason, headers=headers)
        await out.prepare(request)
        try:
            async for chunk in response.content.iter_any():
                await out.write(chunk)
        except (TimeoutError, aiohttp.ClientError) as exc:
            # The client must not take a truncated answer for a whole one: drop its connection.
            log.info("ingress: %s: the answer broke off: %s", upstream.name, exc or type(exc).__name__)
            if request.transport is not None:
                request.transport.abort()
            return out
        await out.write_eof()
        return out
