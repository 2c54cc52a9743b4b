"""Persistent volumes through the official Python client: the DefaultStorageClass admission plugin, the
persistent-volume binder and the local-path provisioner, on an in-process server with the default admission
plugins and those controllers running beside it."""

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
LOCAL_PATH = "pinnace.dev/local-path"
DEFAULT_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


class VolumeServer(ControllerServer):
    """A threaded server with the default admission plugins, the binder, the provisioner and the protection
    controllers."""

    controllers = (
        "serviceaccount",
        "persistentvolume-binder",
        "local-path-provisioner",
        "pvc-protection",
        "pv-protection",
    )


class Cluster:
    """The official client's APIs for the server, and the checks the tests share."""

    def __init__(self, api: kubernetes.client.ApiClient) -> None:
        self.api = api
        self.core = kubernetes.client.CoreV1Api(api)
        self.storage = kubernetes.client.StorageV1Api(api)

    def wire(self, obj: Any) -> Obj:
        """An object as JSON (camelCase), as the server sent it."""
        data: Obj = self.api.sanitize_for_serialization(obj)
        return data

    def claim(self, name: str) -> Obj:
        return self.wire(self.core.read_namespaced_persistent_volume_claim(name, NS))

    def volume(self, name: str) -> Obj:
        return self.wire(self.core.read_persistent_volume(name))

    def events(self, name: str, reason: str) -> list[Obj]:
        """The events about an object (by name) with that reason: claims in NS, volumes in "default" as well."""
        found = [self.wire(e) for e in self.core.list_namespaced_event(NS).items]
        return [e for e in found if e["involvedObject"]["name"] == name and e["reason"] == reason]

    def event(self, name: str, reason: str, containing: str = "") -> Obj:
        """The first such event (whose message has ``containing``): an event for a state the controllers' caches
        have not caught up with yet (a class just made) may come before it."""
        return eventually(lambda: ([e for e in self.events(name, reason) if containing in e["message"]] or [None])[0])

    def create_claim(self, name: str, size: str = "1Gi", **spec: Any) -> Obj:
        body = {
            "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}, **spec},
        }
        return self.wire(self.core.create_namespaced_persistent_volume_claim(NS, body))

    def create_volume(self, name: str, size: str = "1Gi", **spec: Any) -> Obj:
        body = {
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": ["ReadWriteOnce"],
                "hostPath": {"path": f"/tmp/{name}"},
                **spec,
            },
        }
        return self.wire(self.core.create_persistent_volume(body))

    def create_class(self, name: str, *, default: bool = False, **fields: Any) -> Obj:
        annotations = {DEFAULT_ANNOTATION: "true"} if default else {}
        body = {"metadata": {"name": name, "annotations": annotations}, "provisioner": LOCAL_PATH, **fields}
        return self.wire(self.storage.create_storage_class(body))

    def bound(self, claim: str) -> Obj:
        """The claim once Bound."""
        return eventually(lambda: (c := self.claim(claim))["status"].get("phase") == "Bound" and c)

    def volume_phase(self, name: str, phase: str) -> Obj:
        return eventually(lambda: (v := self.volume(name))["status"].get("phase") == phase and v)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with official_client(VolumeServer(tmp_path)) as api:
        yield Cluster(api)


# ---- DefaultStorageClass -------------------------------------------------------------------------------------
def test_claims_that_name_no_class_get_the_newest_default(cluster: Cluster) -> None:
    assert cluster.create_claim("before")["spec"].get("storageClassName") is None  # no class at all yet
    cluster.create_class("plain")
    assert cluster.create_claim("no-default")["spec"].get("storageClassName") is None
    cluster.create_class("gold", default=True)
    assert cluster.create_claim("c1")["spec"]["storageClassName"] == "gold"
    time.sleep(1.05)  # creation timestamps have seconds: the next class is strictly newer
    cluster.create_class("silver", default=True)
    assert cluster.create_claim("c2")["spec"]["storageClassName"] == "silver"
    assert cluster.create_claim("none", storageClassName="")["spec"]["storageClassName"] == ""
    assert cluster.create_claim("own", storageClassName="plain")["spec"]["storageClassName"] == "plain"
    beta = {"metadata": {"name": "beta", "annotations": {"volume.beta.kubernetes.io/storage-class": "plain"}}}
    beta["spec"] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    made = cluster.wire(cluster.core.create_namespaced_persistent_volume_claim(NS, beta))
    assert made["spec"].get("storageClassName") is None  # the beta annotation names its class
    # the binder gave the claims made before there was a default class the first default (retroactively)
    assert eventually(lambda: cluster.claim("before")["spec"].get("storageClassName")) == "gold"
    assert eventually(lambda: cluster.claim("no-default")["spec"].get("storageClassName")) == "gold"


