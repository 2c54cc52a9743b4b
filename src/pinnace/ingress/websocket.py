"""WebSocket pass-through: the backend's handshake first, then the client's, then every message relayed both ways.

The upgrade is offered to the backend with the client's headers and subprotocols. Its refusal is answered with the
same status and headers, without the body (``502``/``504`` when it cannot be reached); its acceptance with a ``101``
to the client naming the subprotocol the backend chose. Text, binary, ping and pong messages are relayed as they
come (no automatic pongs: the other end answers its own pings); the first close, from either side, is passed on with
its code and reason and ends both connections.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiohttp import WSMsgType, web
from multidict import CIMultiDict
from yarl import URL

__all__ = ["is_websocket_upgrade", "relay_websocket"]

log = logging.getLogger(__name__)

#: The handshake headers aiohttp's client makes itself for the backend.
_HANDSHAKE = ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol")
#: Headers of a refused handshake's answer not passed on (its body is not: aiohttp's client does not keep it).
_NOT_KEPT = frozenset(("connection", "keep-alive", "upgrade", "transfer-encoding", "content-length", "content-type"))
#: Close codes that may not be sent in a close frame (RFC 6455 §7.4.1).
_UNSENDABLE = frozenset((1005, 1006, 1015))

Socket = web.WebSocketResponse | aiohttp.ClientWebSocketResponse


def is_websocket_upgrade(request: web.BaseRequest) -> bool:
    """Whether ``request`` asks to upgrade its connection to a WebSocket."""
    tokens = {t.strip().lower() for v in request.headers.getall("Connection", ()) for t in v.split(",")}
    return "upgrade" in tokens and request.headers.get("Upgrade", "").lower() == "websocket"


async def _pump(source: Socket, sink: Socket) -> tuple[int, bytes]:
    """Relay messages from ``source`` to ``sink`` until ``source`` closes; its close code and reason."""
    while True:
        message = await source.receive()
        if message.type is WSMsgType.TEXT:
            await sink.send_str(message.data)
        elif message.type is WSMsgType.BINARY:
            await sink.send_bytes(message.data)
        elif message.type is WSMsgType.PING:
            await sink.ping(message.data)
        elif message.type is WSMsgType.PONG:
            await sink.pong(message.data)
        elif message.type is WSMsgType.CLOSE:
            code = int(message.data or 1000)
            return (1000 if code in _UNSENDABLE else code), str(message.extra or "").encode()
        else:  # CLOSING, CLOSED, ERROR: the connection is gone without a close frame
            return 1001, b""


async def relay_websocket(
    request: web.BaseRequest, session: aiohttp.ClientSession, url: URL, headers: CIMultiDict[str]
) -> web.StreamResponse:
    """Open the WebSocket at ``url`` with ``headers`` (the forwarded ones), accept the client's, relay until closed."""
    for name in _HANDSHAKE:
        headers.popall(name, None)
    protocols = [p.strip() for v in request.headers.getall("Sec-WebSocket-Protocol", ()) for p in v.split(",")]
    try:
        backend = await session.ws_connect(
            url, headers=headers, protocols=[p for p in protocols if p], autoclose=False, autoping=False, max_msg_size=0
        )
    except aiohttp.WSServerHandshakeError as exc:  # the backend answered, but not with an upgrade: pass that on
        kept = {k: v for k, v in (exc.headers or {}).items() if k.lower() not in _NOT_KEPT}
        return web.Response(status=exc.status, headers=kept)
    except TimeoutError:
        return web.Response(status=504, text="the backend did not answer the WebSocket handshake in time\n")
    except (aiohttp.ClientError, OSError) as exc:
        return web.Response(status=502, text=f"the backend could not be reached: {exc}\n")
    client = web.WebSocketResponse(
        protocols=(backend.protocol,) if backend.protocol else (), autoclose=False, autoping=False, max_msg_size=0
    )
    code, reason = 1011, b""
    try:
        await client.prepare(request)
        pumps = [asyncio.create_task(_pump(client, backend)), asyncio.create_task(_pump(backend, client))]
        try:
            done, _ = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
        first = next(iter(done))
        if not first.cancelled() and first.exception() is None:
            code, reason = first.result()
    finally:
        await backend.close(code=code, message=reason)
    await client.close(code=code, message=reason)
    return client
