"""Calling one webhook: find it, send the AdmissionReview over verified TLS, check the answer.

A webhook by ``url`` is called there. A webhook by ``service`` reference is
called at a ready endpoint of the Service (from its EndpointSlices, on the
target port of the referenced service port — Pinnace has no kube-proxy to
route a cluster IP), with TLS verified for the name
``<service>.<namespace>.svc``, as upstream's webhook client does. Each
webhook has its own aiohttp session (a connection pool), kept while its
configuration is unchanged. Any failure to get a valid answer — no
endpoint, refused, TLS, timeout, a non-200 status, a malformed or mismatched
AdmissionReview — is a :class:`CallError`, which the plugins turn into a
refusal or a pass according to ``failurePolicy``.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from pinnace.apiserver.admission.webhooks.config import Webhook

if TYPE_CHECKING:
    from pinnace.apiserver.rest import RestStore

__all__ = ["CallError", "WebhookCaller"]

Obj = dict[str, Any]


class CallError(Exception):
    """A webhook that could not be called or gave no valid answer (upstream's ErrCallingWebhook)."""

    def __init__(self, webhook: str, reason: str) -> None:
        super().__init__(f'failed calling webhook "{webhook}": {reason}')
        self.webhook = webhook


class WebhookCaller:
    """Sends AdmissionReviews to webhooks, one connection pool per webhook."""

    def __init__(self, rest: RestStore) -> None:
        self.rest = rest
        self._sessions: dict[tuple[str, str, bytes | None], tuple[aiohttp.ClientSession, ssl.SSLContext]] = {}

    def _session(self, webhook: Webhook) -> tuple[aiohttp.ClientSession, ssl.SSLContext]:
        found = self._sessions.get(webhook.key)
        if found is None or found[0].closed:
            context = ssl.create_default_context()
            if webhook.ca_bundle is not None:
                context = ssl.create_default_context(cadata=webhook.ca_bundle.decode("ascii", "replace"))
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32, ssl=context))
            found = self._sessions[webhook.key] = (session, context)
        return found

    async def retain(self, webhooks: list[Webhook]) -> None:
        """Close the pools of webhooks that are gone (their configuration changed or was deleted)."""
        keep = {w.key for w in webhooks}
        for key in [k for k in self._sessions if k not in keep]:
            session, _ = self._sessions.pop(key)
            await session.close()

    async def close(self) -> None:
        """Close every pool."""
        sessions = [s for s, _ in self._sessions.values()]
        self._sessions.clear()
        for session in sessions:
            await session.close()

    async def call(self, webhook: Webhook, request: Obj) -> Obj:
        """Send ``request`` (an AdmissionRequest) and return the webhook's AdmissionResponse."""
        if webhook.broken:
            raise CallError(webhook.name, webhook.broken)
        url, hostname = await self._where(webhook)
        version = "v1" if "v1" in webhook.review_versions or not webhook.review_versions else "v1beta1"
        if version not in webhook.review_versions and webhook.review_versions:
            raise CallError(webhook.name, "admissionReviewVersions lists no version Pinnace speaks (v1, v1beta1)")
        seconds = int(webhook.timeout)
        url += ("&" if "?" in url else "?") + f"timeout={seconds}s"
        review = {"apiVersion": f"admission.k8s.io/{version}", "kind": "AdmissionReview", "request": request}
        session, context = self._session(webhook)
        try:
            async with session.post(
                url,
                data=orjson.dumps(review),
                headers={"Content-Type": "application/json", "Accept": "application/json"},
                ssl=context,
                server_hostname=hostname,
                timeout=aiohttp.ClientTimeout(total=webhook.timeout),
            ) as resp:
                body = await resp.read()
                status = resp.status
        except TimeoutError:
            raise CallError(webhook.name, f'Post "{url}": context deadline exceeded') from None
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
            raise CallError(webhook.name, f'Post "{url}": {exc}') from None
        if status != 200:
            raise CallError(webhook.name, f"expected response code 200, got {status}: {body[:200]!r}")
        return _response(webhook.name, body, str(request.get("uid")))

    async def _where(self, webhook: Webhook) -> tuple[str, str | None]:
        """The URL to post to and the TLS server name to verify (None: the URL's host)."""
        if webhook.url:
            if not webhook.url.startswith("https://"):
                raise CallError(webhook.name, f"webhook URL {webhook.url!r} must use the https scheme")
            return webhook.url, None
        service = webhook.service or {}
        namespace, name = str(service.get("namespace") or ""), str(service.get("name") or "")
        port = int(service.get("port") or 443)
        path = str(service.get("path") or "/")
        address, target = await self._endpoint(webhook.name, namespace, name, port)
        host = f"[{address}]" if ":" in address else address
        return f"https://{host}:{target}{path if path.startswith('/') else '/' + path}", f"{name}.{namespace}.svc"

    async def _endpoint(self, webhook: str, namespace: str, name: str, port: int) -> tuple[str, int]:
        """A ready endpoint address of the Service and the target port of its port ``port``."""
        registry = self.rest.registry
        svc_info = registry.get("", "v1", "services")
        slice_info = registry.get("discovery.k8s.io", "v1", "endpointslices")
        if svc_info is None or slice_info is None:
            raise CallError(webhook, "the server has no services or endpointslices")
        cached = await self.rest.get_cached(svc_info, namespace, name)
        if cached is None:
            raise CallError(webhook, f'service "{namespace}/{name}" not found')
        ports = (cached.obj.get("spec") or {}).get("ports") or []
        service_port = next((p for p in ports if p.get("port") == port), None)
        if service_port is None:
            raise CallError(webhook, f'service "{namespace}/{name}" has no port {port}')
        port_name = service_port.get("name") or ""
        cache = await self.rest.fresh_cache(slice_info)
        for obj in (c.obj for c in cache.list(namespace)):
            labels = (obj.get("metadata") or {}).get("labels") or {}
            if labels.get("kubernetes.io/service-name") != name:
                continue
            slice_port = next((p for p in obj.get("ports") or () if (p.get("name") or "") == port_name), None)
            if slice_port is None or slice_port.get("port") is None:
                continue
            for endpoint in obj.get("endpoints") or ():
                if (endpoint.get("conditions") or {}).get("ready") is False or not endpoint.get("addresses"):
                    continue
                return str(endpoint["addresses"][0]), int(slice_port["port"])
        raise CallError(webhook, f'no endpoints available for service "{name}"')


def _response(webhook: str, body: bytes, uid: str) -> Obj:
    """The AdmissionResponse of a reply, checked as upstream checks it."""
    try:
        review = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise CallError(webhook, f"the response is not JSON: {exc}") from None
    response = review.get("response") if isinstance(review, dict) else None
    if not isinstance(response, dict):
        raise CallError(webhook, "webhook response was absent")
    if str(response.get("uid") or "") != uid:
        raise CallError(webhook, f"expected response.uid={uid!r}, got {response.get('uid')!r}")
    if not isinstance(response.get("allowed"), bool):
        raise CallError(webhook, "webhook response has no boolean allowed field")
    return response
