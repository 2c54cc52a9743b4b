"""``pods/proxy`` and ``services/proxy``: HTTP requests (and upgrades) relayed by the API server to a pod.

``/api/v1/namespaces/NS/pods/ID/proxy/PATH`` and ``…/services/ID/proxy/PATH``
forward any method to ``http://POD_IP:PORT/PATH`` (query, body and headers
but the client's credentials), and stream the answer back; this is what
``kubectl proxy`` users and ``kubectl get --raw`` reach services through.

``ID`` is ``name``, ``name:port`` or ``scheme:name:port`` (``http`` or
``https``), as upstream splits it. For a pod, the port is a number (or the name
of one of its container ports); without one, the first port a container
declares, else none (port 80). For a service, the port is a service port's
number or name; the request goes to a random ready address of its Endpoints
that is really the pod the address names, on that port's target. No pod, no
port, no endpoint: upstream's 503 and words. HTTPS pods are dialled without
verifying their certificate, as kube-apiserver's proxy transport does.

As upstream, the address must be one a pod may have: link-local and multicast
addresses are refused (400), so the proxy cannot be pointed at a node's
metadata services. Unlike upstream, loopback pod addresses other than the
host's own (127.0.0.1, ::1) are allowed: Pinnace's process runtime gives its
pods addresses such as 127.0.0.2. An upgrade (a WebSocket, say) is relayed
byte for byte once the pod answers 101. As upstream's proxy transport, the
answer loses its CORS headers, and a redirect to an absolute path (or to the pod
itself) is sent back under the proxy's path. Not done: rewriting the links in
proxied HTML, which upstream's transport also does.
"""

from __future__ import annotations

import functools
import ipaddress
import random
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web
from multidict import CIMultiDict

from pinnace.api import errors
from pinnace.apiserver.proxy import (
    RelayPool,
    admit_connect,
    proxied_path,
    relay_http,
    relay_raw_upgrade,
    stored_object,
    unverified_client_context,
)
from pinnace.apiserver.request_info import RequestInfo
from pinnace.apiserver.rest import RestStore

__all__ = ["PodProxy", "split_scheme_name_port"]

Obj = dict[str, Any]

