"""The SPDY upgrade relay (exec, attach, port-forward) when the far end refuses the upgrade."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import make_mocked_request

from pinnace.apiserver.proxy import relay_raw_upgrade


async def test_a_refused_upgrade_with_an_empty_body_is_answered_at_once() -> None:
    # A kubelet that answers 404 with no body and keeps the connection open: the relay once waited for body bytes
    # that never came, and kubectl exec hung.
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(30)

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    request = make_mocked_request("POST", "/exec", headers={"Upgrade": "SPDY/3.1", "Connection": "Upgrade"})
    try:
        response = await asyncio.wait_for(relay_raw_upgrade(request, f"127.0.0.1:{port}", "/exec/ns/p/c", None), 5)
    finally:
        server.close()
    assert response.status == 404
