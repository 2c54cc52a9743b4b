"""Admission webhooks: the manager serves validating and mutating webhooks, as controller-runtime does.

The API server sends an ``admission.k8s.io/v1`` ``AdmissionReview`` to a
path; the webhook answers allowed or denied (with a reason and code), and a
mutating one also answers with a JSON patch. Authors write plain functions:

- :func:`validating` — ``async def check(request) -> list[str] | None``
  raises :class:`Denied` (or returns warnings) for the request;
- :func:`mutating` — ``async def default(obj, request) -> None`` changes the
  object in place; the JSON patch is computed from the difference.

:class:`WebhookServer` serves them over HTTPS (``cert_file``/``key_file``, as
the API server requires) or plain HTTP for tests, and is a manager runnable
that needs no leader election (every replica must answer). A handler that
raises anything but :class:`Denied` is answered with a 500 result — logged,
never a dropped request — so the API server applies the webhook's
``failurePolicy``.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from aiohttp import web

__all__ = [
    "AdmissionRequest",
    "AdmissionResponse",
    "Denied",
    "Handler",
    "WebhookServer",
    "json_patch",
    "mutating",
    "validating",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]


class Denied(Exception):
    """Refuse the request: the message is shown to the user; ``code`` defaults to 403."""

    def __init__(self, message: str, code: int = 403, reason: str = "Forbidden") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class AdmissionRequest:
    """The parts of an AdmissionReview request a webhook decides on."""

    uid: str
    kind: Obj
    resource: Obj
    operation: str
    namespace: str
    name: str
    object: Obj | None
    old_object: Obj | None
    user_info: Obj
    dry_run: bool
    sub_resource: str = ""

    @classmethod
    def from_review(cls, review: Obj) -> AdmissionRequest:
        """Parse an AdmissionReview's ``request``."""
        req = review.get("request")
        if not isinstance(req, dict) or not req.get("uid"):
            raise ValueError("the AdmissionReview has no request with a uid")
        return cls(
            uid=str(req["uid"]),
            kind=dict(req.get("kind") or {}),
            resource=dict(req.get("resource") or {}),
            operation=str(req.get("operation") or ""),
            namespace=str(req.get("namespace") or ""),
            name=str(req.get("name") or ""),
            object=req.get("object"),
            old_object=req.get("oldObject"),
            user_info=dict(req.get("userInfo") or {}),
            dry_run=bool(req.get("dryRun")),
            sub_resource=str(req.get("subResource") or ""),
        )


@dataclass
class AdmissionResponse:
    """A webhook's answer."""

    allowed: bool
    message: str = ""
    code: int = 200
    reason: str = ""
    patch: list[Obj] | None = None
    warnings: list[str] = field(default_factory=list)

    def to_review(self, uid: str) -> Obj:
        """The AdmissionReview response object."""
        response: Obj = {"uid": uid, "allowed": self.allowed}
        if not self.allowed or self.message:
            result: Obj = {"code": self.code, "message": self.message}
            if self.reason:
                result["reason"] = self.reason
            response["status"] = result
        if self.patch:
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(orjson.dumps(self.patch)).decode()
        if self.warnings:
            response["warnings"] = list(self.warnings)
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


class Handler(Protocol):
    """Decides one admission request."""

    async def __call__(self, request: AdmissionRequest) -> AdmissionResponse:
        """The answer."""
        ...


def validating(check: Callable[[AdmissionRequest], Awaitable[list[str] | None]]) -> Handler:
    """A validating handler: ``check`` raises :class:`Denied` to refuse, or returns warnings."""

    async def handle(request: AdmissionRequest) -> AdmissionResponse:
        try:
            warnings = await check(request)
        except Denied as denied:
            return AdmissionResponse(False, denied.message, denied.code, denied.reason)
        return AdmissionResponse(True, warnings=list(warnings or []))

    return handle


def mutating(default: Callable[[Obj, AdmissionRequest], Awaitable[None]]) -> Handler:
    """A mutating handler: ``default`` changes the object in place; the answer carries the JSON patch."""

    async def handle(request: AdmissionRequest) -> AdmissionResponse:
        if request.object is None:
            return AdmissionResponse(True)
        changed = copy.deepcopy(request.object)
        try:
            await default(changed, request)
        except Denied as denied:
            return AdmissionResponse(False, denied.message, denied.code, denied.reason)
        patch = json_patch(request.object, changed)
        return AdmissionResponse(True, patch=patch or None)

    return handle


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def json_patch(original: Any, changed: Any, path: str = "") -> list[Obj]:
    """RFC 6902 operations that turn ``original`` into ``changed`` (lists that differ are replaced whole)."""
    if isinstance(original, dict) and isinstance(changed, dict):
        ops: list[Obj] = []
        for key in original:
            if key not in changed:
                ops.append({"op": "remove", "path": f"{path}/{_escape(key)}"})
        for key, value in changed.items():
            sub = f"{path}/{_escape(key)}"
            if key not in original:
                ops.append({"op": "add", "path": sub, "value": value})
            else:
                ops.extend(json_patch(original[key], value, sub))
        return ops
    if original == changed and type(original) is type(changed):
        return []
    return [{"op": "replace", "path": path, "value": changed}]


class WebhookServer:
    """Serves admission handlers by path (HTTPS with a certificate, or HTTP for tests)."""

    needs_leader_election = False

    def __init__(
        self,
        host: str = "0.0.0.0",
        port: int = 9443,
        *,
        cert_file: str | None = None,
        key_file: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.cert_file = cert_file
        self.key_file = key_file
        self.name = "webhook-server"
        self._handlers: dict[str, Handler] = {}
        self._runner: web.AppRunner | None = None
        #: Where it listens once started: (host, port).
        self.bound: tuple[str, int] | None = None

    def register(self, path: str, handler: Handler) -> None:
        """Serve ``handler`` at ``path`` (e.g. ``/validate-cache-example-com-v1-memcached``)."""
        if not path.startswith("/"):
            raise ValueError(f"webhook path must start with '/': {path!r}")
        self._handlers[path] = handler

    async def run(self) -> None:
        """Serve until cancelled."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def start(self) -> None:
        """Start listening."""
        app = web.Application()
        for path in self._handlers:
            app.router.add_post(path, self._serve)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        context = None
        if self.cert_file:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert_file, self.key_file)
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=context, reuse_address=True)
        await site.start()
        server: Any = site._server
        sock = server.sockets[0].getsockname() if server is not None and server.sockets else (self.host, self.port)
        self.bound = (str(sock[0]), int(sock[1]))

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _serve(self, request: web.Request) -> web.Response:
        handler = self._handlers[request.path]
        try:
            review = orjson.loads(await request.read())
            admission = AdmissionRequest.from_review(review)
        except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
            return web.Response(status=400, text=f"bad AdmissionReview: {exc}")
        try:
            answer = await handler(admission)
        except Exception as exc:
            log.exception(
                "webhook %s failed on %s %s/%s", request.path, admission.operation, admission.namespace, admission.name
            )
            answer = AdmissionResponse(False, f"internal error in webhook {request.path}: {exc}", 500, "InternalError")
        return web.Response(body=orjson.dumps(answer.to_review(admission.uid)), content_type="application/json")
