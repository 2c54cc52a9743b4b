"""Errors are ``metav1.Status`` objects with upstream's code and reason, and a failed request writes nothing.

Raw requests (urllib), so the bodies reach the server exactly as written.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException
from tests.integration.conftest import ThreadedServer, raw_request

CMS = "/api/v1/namespaces/default/configmaps"
JSON = {"Content-Type": "application/json"}


def _cm(name: str = "x", **extra: Any) -> bytes:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, **extra}).encode()


def _assert_status(body: Any, code: int, reason: str) -> None:
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    assert body["status"] == "Failure"
    assert body["code"] == code
    assert body["reason"] == reason
    assert body["message"]


@pytest.fixture
def seeded(threaded_server: ThreadedServer) -> ThreadedServer:
    status, _ = raw_request(threaded_server.url, "POST", CMS, _cm("keep", data={"a": "1"}), JSON)
    assert status == 201
    return threaded_server


def _snapshot(server: ThreadedServer) -> tuple[int, Any]:
    """The store's revision and the configmaps, to prove a failed request changed nothing."""
    revision = server.call(server.server.store.current_revision())
    return revision, raw_request(server.url, "GET", CMS)[1]["items"]


CASES: list[tuple[str, str, str, bytes | None, dict[str, str], int, str]] = [
    ("malformed JSON", "POST", CMS, b'{"apiVersion": "v1", "kind": ', JSON, 400, "BadRequest"),
    ("a JSON array", "POST", CMS, b"[1, 2]", JSON, 400, "BadRequest"),
    ("kind mismatch", "POST", CMS, _cm().replace(b'"ConfigMap"', b'"Secret"'), JSON, 400, "BadRequest"),
    ("apiVersion mismatch", "POST", CMS, _cm().replace(b'"v1"', b'"apps/v1"', 1), JSON, 400, "BadRequest"),
    ("name mismatch on PUT", "PUT", CMS + "/keep", _cm("other"), JSON, 400, "BadRequest"),
    ("namespace mismatch", "POST", CMS, _cm().replace(b'"name"', b'"namespace": "kube-system", "name"'), JSON, 400,
     "BadRequest"),
    ("unknown resource", "GET", "/api/v1/namespaces/default/widgets", None, {}, 404, "NotFound"),
    ("unknown group", "GET", "/apis/example.com/v1/widgets", None, {}, 404, "NotFound"),
    ("unknown subresource", "GET", CMS + "/keep/status", None, {}, 404, "NotFound"),
    ("missing object", "GET", CMS + "/nope", None, {}, 404, "NotFound"),
    ("delete a missing object", "DELETE", CMS + "/nope", None, {}, 404, "NotFound"),
    ("wrong media type", "POST", CMS, _cm(), {"Content-Type": "text/plain"}, 415, "UnsupportedMediaType"),
    ("wrong patch type", "PATCH", CMS + "/keep", b'{"data": {}}', JSON, 415, "UnsupportedMediaType"),
    ("malformed merge patch", "PATCH", CMS + "/keep", b"{nope", {"Content-Type": "application/merge-patch+json"}, 400,
     "BadRequest"),
    ("malformed json patch", "PATCH", CMS + "/keep", b'{"op": "add"}', {"Content-Type": "application/json-patch+json"},
     400, "BadRequest"),
    ("PUT on a collection", "PUT", CMS, _cm(), JSON, 405, "MethodNotAllowed"),
    ("POST on an object", "POST", CMS + "/keep", _cm("keep"), JSON, 405, "MethodNotAllowed"),
    ("invalid name", "POST", CMS, _cm("Bad_Name"), JSON, 422, "Invalid"),
    ("no name", "POST", CMS, json.dumps({"metadata": {}}).encode(), JSON, 422, "Invalid"),
    ("bad label", "POST", CMS, json.dumps({"metadata": {"name": "l", "labels": {"a": "b c"}}}).encode(), JSON, 422,
     "Invalid"),
    ("already exists", "POST", CMS, _cm("keep"), JSON, 409, "AlreadyExists"),
    ("stale update", "PUT", CMS + "/keep", json.dumps({"metadata": {"name": "keep", "resourceVersion": "1"}}).encode(),
     JSON, 409, "Conflict"),
    ("bad label selector", "GET", CMS + "?labelSelector=a%20in%20b", None, {}, 400, "BadRequest"),
    ("bad limit", "GET", CMS + "?limit=abc", None, {}, 400, "BadRequest"),
    ("a quantity with a huge exponent", "POST", "/api/v1/namespaces/default/pods", json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "1e9999999999"}}}]},
    }).encode(), JSON, 400, "BadRequest"),
    ("limit beyond int64", "GET", CMS + "?limit=99999999999999999999", None, {}, 400, "BadRequest"),
    ("limit with an underscore", "GET", CMS + "?limit=1_0", None, {}, 400, "BadRequest"),
    ("limit with spaces", "GET", CMS + "?limit=%201", None, {}, 400, "BadRequest"),
    ("gracePeriodSeconds beyond int64", "DELETE", CMS + "/keep?gracePeriodSeconds=9223372036854775808", None, {},
     400, "BadRequest"),
    ("watch timeoutSeconds beyond int64", "GET", CMS + "?watch=1&timeoutSeconds=9223372036854775808", None, {}, 400,
     "BadRequest"),
    ("a YAML null body", "POST", CMS, b"null", {"Content-Type": "application/yaml"}, 400, "BadRequest"),
    ("a YAML number body", "PUT", CMS + "/keep", b"3", {"Content-Type": "application/yaml"}, 400, "BadRequest"),
    ("a YAML y (go-yaml's bool) as a string", "POST", CMS, b"metadata:\n  name: yes-no\ndata:\n  answer: y\n",
     {"Content-Type": "application/yaml"}, 400, "BadRequest"),
    # Upstream's muxes take the path as sent (no cleaning, no 301) and go-restful's routes have no empty segment.
    ("a leading double slash", "GET", "/" + CMS, None, {}, 404, "NotFound"),
    ("an empty segment", "GET", "/api//v1", None, {}, 404, "NotFound"),
    ("an empty segment in a resource path", "DELETE", "/api/v1//namespaces/default/configmaps/keep", None, {}, 404,
     "NotFound"),
    ("a dot segment", "GET", "/./api", None, {}, 404, "NotFound"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "code", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_errors_are_status_objects_and_write_nothing(
    seeded: ThreadedServer, method: str, path: str, body: bytes | None, headers: dict[str, str], code: int, reason: str
) -> None:
    before = _snapshot(seeded)
    status, answer = raw_request(seeded.url, method, path, body, headers)
    assert status == code, answer
    _assert_status(answer, code, reason)
    assert _snapshot(seeded) == before


NAMELESS: list[tuple[str, str, Any, str]] = [
    ("PUT", "application/json", {"metadata": None, "data": {"a": "2"}}, ""),
    ("PATCH", "application/merge-patch+json", {"metadata": None}, ""),
    ("PATCH", "application/json-patch+json", [{"op": "remove", "path": "/metadata/name"}], ""),
    ("PATCH", "application/strategic-merge-patch+json", {"metadata": {"name": "other"}}, "other"),
]


@pytest.mark.parametrize(("method", "media", "body", "found"), NAMELESS, ids=[case[1] for case in NAMELESS])
def test_an_update_or_patch_must_keep_the_name_of_the_url(
    seeded: ThreadedServer, method: str, media: str, body: Any, found: str
) -> None:
    """Upstream's checkName: a PUT body or a patch's result whose name is not the URL's, a missing one included
    (null metadata, a removed name), is a 400 naming both (a missing name was filled in and the write done, a
    renaming patch answered a Python-quoted 'field is immutable')."""
    before = _snapshot(seeded)
    status, answer = raw_request(seeded.url, method, CMS + "/keep", json.dumps(body).encode(), {"Content-Type": media})
    expected = f"the name of the object ({found}) does not match the name on the URL (keep)"
    assert (status, answer["message"]) == (400, expected)
    assert _snapshot(seeded) == before


def test_an_apply_that_creates_with_a_name_of_the_wrong_type_is_a_decoding_error(seeded: ThreadedServer) -> None:
    """An apply configuration whose metadata.name is a list, for an object that does not exist yet: a 400 that
    says what is wrong, in Go's words (it named the list as Python prints it), and nothing is written."""
    before = _snapshot(seeded)
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ["x"]}}
    headers = {"Content-Type": "application/apply-patch+yaml"}
    status, answer = raw_request(seeded.url, "PATCH", CMS + "/fresh?fieldManager=t", json.dumps(body).encode(), headers)
    expected = "json: cannot unmarshal array into Go struct field ObjectMeta.metadata.name of type string"
    assert (status, answer["message"]) == (400, expected)
    assert _snapshot(seeded) == before


