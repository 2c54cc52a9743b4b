"""The status and scale subresources through the official ``kubernetes`` client."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

NS = "default"


def _template(app: str) -> client.V1PodTemplateSpec:
    return client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels={"app": app}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
    )


def _deployment(name: str, replicas: int = 1) -> client.V1Deployment:
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=replicas, selector=client.V1LabelSelector(match_labels={"app": name}), template=_template(name)
        ),
    )


def test_status_writes_never_change_spec_and_spec_writes_never_change_status(k8s_client: ApiClient) -> None:
    apps = client.AppsV1Api(k8s_client)
    created = apps.create_namespaced_deployment(NS, _deployment("d", 2))
    assert created.status is None or created.status.replicas is None  # a client's status is dropped on create

    # A status write (patch) that also tries to change the spec: only the status moves.
    patched = apps.patch_namespaced_deployment_status(
        "d", NS, {"spec": {"replicas": 9}, "status": {"replicas": 2, "readyReplicas": 1, "observedGeneration": 1}}
    )
    assert patched.spec.replicas == 2
    assert patched.status.replicas == 2 and patched.status.ready_replicas == 1
    assert patched.metadata.generation == 1
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)

    # A status write (replace) with a changed spec and labels: spec and labels stay.
    patched.spec.replicas = 7
    patched.metadata.labels = {"sneaky": "yes"}
    patched.status.ready_replicas = 2
    replaced = apps.replace_namespaced_deployment_status("d", NS, patched)
    assert replaced.spec.replicas == 2
    assert replaced.metadata.labels is None
    assert replaced.status.ready_replicas == 2

    # A main-resource write that carries a status: the status stays, the spec moves, generation bumps.
    replaced.spec.replicas = 3
    replaced.status.ready_replicas = 0
    replaced.status.replicas = 99
    main = apps.replace_namespaced_deployment("d", NS, replaced)
    assert main.spec.replicas == 3
    assert main.status.replicas == 2 and main.status.ready_replicas == 2
    assert main.metadata.generation == 2
    main_patch = apps.patch_namespaced_deployment("d", NS, {"status": {"replicas": 50}})
    assert main_patch.status.replicas == 2

    # Reading the status subresource gives the whole object.
    read = apps.read_namespaced_deployment_status("d", NS)
    assert read.kind == "Deployment" and read.spec.replicas == 3 and read.status.replicas == 2

    # A stale resourceVersion on a status update conflicts.
    with pytest.raises(ApiException) as exc:
        apps.replace_namespaced_deployment_status("d", NS, patched)
    assert exc.value.status == 409


def _make(apps: client.AppsV1Api, kind: str, name: str) -> None:
    selector = client.V1LabelSelector(match_labels={"app": name})
    if kind == "deployment":
        apps.create_namespaced_deployment(NS, _deployment(name, 2))
    elif kind == "replica_set":
        apps.create_namespaced_replica_set(
            NS,
            client.V1ReplicaSet(
                metadata=client.V1ObjectMeta(name=name),
                spec=client.V1ReplicaSetSpec(replicas=2, selector=selector, template=_template(name)),
            ),
        )
    else:
        apps.create_namespaced_stateful_set(
            NS,
            client.V1StatefulSet(
                metadata=client.V1ObjectMeta(name=name),
                spec=client.V1StatefulSetSpec(
                    replicas=2, selector=selector, template=_template(name), service_name=name
                ),
            ),
        )


@pytest.mark.parametrize("kind", ["deployment", "replica_set", "stateful_set"])
def test_scale(k8s_client: ApiClient, kind: str) -> None:
    apps = client.AppsV1Api(k8s_client)
    name = f"s-{kind.replace('_', '')}"
    _make(apps, kind, name)
    read_scale = getattr(apps, f"read_namespaced_{kind}_scale")
    replace_scale = getattr(apps, f"replace_namespaced_{kind}_scale")
    patch_scale = getattr(apps, f"patch_namespaced_{kind}_scale")
    read_main = getattr(apps, f"read_namespaced_{kind}")

    scale = read_scale(name, NS)
    assert scale.api_version == "autoscaling/v1" and scale.kind == "Scale"
    assert scale.metadata.name == name and scale.metadata.namespace == NS
    assert scale.metadata.uid == read_main(name, NS).metadata.uid
    assert scale.spec.replicas == 2
    assert scale.status.replicas == 0
    assert scale.status.selector == f"app={name}"

    scale.spec.replicas = 4
    replaced = replace_scale(name, NS, scale)
    assert replaced.spec.replicas == 4
    obj = read_main(name, NS)
    assert obj.spec.replicas == 4
    assert obj.metadata.generation == 2
    assert replaced.metadata.resource_version == obj.metadata.resource_version

    patched = patch_scale(name, NS, {"spec": {"replicas": 1}})
    assert patched.spec.replicas == 1
    json_patched = patch_scale(name, NS, [{"op": "replace", "path": "/spec/replicas", "value": 5}])
    assert json_patched.spec.replicas == 5
    assert read_main(name, NS).spec.replicas == 5

    with pytest.raises(ApiException) as exc:  # stale resourceVersion
        replace_scale(name, NS, scale)
    assert exc.value.status == 409
    assert json.loads(exc.value.body)["reason"] == "Conflict"

    with pytest.raises(ApiException) as exc:
        patch_scale(name, NS, {"spec": {"replicas": -1}})
    assert exc.value.status == 422
    body = json.loads(exc.value.body)
    assert body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "spec.replicas"
    assert read_main(name, NS).spec.replicas == 5

    with pytest.raises(ApiException) as exc:
        read_scale("missing", NS)
    assert exc.value.status == 404


def test_scale_bodies_the_go_decoder_cannot_read_are_refused_not_a_500(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    rc = client.V1ReplicationController(
        metadata=client.V1ObjectMeta(name="rc-odd-scale"),
        spec=client.V1ReplicationControllerSpec(replicas=1, selector={"app": "rc-odd"}, template=_template("rc-odd")),
    )
    core.create_namespaced_replication_controller(NS, rc)

    with pytest.raises(ApiException) as exc:  # a patched Scale whose spec is a string: 422 on the patch
        core.patch_namespaced_replication_controller_scale("rc-odd-scale", NS, {"spec": "1Ki"})
    body = json.loads(exc.value.body)
    assert exc.value.status == 422 and body["details"]["causes"][0]["field"] == "patch"
    assert body["message"].endswith(
        "json: cannot unmarshal string into Go struct field Scale.spec of type v1.ScaleSpec"
    )

    with pytest.raises(ApiException) as exc:  # a PUT body beyond int32: the decoder's 400
        core.replace_namespaced_replication_controller_scale(
            "rc-odd-scale", NS, {"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": 2**31}}
        )
    assert exc.value.status == 400
    assert json.loads(exc.value.body)["message"] == (
        'Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal number 2147483648 '
        "into Go struct field ScaleSpec.spec.replicas of type int32"
    )
    assert core.read_namespaced_replication_controller("rc-odd-scale", NS).spec.replicas == 1


def test_server_side_apply_of_a_scale_owns_the_replicas_through_the_subresource(k8s_client: ApiClient) -> None:
    apps = client.AppsV1Api(k8s_client)
    apps.create_namespaced_deployment(NS, _deployment("applied-scale", replicas=2), field_manager="creator")
    scale = {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {"name": "applied-scale"},
        "spec": {"replicas": 5},
    }

    def apply(**options: object) -> client.V1Scale:
        return apps.patch_namespaced_deployment_scale(
            "applied-scale",
            NS,
            scale,
            field_manager="autoscaler",
            _content_type="application/apply-patch+yaml",
            **options,
        )

    with pytest.raises(ApiException) as exc:  # the creator owns spec.replicas
        apply()
    assert exc.value.status == 409
    assert json.loads(exc.value.body)["message"] == (
        'Apply failed with 1 conflict: conflict with "creator" using apps/v1: .spec.replicas'
    )
    assert apply(force=True).spec.replicas == 5
    owners = apps.read_namespaced_deployment("applied-scale", NS).metadata.managed_fields
    mine = next(entry for entry in owners if entry.manager == "autoscaler")
    assert (mine.operation, mine.subresource, mine.fields_v1) == ("Apply", "scale", {"f:spec": {"f:replicas": {}}})
    scale["spec"] = {"replicas": 3}
    assert apply().spec.replicas == 3  # its own field now: no conflict
    assert apps.read_namespaced_deployment("applied-scale", NS).spec.replicas == 3
