"""An async REST client for the Kubernetes API.

Paths for any resource, JSON bodies, typed errors (a non-2xx answer becomes
the matching ``errors.StatusError`` rebuilt from the server's ``metav1.Status``),
and watch streams as async iterators of events. Objects stay plain dicts. The
controller SDK (``runtime``) builds on this. Requests and watches go over a
lean keep-alive HTTP/1.1 transport (:mod:`pinnace.client.transport`: an
operator makes one or two requests and reads a few watch events per
reconcile, so their CPU counts); failures keep aiohttp's exception types.
"""

from __future__ import annotations

import logging
import platform
import re
import ssl
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from pinnace.api import errors
from pinnace.client.auth import AuthProvider, Credentials
from pinnace.client.transport import HTTPTransport, render_headers

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """Where a resource lives: group, version, plural name, and whether it is namespaced."""

    group: str
    version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The URL path of a collection or one object."""
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{_segment(namespace)}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{_segment(name)}"
            if subresource:
                base += f"/{subresource}"
        return base


_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]*").fullmatch
#: Where the server's warnings are logged (client-go: klog's warnings; controller-runtime: KubeAPIWarningLogger).
warnings_log = logging.getLogger("pinnace.client.warnings")
#: How many distinct warnings a client remembers having logged (then it forgets them all and starts over).
_MAX_WARNINGS_KEPT = 1024


def _segment(text: str) -> str:
    """``text`` percent-encoded as one path segment (Kubernetes names need no encoding: checked first, cheaply)."""
    return text if _UNRESERVED(text) else quote(text, safe="")


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One event of a watch stream."""

    type: str
    object: Obj


_PODS = ResourceRef("", "v1", "pods")

#: ``platform.machine()`` as Go names the architecture (client-go's User-Agent says ``linux/amd64``).
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le"}


def default_user_agent(program: str | None = None) -> str:
    """client-go's default User-Agent, ``<program>/<version> (<os>/<arch>) <source>``: the server records a write
    that names no ``fieldManager`` as the program's (managedFields), so a client never writes anonymously.

    ``program``: the component's name (``kube-controller-manager``); by default the running command's."""
    if program is None:
        parts = (sys.argv[0] if sys.argv else "").split("/")
        name = parts[-1].removesuffix(".py")
        if name == "__main__" and len(parts) > 1:  # ``python -m package``: the package's name
            name = parts[-2]
        program = name if name and name not in ("-c", "-m", "python", "python3") else "pinnace"
    from pinnace import __version__

    arch = _GOARCH.get(platform.machine(), platform.machine() or "unknown")
    return f"{program}/v{__version__} ({sys.platform}/{arch}) pinnace"