def test_a_class_once_given_cannot_change_but_a_claim_of_none_gets_one(cluster: Cluster) -> None:
    cluster.create_claim("c", storageClassName="")
    current = cluster.core.read_namespaced_persistent_volume_claim("c", NS)
    current.spec.storage_class_name = "other"
    with pytest.raises(ApiException) as refused:
        cluster.core.replace_namespaced_persistent_volume_claim("c", NS, current)
    assert refused.value.status == 422 and "spec is immutable after creation" in refused.value.body


# ---- binding ---------------------------------------------------------------------------------------------------
def test_a_claim_binds_the_smallest_fitting_volume_both_ways(cluster: Cluster) -> None:
    cluster.create_volume("pv-small", "1Gi")
    cluster.create_volume("pv-fits", "5Gi")
    cluster.create_volume("pv-big", "50Gi")
    cluster.create_volume("pv-rwx", "3Gi", accessModes=["ReadWriteMany"])
    cluster.volume_phase("pv-small", "Available")
    claim = cluster.create_claim("data", "2Gi")
    bound = cluster.bound("data")
    assert bound["spec"]["volumeName"] == "pv-fits"
    assert bound["metadata"]["annotations"] == {
        "pv.kubernetes.io/bind-completed": "yes",
        "pv.kubernetes.io/bound-by-controller": "yes",
    }
    assert bound["status"]["accessModes"] == ["ReadWriteOnce"] and bound["status"]["capacity"] == {"storage": "5Gi"}
    volume = cluster.volume_phase("pv-fits", "Bound")
    ref = volume["spec"]["claimRef"]
    assert ref["kind"] == "PersistentVolumeClaim" and ref["apiVersion"] == "v1"
    assert (ref["namespace"], ref["name"], ref["uid"]) == (NS, "data", claim["metadata"]["uid"])
    assert ref["resourceVersion"]
    assert volume["metadata"]["annotations"] == {"pv.kubernetes.io/bound-by-controller": "yes"}
    assert volume["status"]["lastPhaseTransitionTime"]  # the server's, at each change of phase
    assert cluster.volume("pv-small")["status"]["phase"] == "Available"
    # deleting the claim releases the volume, which its Retain policy keeps
    cluster.core.delete_namespaced_persistent_volume_claim("data", NS)
    released = cluster.volume_phase("pv-fits", "Released")
    assert released["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert released["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]
    # a new claim of the same name does not get the released volume
    cluster.create_claim("data", "2Gi")
    assert cluster.bound("data")["spec"]["volumeName"] == "pv-big"


def test_pre_bound_and_named_volumes(cluster: Cluster) -> None:
    cluster.create_volume("small", "1Gi")
    cluster.create_volume("reserved", "9Gi", claimRef={"namespace": NS, "name": "mine"})
    assert cluster.volume_phase("reserved", "Available")["spec"]["claimRef"].get("uid") is None
    cluster.create_claim("mine", "1Gi")
    assert cluster.bound("mine")["spec"]["volumeName"] == "reserved"
    # pre-bound by the user: the volume is not marked bound by the controller
    assert "pv.kubernetes.io/bound-by-controller" not in (
        cluster.volume("reserved")["metadata"].get("annotations") or {}
    )
    cluster.create_volume("named", "2Gi")
    cluster.create_claim("asks", "1Gi", volumeName="named")
    bound = cluster.bound("asks")
    assert bound["spec"]["volumeName"] == "named"
    assert "pv.kubernetes.io/bound-by-controller" not in bound["metadata"]["annotations"]
    cluster.create_volume("tiny", "100Mi")
    cluster.create_claim("too-big", "1Gi", volumeName="tiny")
    event = cluster.event("too-big", "VolumeMismatch")
    assert event["type"] == "Warning"
    assert event["message"] == 'Cannot bind to requested volume "tiny": requested PV is too small'
    cluster.create_claim("taken", "1Gi", volumeName="named")
    assert cluster.event("taken", "FailedBinding")["message"] == 'volume "named" already bound to a different claim.'
    assert cluster.claim("taken")["status"]["phase"] == "Pending"