_HOST_LOOPBACK = frozenset({ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")})


def split_scheme_name_port(ident: str) -> tuple[str, str, str]:
    """(scheme, name, port) of a proxy ID (``name``, ``name:port``, ``scheme:name:port``); ValueError if invalid."""
    parts = ident.split(":")
    if len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    elif len(parts) == 2:
        scheme, (name, port) = "", parts
    elif len(parts) == 3:
        scheme, name, port = parts
    else:
        raise ValueError(ident)
    if not name or scheme not in ("", "http", "https"):
        raise ValueError(ident)
    return scheme or "http", name, port


def _check_proxyable(address: str) -> None:
    """Refuse addresses a pod cannot have (upstream's IsProxyableIP, but see the module doc on loopback)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise errors.BadRequest(f"address {address!r} is not an IP address") from None
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip in _HOST_LOOPBACK:
        raise errors.BadRequest("address not allowed")


def _pod_ips(pod: Obj) -> list[str]:
    status = pod.get("status") or {}
    ips = [str(p.get("ip")) for p in status.get("podIPs") or [] if p.get("ip")]
    if not ips and status.get("podIP"):
        ips = [str(status["podIP"])]
    return ips


def _host_port(ip: str, port: int | str | None) -> str:
    host = f"[{ip}]" if ":" in ip else ip
    return f"{host}:{port}" if port not in (None, "") else host


class PodProxy:
    """The handlers of ``pods/proxy`` and ``services/proxy``, keyed for ``subresource_handlers``."""

    def __init__(self, rest: RestStore) -> None:
        self.rest = rest
        self._pool = RelayPool()
        # Pods serve their own certificates, which nothing here can verify (upstream skips verification too).
        self._tls = unverified_client_context()

    def handlers(self) -> dict[tuple[str, str, str], Any]:
        """(group, resource, subresource) → handler, for :attr:`APIServer.subresource_handlers`."""
        return {("", "pods", "proxy"): self.pod_proxy, ("", "services", "proxy"): self.service_proxy}

    async def close(self) -> None:
        """Close the pooled connections to pods."""
        await self._pool.close()

    # ---- pods/proxy ---------------------------------------------------------------------------
    async def pod_proxy(self, request: web.BaseRequest, ri: RequestInfo) -> web.StreamResponse:
        """Any method on pods/ID/proxy/PATH: the pod's /PATH."""
        scheme, name, port = self._split(ri, "pod")
        pod = await stored_object(self.rest, "pods", ri.namespace, name)
        if not port:
            port = next((str(c["ports"][0].get("containerPort")) for c in _containers(pod) if c.get("ports")), "")
        elif not port.isdigit():
            named = [p for c in _containers(pod) for p in c.get("ports") or [] if p.get("name") == port]
            if not named:
                raise errors.BadRequest(f'pod {name} has no container port named "{port}"')
            port = str(named[0].get("containerPort"))
        ips = _pod_ips(pod)
        if not ips:
            raise errors.BadRequest(f"pod {name} has no IP address yet")
        _check_proxyable(ips[0])
        return await self._relay(request, ri, "pods", f"{scheme}://{_host_port(ips[0], port)}")

    # ---- services/proxy -----------------------------------------------------------------------
    async def service_proxy(self, request: web.BaseRequest, ri: RequestInfo) -> web.StreamResponse:
        """Any method on services/ID/proxy/PATH: /PATH of one of the service's ready pods."""
        scheme, name, port = self._split(ri, "service")
        if port.isdigit():
            service = await stored_object(self.rest, "services", ri.namespace, name)
            ports = [p for p in (service.get("spec") or {}).get("ports") or [] if str(p.get("port")) == port]
            if not ports:
                raise errors.ServiceUnavailable(f'no service port {port} found for service "{name}"')
            port = str(ports[0].get("name") or "")
        endpoints = await stored_object(self.rest, "endpoints", ri.namespace, name)
        location = await self._endpoint(endpoints, port, ri.namespace)
        if location is None:
            raise errors.ServiceUnavailable(f'no endpoints available for service "{ri.name}"')
        return await self._relay(request, ri, "services", f"{scheme}://{location}")

    async def _endpoint(self, endpoints: Obj, port_name: str, namespace: str | None) -> str | None:
        """``host:port`` of a random ready address serving ``port_name`` that is the pod it says it is."""
        subsets = [s for s in endpoints.get("subsets") or [] if s.get("addresses")]
        random.shuffle(subsets)
        for subset in subsets:
            for port in subset.get("ports") or []:
                if (port.get("name") or "") != port_name:
                    continue
                addresses = list(subset["addresses"])
                random.shuffle(addresses)
                for address in addresses:
                    if await self._is_pod_address(address, namespace):
                        return _host_port(str(address["ip"]), port.get("port"))
        return None

    async def _is_pod_address(self, address: Obj, namespace: str | None) -> bool:
        """Whether an endpoint address names a pod that has that IP (upstream proxies only to pods)."""
        ref = address.get("targetRef") or {}
        if ref.get("kind") != "Pod" or not ref.get("name"):
            return False
        try:
            pod = await stored_object(self.rest, "pods", ref.get("namespace") or namespace, str(ref["name"]))
        except errors.NotFound:
            return False
        ip = str(address.get("ip") or "")
        if ip not in _pod_ips(pod):
            return False
        try:
            _check_proxyable(ip)
        except errors.BadRequest:
            return False
        return True

    # ---- shared -------------------------------------------------------------------------------
    @staticmethod
    def _split(ri: RequestInfo, what: str) -> tuple[str, str, str]:
        try:
            return split_scheme_name_port(ri.name or "")
        except ValueError:
            raise errors.BadRequest(f'invalid {what} request "{ri.name}"') from None

    async def _relay(self, request: web.BaseRequest, ri: RequestInfo, resource: str, base: str) -> web.StreamResponse:
        path = proxied_path(request, ri)
        await admit_connect(self.rest, resource, ri, {"path": path})
        query = request.query_string
        path_qs = path + (f"?{query}" if query else "")
        if "upgrade" in request.headers.get("Connection", "").lower() and request.headers.get("Upgrade"):
            scheme, _, address = base.partition("://")
            tls = self._tls if scheme == "https" else None
            return await relay_raw_upgrade(
                request, address, path_qs, tls, target="service", pass_websocket_headers=True
            )
        prefix = f"/api/v1/namespaces/{ri.namespace}/{resource}/{quote(ri.name or '', safe=':')}/proxy"
        return await relay_http(
            self._pool.session(),
            request,
            request.method,
            base + path_qs,
            self._tls,
            target="service",
            rewrite_headers=functools.partial(_rewrite_answer, prefix=prefix, pod=base.partition("://")[2]),
        )


#: CORS headers a pod's answer loses: the API server's origin must not grant what a pod's server says it may.
_CORS = ("Access-Control-Allow-Credentials", "Access-Control-Allow-Headers", "Access-Control-Allow-Methods",
         "Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Access-Control-Max-Age")  # fmt: skip


def _rewrite_answer(headers: CIMultiDict[str], *, prefix: str, pod: str) -> None:
    """A pod's answer as upstream's proxy transport passes it on: its CORS headers dropped, and a redirect to
    an absolute path (or to the pod itself) sent back under the proxy's own path."""
    for name in _CORS:
        headers.popall(name, None)
    location = headers.get("Location")
    if not location:
        return
    target = urlsplit(location)
    if target.netloc and target.netloc != pod:
        return  # elsewhere: as it is
    if not target.netloc and not location.startswith("/"):
        return  # relative to the page: already under the proxy path
    rewritten = prefix + (target.path or "/")
    headers["Location"] = rewritten + (f"?{target.query}" if target.query else "")


def _containers(pod: Obj) -> list[Obj]:
    containers: list[Obj] = (pod.get("spec") or {}).get("containers") or []
    return containers
