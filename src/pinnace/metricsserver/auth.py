"""Who may read the metrics: the aggregator's request headers, checked by its client certificate, then a
SubjectAccessReview — as metrics-server's delegated authentication and authorization.

The API server's aggregation layer proxies each request with the front-proxy client certificate and names the
user in ``X-Remote-User`` / ``X-Remote-Group`` / ``X-Remote-Extra-*``. Those headers are believed only from a
client whose certificate the TLS handshake verified against the request-header CA and whose common name is in
the allowed names — all read from ``kube-system/extension-apiserver-authentication``, which the API server
publishes. Any other request is 401. The user is then authorized by a SubjectAccessReview (allowed answers
cached 10 s, denials 10 s, as the generic API server's delegated authorizer); ``system:masters`` is always
allowed, and the health paths need no user at all. Every authenticated user is in ``system:authenticated``, as
the generic API server's authenticators add it (RBAC's discovery roles are bound to that group).
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from pinnace.api import errors
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.runtime.clock import Clock, RealClock
from pinnace.runtime.ttlcache import TTLCache

__all__ = ["ALWAYS_ALLOWED_GROUP", "Attributes", "RequestHeaderConfig", "RequestUser", "load_request_header_config"]

SUBJECT_ACCESS_REVIEWS = ResourceRef("authorization.k8s.io", "v1", "subjectaccessreviews", namespaced=False)
CONFIGMAPS = ResourceRef("", "v1", "configmaps")
AUTH_CONFIGMAP_NAMESPACE, AUTH_CONFIGMAP = "kube-system", "extension-apiserver-authentication"
#: The generic API server's delegated authorizer lets this group through without asking.
ALWAYS_ALLOWED_GROUP = "system:masters"
AUTHENTICATED_GROUP = "system:authenticated"
DECISION_TTL = 10.0


@dataclass(frozen=True, slots=True)
class RequestHeaderConfig:
    """What the API server says about its front proxy: the CA of its client certificates, their allowed common
    names (empty: any), and the headers that carry the user."""

    client_ca: str
    allowed_names: tuple[str, ...] = ()
    username_headers: tuple[str, ...] = ("X-Remote-User",)
    group_headers: tuple[str, ...] = ("X-Remote-Group",)
    extra_prefixes: tuple[str, ...] = ("X-Remote-Extra-",)


def _names(data: dict[str, str], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    text = data.get(key)
    if not text:
        return default
    value = json.loads(text)
    return tuple(str(v) for v in value) if isinstance(value, list) else default


async def load_request_header_config(rest: RestClient) -> RequestHeaderConfig | None:
    """The request-header settings the API server published (None: it publishes no request-header CA)."""
    try:
        cm = await rest.get(CONFIGMAPS, AUTH_CONFIGMAP, AUTH_CONFIGMAP_NAMESPACE)
    except errors.NotFound:
        return None
    data = {str(k): str(v) for k, v in (cm.get("data") or {}).items()}
    ca = data.get("requestheader-client-ca-file", "")
    if not ca.strip():
        return None
    return RequestHeaderConfig(
        client_ca=ca,
        allowed_names=_names(data, "requestheader-allowed-names", ()),
        username_headers=_names(data, "requestheader-username-headers", ("X-Remote-User",)),
        group_headers=_names(data, "requestheader-group-headers", ("X-Remote-Group",)),
        extra_prefixes=_names(data, "requestheader-extra-headers-prefix", ("X-Remote-Extra-",)),
    )


@dataclass(frozen=True, slots=True)
class RequestUser:
    """The user a request is made for."""

    name: str
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class Attributes:
    """What a request asks: a resource verb (``resource`` set) or a non-resource path."""

    verb: str
    resource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""


def _common_name(peercert: dict[str, Any]) -> str:
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return ""


@dataclass
class DelegatedAuth:
    """Authenticates requests by the front proxy's headers and authorizes them by SubjectAccessReviews."""

    rest: RestClient
    config: RequestHeaderConfig
    clock: Clock = field(default_factory=RealClock)

    def __post_init__(self) -> None:
        self._decisions: TTLCache[tuple[RequestUser, Attributes], bool] = TTLCache(self.clock)

    def tls_context(self, cert_file: str, key_file: str) -> ssl.SSLContext:
        """The serving context: this server's certificate, and client certificates asked for (not required) and
        verified against the request-header CA."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        context.load_verify_locations(cadata=self.config.client_ca)
        context.verify_mode = ssl.CERT_OPTIONAL
        return context

    def authenticate(self, request: web.BaseRequest) -> RequestUser:
        """The user the front proxy names; Unauthorized when the request does not come from it."""
        transport = request.transport
        peercert = transport.get_extra_info("peercert") if transport is not None else None
        if not peercert:
            raise errors.Unauthorized("Unauthorized")
        allowed = self.config.allowed_names
        if allowed and _common_name(peercert) not in allowed:
            raise errors.Unauthorized("Unauthorized")
        headers = request.headers
        name = next((headers[h] for h in self.config.username_headers if headers.get(h)), "")
        if not name:
            raise errors.Unauthorized("Unauthorized")
        groups = tuple(g for h in self.config.group_headers for g in headers.getall(h, ()))
        if AUTHENTICATED_GROUP not in groups:  # as every authenticator of an extension API server adds it
            groups += (AUTHENTICATED_GROUP,)
        extra: dict[str, list[str]] = {}
        for header, value in headers.items():
            for prefix in self.config.extra_prefixes:
                if header.lower().startswith(prefix.lower()):
                    extra.setdefault(unquote(header[len(prefix) :]).lower(), []).append(value)
        return RequestUser(name, groups, tuple(sorted((k, tuple(v)) for k, v in extra.items())))

    async def authorize(self, user: RequestUser, attrs: Attributes) -> bool:
        """Whether the API server allows ``user`` to do ``attrs`` (answers cached for a few seconds)."""
        if ALWAYS_ALLOWED_GROUP in user.groups:
            return True
        key = (user, attrs)
        cached = self._decisions.get(key)
        if cached is not None:
            return cached
        spec: dict[str, Any] = {"user": user.name, "groups": list(user.groups)}
        if user.extra:
            spec["extra"] = {k: list(v) for k, v in user.extra}
        if attrs.resource:
            spec["resourceAttributes"] = {
                "verb": attrs.verb,
                "group": "metrics.k8s.io",
                "version": "v1beta1",
                "resource": attrs.resource,
                "namespace": attrs.namespace,
                "name": attrs.name,
            }
        else:
            spec["nonResourceAttributes"] = {"path": attrs.path, "verb": attrs.verb}
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        answer = await self.rest.create(SUBJECT_ACCESS_REVIEWS, review)
        allowed = bool((answer.get("status") or {}).get("allowed"))
        self._decisions.put(key, allowed, DECISION_TTL)
        return allowed
