"""The API server's HTTP front on the wire: plain requests, pipelining, and the hand-over to aiohttp.

Requests the fast front serves and requests it hands to aiohttp must get the same answers; a connection
handed over keeps working (aiohttp serves the rest of it)."""

from __future__ import annotations

import asyncio
import gzip
import logging

import orjson
import pytest

from pinnace.apiserver.server import APIServer

CM = orjson.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "front"}, "data": {"k": "v"}})


async def _open(server: APIServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One response: status, headers (lower-case names), body (Content-Length or chunked)."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    lines = head.split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
        return status, headers, body
    return status, headers, await reader.readexactly(int(headers.get("content-length", "0")))


def _post(path: str, body: bytes, extra: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(body)}\r\n{extra}"
    return head.encode() + b"\r\n" + body


def _get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode()


#: Create the ConfigMap, read it, read one that is not there: a 201, a 200 and a 404.
CREATE_READ_MISS = (
    _post("/api/v1/namespaces/default/configmaps", CM)
    + _get("/api/v1/namespaces/default/configmaps/front")
    + _get("/api/v1/namespaces/default/configmaps/missing")
)


async def test_pipelined_requests_are_answered_in_order(api_server: APIServer) -> None:
    reader, writer = await _open(api_server)
    writer.write(CREATE_READ_MISS + _get("/version"))
    status, headers, body = await _response(reader)
    assert status == 201 and headers["content-type"] == "application/json" and "date" in headers
    assert orjson.loads(body)["metadata"]["name"] == "front"
    status, _, body = await _response(reader)
    assert status == 200 and orjson.loads(body)["data"] == {"k": "v"}
    status, _, body = await _response(reader)
    assert status == 404 and orjson.loads(body)["reason"] == "NotFound"
    status, _, body = await _response(reader)
    assert status == 200 and "gitVersion" in orjson.loads(body)
    writer.close()


async def test_a_body_arriving_in_pieces_is_read_whole(api_server: APIServer) -> None:
    reader, writer = await _open(api_server)
    message = _post("/api/v1/namespaces/default/configmaps", CM)
    for i in range(0, len(message), 7):
        writer.write(message[i : i + 7])
        await writer.drain()
        await asyncio.sleep(0)
    status, _, _ = await _response(reader)
    assert status == 201
    writer.close()


async def test_connection_close_is_honoured(api_server: APIServer) -> None:
    reader, writer = await _open(api_server)
    writer.write(_get("/version", "Connection: close\r\n"))
    status, headers, _ = await _response(reader)
    assert status == 200 and headers["connection"] == "close"
    assert await reader.read() == b""  # the server closed it
    writer.close()


async def test_chunked_body_goes_to_aiohttp_and_the_connection_stays_usable(api_server: APIServer) -> None:
    reader, writer = await _open(api_server)
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(CM), CM)
    writer.write(
        b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunked + _get("/api/v1/namespaces/default/configmaps/front")
    )
    status, _, body = await _response(reader)
    assert status == 201, body
    status, _, body = await _response(reader)
    assert status == 200 and orjson.loads(body)["metadata"]["name"] == "front"
    writer.close()


async def test_bad_input_gets_the_same_answers_on_both_paths(api_server: APIServer) -> None:
    reader, writer = await _open(api_server)
    # Malformed JSON on the fast path: a Status 400, and the connection lives on.
    writer.write(_post("/api/v1/namespaces/default/configmaps", b"{not json"))
    status, _, body = await _response(reader)
    assert status == 400 and orjson.loads(body)["kind"] == "Status"
    # A body over the limit is aiohttp's, which answers the handlers' 413.
    writer.write(_post("/api/v1/namespaces/default/configmaps", b"x" * (3 * 1024 * 1024 + 1)))
    status, _, body = await _response(reader)
    assert status == 413 and orjson.loads(body)["reason"] == "RequestEntityTooLarge"
    writer.close()
    # A header aiohttp refuses: its 400, as before the fast front.
    reader, writer = await _open(api_server)
    writer.write(b"GET /version HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n")
    status, _, _ = await _response(reader)
    assert status == 400
    writer.close()


