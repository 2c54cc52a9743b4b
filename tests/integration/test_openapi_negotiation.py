"""OpenAPI documents answer JSON, and refuse protobuf-only requests with a 406 clients recognise."""

from __future__ import annotations

import pytest
from tests.integration.conftest import ThreadedServer, raw_request

PB_V2 = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
PB_V3 = "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"


@pytest.mark.parametrize(("path", "accept"), [("/openapi/v2", PB_V2), ("/openapi/v3/apis/apps/v1", PB_V3)])
def test_protobuf_only_is_406_not_acceptable(threaded_server: ThreadedServer, path: str, accept: str) -> None:
    status, body = raw_request(threaded_server.url, "GET", path, headers={"Accept": accept})
    assert status == 406
    assert body["kind"] == "Status" and body["reason"] == "NotAcceptable" and body["code"] == 406


@pytest.mark.parametrize(
    "accept", [f"{PB_V2}, application/json", f"{PB_V2};q=1, application/json;q=0.9", "*/*", "application/json", ""]
)
def test_json_is_served_when_acceptable(threaded_server: ThreadedServer, accept: str) -> None:
    headers = {"Accept": accept} if accept else {}
    status, body = raw_request(threaded_server.url, "GET", "/openapi/v2", headers=headers)
    assert status == 200 and body["swagger"] == "2.0"
    status, index = raw_request(threaded_server.url, "GET", "/openapi/v3", headers=headers)
    assert status == 200 and "apis/apps/v1" in index["paths"]