def test_no_volume_and_no_class(cluster: Cluster) -> None:
    cluster.create_claim("lonely", storageClassName="")
    event = cluster.event("lonely", "FailedBinding")
    assert event["type"] == "Normal" and event["source"]["component"] == "persistentvolume-controller"
    assert event["message"] == "no persistent volumes available for this claim and no storage class is set"
    # a volume that appears later is bound without waiting for the resync
    cluster.create_volume("late", "1Gi")
    assert eventually(lambda: cluster.claim("lonely")["spec"].get("volumeName"), timeout=5) == "late"


def test_reclaim_policies_of_released_volumes(cluster: Cluster) -> None:
    cluster.create_volume("recycled", persistentVolumeReclaimPolicy="Recycle", storageClassName="x")
    cluster.create_volume("deleted", persistentVolumeReclaimPolicy="Delete", storageClassName="y")
    cluster.create_class("x")
    cluster.create_class("y")
    cluster.create_claim("r", storageClassName="x")
    cluster.create_claim("d", storageClassName="y")
    cluster.bound("r")
    cluster.bound("d")
    cluster.core.delete_namespaced_persistent_volume_claim("r", NS)
    cluster.core.delete_namespaced_persistent_volume_claim("d", NS)
    failed = cluster.volume_phase("recycled", "Failed")
    assert failed["status"]["message"] == "No recycler plugin found for the volume!"
    event = cluster.event("recycled", "VolumeFailedRecycle")
    assert event["type"] == "Warning" and event["involvedObject"]["kind"] == "PersistentVolume"
    # a Delete volume no provisioner made has no deleter in Pinnace
    assert cluster.volume_phase("deleted", "Failed")["status"]["message"] == (
        'error getting deleter volume plugin for volume "deleted": no deletable volume plugin matched'
    )
    assert cluster.event("deleted", "VolumeFailedDelete")["type"] == "Warning"


# ---- local-path provisioning -----------------------------------------------------------------------------------
def node(cluster: Cluster, name: str, root: Path | None) -> None:
    annotations = {"pinnace.dev/local-path-root": str(root)} if root else {}
    labels = {"kubernetes.io/hostname": f"{name}-host"}
    cluster.core.create_node({"metadata": {"name": name, "annotations": annotations, "labels": labels}})


def select_node(cluster: Cluster, claim: str, node_name: str) -> None:
    patch = {"metadata": {"annotations": {"volume.kubernetes.io/selected-node": node_name}}}
    cluster.core.patch_namespaced_persistent_volume_claim(claim, NS, patch)