def test_yaml_keys_that_differ_in_type_are_no_duplicates(seeded: ThreadedServer) -> None:
    """go-yaml's strict decode compares keys by type and value: ``1:`` and ``"1":`` (or ``true:`` and ``"true":``)
    are two keys, which become one in JSON (one value kept); upstream's Strict validation accepts the body (it was
    refused as a duplicate). Two keys of one type still are one."""
    yaml_body = b'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typed\ndata:\n  1: p\n  "1": q\n  true: a\n'
    yaml_body += b'  "true": b\n'
    as_yaml = {"Content-Type": "application/yaml"}
    status, created = raw_request(seeded.url, "POST", CMS + "?fieldValidation=Strict", yaml_body, as_yaml)
    assert (status, sorted(created["data"])) == (201, ["1", "true"])
    repeated = yaml_body.replace(b'"1": q', b"1: q").replace(b"typed", b"twice")
    status, answer = raw_request(seeded.url, "POST", CMS + "?fieldValidation=Strict", repeated, as_yaml)
    assert (status, answer["message"].splitlines()[-1].strip()) == (400, "line 7: key 1 already set in map")


def test_a_watch_with_the_largest_timeout_streams(seeded: ThreadedServer) -> None:
    # int64's maximum is a valid timeoutSeconds: the watch opens (and ends here only because the client stops).
    request = urllib.request.Request(seeded.url + CMS + "?watch=1&timeoutSeconds=9223372036854775807")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        first = json.loads(response.readline())
        assert raw_request(seeded.url, "POST", CMS, _cm("later"), JSON)[0] == 201
        second = json.loads(response.readline())  # the stream goes on waiting past its initial events
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in (first, second)] == [
        ("ADDED", "keep"),
        ("ADDED", "later"),
    ]


