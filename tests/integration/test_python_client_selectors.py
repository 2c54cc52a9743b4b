"""Label and field selectors through the official ``kubernetes`` client."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

NS = "default"


def _names(items: list) -> list[str]:
    return sorted(o.metadata.name for o in items)


@pytest.fixture
def labelled(k8s_client: ApiClient) -> client.CoreV1Api:
    core = client.CoreV1Api(k8s_client)
    fixtures = {
        "a": {"env": "prod", "tier": "web"},
        "b": {"env": "prod", "tier": "db"},
        "c": {"env": "dev", "tier": "web"},
        "d": {"env": "qa"},
        "e": {},
    }
    for name, labels in fixtures.items():
        core.create_namespaced_config_map(
            NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels))
        )
    return core


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("env=prod", ["a", "b"]),
        ("env==prod", ["a", "b"]),
        ("env!=prod", ["c", "d", "e"]),
        ("env in (dev, qa)", ["c", "d"]),
        ("env notin (prod)", ["c", "d", "e"]),
        ("tier", ["a", "b", "c"]),
        ("!tier", ["d", "e"]),
        ("env=prod,tier=web", ["a"]),
        ("env in (prod,dev),!tier", []),
        ("env,tier notin (db)", ["a", "c", "d"]),
        ("", ["a", "b", "c", "d", "e"]),
    ],
)
def test_label_selectors(labelled: client.CoreV1Api, selector: str, expected: list[str]) -> None:
    items = labelled.list_namespaced_config_map(NS, label_selector=selector).items
    assert _names(items) == expected


def test_a_selector_and_a_header_longer_than_64_kib_are_served(labelled: client.CoreV1Api) -> None:
    """Go's http.Server reads a head of up to 1 MiB: a selector naming thousands of values, a long header."""
    values = ",".join(["dev", *(f"value-{i}" for i in range(9000))])  # ~100 KB of request line
    labelled.api_client.default_headers["X-Long"] = "x" * 70000
    try:
        items = labelled.list_namespaced_config_map(NS, label_selector=f"env in ({values})").items
    finally:
        del labelled.api_client.default_headers["X-Long"]
    assert _names(items) == ["c"]


def test_label_selector_syntax_error_is_400(labelled: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        labelled.list_namespaced_config_map(NS, label_selector="env in prod")
    assert exc.value.status == 400
    assert json.loads(exc.value.body)["reason"] == "BadRequest"


def test_field_selectors_on_metadata_and_namespaces(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="other")))
    for ns in (NS, "other"):
        for name in ("x", "y"):
            core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name)))
    by_name = core.list_config_map_for_all_namespaces(field_selector="metadata.name=x").items
    assert sorted((o.metadata.namespace, o.metadata.name) for o in by_name) == [("default", "x"), ("other", "x")]
    in_other = core.list_config_map_for_all_namespaces(field_selector="metadata.namespace=other").items
    assert _names(in_other) == ["x", "y"]
    combined = core.list_config_map_for_all_namespaces(field_selector="metadata.namespace!=other,metadata.name!=x")
    assert [(o.metadata.namespace, o.metadata.name) for o in combined.items] == [("default", "y")]
    ns_by_name = core.list_namespace(field_selector="metadata.name=other").items
    assert _names(ns_by_name) == ["other"]


def test_field_selectors_on_pods_and_secrets(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    for name, node in (("p1", "node-1"), ("p2", "node-2"), ("p3", None)):
        core.create_namespaced_pod(
            NS,
            client.V1Pod(
                metadata=client.V1ObjectMeta(name=name),
                spec=client.V1PodSpec(node_name=node, containers=[client.V1Container(name="c", image="busybox")]),
            ),
        )
    core.patch_namespaced_pod_status("p1", NS, {"status": {"phase": "Running"}})
    assert _names(core.list_namespaced_pod(NS, field_selector="spec.nodeName=node-1").items) == ["p1"]
    assert _names(core.list_namespaced_pod(NS, field_selector="spec.nodeName=").items) == ["p3"]
    assert _names(core.list_namespaced_pod(NS, field_selector="status.phase=Pending").items) == ["p2", "p3"]
    assert _names(core.list_namespaced_pod(NS, field_selector="status.phase!=Pending,spec.nodeName=node-1").items) == [
        "p1"
    ]

    core.create_namespaced_secret(NS, client.V1Secret(metadata=client.V1ObjectMeta(name="plain")))
    core.create_namespaced_secret(
        NS,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="tls"),
            type="kubernetes.io/tls",
            data={"tls.crt": "", "tls.key": ""},
        ),
    )
    assert _names(core.list_namespaced_secret(NS, field_selector="type=kubernetes.io/tls").items) == ["tls"]
    assert _names(core.list_namespaced_secret(NS, field_selector="type=Opaque").items) == ["plain"]  # defaulted


def test_unsupported_field_selector_is_400(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_config_map(NS, field_selector="data.key=value")
    assert exc.value.status == 400
    body = json.loads(exc.value.body)
    assert body["reason"] == "BadRequest"
    # ConfigMap has no field label conversion func upstream: runtime.DefaultMetaV1FieldSelectorConversion words it.
    assert body["message"] == '"data.key" is not a known field selector: only "metadata.name", "metadata.namespace"'
    with pytest.raises(ApiException) as exc:  # kinds with their own func (pods, secrets, ...) word it this way
        core.list_namespaced_pod(NS, field_selector="spec.containers=x")
    assert exc.value.status == 400
    assert json.loads(exc.value.body)["message"] == "field label not supported: spec.containers"
    with pytest.raises(ApiException) as exc:
        core.list_secret_for_all_namespaces(field_selector="data=x")
    assert exc.value.status == 400
    assert json.loads(exc.value.body)["message"] == "field label not supported: data"
