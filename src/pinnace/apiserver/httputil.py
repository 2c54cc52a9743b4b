"""Small HTTP helpers shared by the API server's handlers."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from pinnace.api import errors
from pinnace.apiserver import negotiation
from pinnace.apiserver.negotiation import Wanted

#: The interim response a client that sent ``Expect: 100-continue`` waits for before it sends the body.
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
#: kube-apiserver's ``Cache-Control`` on every answer that does not set its own (its WithCacheControl filter): no
#: shared cache keeps a Secret, say, that went through ``kubectl proxy`` to a browser.
NO_CACHE = "no-cache, private"


class ClientErrorLogFilter(logging.Filter):
    """Keeps requests aiohttp's protocol cannot parse out of the error log.

    aiohttp's protocol logs every request it cannot parse at ERROR, with a traceback: a bad method, URL or
    header, or a body framing it refuses (``Content-Length`` with ``Transfer-Encoding``, say). The client made
    each of these errors and was answered 400 for it, as Go's server (kube-apiserver's) answers it, and Go's
    server does not log them. This filter drops those records; with the ``aiohttp.server`` logger at DEBUG, it
    keeps each as one DEBUG line instead. Every other record, a server error included, passes unchanged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError) or not 400 <= (exc.code or 0) < 500:
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        summary = " ".join(str(exc.message).split())
        record.msg, record.args = "%s: a request that cannot be parsed: %s", (record.getMessage(), summary)
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        record.exc_info, record.exc_text = None, None
        return True


#: The filter on aiohttp's protocol logger (``APIServer`` installs it; installing it again changes nothing).
CLIENT_ERROR_LOG_FILTER = ClientErrorLogFilter()


async def read_body(request: web.BaseRequest) -> bytes:
    """The request body, refused with 413 past the limit.

    A client that asked to be told to go on (``Expect: 100-continue``: curl does for bodies over 1 MB) is told
    so here, when the body is first wanted, as Go's server does; a body refused before that is never sent.
    """
    length = request.content_length
    if length is not None and length > negotiation.MAX_BODY_BYTES:
        raise errors.RequestEntityTooLarge("the request body is too large (limit is 3145728 bytes)")
    # (the fast front serves no request with an Expect header: only aiohttp's requests get past the first test)
    if "Expect" in request.headers and length != 0 and request.version >= (1, 1):
        await _continue(request)
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


async def _continue(request: web.BaseRequest) -> None:
    """Send ``100 Continue`` if the client expects it (other expectations are ignored, as RFC 9110 allows)."""
    writer = request.writer
    if request.headers.get("Expect", "").lower() == "100-continue" and writer is not None:
        await writer.write(CONTINUE)
        writer.output_size = 0  # the interim response is not part of the response's size


def respond(value: Any, wanted: Wanted, status: int = 200) -> web.Response:
    """Encode an object in the negotiated form."""
    return web.Response(
        body=negotiation.encode(value, wanted),
        status=status,
        content_type=None,
        headers={"Content-Type": wanted.content_type, "Cache-Control": NO_CACHE},
    )


def status_response(err: errors.StatusError) -> web.Response:
    """The ``metav1.Status`` answer of an error (with ``Retry-After`` when it says when to retry)."""
    headers = {"Content-Type": "application/json", "Cache-Control": NO_CACHE}
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