def test_a_null_quantity_is_a_zero_as_go_decodes_it(seeded: ThreadedServer) -> None:
    # a LimitRange holding null stayed null, and every pod create in its namespace was then a 500
    limits = {"type": "Container", "max": {"cpu": None}}
    body = json.dumps(
        {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l"}, "spec": {"limits": [limits]}}
    )
    status, stored = raw_request(seeded.url, "POST", "/api/v1/namespaces/default/limitranges", body.encode(), JSON)
    assert status == 201 and stored["spec"]["limits"][0]["max"] == {"cpu": "0"}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    }
    status, answer = raw_request(seeded.url, "POST", "/api/v1/namespaces/default/pods", json.dumps(pod).encode(), JSON)
    assert status == 201, answer  # within the limit range (its defaults of 0 CPU fill the container's resources)


def test_a_not_found_status_always_has_details_as_upstreams(seeded: ThreadedServer) -> None:
    # kubectl dereferences them (kubectl debug tells a missing subresource from a missing pod by details.name).
    _, unknown = raw_request(seeded.url, "PATCH", "/api/v1/namespaces/default/pods/p/nosuch", b"{}", JSON)
    assert (unknown["code"], unknown["details"]) == (404, {})
    _, missing = raw_request(seeded.url, "GET", "/api/v1/namespaces/default/configmaps/absent")
    assert missing["details"] == {"name": "absent", "kind": "configmaps"}


def test_invalid_name_lists_its_causes(seeded: ThreadedServer) -> None:
    _, body = raw_request(seeded.url, "POST", CMS, _cm("Bad_Name"), JSON)
    assert body["message"].startswith('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": ')
    assert body["details"]["name"] == "Bad_Name" and body["details"]["kind"] == "ConfigMap"
    (cause,) = body["details"]["causes"]
    assert cause["reason"] == "FieldValueInvalid" and cause["field"] == "metadata.name"
    assert "RFC 1123" in cause["message"]


def test_body_over_3_mib_is_413(seeded: ThreadedServer) -> None:
    before = _snapshot(seeded)
    big = _cm("big", data={"blob": "x" * (3 * 1024 * 1024 + 10)})
    status, body = raw_request(seeded.url, "POST", CMS, big, JSON)
    assert status == 413
    _assert_status(body, 413, "RequestEntityTooLarge")
    assert _snapshot(seeded) == before


def test_a_config_map_over_one_mebibyte_of_values_is_invalid_and_not_written(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    data = {f"k{i}": "x" * 1024 for i in range(1025)}  # 1 MiB + 1 KiB of values, under the 3 MiB body limit
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(
            "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="big"), data=data)
        )
    assert exc.value.status == 422
    status = json.loads(exc.value.body)
    assert status["message"] == 'ConfigMap "big" is invalid: []: Too long: may not be more than 1048576 bytes'
    assert status["details"]["causes"] == [
        {"reason": "FieldValueTooLong", "message": "Too long: may not be more than 1048576 bytes", "field": "[]"}
    ]
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("big", "default")
    assert exc.value.status == 404
    del data["k0"]  # at most 1 MiB: fine
    core.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="big"), data=data)
    )


def test_the_client_raises_api_exception_with_the_status(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="A")))
    assert exc.value.status == 422
    assert exc.value.reason == "Unprocessable Entity"
    assert exc.value.headers["Content-Type"] == "application/json"
    assert json.loads(exc.value.body)["reason"] == "Invalid"
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(
            "no-such-namespace", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="a"))
        )
    assert exc.value.status == 404
    assert json.loads(exc.value.body)["message"] == 'namespaces "no-such-namespace" not found'
    core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="b")))
    with pytest.raises(ApiException) as exc:  # a JSON patch that cannot apply: upstream's bare 422, details and all
        core.patch_namespaced_config_map(
            "b", "default", [{"op": "test", "path": "/data", "value": {}}], _content_type="application/json-patch+json"
        )
    assert exc.value.status == 422
    assert json.loads(exc.value.body)["details"] == {}


def test_dry_run_writes_nothing(seeded: ThreadedServer) -> None:
    before = _snapshot(seeded)
    status, body = raw_request(seeded.url, "POST", CMS + "?dryRun=All", _cm("dry"), JSON)
    assert status == 201 and body["metadata"]["name"] == "dry"
    status, body = raw_request(seeded.url, "DELETE", CMS + "/keep?dryRun=All")
    assert status == 200
    assert _snapshot(seeded) == before


def test_watch_of_one_named_object_is_routed(seeded: ThreadedServer) -> None:
    status, event = raw_request(seeded.url, "GET", "/api/v1/watch/namespaces/default/configmaps/keep?timeoutSeconds=1")
    assert status == 200
    assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "keep"
