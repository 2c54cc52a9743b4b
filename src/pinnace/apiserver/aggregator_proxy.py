"""The aggregation layer's way to an extension API server: resolving its Service, TLS, and relaying requests.

An APIService with a ``spec.service`` (namespace, name, port: 443 unless set)
names a Service; as kube-apiserver with ``--enable-aggregator-routing=true``,
the request goes to one of that Service's endpoints, not its cluster IP:
:func:`resolve` finds the Service's port whose ``port`` is the APIService's,
the EndpointSlices labelled ``kubernetes.io/service-name=<name>``, their
endpoints whose ``conditions.ready`` is not false, and the slice port named as
the Service port is, and picks one at random. An ExternalName Service is its
external name at the APIService's port. What fails is an :class:`Unresolved`,
which the proxy words as upstream's resolver does and the availability
controller as its conditions do.

:class:`BackendPool` dials extensions over HTTPS: the backend is verified
against the APIService's ``caBundle`` under the server name
``<service>.<namespace>.svc`` (``insecureSkipTLSVerify`` skips that), and the
API server presents its front-proxy client certificate (kubeadm's
``front-proxy-client``), by which the extension trusts the ``X-Remote-*``
headers it sends. Connections are pooled, one client per TLS configuration.

:func:`relay` forwards one request (method, path, query, body, headers less the
client's credentials, impersonation and hop-by-hop headers) with the user the
API server authenticated as ``X-Remote-User``, ``X-Remote-Group`` (one header
per group) and ``X-Remote-Extra-<key>`` (one per value), and streams the answer
back as it comes (a watch's events as they are written). A backend that cannot
be reached is a 503 ``error trying to reach service: …``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import random
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from pinnace.api import errors
from pinnace.apiserver.proxy import dial_error, relay_http
from pinnace.apiserver.rest import RestStore
from pinnace.apiserver.user import UserInfo

__all__ = [
    "Backend",
    "BackendPool",
    "ServiceRef",
    "TLSConfig",
    "Unresolved",
    "auth_proxy_headers",
    "relay",
    "resolve",
    "service_ref",
    "tls_config",
]


Obj = dict[str, Any]

#: The label that ties an EndpointSlice to its Service.
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
#: The headers the extension reads the user from (kube-apiserver's ``--requestheader-*-headers``).
USER_HEADER = "X-Remote-User"
GROUP_HEADER = "X-Remote-Group"
EXTRA_PREFIX = "X-Remote-Extra-"
_CONNECT_TIMEOUT = 10.0
#: Hop-by-hop headers (RFC 7230 6.1, and Go's httputil.ReverseProxy's list), never forwarded either way.
_HOP_BY_HOP = frozenset(
    ("connection", "proxy-connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade")
)  # fmt: skip
#: Request headers never forwarded: the client's credentials, and what the proxy sets itself.
_DROP_REQUEST = _HOP_BY_HOP | {"authorization", "host", "content-length"}
#: Request header prefixes never forwarded: impersonation (already applied) and any user headers the client sent.
_DROP_REQUEST_PREFIXES = ("impersonate-", "x-remote-")


@dataclass(frozen=True, slots=True)
class ServiceRef:
    """Where an APIService's requests go: a Service and one of its ports."""

    namespace: str
    name: str
    port: int

    @property
    def server_name(self) -> str:
        """The name the backend's serving certificate must carry (upstream's ``<name>.<namespace>.svc``)."""
        return f"{self.name}.{self.namespace}.svc"


@dataclass(frozen=True, slots=True)
class TLSConfig:
    """How an APIService's backend is dialled: the CA bundle (PEM) that verifies it, or no verification."""

    ca_bundle: bytes
    insecure: bool
    server_name: str


