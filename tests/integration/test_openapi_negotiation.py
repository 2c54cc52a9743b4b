"""OpenAPI documents answer JSON, v2 also gnostic protobuf; protobuf-only v3 requests get a 406 clients recognise."""

from __future__ import annotations

import urllib.request

import pytest
from tests.integration.conftest import ThreadedServer, raw_request
from tests.unit.api.test_openapi_proto import gnostic_document_class

PB_V2 = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
PB_V3 = "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"


def test_protobuf_only_v3_is_406_not_acceptable(threaded_server: ThreadedServer) -> None:
    status, body = raw_request(threaded_server.url, "GET", "/openapi/v3/apis/apps/v1", headers={"Accept": PB_V3})
    assert status == 406
    assert body["kind"] == "Status" and body["reason"] == "NotAcceptable" and body["code"] == 406


@pytest.mark.parametrize("accept", [PB_V2, f"{PB_V2}, application/json", PB_V2.replace("@", ".")])
def test_v2_is_served_as_gnostic_protobuf_when_asked_first(threaded_server: ThreadedServer, accept: str) -> None:
    """What kubectl's openapi v2 client asks for; the bytes parse as gnostic's openapi.v2.Document."""
    request = urllib.request.Request(threaded_server.url + "/openapi/v2", headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Content-Type"] == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
        data = response.read()
    doc = gnostic_document_class().FromString(data)
    assert doc.swagger == "2.0"
    names = {d.name for d in doc.definitions.additional_properties}
    assert "io.k8s.api.apps.v1.Deployment" in names


@pytest.mark.parametrize(
    "accept", [f"application/json, {PB_V2}", "application/json;q=0.9", "*/*", "application/json", ""]
)
def test_json_is_served_when_acceptable(threaded_server: ThreadedServer, accept: str) -> None:
    headers = {"Accept": accept} if accept else {}
    status, body = raw_request(threaded_server.url, "GET", "/openapi/v2", headers=headers)
    assert status == 200 and body["swagger"] == "2.0"
    status, index = raw_request(threaded_server.url, "GET", "/openapi/v3", headers=headers)
    assert status == 200 and "apis/apps/v1" in index["paths"]
