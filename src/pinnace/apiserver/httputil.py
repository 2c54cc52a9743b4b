"""Small HTTP helpers shared by the API server's handlers."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
from aiohttp import web

from pinnace.api import errors
from pinnace.apiserver import negotiation
from pinnace.apiserver.negotiation import Wanted


async def read_body(request: web.BaseRequest) -> bytes:
    """The request body, refused with 413 past the limit."""
    length = request.content_length
    if length is not None and length > negotiation.MAX_BODY_BYTES:
        raise errors.RequestEntityTooLarge("the request body is too large (limit is 3145728 bytes)")
    if length is not None:  # the common case: one read, no chunk loop
        try:
            return await request.content.readexactly(length) if length else b""
        except asyncio.IncompleteReadError:
            raise errors.BadRequest("the request body ended before its Content-Length") from None
    chunks = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > negotiation.MAX_BODY_BYTES:
            raise errors.RequestEntityTooLarge("the request body is too large (limit is 3145728 bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def respond(value: Any, wanted: Wanted, status: int = 200) -> web.Response:
    """Encode an object in the negotiated form."""
    return web.Response(
        body=negotiation.encode(value, wanted),
        status=status,
        content_type=None,
        headers={"Content-Type": wanted.content_type},
    )


def status_response(err: errors.StatusError) -> web.Response:
    """The ``metav1.Status`` answer of an error (with ``Retry-After`` when it says when to retry)."""
    headers = {"Content-Type": "application/json"}
    if err.retry_after_seconds is not None:
        headers["Retry-After"] = str(err.retry_after_seconds)
    return web.Response(status=err.code, body=orjson.dumps(err.status()), headers=headers)


def internal_error_response() -> web.Response:
    """The 500 answer to a request that failed for a reason of the server's own (logged where it was caught)."""
    return status_response(errors.InternalError("an internal error occurred in the server; it has been logged"))


_INT64 = re.compile(r"[+-]?[0-9]+")
_INT64_MAX = 2**63 - 1


def int_param(query: Any, name: str) -> int | None:
    """An integer query parameter as upstream parses one (Go's ``ParseInt`` into an int64): decimal digits with
    an optional sign, nothing else (no spaces or ``_``), within int64; else 400."""
    raw = query.get(name)
    if raw in (None, ""):
        return None
    if isinstance(raw, str) and _INT64.fullmatch(raw) and -_INT64_MAX - 1 <= (value := int(raw)) <= _INT64_MAX:
        return value
    raise errors.BadRequest(f'invalid value for {name}: "{raw}"')