class RestClient:
    """HTTP access to one API server.

    ``ssl_context`` and ``server_hostname`` (kubeconfig ``tls-server-name``) set
    how the server is verified; ``auth`` is asked for credentials before each
    request, and after a 401 renews them once and the request is resent.
    ``user_agent``: the User-Agent header (default: :func:`default_user_agent`).
    ``pinnace.client.config.ClientConfig.rest_client()`` fills these from a
    kubeconfig or the in-cluster environment.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        auth: AuthProvider | None = None,
        user_agent: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Accept": "application/json", "User-Agent": user_agent or default_user_agent()}
        self._warned: set[str] = set()
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._request_timeout = timeout
        self._ssl = ssl_context
        self._server_hostname = server_hostname
        self._auth = auth
        self._transport: HTTPTransport | None = None
        # Rendered header blocks by (Accept, Content-Type), with the credentials they were rendered for.
        self._rendered: dict[tuple[str | None, str | None], tuple[Credentials | None, str]] = {}

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the idle connections (streams and requests in flight close as they end)."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _http(self) -> HTTPTransport:
        if self._transport is None:
            self._transport = HTTPTransport(
                self.base_url, server_hostname=self._server_hostname, on_warnings=self._log_warnings
            )
        return self._transport

    def _log_warnings(self, texts: tuple[str, ...]) -> None:
        """Log the server's warnings (a deprecated field, a finalizer without a domain), each once per client, as
        client-go's and controller-runtime's deduplicating warning loggers do."""
        for text in texts:
            if text not in self._warned:
                if len(self._warned) >= _MAX_WARNINGS_KEPT:
                    self._warned.clear()
                self._warned.add(text)
                warnings_log.warning("%s", text)

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        accept: str | None = None,
    ) -> Obj:
        """Send one request and return the decoded JSON answer, or raise the typed error.

        The auth provider is asked for credentials before it; after a 401 it may renew them for one resend.
        """
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else orjson.dumps(body)
        else:
            content_type = ""
        target = f"{path}?{urlencode(params, quote_via=quote)}" if params else path
        transport = self._http()
        auth = self._auth
        for attempt in (1, 2):
            creds = await auth.credentials() if auth is not None else None
            tls = (creds.ssl if creds is not None else None) or self._ssl
            headers = self._header_block(accept, content_type, creds)
            status, raw = await transport.request(method, target, headers, data, tls=tls, timeout=self._request_timeout)
            if status != 401 or attempt == 2 or auth is None or creds is None:
                break
            if not await auth.unauthorized(creds):
                break
        return _decode(status, raw)

    def _header_block(self, accept: str | None, content_type: str, creds: Credentials | None) -> str:
        """The request's header lines, rendered once per (Accept, Content-Type, credentials)."""
        key = (accept, content_type)
        cached = self._rendered.get(key)
        if cached is not None and cached[0] is creds:
            return cached[1]
        headers = dict(self._headers)
        if accept is not None:
            headers["Accept"] = accept
        if content_type:
            headers["Content-Type"] = content_type
        if creds is not None:
            headers.update(creds.headers)
        text = render_headers(headers)
        self._rendered[key] = (creds, text)
        return text

    async def get(self, ref: ResourceRef, name: str, namespace: str | None = None) -> Obj:
        """One object."""
        return await self.request("GET", ref.path(namespace, name))

    async def list(self, ref: ResourceRef, namespace: str | None = None, **params: str) -> Obj:
        """A list of objects (one page, unless no limit is given)."""
        return await self.request("GET", ref.path(namespace), params=params or None)

    async def create(self, ref: ResourceRef, obj: Obj, namespace: str | None = None) -> Obj:
        """Create an object."""
        return await self.request("POST", ref.path(namespace), body=obj)

    async def update(self, ref: ResourceRef, obj: Obj, subresource: str | None = None) -> Obj:
        """Replace an object (or one of its subresources)."""
        meta = obj.get("metadata") or {}
        return await self.request("PUT", ref.path(meta.get("namespace"), meta["name"], subresource), body=obj)

    async def patch(
        self,
        ref: ResourceRef,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: str = "application/merge-patch+json",
        subresource: str | None = None,
        field_manager: str | None = None,
        force: bool = False,
    ) -> Obj:
        """Patch an object (any patch type; server-side apply needs ``field_manager``, ``force`` takes over)."""
        params: dict[str, str] = {}
        if field_manager:
            params["fieldManager"] = field_manager
        if force:
            params["force"] = "true"
        return await self.request(
            "PATCH",
            ref.path(namespace, name, subresource),
            body=patch,
            content_type=patch_type,
            params=params or None,
        )

    async def apply(
        self,
        ref: ResourceRef,
        obj: Obj,
        *,
        field_manager: str,
        force: bool = False,
        subresource: str | None = None,
    ) -> Obj:
        """Server-side apply ``obj`` (its metadata names it) as ``field_manager``."""
        meta = obj.get("metadata") or {}
        return await self.patch(
            ref,
            meta["name"],
            obj,
            meta.get("namespace") if ref.namespaced else None,
            patch_type="application/apply-patch+yaml",
            subresource=subresource,
            field_manager=field_manager,
            force=force,
        )

    async def delete(self, ref: ResourceRef, name: str, namespace: str | None = None, **options: Any) -> Obj:
        """Delete an object (``options`` are DeleteOptions fields)."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", **options} if options else None
        return await self.request("DELETE", ref.path(namespace, name), body=body)

    async def bind(self, namespace: str, name: str, node: str, *, uid: str | None = None) -> Obj:
        """Assign a pod to a node through ``pods/binding`` (409 if it is already bound)."""
        meta: Obj = {"name": name, "namespace": namespace}
        if uid:
            meta["uid"] = uid
        body = {"apiVersion": "v1", "kind": "Binding", "metadata": meta, "target": {"kind": "Node", "name": node}}
        return await self.request("POST", _PODS.path(namespace, name, "binding"), body=body)

    async def evict(self, namespace: str, name: str, **delete_options: Any) -> Obj:
        """Evict a pod through ``pods/eviction`` (429 when its disruption budget forbids it)."""
        body: Obj = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": namespace}}
        if delete_options:
            body["deleteOptions"] = {"kind": "DeleteOptions", "apiVersion": "v1", **delete_options}
        return await self.request("POST", _PODS.path(namespace, name, "eviction"), body=body)

    async def delete_collection(self, ref: ResourceRef, namespace: str | None = None, **params: str) -> Obj:
        """Delete every object of a collection matching the selectors in ``params``."""
        return await self.request("DELETE", ref.path(namespace), params=params or None)

    async def watch(
        self,
        ref: ResourceRef,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        timeout_seconds: int | None = None,
        idle_timeout: float | None = None,
        on_open: Callable[[], None] | None = None,
        **params: str,
    ) -> AsyncIterator[WatchEvent]:
        """Stream events; an ERROR event is raised as its typed error.

        ``idle_timeout``: give up (``TimeoutError``) when nothing — not even a
        bookmark — arrives for that long, so a dead connection is noticed.
        ``on_open`` is called once the server has accepted the watch.
        """
        query = {"watch": "true", "allowWatchBookmarks": "true", **params}
        if resource_version:
            query["resourceVersion"] = resource_version
        if timeout_seconds is not None:
            query["timeoutSeconds"] = str(timeout_seconds)
        target = f"{ref.path(namespace)}?{urlencode(query, quote_via=quote)}"
        transport = self._http()
        auth = self._auth
        for attempt in (1, 2):
            creds = await auth.credentials() if auth is not None else None
            tls = (creds.ssl if creds is not None else None) or self._ssl
            headers = self._header_block(None, "", creds)
            async with transport.stream("GET", target, headers, tls=tls, idle_timeout=idle_timeout) as (status, body):
                if status >= 300:
                    raw = await body.read()
                    retry = status == 401 and attempt == 1 and auth is not None and creds is not None
                    if retry and auth is not None and creds is not None and await auth.unauthorized(creds):
                        continue
                    _decode(status, raw)
                if on_open is not None:
                    on_open()
                while (lines := await body.lines()) is not None:
                    for line in lines:
                        if not line.strip():
                            continue
                        event = orjson.loads(line)
                        if event.get("type") == "ERROR":
                            raise errors.from_status(event.get("object") or {})
                        yield WatchEvent(event["type"], event["object"])
                return


def _decode(status: int, raw: bytes) -> Obj:
    try:
        value = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        value = {"message": raw.decode(errors="replace")[:500]}
    if status >= 300:
        if isinstance(value, dict) and value.get("kind") == "Status":
            raise errors.from_status(value, status)
        raise errors.from_status(
            {"code": status, "message": str(value.get("message") if isinstance(value, dict) else value)},
            status,
        )
    if not isinstance(value, dict):
        raise errors.InternalError(f"unexpected response body: {str(value)[:200]}")
    return value
