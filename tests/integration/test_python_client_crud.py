"""CRUD through the official ``kubernetes`` client: create, read, replace, patch, delete, deletecollection."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

NS = "default"


def _status(exc: ApiException) -> dict:
    return json.loads(exc.body)


def _cm(name: str = "", labels: dict[str, str] | None = None, **data: str) -> client.V1ConfigMap:
    meta = client.V1ObjectMeta(name=name or None, labels=labels)
    return client.V1ConfigMap(metadata=meta, data=data or None)


def test_configmap_create_read_and_generate_name(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    created = core.create_namespaced_config_map(NS, _cm("one", a="1"))
    assert created.metadata.uid and created.metadata.resource_version
    assert created.metadata.creation_timestamp is not None
    assert created.metadata.namespace == NS
    read = core.read_namespaced_config_map("one", NS)
    assert read.data == {"a": "1"}
    assert read.metadata.uid == created.metadata.uid

    gen = core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="gen-")))
    assert gen.metadata.name.startswith("gen-") and len(gen.metadata.name) == len("gen-") + 5
    assert gen.metadata.generate_name == "gen-"
    assert core.read_namespaced_config_map(gen.metadata.name, NS).metadata.uid == gen.metadata.uid

    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(NS, _cm("one"))
    assert exc.value.status == 409
    assert _status(exc.value)["reason"] == "AlreadyExists"
    assert _status(exc.value)["details"] == {"name": "one", "kind": "configmaps"}

    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("missing", NS)
    assert exc.value.status == 404
    body = _status(exc.value)
    assert body["reason"] == "NotFound" and body["message"] == 'configmaps "missing" not found'


def test_replace_with_stale_resource_version_conflicts(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    first = core.create_namespaced_config_map(NS, _cm("cm", a="1"))
    first.data = {"a": "2"}
    second = core.replace_namespaced_config_map("cm", NS, first)
    assert second.data == {"a": "2"}
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)

    first.data = {"a": "3"}  # still carries the old resourceVersion
    with pytest.raises(ApiException) as exc:
        core.replace_namespaced_config_map("cm", NS, first)
    assert exc.value.status == 409
    body = _status(exc.value)
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on configmaps "cm": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert core.read_namespaced_config_map("cm", NS).data == {"a": "2"}

    # Without a resourceVersion a ConfigMap update is unconditional (as upstream).
    second.metadata.resource_version = None
    second.data = {"a": "4"}
    assert core.replace_namespaced_config_map("cm", NS, second).data == {"a": "4"}


def test_secret_crud_and_patches(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    secret = client.V1Secret(
        metadata=client.V1ObjectMeta(name="s", labels={"app": "x"}),
        string_data={"user": "admin"},
        type="Opaque",
    )
    created = core.create_namespaced_secret(NS, secret)
    assert created.data == {"user": "YWRtaW4="}  # stringData folded into data, base64
    assert created.string_data is None
    assert created.type == "Opaque"

    merged = core.patch_namespaced_secret("s", NS, {"metadata": {"labels": {"tier": "db", "app": None}}})
    assert merged.metadata.labels == {"tier": "db"}

    ops = [
        {"op": "add", "path": "/data/pass", "value": "c2VjcmV0"},
        {"op": "replace", "path": "/metadata/labels/tier", "value": "cache"},
    ]
    jsonpatched = core.patch_namespaced_secret("s", NS, ops)
    assert jsonpatched.data == {"user": "YWRtaW4=", "pass": "c2VjcmV0"}
    assert jsonpatched.metadata.labels == {"tier": "cache"}

    with pytest.raises(ApiException) as exc:  # a failed test op changes nothing
        core.patch_namespaced_secret("s", NS, [{"op": "test", "path": "/data/pass", "value": "nope"}])
    assert exc.value.status == 422
    assert core.read_namespaced_secret("s", NS).metadata.resource_version == jsonpatched.metadata.resource_version

    gone = core.delete_namespaced_secret("s", NS)  # the client hands back the Status as a dict
    assert gone["kind"] == "Status" and gone["status"] == "Success"
    assert gone["details"]["name"] == "s" and gone["details"]["kind"] == "secrets"
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_secret("s", NS)
    assert exc.value.status == 404


def _deployment(name: str, replicas: int = 1, labels: dict[str, str] | None = None) -> client.V1Deployment:
    pod_labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=pod_labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=pod_labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
            ),
        ),
    )


def test_deployment_crud(k8s_client: ApiClient) -> None:
    apps = client.AppsV1Api(k8s_client)
    created = apps.create_namespaced_deployment(NS, _deployment("web", 2))
    assert created.metadata.generation == 1
    assert created.spec.replicas == 2
    assert created.spec.template.spec.containers[0].image == "busybox"

    created.spec.replicas = 3
    replaced = apps.replace_namespaced_deployment("web", NS, created)
    assert replaced.spec.replicas == 3
    assert replaced.metadata.generation == 2

    # Strategic merge patch (the client's default for a dict body on PATCH).
    patched = apps.patch_namespaced_deployment(
        "web", NS, {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox:2"}]}}}}
    )
    assert [c.image for c in patched.spec.template.spec.containers] == ["busybox:2"]
    assert patched.metadata.generation == 3

    # A metadata-only change does not bump the generation.
    labelled = apps.patch_namespaced_deployment("web", NS, {"metadata": {"labels": {"team": "a"}}})
    assert labelled.metadata.generation == 3

    with pytest.raises(ApiException) as exc:
        apps.replace_namespaced_deployment("web", NS, created)  # stale
    assert exc.value.status == 409

    apps.delete_namespaced_deployment("web", NS)
    assert apps.list_namespaced_deployment(NS).items == []


def test_cluster_scoped_kinds(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    rbac = client.RbacAuthorizationV1Api(k8s_client)
    ns = core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="team-a")))
    assert ns.metadata.namespace is None
    assert ns.status.phase == "Active"
    assert ns.spec.finalizers == ["kubernetes"]
    assert ns.metadata.labels == {"kubernetes.io/metadata.name": "team-a"}

    role = client.V1ClusterRole(
        metadata=client.V1ObjectMeta(name="reader"),
        rules=[client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list"])],
    )
    created = rbac.create_cluster_role(role)
    assert created.metadata.namespace is None
    assert created.rules[0].verbs == ["get", "list"]
    patched = rbac.patch_cluster_role("reader", [{"op": "add", "path": "/rules/0/verbs/-", "value": "watch"}])
    assert patched.rules[0].verbs == ["get", "list", "watch"]
    assert [r.metadata.name for r in rbac.list_cluster_role().items] == ["reader"]
    deleted = rbac.delete_cluster_role("reader")
    assert deleted["status"] == "Success"
    with pytest.raises(ApiException) as exc:
        rbac.read_cluster_role("reader")
    assert exc.value.status == 404

    # Deleting a namespace only marks it (the kubernetes finalizer holds it).
    core.delete_namespace("team-a")
    assert core.read_namespace("team-a").status.phase == "Terminating"


def test_delete_preconditions(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    cm = core.create_namespaced_config_map(NS, _cm("pre", a="1"))
    core.patch_namespaced_config_map("pre", NS, {"data": {"a": "2"}})

    with pytest.raises(ApiException) as exc:
        core.delete_namespaced_config_map(
            "pre", NS, body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="not-the-uid"))
        )
    assert exc.value.status == 409
    body = _status(exc.value)
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        f'Operation cannot be fulfilled on configmaps "pre": Precondition failed: UID in precondition: '
        f"not-the-uid, UID in object meta: {cm.metadata.uid}"
    )

    with pytest.raises(ApiException) as exc:
        core.delete_namespaced_config_map(
            "pre",
            NS,
            body=client.V1DeleteOptions(
                preconditions=client.V1Preconditions(resource_version=cm.metadata.resource_version)
            ),
        )
    assert exc.value.status == 409
    assert core.read_namespaced_config_map("pre", NS).data == {"a": "2"}

    current = core.read_namespaced_config_map("pre", NS)
    core.delete_namespaced_config_map(
        "pre",
        NS,
        body=client.V1DeleteOptions(
            preconditions=client.V1Preconditions(
                uid=current.metadata.uid, resource_version=current.metadata.resource_version
            )
        ),
    )
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("pre", NS)
    assert exc.value.status == 404


def test_delete_collection_with_label_selector(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    for i in range(3):
        core.create_namespaced_config_map(NS, _cm(f"drop-{i}", labels={"batch": "old"}))
    core.create_namespaced_config_map(NS, _cm("keep", labels={"batch": "new"}))
    core.create_namespaced_config_map(NS, _cm("unlabelled"))

    result = core.delete_collection_namespaced_config_map(NS, label_selector="batch=old")
    assert result.kind == "ConfigMapList"  # the deleted objects (the client types it as a Status)
    left = sorted(c.metadata.name for c in core.list_namespaced_config_map(NS).items)
    assert "keep" in left and "unlabelled" in left
    assert not any(n.startswith("drop-") for n in left)

    apps = client.AppsV1Api(k8s_client)
    for name in ("a", "b"):
        apps.create_namespaced_deployment(NS, _deployment(name, labels={"tier": "web"}))
    apps.create_namespaced_deployment(NS, _deployment("c", labels={"tier": "db"}))
    apps.delete_collection_namespaced_deployment(NS, label_selector="tier in (web)")
    assert [d.metadata.name for d in apps.list_namespaced_deployment(NS).items] == ["c"]


def test_an_object_larger_than_the_store_takes_is_a_413_and_nothing_is_written(k8s_client: ApiClient) -> None:
    """Valid, under the 3 MiB body limit, yet stored with its managedFields over 1.5 MiB (etcd's request limit,
    which the embedded store keeps too): RequestEntityTooLarge as a Status; nothing is written; the server goes on."""
    core = client.CoreV1Api(k8s_client)
    data = {f"k{i}": "v" for i in range(100_000)}
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(NS, _cm("big", **data))
    body = _status(exc.value)
    assert (exc.value.status, body["reason"], body["code"]) == (413, "RequestEntityTooLarge", 413)
    assert "request is too large" in body["message"] and "larger than the store takes" in body["message"]
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("big", NS)
    assert missing.value.status == 404
    small = core.create_namespaced_config_map(NS, _cm("small", a="1"))
    small.data = data
    with pytest.raises(ApiException) as update:
        core.replace_namespaced_config_map("small", NS, small)
    assert update.value.status == 413
    kept = core.read_namespaced_config_map("small", NS)
    assert kept.data == {"a": "1"} and kept.metadata.resource_version == small.metadata.resource_version


def test_the_oldest_of_more_than_ten_update_managers_merge_into_ancient_changes(k8s_client: ApiClient) -> None:
    """As upstream (DefaultMaxUpdateManagers): an object that many managers update keeps ten Update entries; the
    oldest are merged into one "ancient-changes" entry that owns what they owned."""
    core = client.CoreV1Api(k8s_client)
    core.create_namespaced_config_map(NS, _cm("shared"), field_manager="creator")
    for i in range(12):
        core.patch_namespaced_config_map("shared", NS, {"data": {f"k{i:02d}": "v"}}, field_manager=f"writer-{i:02d}")
    entries = core.read_namespaced_config_map("shared", NS).metadata.managed_fields
    assert len(entries) == 10 and all(e.operation == "Update" for e in entries)
    by_manager = {e.manager: e for e in entries}
    assert "creator" not in by_manager  # it owned nothing (no data): there was no entry of it
    ancient = by_manager["ancient-changes"]
    assert set(ancient.fields_v1["f:data"]) == {".", "f:k00", "f:k01", "f:k02"}  # ".": writer-00 made the map
    assert sorted(m for m in by_manager if m != "ancient-changes") == [f"writer-{i:02d}" for i in range(3, 12)]