async def test_percent_encoded_paths_and_http_1_0_are_served_by_aiohttp(api_server: APIServer) -> None:
    reader, writer = await _open(api_server)
    writer.write(_post("/api/v1/namespaces/default/configmaps", CM))
    assert (await _response(reader))[0] == 201
    writer.write(_get("/api/v1/namespaces/default/configmaps/fr%6Fnt"))
    status, _, body = await _response(reader)
    assert status == 200 and orjson.loads(body)["metadata"]["name"] == "front"
    writer.close()
    reader, writer = await _open(api_server)
    writer.write(b"GET /version HTTP/1.0\r\n\r\n")
    status, _, body = await _response(reader)
    assert status == 200 and "gitVersion" in orjson.loads(body)
    writer.close()


async def test_a_watch_is_handed_over_and_streams(api_server: APIServer) -> None:
    reader, writer = await _open(api_server)
    writer.write(_get("/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1"))
    head = (await reader.readuntil(b"\r\n\r\n")).decode().lower()
    assert head.startswith("http/1.1 200") and "transfer-encoding: chunked" in head
    creator_reader, creator = await _open(api_server)
    creator.write(_post("/api/v1/namespaces/default/configmaps", CM))
    assert (await _response(creator_reader))[0] == 201
    size = int((await reader.readuntil(b"\r\n")).strip(), 16)
    event = orjson.loads((await reader.readexactly(size + 2))[:-2])
    assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "front"
    creator.close()
    writer.close()


async def test_openapi_is_served_compressed_by_aiohttp(api_server: APIServer) -> None:
    reader, writer = await _open(api_server)
    writer.write(_get("/openapi/v2", "Accept: application/json\r\nAccept-Encoding: gzip\r\n") + _get("/version"))
    status, headers, body = await _response(reader)
    assert status == 200 and headers.get("content-encoding") == "gzip"
    assert orjson.loads(gzip.decompress(body))["swagger"] == "2.0"
    status, _, body = await _response(reader)  # the connection, now aiohttp's, serves on
    assert status == 200 and "gitVersion" in orjson.loads(body)
    writer.close()


async def test_server_stop_closes_idle_fast_connections(api_server: APIServer) -> None:
    reader, writer = await _open(api_server)
    writer.write(_get("/version"))
    assert (await _response(reader))[0] == 200
    await api_server.stop()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_expect_100_continue_is_answered_before_the_body_is_sent(api_server: APIServer) -> None:
    """curl sends ``Expect: 100-continue`` for bodies over 1 MB and waits (a second) for the interim response:
    Go's server sends it when the body is first read, and never for a body it refuses first."""
    cm = orjson.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "expect"}, "data": {"k": "v"}})
    reader, writer = await _open(api_server)
    request = _post("/api/v1/namespaces/default/configmaps", cm, "Expect: 100-continue\r\n")
    head, body = request[: len(request) - len(cm)], cm
    writer.write(head)
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(body)
    status, _, answer = await _response(reader)
    assert status == 201 and orjson.loads(answer)["metadata"]["name"] == "expect"
    writer.close()

    reader, writer = await _open(api_server)  # too large: refused at once, no interim response, no body sent
    writer.write(
        b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 4000000\r\nExpect: 100-continue\r\n\r\n"
    )
    status, _, answer = await asyncio.wait_for(_response(reader), 5)
    assert status == 413 and orjson.loads(answer)["reason"] == "RequestEntityTooLarge"
    writer.close()


