"""Each probe kind against real servers and a real container: verdicts and upstream's wording."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import grpc
import pytest
from aiohttp import web

from pinnace.node import cri
from pinnace.node.probes import handlers
from pinnace.node.probes.handlers import Result
from pinnace.node.process import ProcessRuntime


@pytest.fixture
async def http_server() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    released = asyncio.Event()  # set at teardown: the server's cleanup waits for a slow handler still answering

    async def ok(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(text="fine")

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=503, text="down")

    async def hop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/ok")

    async def away(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://localhost:1/elsewhere")

    async def slow(request: web.Request) -> web.Response:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(released.wait(), 5)
        return web.Response(text="late")

    app = web.Application()
    for path, handler in (("/ok", ok), ("/broken", broken), ("/hop", hop), ("/away", away), ("/slow", slow)):
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", seen
    released.set()
    await runner.cleanup()


async def test_http_probe_verdicts(http_server: tuple[str, list[dict[str, str]]]) -> None:
    base, seen = http_server
    async with aiohttp.ClientSession() as session:
        ok = await handlers.http_probe(session, f"{base}/ok", [{"name": "X-Probe", "value": "yes"}], 1)
        assert ok.result is Result.SUCCESS and ok.output == "fine"
        assert seen[-1]["User-Agent"] == "kube-probe/1.32" and seen[-1]["X-Probe"] == "yes"
        bad = await handlers.http_probe(session, f"{base}/broken", [], 1)
        assert (bad.result, bad.output) == (Result.FAILURE, "HTTP probe failed with statuscode: 503")
        hop = await handlers.http_probe(session, f"{base}/hop", [], 1)
        assert hop.result is Result.SUCCESS and hop.output == "fine"
        away = await handlers.http_probe(session, f"{base}/away", [], 1)
        assert away.result is Result.WARNING and away.output.startswith("Probe terminated redirects")
        slow = await handlers.http_probe(session, f"{base}/slow", [], 0.2)
        assert slow.result is Result.FAILURE and "context deadline exceeded" in slow.output
        gone = await handlers.http_probe(session, "http://127.0.0.1:1/", [], 1)
        assert (gone.result, gone.output) == (
            Result.FAILURE,
            'Get "http://127.0.0.1:1/": dial tcp 127.0.0.1:1: connect: connection refused',
        )


async def test_tcp_probe() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        assert (await handlers.tcp_probe("127.0.0.1", port, 1)).result is Result.SUCCESS
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    refused = await handlers.tcp_probe("127.0.0.1", closed, 1)
    assert refused.result is Result.FAILURE
    assert refused.output == f"dial tcp 127.0.0.1:{closed}: connect: connection refused"


class _Health(grpc.GenericRpcHandler):
    """A real grpc.health.v1 server: SERVING for "" and "web", NOT_SERVING for "db", NOT_FOUND otherwise."""

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        if details.method != "/grpc.health.v1.Health/Check":
            return None

        async def check(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            service = request[2:].decode() if request else ""
            if service in ("", "web"):
                return b"\x08\x01"
            if service == "db":
                return b"\x08\x02"
            await context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
            return b""

        return grpc.unary_unary_rpc_method_handler(check, lambda b: b, lambda b: b)


async def test_grpc_probe() -> None:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((_Health(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        assert (await handlers.grpc_probe("127.0.0.1", port, "", 2)).result is Result.SUCCESS
        assert (await handlers.grpc_probe("127.0.0.1", port, "web", 2)).result is Result.SUCCESS
        db = await handlers.grpc_probe("127.0.0.1", port, "db", 2)
        assert (db.result, db.output) == (Result.FAILURE, 'service unhealthy (responded with "NOT_SERVING")')
        unknown = await handlers.grpc_probe("127.0.0.1", port, "nope", 2)
        assert unknown.result is Result.FAILURE and "NOT_FOUND" in unknown.output
    finally:
        await server.stop(None)
    down = await handlers.grpc_probe("127.0.0.1", port, "", 1)
    assert down.result is Result.FAILURE and down.output.startswith("timeout: failed to connect service")


def test_ports_by_number_or_name() -> None:
    container = {"name": "web", "ports": [{"name": "http", "containerPort": 8080}]}
    assert handlers.resolve_port(80, container) == 80
    assert handlers.resolve_port("81", container) == 81
    assert handlers.resolve_port("http", container) == 8080
    for bad in ("metrics", 0, 70000):
        with pytest.raises(ValueError):
            handlers.resolve_port(bad, container)


async def test_exec_probe_in_a_real_container(tmp_path: Path) -> None:
    runtime = ProcessRuntime(tmp_path / "runtime")
    sandbox = await runtime.run_pod_sandbox(cri.SandboxConfig("p", "default", "uid-1"))
    cid = await runtime.create_container(
        sandbox, cri.ContainerConfig("c", "busybox", command=("sleep", "60"), log_path=str(tmp_path / "c.log"))
    )
    await runtime.start_container(cid)
    try:
        ok = await handlers.exec_probe(runtime, cid, ["sh", "-c", "echo alive"], 5)
        assert (ok.result, ok.output) == (Result.SUCCESS, "alive\n")
        bad = await handlers.exec_probe(runtime, cid, ["sh", "-c", "echo sick >&2; exit 1"], 5)
        assert (bad.result, bad.output) == (Result.FAILURE, "sick\n")
        slow = await handlers.exec_probe(runtime, cid, ["sleep", "10"], 0.3)
        assert (slow.result, slow.output) == (Result.FAILURE, "command 'sleep 10' timed out")
    finally:
        await runtime.stop_all()
