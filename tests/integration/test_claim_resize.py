"""Growing a claim, through the official Python client: the PersistentVolumeClaimResize admission plugin lets a
bound claim of a class that allows expansion ask for more, and refuses the rest with upstream's words."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
from kubernetes.client.rest import ApiException
from tests.integration.conftest import ControllerServer, eventually, official_client

NS = "default"


class ResizeServer(ControllerServer):
    """The default admission plugins and the binder (claims get bound to the tests' volumes)."""

    controllers = ("persistentvolume-binder",)


@pytest.fixture
def core(tmp_path: Path) -> Iterator[kubernetes.client.CoreV1Api]:
    with official_client(ResizeServer(tmp_path)) as api:
        storage = kubernetes.client.StorageV1Api(api)
        for name, expands in (("expandable", True), ("fixed", False)):
            body = {"metadata": {"name": name}, "provisioner": "example.com/none", "allowVolumeExpansion": expands}
            storage.create_storage_class(body)
        yield kubernetes.client.CoreV1Api(api)


def _bound_claim(core: kubernetes.client.CoreV1Api, name: str, storage_class: str) -> None:
    """A claim of ``storage_class`` bound to a static volume of that class made for it."""
    volume = {
        "metadata": {"name": f"pv-{name}"},
        "spec": {
            "capacity": {"storage": "5Gi"},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": storage_class,
            "hostPath": {"path": f"/tmp/{name}"},
        },
    }
    core.create_persistent_volume(volume)
    _claim(core, name, storage_class)
    eventually(lambda: core.read_namespaced_persistent_volume_claim(name, NS).status.phase == "Bound")


def _claim(core: kubernetes.client.CoreV1Api, name: str, storage_class: str) -> None:
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    core.create_namespaced_persistent_volume_claim(
        NS, {"metadata": {"name": name}, "spec": {**spec, "storageClassName": storage_class}}
    )


def _grow(core: kubernetes.client.CoreV1Api, name: str, size: str = "2Gi") -> Any:
    body = {"spec": {"resources": {"requests": {"storage": size}}}}
    return core.patch_namespaced_persistent_volume_claim(name, NS, body)


def _refusal(core: kubernetes.client.CoreV1Api, name: str) -> str:
    with pytest.raises(ApiException) as refused:
        _grow(core, name)
    assert refused.value.status == 403
    message: str = json.loads(refused.value.body)["message"]
    return message


def test_a_bound_claim_of_an_expandable_class_may_grow(core: kubernetes.client.CoreV1Api) -> None:
    _bound_claim(core, "data", "expandable")
    grown = _grow(core, "data")
    assert grown.spec.resources.requests["storage"] == "2Gi"


def test_growth_is_refused_for_unbound_claims_and_classes_that_do_not_expand(core: kubernetes.client.CoreV1Api) -> None:
    _claim(core, "waiting", "expandable")  # no volume of that size class will come: it stays Pending
    assert _refusal(core, "waiting") == (
        'persistentvolumeclaims "waiting" is forbidden: Only bound persistent volume claims can be expanded'
    )
    _bound_claim(core, "fixed", "fixed")
    assert _refusal(core, "fixed") == (
        'persistentvolumeclaims "fixed" is forbidden: only dynamically provisioned pvc can be resized and the '
        "storageclass that provisions the pvc must support resize"
    )
    assert core.read_namespaced_persistent_volume_claim("fixed", NS).spec.resources.requests["storage"] == "1Gi"