@dataclass(frozen=True, slots=True)
class Backend:
    """A resolved backend: ``host`` (an IP, or an ExternalName's DNS name) and port."""

    host: str
    port: int

    @property
    def address(self) -> str:
        """``host:port`` (an IPv6 address bracketed)."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class Unresolved(Exception):
    """An APIService's Service cannot be resolved to a backend.

    ``reason`` and ``condition_message`` are the availability condition's; ``message`` is the resolver's error
    (the proxy's 503)."""

    def __init__(self, reason: str, condition_message: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.condition_message = condition_message
        self.message = message


def service_ref(apiservice: Obj) -> ServiceRef | None:
    """The Service an APIService names (None: a local APIService)."""
    service = (apiservice.get("spec") or {}).get("service")
    if not service:
        return None
    return ServiceRef(
        str(service.get("namespace") or ""), str(service.get("name") or ""), int(service.get("port") or 443)
    )


def tls_config(apiservice: Obj) -> TLSConfig:
    """The TLS settings of an APIService with a service (a caBundle that is not base64 verifies nothing: none)."""
    spec = apiservice.get("spec") or {}
    ref = service_ref(apiservice)
    try:
        bundle = base64.b64decode(spec.get("caBundle") or "", validate=True)
    except (binascii.Error, ValueError):
        bundle = b""
    return TLSConfig(bundle, bool(spec.get("insecureSkipTLSVerify")), ref.server_name if ref else "")


# ---- resolving -----------------------------------------------------------------------------------------------
async def _cached(rest: RestStore, group: str, version: str, resource: str) -> Any:
    info = rest.registry.get(group, version, resource)
    assert info is not None
    return info, await rest.fresh_cache(info)


async def resolve(rest: RestStore, ref: ServiceRef) -> Backend:
    """A backend of the Service ``ref`` names (a random ready endpoint); :class:`Unresolved` if there is none."""
    info, services = await _cached(rest, "", "v1", "services")
    found = services.get(info.key(ref.namespace, ref.name))
    where = f'service/{ref.name} in "{ref.namespace}"'
    if found is None:
        raise Unresolved("ServiceNotFound", f"{where} is not present", f'service "{ref.name}" not found')
    spec = found.obj.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return Backend(str(spec.get("externalName") or ""), ref.port)
    port = next((p for p in spec.get("ports") or [] if p.get("port") == ref.port), None)
    if port is None:
        raise Unresolved(
            "ServicePortError",
            f"{where} is not listening on port {ref.port}",
            f'no service port {ref.port} found for service "{ref.name}"',
        )
    port_name = str(port.get("name") or "")
    candidates = await ready_endpoints(rest, ref.namespace, ref.name, port_name)
    if not candidates:
        raise Unresolved(
            "MissingEndpoints",
            f'endpoints for {where} have no addresses with port name "{port_name}"',
            f'no endpoints available for service "{ref.name}"',
        )
    return random.choice(candidates)


async def ready_endpoints(rest: RestStore, namespace: str, service: str, port_name: str) -> list[Backend]:
    """Every ready address of the Service's EndpointSlices, at the slice port named ``port_name``."""
    _, slices = await _cached(rest, "discovery.k8s.io", "v1", "endpointslices")
    out: list[Backend] = []
    for cached in slices.list(namespace):
        obj = cached.obj
        if ((obj.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL) != service:
            continue
        ports = [p.get("port") for p in obj.get("ports") or [] if (p.get("name") or "") == port_name]
        number = next((int(p) for p in ports if p is not None), None)
        if number is None:
            continue
        for endpoint in obj.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            addresses = endpoint.get("addresses") or []
            if addresses and _is_ip(str(addresses[0])):
                out.append(Backend(str(addresses[0]), number))
    return out


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


# ---- TLS and pooled clients ----------------------------------------------------------------------------------
class BackendPool:
    """Pooled HTTPS clients to extension API servers, one per TLS configuration; closed by :meth:`close`."""

    def __init__(self, client_cert: tuple[Path, Path] | None = None) -> None:
        """``client_cert``: the front-proxy client certificate and key files presented to every backend."""
        self.client_cert = client_cert
        self._contexts: dict[tuple[bytes, bool], ssl.SSLContext] = {}
        self._sessions: dict[TLSConfig, aiohttp.ClientSession] = {}

    def context(self, tls: TLSConfig) -> ssl.SSLContext:
        """The client TLS context of a CA bundle (or of no verification), with the client certificate."""
        key = (b"" if tls.insecure else tls.ca_bundle, tls.insecure)
        ctx = self._contexts.get(key)
        if ctx is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            if tls.insecure:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            elif tls.ca_bundle:
                try:
                    ctx.load_verify_locations(cadata=tls.ca_bundle.decode("ascii", "replace"))
                except ssl.SSLError as exc:
                    raise errors.ServiceUnavailable(f"error trying to reach service: invalid caBundle: {exc}") from None
            else:
                ctx.load_default_certs()
            if self.client_cert is not None:
                ctx.load_cert_chain(str(self.client_cert[0]), str(self.client_cert[1]))
            self._contexts[key] = ctx
        return ctx

    def session(self, tls: TLSConfig) -> aiohttp.ClientSession:
        """The pooled client of a TLS configuration (made on first use)."""
        session = self._sessions.get(tls)
        if session is None or session.closed:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=_CONNECT_TIMEOUT)
            connector = aiohttp.TCPConnector(limit=0, ssl=self.context(tls))
            session = aiohttp.ClientSession(timeout=timeout, auto_decompress=False, connector=connector)
            self._sessions[tls] = session
        return session

    async def close(self) -> None:
        """Close every pooled connection."""
        sessions = list(self._sessions.values())
        self._sessions.clear()
        for session in sessions:
            await session.close()


# ---- relaying ------------------------------------------------------------------------------------------------
def auth_proxy_headers(user: UserInfo) -> list[tuple[str, str]]:
    """The request-header authentication of ``user`` (upstream's transport.SetAuthProxyHeaders)."""
    headers = [(USER_HEADER, user.name)]
    headers += [(GROUP_HEADER, group) for group in user.groups]
    for key, values in user.extra.items():
        headers += [(EXTRA_PREFIX + quote(key, safe=""), value) for value in values]
    return headers


def _forwarded_headers(incoming: Mapping[str, str] | Any, user: UserInfo | None) -> CIMultiDict[str]:
    listed = {h.strip().lower() for h in incoming.get("Connection", "").split(",") if h.strip()}
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in incoming.items():
        lower = name.lower()
        if lower in _DROP_REQUEST or lower in listed or lower.startswith(_DROP_REQUEST_PREFIXES):
            continue
        out.add(name, value)
    if user is not None:
        for name, value in auth_proxy_headers(user):
            out.add(name, value)
    return out


def unreachable(backend: Backend, exc: BaseException) -> errors.ServiceUnavailable:
    """The 503 of a backend that could not be dialled or answered with a broken connection (upstream's words)."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        detail = f"tls: failed to verify certificate: {exc.certificate_error}"
    elif isinstance(exc, aiohttp.ClientSSLError):
        detail = f"tls: {exc}"
    elif isinstance(exc, aiohttp.ClientConnectorError):
        detail = dial_error(backend.address, exc)
    else:
        detail = str(exc) or type(exc).__name__
    return errors.ServiceUnavailable(f"error trying to reach service: {detail}")


async def relay(
    pool: BackendPool,
    tls: TLSConfig,
    backend: Backend,
    request: web.BaseRequest,
    user: UserInfo | None,
) -> web.StreamResponse:
    """Forward ``request`` to ``backend`` as ``user`` and stream the answer back (see the module docstring)."""
    if request.headers.get("Upgrade") and "upgrade" in request.headers.get("Connection", "").lower():
        raise errors.BadRequest("the aggregation layer does not relay upgrade requests (websocket, SPDY) yet")
    # The path as the client sent it (its percent-encoding kept): the extension routes it as kube-apiserver would.
    path_qs = request.raw_path if isinstance(request, web.BaseRequest) else request.path_qs
    return await relay_http(
        pool.session(tls),
        request,
        request.method,
        URL(f"https://{backend.address}{path_qs}", encoded=True),
        None,  # the pooled session's own TLS: the APIService's CA, the front-proxy client certificate
        headers=_forwarded_headers(request.headers, user),
        server_hostname=tls.server_name or None,
        failed=lambda exc: unreachable(backend, exc),
    )
