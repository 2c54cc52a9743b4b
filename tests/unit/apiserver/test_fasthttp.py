"""The fast HTTP front's parser and writer: what it serves itself, and what it leaves to aiohttp."""

from __future__ import annotations

import random

import pytest
from aiohttp import web

from pinnace.apiserver import fasthttp
from pinnace.apiserver.fasthttp import FastFront, FastRequest, parse_head, serialize

BASE = "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: example\r\nContent-Length: 12"


def test_parses_a_plain_request_head() -> None:
    head = parse_head(
        b"GET /api/v1/pods?labelSelector=app%3Dweb&limit=5 HTTP/1.1\r\nHost: h\r\nAccept: application/json\r\n"
        b"X-Twice: a\r\nX-Twice: b\r\nAuthorization:   Bearer t  "
    )
    assert head is not None
    assert (head.method, head.path, head.query_string) == ("GET", "/api/v1/pods", "labelSelector=app%3Dweb&limit=5")
    assert head.headers["accept"] == "application/json"
    assert head.headers.getall("X-Twice") == ["a", "b"]
    assert head.headers["Authorization"] == "Bearer t"
    assert (head.length, head.close) == (0, False)


def test_the_front_remembers_heads_it_parsed_within_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    front = FastFront(None, lambda request: None, None)  # type: ignore[arg-type]  # (head() uses neither)
    first = front.head(BASE.encode())
    assert first is not None and front.head(BASE.encode()) is first  # a repeated head is not parsed again
    other = front.head(BASE.replace("12", "13").encode())
    assert other is not None and other is not first and other.length == 13
    assert front.head(b"GET / HTTP/1.0\r\nHost: h") is None  # what aiohttp serves is not remembered either
    big = (BASE + "\r\nX-Big: " + "x" * fasthttp.HEAD_CACHE_MAX_BYTES).encode()
    assert front.head(big) is not None and front.head(big) is not front.head(big)  # too big to keep
    monkeypatch.setattr(fasthttp, "HEAD_CACHE_ENTRIES", 3)
    heads = [front.head(f"GET /{i} HTTP/1.1\r\nHost: h".encode()) for i in range(10)]
    assert all(h is not None for h in heads) and len(front._heads) <= 3


def test_reads_content_length_and_connection_close() -> None:
    head = parse_head(BASE.encode() + b"\r\nConnection: close")
    assert head is not None and head.length == 12 and head.close


@pytest.mark.parametrize(
    "raw",
    [
        "GET /api/v1/pods HTTP/1.0\r\nHost: h",  # another HTTP version
        "HEAD /api/v1/pods HTTP/1.1\r\nHost: h",  # a method it does not serve
        "GET  /api/v1/pods HTTP/1.1\r\nHost: h",  # a malformed request line
        "GET http://h/api/v1/pods HTTP/1.1\r\nHost: h",  # absolute form
        "GET /api/v1/namespaces/a%2Fb/pods HTTP/1.1\r\nHost: h",  # percent-encoded path
        "GET /api//v1/pods HTTP/1.1\r\nHost: h",  # unnormalized path
        "GET /api/v1/../v1/pods HTTP/1.1\r\nHost: h",
        "GET /api/v1/pods HTTP/1.1",  # no Host
        BASE + "\r\nTransfer-Encoding: chunked",
        BASE + "\r\nContent-Length: 12",  # two lengths
        "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: -1",
        "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999",  # over the body limit: aiohttp answers 413
        "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: " + "9" * 5000,  # past int()'s digit limit
        BASE + "\r\nExpect: 100-continue",
        BASE + "\r\nUpgrade: websocket\r\nConnection: Upgrade",
        BASE + "\r\nConnection: keep-alive, Upgrade",
        BASE + "\r\n folded continuation",  # obsolete line folding
        BASE + "\r\nBad Name: x",
        BASE + "\r\nNoColon",
        BASE + "\r\nX-Del: a\x7fb",
    ],
)
def test_leaves_anything_unusual_to_aiohttp(raw: str) -> None:
    assert parse_head(raw.encode()) is None


def test_never_raises_on_arbitrary_bytes() -> None:
    """Random bytes, and valid heads with random bytes spliced in: None or a head, never an exception."""
    rng = random.Random(20261126)
    valid = (BASE + "\r\nAccept: application/json\r\nConnection: keep-alive").encode()
    for _ in range(3000):
        noise = rng.randbytes(rng.randrange(0, 120))
        at = rng.randrange(0, len(valid))
        for head in (noise, valid[:at] + noise + valid[at:], b"GET / HTTP/1.1\r\nHost: h\r\n" + noise):
            parsed = parse_head(head)
            assert parsed is None or parsed.method in ("GET", "POST", "PUT", "PATCH", "DELETE")


def test_leaves_non_ascii_heads_to_aiohttp() -> None:
    assert parse_head(BASE.encode() + "\r\nX-Name: caf\u00e9".encode()) is None


def test_query_decodes_like_aiohttp() -> None:
    head = parse_head(b"GET /api/v1/pods?labelSelector=app+in+(a%2C+b)&watch=&fieldSelector=x%3Dy HTTP/1.1\r\nHost: h")
    assert head is not None
    request = FastRequest(head.method, head.path, head.query_string, head.headers, b"", None)  # type: ignore[arg-type]
    assert request.query["labelSelector"] == "app in (a, b)"
    assert request.query["watch"] == ""
    assert request.query["fieldSelector"] == "x=y"
    assert request.path_qs == "/api/v1/pods?" + head.query_string
    assert request.content_length is None and not request.can_read_body


def test_serializes_a_response_with_length_date_and_headers() -> None:
    headers = {"Content-Type": "application/json", "Warning": "299 - x"}
    response = web.Response(status=201, body=b'{"a":1}', headers=headers)
    message = serialize(response, close=False)
    head, _, body = message.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 201 Created"
    assert "Content-Type: application/json" in lines and "Warning: 299 - x" in lines
    assert "Content-Length: 7" in lines
    assert any(line.startswith("Date: ") and line.endswith(" GMT") for line in lines)
    assert "Connection: close" not in lines
    assert body == b'{"a":1}'
    assert b"Connection: close" in serialize(response, close=True)


def test_refuses_header_injection_and_streams() -> None:
    with pytest.raises(ValueError):
        serialize(web.Response(body=b"x", headers={"Warning": "a\r\nSet-Cookie: b"}), close=False)
    with pytest.raises(ValueError):
        serialize(web.StreamResponse(), close=False)
    compressed = web.Response(body=b"x" * 10000)
    compressed.enable_compression()
    with pytest.raises(ValueError):
        serialize(compressed, close=False)
