"""Loopback HTTP(S) servers with tiny handlers, for testing the client's TLS and credentials."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

Serve = Callable[..., contextlib.AbstractAsyncContextManager[str]]


@pytest.fixture
def serve() -> Serve:
    """``async with serve(handler, ssl_context=None) as url``: one handler for every path, on 127.0.0.1."""

    @contextlib.asynccontextmanager
    async def _serve(handler: Any, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[str]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            yield f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
        finally:
            await runner.cleanup()

    return _serve


def unauthorized(message: str = "Unauthorized") -> web.Response:
    """A 401 with a metav1.Status body, as kube-apiserver answers."""
    return web.json_response(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "message": message,
            "reason": "Unauthorized",
            "code": 401,
        },
        status=401,
    )