async def test_methods_aiohttp_does_not_know_get_the_apis_status(api_server: APIServer) -> None:
    """Go's server takes any token as a method, case kept, and kube-apiserver's routes answer those they lack: 405 on
    a resource (or a kubelet stream), 404 where no route is, as a Status; the connection lives on (aiohttp's parser
    refused them with a plain-text 400). A method that is no token is still refused as a bad request."""
    cms = "/api/v1/namespaces/default/configmaps"
    cases = [
        ("get", cms, 405),
        ("BREW", cms + "/x", 405),
        ("Get", "/api", 405),
        ("BREW", "/api/v1/namespaces/default/pods/p/exec", 405),
        ("BREW", "/api/v1/namespaces/default/widgets", 404),
        ("brew", "/nowhere", 404),
        ("BREW", "/version", 405),
        ("OPTIONS", cms, 405),  # one aiohttp knows (the connection is aiohttp's from here on): the same answer
    ]
    reader, writer = await _open(api_server)
    for method, path, code in cases:
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        status, _, body = await _response(reader)
        answer = orjson.loads(body)
        assert (status, answer["kind"], answer["code"]) == (code, "Status", code), (method, path)
        reason = "MethodNotAllowed" if code == 405 else "NotFound"
        assert (answer["reason"], answer["details"]) == (reason, {})
    writer.write(_get(cms))
    assert (await _response(reader))[0] == 200
    writer.close()
    reader, writer = await _open(api_server)
    for method in ("BREW", "POST"):  # upstream's health checks are plain handlers: any method is served
        writer.write(f"{method} /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n".encode())
        assert (await _response(reader))[::2] == (200, b"ok")
    writer.close()
    reader, writer = await _open(api_server)
    writer.write(b"BR(EW /api HTTP/1.1\r\nHost: t\r\n\r\n")
    assert (await _response(reader))[0] == 400
    writer.close()


async def test_requests_aiohttp_cannot_parse_are_answered_400_and_not_logged_as_errors(
    api_server: APIServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Malformed requests are the client's errors: a 400, as Go's server answers them, and no ERROR with a
    traceback in the server's log (aiohttp's protocol logs each so); at DEBUG, one line each. The server goes on."""
    malformed = [
        _post("/api/v1/namespaces/default/configmaps", CM, "Transfer-Encoding: chunked\r\n"),  # both framings
        b"GET /api/v1/namespaces/default/configmaps/a b HTTP/1.1\r\nHost: t\r\n\r\n",  # a space in the URL
        b"GET /version HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n",
    ]

    async def send_all() -> None:
        for request in malformed:
            reader, writer = await _open(api_server)
            writer.write(request)
            assert (await _response(reader))[0] == 400, request
            writer.close()

    with caplog.at_level(logging.INFO, logger="aiohttp.server"):
        await send_all()
    assert [r for r in caplog.records if r.name == "aiohttp.server"] == []
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="aiohttp.server"):
        await send_all()
    lines = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [r.levelno for r in lines] == [logging.DEBUG] * len(malformed), [r.getMessage() for r in lines]
    assert all(r.exc_info is None and "cannot be parsed" in r.getMessage() for r in lines)
    assert "can't be present with" in lines[0].getMessage()  # what was wrong, on one line
    reader, writer = await _open(api_server)
    writer.write(_get("/version"))
    assert (await _response(reader))[0] == 200
    writer.close()


async def test_every_answer_says_no_shared_cache_may_keep_it(api_server: APIServer) -> None:
    # kube-apiserver's WithCacheControl: "no-cache, private" unless the handler set its own (the OpenAPI v3
    # documents by hash are "public, immutable"). Fast front, aiohttp's side, errors and watches alike.
    reader, writer = await _open(api_server)
    writer.write(
        CREATE_READ_MISS
        + _get("/api/v1/namespaces/default/configmaps")
        + _get("/version")
        + _get("/apis")
        + _get("/openapi/v2", "Accept-Encoding: gzip\r\n")  # served by aiohttp (compressed)
        + _get("/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1")
    )
    answers = [await _response(reader) for _ in range(8)]
    writer.close()
    assert [status for status, _, _ in answers] == [201, 200, 404, 200, 200, 200, 200, 200]
    assert [headers.get("cache-control") for _, headers, _ in answers] == ["no-cache, private"] * 8
    _, headers, body = answers[-1]
    assert headers["transfer-encoding"] == "chunked" and b'"type":"ADDED"' in body

    reader, writer = await _open(api_server)
    writer.write(_get("/openapi/v3"))
    _, _, body = await _response(reader)
    url = orjson.loads(body)["paths"]["api/v1"]["serverRelativeURL"]
    writer.write(_get(url, "Accept-Encoding: identity\r\n"))
    status, headers, _ = await _response(reader)
    writer.close()
    assert "?hash=" in url and status == 200 and headers["cache-control"] == "public, immutable"
