"""Pagination and resourceVersion semantics of GET and LIST, through the official ``kubernetes`` client.

Upstream's rules: https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions
"""

from __future__ import annotations

import base64
import json

import pytest
from kubernetes import client, watch
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException
from tests.integration.conftest import ThreadedServer, raw_request

NS = "default"


def _cm(name: str, **labels: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels or None), data={"v": "1"})


def _names(items: list) -> list[str]:
    return [o.metadata.name for o in items]


def _status(exc: ApiException) -> dict:
    return json.loads(exc.body)


def test_pages_read_one_snapshot(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    for i in range(7):
        core.create_namespaced_config_map(NS, _cm(f"cm-{i}"))

    first = core.list_namespaced_config_map(NS, limit=3)
    assert _names(first.items) == ["cm-0", "cm-1", "cm-2"]
    assert first.metadata._continue
    assert first.metadata.remaining_item_count == 4
    snapshot = first.metadata.resource_version

    # Writes after the first page never show up in later pages.
    core.create_namespaced_config_map(NS, _cm("cm-3a"))
    core.delete_namespaced_config_map("cm-5", NS)
    core.patch_namespaced_config_map("cm-4", NS, {"data": {"v": "2"}})

    second = core.list_namespaced_config_map(NS, limit=3, _continue=first.metadata._continue)
    assert _names(second.items) == ["cm-3", "cm-4", "cm-5"]
    assert second.items[1].data == {"v": "1"}
    assert second.metadata.resource_version == snapshot
    # The rest is counted at the snapshot too: cm-6 (cm-3a came later, cm-5 was deleted later).
    assert second.metadata.remaining_item_count == 1
    third = core.list_namespaced_config_map(NS, limit=3, _continue=second.metadata._continue)
    assert _names(third.items) == ["cm-6"]
    assert third.metadata._continue is None
    assert third.metadata.remaining_item_count is None

    # A fresh list sees the writes.
    fresh = core.list_namespaced_config_map(NS)
    assert _names(fresh.items) == ["cm-0", "cm-1", "cm-2", "cm-3", "cm-3a", "cm-4", "cm-6"]
    assert int(fresh.metadata.resource_version) > int(snapshot)


def test_paging_with_selectors_has_no_remaining_count(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    for i in range(6):
        core.create_namespaced_config_map(NS, _cm(f"cm-{i}", parity="even" if i % 2 == 0 else "odd"))
    page = core.list_namespaced_config_map(NS, limit=2, label_selector="parity=even")
    assert _names(page.items) == ["cm-0", "cm-2"]
    assert page.metadata._continue
    assert page.metadata.remaining_item_count is None  # upstream only counts unfiltered lists
    rest = core.list_namespaced_config_map(NS, limit=2, label_selector="parity=even", _continue=page.metadata._continue)
    assert _names(rest.items) == ["cm-4"]
    assert rest.metadata._continue is None


def test_continue_token_misuse(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    for i in range(3):
        core.create_namespaced_config_map(NS, _cm(f"cm-{i}"))
    token = core.list_namespaced_config_map(NS, limit=1).metadata._continue

    with pytest.raises(ApiException) as exc:
        core.list_namespaced_config_map(NS, limit=1, _continue=token, resource_version="5")
    assert exc.value.status == 400
    assert _status(exc.value)["message"] == "specifying resource version is not allowed when using continue"

    # resourceVersion=0 with a token is treated as the token alone.
    page = core.list_namespaced_config_map(NS, limit=1, _continue=token, resource_version="0")
    assert _names(page.items) == ["cm-1"]

    with pytest.raises(ApiException) as exc:
        core.list_namespaced_config_map(NS, limit=1, _continue="not-a-token")
    assert exc.value.status == 400


def test_expired_continue_token_is_410_with_a_fresh_token(
    threaded_server: ThreadedServer, k8s_client: ApiClient
) -> None:
    core = client.CoreV1Api(k8s_client)
    for i in range(4):
        core.create_namespaced_config_map(NS, _cm(f"cm-{i}"))
    first = core.list_namespaced_config_map(NS, limit=2)
    core.create_namespaced_config_map(NS, _cm("cm-9"))
    store = threaded_server.server.store
    threaded_server.call(store.compact(threaded_server.call(store.current_revision())))

    with pytest.raises(ApiException) as exc:
        core.list_namespaced_config_map(NS, limit=2, _continue=first.metadata._continue)
    assert exc.value.status == 410
    body = _status(exc.value)
    assert body["reason"] == "Expired"
    assert body["message"].startswith("The provided continue parameter is too old to display a consistent list")
    fresh_token = body["metadata"]["continue"]
    decoded = json.loads(base64.urlsafe_b64decode(fresh_token + "=" * (-len(fresh_token) % 4)))
    assert decoded["rv"] == -1

    # The offered token continues the list at the latest revision (it now sees cm-9).
    rest = core.list_namespaced_config_map(NS, limit=10, _continue=fresh_token)
    assert _names(rest.items) == ["cm-2", "cm-3", "cm-9"]


def test_list_resource_version_semantics(threaded_server: ThreadedServer, k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    core.create_namespaced_config_map(NS, _cm("a"))
    at_a = core.list_namespaced_config_map(NS).metadata.resource_version
    core.create_namespaced_config_map(NS, _cm("b"))
    core.patch_namespaced_config_map("a", NS, {"data": {"v": "2"}})

    # Unset: the most recent state, consistent with our own writes.
    latest = core.list_namespaced_config_map(NS)
    assert _names(latest.items) == ["a", "b"] and latest.items[0].data == {"v": "2"}
    # "0": any state (here: the cache's, which is current).
    assert set(_names(core.list_namespaced_config_map(NS, resource_version="0").items)) == {"a", "b"}
    # N, NotOlderThan (with or without the match): at least N.
    for match in (None, "NotOlderThan"):
        kwargs = {"resource_version_match": match} if match else {}
        got = core.list_namespaced_config_map(NS, resource_version=at_a, **kwargs)
        assert int(got.metadata.resource_version) >= int(at_a)
        assert _names(got.items) == ["a", "b"]

    # Exact: the snapshot at exactly N, items as they were then.
    exact = core.list_namespaced_config_map(NS, resource_version=at_a, resource_version_match="Exact")
    assert exact.metadata.resource_version == at_a
    assert _names(exact.items) == ["a"] and exact.items[0].data == {"v": "1"}
    # A limit with resourceVersion=N and no match is the legacy Exact too (KEP-2523).
    legacy = core.list_namespaced_config_map(NS, resource_version=at_a, limit=10)
    assert legacy.metadata.resource_version == at_a and _names(legacy.items) == ["a"]
    # A limit with resourceVersion=0 is served whole from the cache, as upstream's watch cache does.
    assert len(core.list_namespaced_config_map(NS, resource_version="0", limit=1).items) == 2

    store = threaded_server.server.store
    threaded_server.call(store.compact(threaded_server.call(store.current_revision())))
    for kwargs in ({"resource_version_match": "Exact"}, {"limit": 1}):
        with pytest.raises(ApiException) as exc:
            core.list_namespaced_config_map(NS, resource_version=at_a, **kwargs)
        assert exc.value.status == 410
        assert _status(exc.value)["reason"] == "Expired"
        assert _status(exc.value)["message"] == "The resourceVersion for the provided list is too old."
    # NotOlderThan of a compacted revision is still fine: newer data is allowed.
    assert _names(core.list_namespaced_config_map(NS, resource_version=at_a).items) == ["a", "b"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"resource_version_match": "Exact"},
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
        ),
        (
            {"resource_version_match": "Exact", "resource_version": "0"},
            'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
        ),
        (
            {"resource_version_match": "Newest", "resource_version": "1"},
            'resourceVersionMatch: Unsupported value: "Newest": supported values: "Exact", "NotOlderThan", ""',
        ),
        (
            {"resource_version_match": "NotOlderThan", "resource_version": "1", "_continue": "abc"},
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided",
        ),
        (
            {"send_initial_events": True},
            "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list",
        ),
    ],
)
def test_invalid_list_options_are_422(k8s_client: ApiClient, kwargs: dict, message: str) -> None:
    core = client.CoreV1Api(k8s_client)
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_config_map(NS, **kwargs)
    assert exc.value.status == 422  # upstream: NewInvalid(ListOptions.meta.k8s.io) from ValidateListOptions
    body = _status(exc.value)
    assert body["reason"] == "Invalid"
    assert body["message"] == f'ListOptions.meta.k8s.io "" is invalid: {message}'
    assert body["details"]["kind"] == "ListOptions" and body["details"]["group"] == "meta.k8s.io"


def test_invalid_resource_version_is_400(threaded_server: ThreadedServer, k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_config_map(NS, resource_version="abc")
    assert exc.value.status == 400
    status, body = raw_request(
        threaded_server.url, "GET", "/api/v1/namespaces/default/configmaps/x?resourceVersion=abc"
    )
    assert status == 400 and body["reason"] == "BadRequest"


def test_get_resource_version_semantics(threaded_server: ThreadedServer, k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    created = core.create_namespaced_config_map(NS, _cm("g"))
    updated = core.patch_namespaced_config_map("g", NS, {"data": {"v": "2"}})
    path = "/api/v1/namespaces/default/configmaps/g"
    # The official client's read_* takes no resourceVersion: ask over HTTP. Unset is the latest; "0" any
    # (the cache, current here); N is "not older than N", so an old N still gets the latest.
    for rv in (None, "0", created.metadata.resource_version, updated.metadata.resource_version):
        status, body = raw_request(threaded_server.url, "GET", path + (f"?resourceVersion={rv}" if rv else ""))
        assert status == 200
        assert body["data"] == {"v": "2"}
        assert body["metadata"]["resourceVersion"] == updated.metadata.resource_version
    # A revision the server has not reached yet: upstream waits, then 504 with ResourceVersionTooLarge.
    too_new = int(updated.metadata.resource_version) + 1000
    status, body = raw_request(threaded_server.url, "GET", f"{path}?resourceVersion={too_new}")
    assert status == 504
    assert body["reason"] == "Timeout"
    assert body["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"


def test_a_table_with_an_unknown_include_object_is_400_with_rows_to_apply_it_to(
    threaded_server: ThreadedServer, k8s_client: ApiClient
) -> None:
    client.CoreV1Api(k8s_client).create_namespaced_config_map(NS, _cm("table-include", app="t"))
    table = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
    for path in (f"/api/v1/namespaces/{NS}/configmaps", f"/api/v1/namespaces/{NS}/configmaps/table-include"):
        code, body = raw_request(threaded_server.url, "GET", path + "?includeObject=bogus", headers=table)
        assert code == 400 and body["message"] == 'unrecognized includeObject value: "bogus"', body
    path = f"/api/v1/namespaces/{NS}/configmaps?includeObject=bogus&labelSelector=app%3Dnone"
    code, body = raw_request(threaded_server.url, "GET", path, headers=table)  # no row to apply it to: upstream answers
    assert code == 200 and body["kind"] == "Table" and body["rows"] == []
    # A watch cannot show its first event in such a Table: as upstream, its stream ends there (it was a 500 mid-stream).
    path = f"/api/v1/namespaces/{NS}/configmaps?watch=1&includeObject=bogus"
    assert raw_request(threaded_server.url, "GET", path, headers=table) == (200, None)


def test_an_empty_namespace_in_the_path_lists_every_namespace(k8s_client: ApiClient) -> None:
    """``list_namespaced_config_map("")`` formats ``/api/v1/namespaces//configmaps``: go-restful matches the
    empty {namespace} and upstream lists (and watches) every namespace, as the client's users rely on (it was a
    404). An object needs a namespace: a read or delete there is a 400, a create is invalid."""
    v1 = client.CoreV1Api(k8s_client)
    v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="elsewhere")))
    v1.create_namespaced_config_map("elsewhere", _cm("far"))
    v1.create_namespaced_config_map(NS, _cm("near"))
    listed = v1.list_namespaced_config_map("")
    assert {("elsewhere", "far"), (NS, "near")} <= {(o.metadata.namespace, o.metadata.name) for o in listed.items}
    stream = watch.Watch().stream(v1.list_namespaced_config_map, "", timeout_seconds=1)  # the same path, watched
    seen = {(e["object"].metadata.namespace, e["object"].metadata.name) for e in stream}
    assert {("elsewhere", "far"), (NS, "near")} <= seen
    with pytest.raises(ApiException) as caught:
        v1.read_namespaced_config_map("far", "")
    assert (caught.value.status, _status(caught.value)["message"]) == (400, "Namespace parameter required.")
    with pytest.raises(ApiException) as caught:
        v1.create_namespaced_config_map("", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x", namespace=NS)))
    assert (caught.value.status, _status(caught.value)["message"]) == (
        422,
        'ConfigMap "x" is invalid: metadata.namespace: Required value',
    )
    with pytest.raises(ApiException):
        v1.read_namespaced_config_map("x", NS)  # nothing was written
