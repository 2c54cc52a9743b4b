"""Storage objects in use are protected, through the official Python client: the StorageObjectInUseProtection
admission plugin's finalizers, and the pvc-protection and pv-protection controllers that lift them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
from kubernetes.client.rest import ApiException
from tests.integration.conftest import ControllerServer, eventually, official_client

Obj = dict[str, Any]
NS = "default"
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"


class ProtectionServer(ControllerServer):
    """The default admission plugins, the binder, both protection controllers (and the service accounts pods
    need)."""

    controllers = ("serviceaccount", "persistentvolume-binder", "pvc-protection", "pv-protection")


@pytest.fixture
def core(tmp_path: Path) -> Iterator[kubernetes.client.CoreV1Api]:
    with official_client(ProtectionServer(tmp_path)) as api:
        yield kubernetes.client.CoreV1Api(api)


def _claim(core: kubernetes.client.CoreV1Api, name: str, **spec: Any) -> Any:
    body = {
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, **spec},
    }
    return core.create_namespaced_persistent_volume_claim(NS, body)


def _volume(core: kubernetes.client.CoreV1Api, name: str, **spec: Any) -> Any:
    body = {
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "",
            "hostPath": {"path": f"/tmp/{name}"},
            **spec,
        },
    }
    return core.create_persistent_volume(body)


def _pod(core: kubernetes.client.CoreV1Api, name: str, claim: str, node: str | None) -> Any:
    spec: Obj = {
        "containers": [{"name": "main", "image": "busybox"}],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
    }
    if node:
        spec["nodeName"] = node
    return core.create_namespaced_pod(NS, {"metadata": {"name": name}, "spec": spec})


def _gone(read: Any, *args: str) -> bool:
    try:
        read(*args)
    except ApiException as exc:
        return exc.status == 404
    return False


def test_new_claims_and_volumes_carry_their_protection_finalizers(core: kubernetes.client.CoreV1Api) -> None:
    assert _claim(core, "data").metadata.finalizers == [PVC_PROTECTION]
    assert _volume(core, "disk").metadata.finalizers == [PV_PROTECTION]
    body = {
        "metadata": {"name": "mine", "finalizers": ["example.com/keep", PVC_PROTECTION]},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    created = core.create_namespaced_persistent_volume_claim(NS, body)
    assert created.metadata.finalizers == ["example.com/keep", PVC_PROTECTION]  # not added twice


def test_a_claim_a_scheduled_pod_uses_stays_terminating_until_the_pod_is_gone(
    core: kubernetes.client.CoreV1Api,
) -> None:
    _claim(core, "data", storageClassName="")
    eventually(lambda: not _gone(core.read_namespaced_service_account, "default", NS))
    _pod(core, "user", "data", node="node-a")
    _claim(core, "idle", storageClassName="")
    _pod(core, "waiting", "idle", node=None)  # not scheduled: it does not hold its claim
    core.delete_namespaced_persistent_volume_claim("data", NS)
    core.delete_namespaced_persistent_volume_claim("idle", NS)
    eventually(lambda: _gone(core.read_namespaced_persistent_volume_claim, "idle", NS))
    time.sleep(0.5)  # the controller has had its chance to (wrongly) let the used claim go
    claim = core.read_namespaced_persistent_volume_claim("data", NS)
    assert claim.metadata.deletion_timestamp is not None and claim.metadata.finalizers == [PVC_PROTECTION]
    core.delete_namespaced_pod("user", NS, grace_period_seconds=0)
    eventually(lambda: _gone(core.read_namespaced_persistent_volume_claim, "data", NS))


def test_a_bound_volume_stays_until_its_claim_is_gone(core: kubernetes.client.CoreV1Api) -> None:
    _volume(core, "disk")
    _claim(core, "data", storageClassName="")
    eventually(lambda: core.read_persistent_volume("disk").status.phase == "Bound")
    core.delete_persistent_volume("disk")
    time.sleep(0.5)
    volume = core.read_persistent_volume("disk")
    assert volume.metadata.deletion_timestamp is not None and volume.metadata.finalizers == [PV_PROTECTION]
    assert volume.status.phase == "Bound"
    core.delete_namespaced_persistent_volume_claim("data", NS)  # the binder releases the volume
    eventually(lambda: _gone(core.read_persistent_volume, "disk"))


def test_objects_without_the_finalizer_get_it_back(core: kubernetes.client.CoreV1Api) -> None:
    """Claims and volumes from before the plugin (here: whose finalizer was taken off) are protected too."""
    _claim(core, "data")
    _volume(core, "disk")
    core.patch_namespaced_persistent_volume_claim("data", NS, {"metadata": {"finalizers": None}})
    core.patch_persistent_volume("disk", {"metadata": {"finalizers": None}})
    eventually(lambda: core.read_namespaced_persistent_volume_claim("data", NS).metadata.finalizers == [PVC_PROTECTION])
    eventually(lambda: core.read_persistent_volume("disk").metadata.finalizers == [PV_PROTECTION])
