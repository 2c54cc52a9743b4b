"""pods/ephemeralcontainers through the official ``kubernetes`` client: only added there, never changed or removed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException
from tests.integration.conftest import ThreadedServer, raw_request

NS = "default"


def _pod(name: str) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(containers=[client.V1Container(name="app", image="nginx")]),
    )


def _debugger(name: str = "dbg", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "command": ["sh"], "stdin": True, "tty": True, **extra}


def _invalid(call: Any) -> dict[str, Any]:
    with pytest.raises(ApiException) as caught:
        call()
    assert caught.value.status == 422, caught.value.body
    body: dict[str, Any] = json.loads(caught.value.body)
    return body


def test_ephemeral_containers_are_added_through_their_subresource_with_defaults(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    created = core.create_namespaced_pod(NS, _pod("web"))
    patched = core.patch_namespaced_pod_ephemeralcontainers(
        "web", NS, {"spec": {"ephemeralContainers": [_debugger(targetContainerName="app")]}}
    )
    (ephemeral,) = patched.spec.ephemeral_containers
    assert (ephemeral.name, ephemeral.image, ephemeral.target_container_name) == ("dbg", "busybox", "app")
    assert ephemeral.termination_message_policy == "File" and ephemeral.image_pull_policy == "Always"  # defaulted
    assert patched.spec.containers[0].name == "app"
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)
    read = core.read_namespaced_pod_ephemeralcontainers("web", NS)
    assert read.kind == "Pod" and read.spec.ephemeral_containers[0].name == "dbg"

    # A second one goes beside the first (strategic merge by name: a new item comes before the server's, as upstream's
    # merge orders them without a $setElementOrder, which kubectl debug sends); the first stays as it was.
    both = core.patch_namespaced_pod_ephemeralcontainers(
        "web", NS, {"spec": {"ephemeralContainers": [_debugger("dbg2")]}}
    )
    assert [c.name for c in both.spec.ephemeral_containers] == ["dbg2", "dbg"]
    assert both.spec.ephemeral_containers[1].target_container_name == "app"


def test_what_the_subresource_refuses(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    core.create_namespaced_pod(NS, _pod("web"))
    core.patch_namespaced_pod_ephemeralcontainers("web", NS, {"spec": {"ephemeralContainers": [_debugger()]}})
    pod = core.read_namespaced_pod("web", NS)

    changed = json.loads(json.dumps(k8s_client.sanitize_for_serialization(pod)))
    changed["spec"]["ephemeralContainers"][0]["image"] = "alpine"
    body = _invalid(lambda: core.replace_namespaced_pod_ephemeralcontainers("web", NS, changed))
    assert 'existing ephemeral containers "dbg" may not be changed' in body["message"]

    removed = json.loads(json.dumps(k8s_client.sanitize_for_serialization(pod)))
    removed["spec"]["ephemeralContainers"] = []
    body = _invalid(lambda: core.replace_namespaced_pod_ephemeralcontainers("web", NS, removed))
    assert 'existing ephemeral containers "dbg" may not be removed' in body["message"]

    def add(container: dict[str, Any]) -> dict[str, Any]:
        return _invalid(
            lambda: core.patch_namespaced_pod_ephemeralcontainers(
                "web", NS, {"spec": {"ephemeralContainers": [container]}}
            )
        )

    causes = {(c["field"], c["reason"]) for c in add(_debugger("app"))["details"]["causes"]}
    assert ("spec.ephemeralContainers[0].name", "FieldValueDuplicate") in causes  # named as a regular container
    body = add(_debugger("probe", ports=[{"containerPort": 80}], readinessProbe={"tcpSocket": {"port": 80}}))
    fields = {c["field"]: c["message"] for c in body["details"]["causes"]}
    assert fields["spec.ephemeralContainers[0].ports"] == "Forbidden: cannot be set for an Ephemeral Container"
    assert "spec.ephemeralContainers[0].readinessProbe" in fields
    body = add(_debugger("lost", targetContainerName="nope"))
    assert body["details"]["causes"][0]["field"] == "spec.ephemeralContainers[0].targetContainerName"

    # Not on create, and not through the pod itself.
    with_ephemeral = _pod("early")
    with_ephemeral.spec.ephemeral_containers = [client.V1EphemeralContainer(name="dbg", image="busybox")]
    body = _invalid(lambda: core.create_namespaced_pod(NS, with_ephemeral))
    assert body["details"]["causes"][0]["field"] == "spec.ephemeralContainers"
    body = _invalid(
        lambda: core.patch_namespaced_pod("web", NS, {"spec": {"ephemeralContainers": [_debugger("other")]}})
    )
    assert "pod updates may not change fields" in body["message"]
    assert [c.name for c in core.read_namespaced_pod("web", NS).spec.ephemeral_containers] == ["dbg"]


def test_discovery_lists_the_subresource_with_upstreams_verbs(threaded_server: ThreadedServer) -> None:
    resources = raw_request(threaded_server.url, "GET", "/api/v1")[1]["resources"]
    (entry,) = [r for r in resources if r["name"] == "pods/ephemeralcontainers"]
    assert (entry["kind"], sorted(entry["verbs"])) == ("Pod", ["get", "patch", "update"])
