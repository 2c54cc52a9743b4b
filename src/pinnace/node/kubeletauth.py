"""Who may use the kubelet API: authentication and authorization of every request, as upstream's kubelet does them.

With kubeadm's kubelet configuration (``authentication.anonymous.enabled:
false``, ``authentication.x509.clientCAFile`` = the cluster CA,
``authentication.webhook.enabled: true``, ``authorization.mode: Webhook``),
every request to the kubelet API is:

1. **authenticated** — by a client certificate the TLS handshake verified
   against the client CA (CN the user, each O a group), else by a bearer token
   the API server vouches for in a ``TokenReview`` (answers cached 2 min, the
   kubelet's ``authentication.webhook.cacheTTL``). Neither: ``401 Unauthorized``.
2. **authorized** — by a ``SubjectAccessReview`` to the API server on the
   node object: resource ``nodes``, name the node's name, the verb from the
   HTTP method (:data:`METHOD_VERBS`) and the subresource from the path
   (:func:`request_attributes`: ``/stats/*`` → ``stats``, ``/metrics*`` →
   ``metrics``, ``/logs/*`` → ``log``, ``/spec/*`` → ``spec``,
   ``/checkpoint/*`` → ``checkpoint``, anything else — exec, attach,
   portForward, containerLogs, pods, healthz — → ``proxy``). Allowed answers
   are cached 5 min, denials 30 s (``authorization.webhook.cacheAuthorizedTTL``
   / ``cacheUnauthorizedTTL``). Denied: ``403 Forbidden (user=…, verb=…,
   resource=…, subresource=…)``; the review failing: 500 ``Authorization error
   (…)``. Both answers are plain text, as upstream writes them.

The reviews go through :mod:`pinnace.client` with the node's own credentials
(``system:node:<name>`` may create both: upstream's ``system:node`` role).
The TLS side — the serving certificate and the context that asks for client
certificates — is :mod:`pinnace.node.kubeletcert`.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from pinnace.client.rest import ResourceRef, RestClient
from pinnace.node.kubeletcert import ensure_serving_cert, serving_context
from pinnace.node.servingcsr import ServingCertificateManager
from pinnace.runtime.clock import Clock, RealClock
from pinnace.runtime.ttlcache import TTLCache

__all__ = [
    "METHOD_VERBS",
    "KubeletAttributes",
    "KubeletAuth",
    "KubeletSecurity",
    "KubeletUser",
    "TTLCache",
    "kubelet_security",
    "request_attributes",
    "user_from_peercert",
]

log = logging.getLogger(__name__)

TOKEN_REVIEWS = ResourceRef("authentication.k8s.io", "v1", "tokenreviews", namespaced=False)
SUBJECT_ACCESS_REVIEWS = ResourceRef("authorization.k8s.io", "v1", "subjectaccessreviews", namespaced=False)

#: HTTP method → API verb (upstream kubelet's GetRequestAttributes; other methods, HEAD too, get an empty verb).
METHOD_VERBS: Mapping[str, str] = {
    "POST": "create",
    "GET": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}
#: Path prefix → nodes subresource, in the order upstream checks them; anything else is ``proxy``.
_SUBRESOURCES = (
    ("/stats", "stats"),
    ("/metrics", "metrics"),
    ("/logs", "log"),
    ("/checkpoint", "checkpoint"),
    ("/spec", "spec"),
)

#: Upstream's kubelet defaults: webhook authentication cache, authorized and unauthorized cache TTLs (seconds).
TOKEN_CACHE_TTL = 120.0
AUTHORIZED_TTL = 300.0
UNAUTHORIZED_TTL = 30.0


@dataclass(frozen=True, slots=True)
class KubeletUser:
    """An authenticated caller of the kubelet API (upstream's user.Info)."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def from_json(cls, info: Mapping[str, Any]) -> KubeletUser:
        """From an authentication/v1 UserInfo (a TokenReview's status.user)."""
        extra = tuple(sorted((str(k), tuple(str(x) for x in v or ())) for k, v in (info.get("extra") or {}).items()))
        return cls(str(info.get("username") or ""), str(info.get("uid") or ""), tuple(info.get("groups") or ()), extra)


@dataclass(frozen=True, slots=True)
class KubeletAttributes:
    """What a kubelet API request asks to do, as a resource request on the node object."""

    verb: str
    subresource: str
    name: str
    path: str
    resource: str = field(default="nodes")


def is_subpath(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or below it (``/statsfoo`` is not under ``/stats``)."""
    prefix = prefix.rstrip("/")
    return path == prefix or (path.startswith(prefix) and path[len(prefix)] == "/")


def request_attributes(node_name: str, method: str, path: str) -> KubeletAttributes:
    """The authorization attributes of a request to the kubelet API (see the module docstring)."""
    subresource = next((sub for prefix, sub in _SUBRESOURCES if is_subpath(path, prefix)), "proxy")
    return KubeletAttributes(METHOD_VERBS.get(method.upper(), ""), subresource, node_name, path)


def user_from_peercert(peercert: Mapping[str, Any]) -> KubeletUser | None:
    """The user a verified client certificate names (CN the name, each O a group), as ``getpeercert()`` decodes it."""
    name, groups = "", []
    for rdn in peercert.get("subject") or ():
        for attr, value in rdn:
            if attr == "commonName":
                name = value
            elif attr == "organizationName":
                groups.append(value)
    return KubeletUser(name, groups=tuple(groups)) if name else None


#: A token the API server did not accept, as the token cache keeps it.
_NOBODY = KubeletUser("")


class ReviewError(Exception):
    """The API server could not answer a review (unreachable, or refused the node's request)."""


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message)


class KubeletAuth:
    """Authentication and authorization of the kubelet API of one node (see the module docstring)."""

    def __init__(
        self,
        rest: RestClient,
        node_name: str,
        *,
        clock: Clock | None = None,
        token_ttl: float = TOKEN_CACHE_TTL,
        authorized_ttl: float = AUTHORIZED_TTL,
        unauthorized_ttl: float = UNAUTHORIZED_TTL,
    ) -> None:
        """Reviews go to the API server through ``rest`` (the node's credentials)."""
        self.rest = rest
        self.node_name = node_name
        clock = clock or RealClock()
        self.token_ttl = token_ttl
        self.authorized_ttl = authorized_ttl
        self.unauthorized_ttl = unauthorized_ttl
        self._tokens: TTLCache[str, KubeletUser] = TTLCache(clock)
        self._decisions: TTLCache[tuple[KubeletUser, str, str, str, str], bool] = TTLCache(clock)

    # ---- authentication -----------------------------------------------------------------------
    async def authenticate(self, request: web.BaseRequest) -> KubeletUser | None:
        """The caller: its verified client certificate, else its bearer token (TokenReview); None if neither."""
        transport = request.transport
        peercert = transport.get_extra_info("peercert") if transport is not None else None
        if peercert:
            user = user_from_peercert(peercert)
            if user is not None:
                return user
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        return await self.review_token(token)

    async def review_token(self, token: str) -> KubeletUser | None:
        """The user the API server says ``token`` is (None: not a valid token); answers cached ``token_ttl``."""
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._tokens.get(key)
        if cached is not None:
            return cached if cached.name else None
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        answer = await self._create(TOKEN_REVIEWS, review)
        status = answer.get("status") or {}
        user = KubeletUser.from_json(status.get("user") or {}) if status.get("authenticated") else _NOBODY
        self._tokens.put(key, user, self.token_ttl)  # refusals are cached as long as answers, as upstream
        return user if user.name else None

    # ---- authorization ------------------------------------------------------------------------
    async def authorize(self, user: KubeletUser, attrs: KubeletAttributes) -> bool:
        """Whether the API server allows ``user`` to do ``attrs`` (SubjectAccessReview); answers cached by what the
        review asks (the path is not part of it: every container's logs are one nodes/proxy question)."""
        key = (user, attrs.verb, attrs.resource, attrs.subresource, attrs.name)
        cached = self._decisions.get(key)
        if cached is not None:
            return cached
        spec: dict[str, Any] = {
            "user": user.name,
            "groups": list(user.groups),
            "resourceAttributes": {
                "verb": attrs.verb,
                "group": "",
                "version": "v1",
                "resource": attrs.resource,
                "subresource": attrs.subresource,
                "name": attrs.name,
            },
        }
        if user.uid:
            spec["uid"] = user.uid
        if user.extra:
            spec["extra"] = {k: list(v) for k, v in user.extra}
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        allowed = bool(((await self._create(SUBJECT_ACCESS_REVIEWS, review)).get("status") or {}).get("allowed"))
        self._decisions.put(key, allowed, self.authorized_ttl if allowed else self.unauthorized_ttl)
        return allowed

    async def _create(self, ref: ResourceRef, review: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self.rest.create(ref, review)
        except Exception as exc:  # any failure to get an answer: the request cannot be let through
            raise ReviewError(f"{review['kind']} failed: {exc}") from exc

    # ---- the filter -----------------------------------------------------------------------------
    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Authenticate, then authorize, every request before its handler (upstream's InstallAuthFilter)."""
        try:
            user = await self.authenticate(request)
        except ReviewError as exc:
            log.warning("kubelet API %s: unable to authenticate the request: %s", self.node_name, exc)
            user = None
        if user is None:
            return _text(401, "Unauthorized")
        attrs = request_attributes(self.node_name, request.method, request.path)
        words = f"user={user.name}, verb={attrs.verb}, resource={attrs.resource}, subresource={attrs.subresource}"
        try:
            allowed = await self.authorize(user, attrs)
        except ReviewError as exc:
            log.warning("kubelet API %s: authorization error (%s): %s", self.node_name, words, exc)
            return _text(500, f"Authorization error ({words})")
        if not allowed:
            log.debug("kubelet API %s: Forbidden (%s)", self.node_name, words)
            return _text(403, f"Forbidden ({words})")
        return await handler(request)


@dataclass(frozen=True, slots=True)
class KubeletSecurity:
    """What secures a node's kubelet API: its TLS context, its request filter, and (``serverTLSBootstrap``) the
    manager of its CA-issued serving certificate, whose :meth:`~ServingCertificateManager.run` must be running."""

    tls: ssl.SSLContext
    auth: KubeletAuth
    certificates: ServingCertificateManager | None = None


def kubelet_security(
    rest: RestClient,
    node_name: str,
    pki_dir: Path,
    addresses: Sequence[str],
    client_ca: bytes,
    *,
    server_tls_bootstrap: bool = False,
) -> KubeletSecurity:
    """The kubelet API secured as kubeadm configures a kubelet: client certificates of ``client_ca``, webhook
    authn/authz, and a self-signed serving certificate in ``pki_dir`` — or, with ``server_tls_bootstrap``, one
    the cluster CA issues for a ``kubelet-serving`` CSR (see :mod:`pinnace.node.servingcsr`)."""
    auth = KubeletAuth(rest, node_name)
    if server_tls_bootstrap:
        tls = serving_context(None, None, client_ca)
        manager = ServingCertificateManager(rest, node_name, addresses, pki_dir, tls)
        manager.load()  # a certificate issued before a restart serves at once
        return KubeletSecurity(tls, auth, manager)
    crt, key = ensure_serving_cert(pki_dir, node_name, addresses)
    return KubeletSecurity(serving_context(crt, key, client_ca), auth)
