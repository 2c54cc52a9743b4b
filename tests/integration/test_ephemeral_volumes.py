"""Generic ephemeral volumes, through the official Python client: the ephemeral volume controller makes each
volume's claim from its template, owned by the pod."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
from kubernetes.client.rest import ApiException
from tests.integration.conftest import ControllerServer, eventually, official_client

NS = "default"


class EphemeralServer(ControllerServer):
    """The default admission plugins, the ephemeral volume controller (and the service accounts pods need)."""

    controllers = ("serviceaccount", "ephemeral-volume")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[kubernetes.client.ApiClient]:
    with official_client(EphemeralServer(tmp_path)) as api:
        core = kubernetes.client.CoreV1Api(api)
        eventually(lambda: _exists(lambda: core.read_namespaced_service_account("default", NS)))
        yield api


def _exists(read: Any) -> bool:
    try:
        read()
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def _pod(core: kubernetes.client.CoreV1Api, name: str) -> Any:
    template = {
        "metadata": {"labels": {"type": "scratch"}, "annotations": {"note": "from the template"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    spec = {
        "containers": [{"name": "main", "image": "busybox"}],
        "volumes": [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": template}}],
    }
    return core.create_namespaced_pod(NS, {"metadata": {"name": name}, "spec": spec})


def test_an_ephemeral_volume_gets_its_claim_owned_by_the_pod(api: kubernetes.client.ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(api)
    pod = _pod(core, "web")
    read = lambda: core.read_namespaced_persistent_volume_claim("web-scratch", NS)  # noqa: E731
    eventually(lambda: _exists(read))
    claim = api.sanitize_for_serialization(read())
    assert claim["metadata"]["labels"] == {"type": "scratch"}
    assert claim["metadata"]["annotations"] == {"note": "from the template"}
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"] == {"requests": {"storage": "1Gi"}}
    (owner,) = claim["metadata"]["ownerReferences"]
    assert owner == {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": "web",
        "uid": pod.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    core.delete_namespaced_persistent_volume_claim("web-scratch", NS, body={"gracePeriodSeconds": 0})
    core.patch_namespaced_persistent_volume_claim("web-scratch", NS, {"metadata": {"finalizers": None}})
    eventually(lambda: _exists(read) and read().metadata.uid != claim["metadata"]["uid"])  # made again


def test_a_claim_of_that_name_not_made_for_the_pod_is_left_alone_and_reported(
    api: kubernetes.client.ApiClient,
) -> None:
    core = kubernetes.client.CoreV1Api(api)
    spec = {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "5Gi"}}}
    core.create_namespaced_persistent_volume_claim(NS, {"metadata": {"name": "web-scratch"}, "spec": spec})
    _pod(core, "web")

    def warning() -> Any:
        events = [e for e in core.list_namespaced_event(NS).items if e.involved_object.name == "web"]
        return [e for e in events if e.reason == "FailedBinding"]

    event = eventually(warning)[0]
    assert event.type == "Warning"
    assert event.message == (
        "ephemeral volume scratch: PVC default/web-scratch was not created for pod default/web (pod is not owner)"
    )
    claim = core.read_namespaced_persistent_volume_claim("web-scratch", NS)
    assert claim.metadata.owner_references is None and claim.spec.access_modes == ["ReadWriteMany"]
    assert claim.spec.resources.requests == {"storage": "5Gi"}