def test_the_default_class_provisions_a_directory_on_the_selected_node(cluster: Cluster, tmp_path: Path) -> None:
    root = tmp_path / "local-path"
    root.mkdir()
    node(cluster, "node-a", root)
    cluster.create_class("standard", default=True, volumeBindingMode="WaitForFirstConsumer")
    claim = cluster.create_claim("web-data", "2Gi")
    assert claim["spec"]["storageClassName"] == "standard"
    waiting = cluster.event("web-data", "WaitForFirstConsumer")
    assert waiting["message"] == "waiting for first consumer to be created before binding"
    pod = {
        "metadata": {"name": "web"},
        "spec": {
            "containers": [{"name": "c", "image": "busybox"}],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "web-data"}}],
        },
    }
    eventually(lambda: cluster.core.list_namespaced_service_account(NS).items)
    cluster.core.create_namespaced_pod(NS, pod)
    scheduled = cluster.event("web-data", "WaitForPodScheduled")
    assert scheduled["message"] == "waiting for pod web to be scheduled"
    assert cluster.claim("web-data")["status"]["phase"] == "Pending"

    select_node(cluster, "web-data", "node-a")  # what the scheduler does for the pod
    bound = cluster.bound("web-data")
    uid = claim["metadata"]["uid"]
    assert bound["spec"]["volumeName"] == f"pvc-{uid}"
    annotations = bound["metadata"]["annotations"]
    assert annotations["volume.kubernetes.io/storage-provisioner"] == LOCAL_PATH
    assert annotations["volume.beta.kubernetes.io/storage-provisioner"] == LOCAL_PATH
    assert bound["status"]["capacity"] == {"storage": "2Gi"}
    external = cluster.event("web-data", "ExternalProvisioning")["message"]
    assert external == (
        "Waiting for a volume to be created either by the external provisioner 'pinnace.dev/local-path' or manually "
        "by the system administrator. If volume creation is delayed, please verify that the provisioner is running "
        "and correctly registered."
    )
    assert cluster.event("web-data", "Provisioning")["message"] == (
        'External provisioner is provisioning volume for claim "default/web-data"'
    )
    assert cluster.event("web-data", "ProvisioningSucceeded")["message"] == f"Successfully provisioned volume pvc-{uid}"

    volume = cluster.volume_phase(f"pvc-{uid}", "Bound")
    spec = volume["spec"]
    directory = root / f"pvc-{uid}_default_web-data"
    assert spec["hostPath"] == {"path": str(directory), "type": "DirectoryOrCreate"}
    assert spec["capacity"] == {"storage": "2Gi"} and spec["accessModes"] == ["ReadWriteOnce"]
    assert spec["persistentVolumeReclaimPolicy"] == "Delete" and spec["storageClassName"] == "standard"
    assert spec["volumeMode"] == "Filesystem"
    assert spec["claimRef"]["uid"] == uid
    assert spec["nodeAffinity"]["required"]["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-a-host"]}]}
    ]
    assert volume["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == LOCAL_PATH

    # the node agent makes the directory when the pod mounts it; deleting the claim removes both
    (directory / "sub").mkdir(parents=True)
    (directory / "sub" / "file").write_text("data")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep")
    (directory / "link").symlink_to(outside)
    cluster.core.delete_namespaced_pod("web", NS, grace_period_seconds=0)
    cluster.core.delete_namespaced_persistent_volume_claim("web-data", NS)

    def volume_gone() -> bool:
        try:
            cluster.volume(f"pvc-{uid}")
        except ApiException as exc:
            return exc.status == 404
        return False

    eventually(volume_gone)
    assert not directory.exists() and (outside / "keep").read_text() == "keep"


def test_provisioning_fails_without_a_node_or_its_root_and_recovers(cluster: Cluster) -> None:
    cluster.create_class("now", volumeBindingMode="Immediate")
    cluster.create_claim("eager", storageClassName="now")
    failed = cluster.event("eager", "ProvisioningFailed", "no node was specified")
    assert failed["type"] == "Warning" and failed["source"]["component"] == LOCAL_PATH
    assert failed["message"] == (
        'failed to provision volume with StorageClass "now": configuration error, no node was specified '
        "(the StorageClass needs WaitForFirstConsumer)"
    )

    cluster.create_class("later", volumeBindingMode="WaitForFirstConsumer")
    node(cluster, "bare", None)
    cluster.create_claim("patient", storageClassName="later")
    select_node(cluster, "patient", "bare")
    failed = cluster.event("patient", "ProvisioningFailed", "local-path root")
    assert failed["message"] == (
        'failed to provision volume with StorageClass "later": node bare has published no local-path root '
        "(its pinnace.dev/local-path-root annotation)"
    )
    assert cluster.claim("patient")["status"]["phase"] == "Pending"
    # the node agent publishes its root: the claim is provisioned at once
    patch = {"metadata": {"annotations": {"pinnace.dev/local-path-root": "/var/lib/pinnace-test-root"}}}
    cluster.core.patch_node("bare", patch)
    bound = cluster.bound("patient")
    path = cluster.volume(bound["spec"]["volumeName"])["spec"]["hostPath"]["path"]
    assert path.startswith("/var/lib/pinnace-test-root/pvc-")
