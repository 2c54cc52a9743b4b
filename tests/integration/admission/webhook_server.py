"""A webhook server for the admission tests: HTTPS on loopback with a test CA, answering AdmissionReviews.

``WebhookServer.handlers`` maps a path to a function from the AdmissionRequest
to the AdmissionResponse fields (uid and allowed are filled in); every
request it got is kept in ``seen``.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from pinnace.adm import pki

Obj = dict[str, Any]
Handler = Callable[[Obj], Awaitable[Obj]]


class WebhookServer:
    """A TLS webhook server with its own CA; the certificate names ``dns_names`` and 127.0.0.1."""

    def __init__(self, tmp_path: Path, dns_names: tuple[str, ...] = ("localhost",)) -> None:
        ca_key = pki.generate_key(pki.ECDSA_P256)
        self.ca = pki.CertPair(pki.new_ca("webhook-ca", ca_key, validity=datetime.timedelta(days=1)), ca_key)
        key = pki.generate_key(pki.ECDSA_P256)
        spec = pki.CertSpec("webhook", dns_names=dns_names, ip_addresses=("127.0.0.1",), server=True)
        pair = pki.CertPair(pki.issue(spec, self.ca, key), key)
        crt, key_path = tmp_path / "webhook.crt", tmp_path / "webhook.key"
        pki.write_pair(crt, key_path, pair)
        self.ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ssl.load_cert_chain(crt, key_path)
        self.handlers: dict[str, Handler] = {}
        self.seen: list[tuple[str, Obj]] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def ca_bundle(self) -> str:
        """The CA, as a configuration's clientConfig.caBundle."""
        return base64.b64encode(self.ca.cert_pem()).decode()

    def url(self, path: str) -> str:
        """The URL of a path on this server."""
        return f"https://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_post("/{path:.*}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _serve(self, request: web.Request) -> web.Response:
        review = orjson.loads(await request.read())
        self.seen.append((request.path, review))
        handler = self.handlers[request.path]
        answer = {"uid": review["request"]["uid"], "allowed": True, **await handler(review["request"])}
        body = {"apiVersion": review["apiVersion"], "kind": "AdmissionReview", "response": answer}
        return web.Response(body=orjson.dumps(body), content_type="application/json")


def json_patch(operations: list[Obj]) -> Obj:
    """The response fields of a JSONPatch."""
    return {"patchType": "JSONPatch", "patch": base64.b64encode(orjson.dumps(operations)).decode()}


async def sleep_then_allow(seconds: float) -> Obj:
    """A handler body that is too slow."""
    await asyncio.sleep(seconds)
    return {}
