"""LimitRange, ResourceQuota, PersistentVolume, StorageClass, CSIDriver, VolumeAttachment, Node and Secret
validation through the official ``kubernetes`` client: a bad object is a 422 Invalid with upstream's causes and
is not stored, a refused update leaves the object as it was, and what kubectl generates still passes."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from tests.integration.conftest import ThreadedServer, assert_absent, raw_request, refused_as_invalid

NS = "default"
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def server(module_server: ThreadedServer) -> ThreadedServer:
    return module_server


@pytest.fixture(scope="module")
def api(module_k8s_client: ApiClient) -> ApiClient:
    return module_k8s_client


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _causes(status: Obj) -> list[tuple[str, str, str]]:
    return [(c["field"], c["reason"], c["message"]) for c in status["details"]["causes"]]


def test_limit_ranges(api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    inverted = {
        "metadata": {"name": "inverted"},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "2"}, "max": {"cpu": "1"}}]},
    }
    status = refused_as_invalid(lambda: core.create_namespaced_limit_range(NS, inverted))
    assert status["message"] == (  # defaultRequest defaults to default, so it is over max too (as upstream)
        'LimitRange "inverted" is invalid: [spec.limits[0].defaultRequest[cpu]: Invalid value: 2: '
        "default request value 2 is greater than max value 1, spec.limits[0].default[cpu]: Invalid value: 1: "
        "default value 2 is greater than max value 1]"
    )
    assert status["details"]["kind"] == "LimitRange" and status["details"]["name"] == "inverted"
    assert_absent(lambda: core.read_namespaced_limit_range("inverted", NS))

    negative_default = {
        "metadata": {"name": "negative"},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "100m"}, "max": {"cpu": "-1"}}]},
    }
    assert _causes(refused_as_invalid(lambda: core.create_namespaced_limit_range(NS, negative_default))) == [
        (
            "spec.limits[0].defaultRequest[cpu]",
            "FieldValueInvalid",
            "Invalid value: 100m: default request value 100m is greater than max value -1",
        ),
        (
            "spec.limits[0].default[cpu]",
            "FieldValueInvalid",
            "Invalid value: -1: default value 100m is greater than max value -1",
        ),
    ]
    assert_absent(lambda: core.read_namespaced_limit_range("negative", NS))

    good = {
        "metadata": {"name": "sized"},
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "max": {"cpu": "1"},
                    "default": {"cpu": "500m"},
                    "defaultRequest": {"cpu": "250m"},
                }
            ]
        },
    }
    core.create_namespaced_limit_range(NS, good)
    status = refused_as_invalid(
        lambda: core.patch_namespaced_limit_range(
            "sized", NS, [{"op": "replace", "path": "/spec/limits/0/default/cpu", "value": "2"}]
        )
    )
    assert _causes(status) == [
        (
            "spec.limits[0].default[cpu]",
            "FieldValueInvalid",
            "Invalid value: 1: default value 2 is greater than max value 1",
        )
    ]
    assert core.read_namespaced_limit_range("sized", NS).spec.limits[0].default == {"cpu": "500m"}


def test_resource_quotas(api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    # what `kubectl create quota` generates
    hard = {
        "count/deployments.apps": "2",
        "cpu": "1",
        "memory": "1G",
        "persistentvolumeclaims": "10",
        "pods": "2",
        "replicationcontrollers": "2",
        "resourcequotas": "1",
        "secrets": "5",
        "services": "3",
    }
    core.create_namespaced_resource_quota(NS, {"metadata": {"name": "compute"}, "spec": {"hard": hard}})
    scoped = {
        "metadata": {"name": "besteffort"},
        "spec": {"hard": {"pods": "5"}, "scopes": ["BestEffort", "NotTerminating"]},
    }
    core.create_namespaced_resource_quota(NS, scoped)

    negative = {"metadata": {"name": "negative"}, "spec": {"hard": {"pods": "-1", "services": "1.5"}}}
    status = refused_as_invalid(lambda: core.create_namespaced_resource_quota(NS, negative))
    assert _causes(status) == [
        ("spec.hard[pods]", "FieldValueInvalid", 'Invalid value: "-1": must be greater than or equal to 0'),
        ("spec.hard[services]", "FieldValueInvalid", "Invalid value: 1500m: must be an integer"),
    ]
    assert_absent(lambda: core.read_namespaced_resource_quota("negative", NS))

    status = refused_as_invalid(
        lambda: core.patch_namespaced_resource_quota("besteffort", NS, {"spec": {"scopes": ["NotBestEffort"]}})
    )
    assert _causes(status) == [
        (
            "spec.scopes",
            "FieldValueInvalid",
            'Invalid value: []core.ResourceQuotaScope{"NotBestEffort"}: field is immutable',
        )
    ]
    assert core.read_namespaced_resource_quota("besteffort", NS).spec.scopes == ["BestEffort", "NotTerminating"]
    core.patch_namespaced_resource_quota("besteffort", NS, {"spec": {"hard": {"pods": "9"}}})


def _volume(name: str, **spec: Any) -> Obj:
    base: Obj = {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/srv/data"}}
    base.update(spec)
    return {"metadata": {"name": name}, "spec": {k: v for k, v in base.items() if v is not None}}


def test_persistent_volumes(api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    status = refused_as_invalid(lambda: core.create_persistent_volume(_volume("bare", capacity=None, hostPath=None)))
    assert _causes(status) == [
        ("spec.capacity", "FieldValueRequired", "Required value"),
        (
            "spec.capacity",
            "FieldValueNotSupported",
            'Unsupported value: core.ResourceList(nil): supported values: "storage"',
        ),
        ("spec", "FieldValueRequired", "Required value: must specify a volume type"),
    ]
    assert_absent(lambda: core.read_persistent_volume("bare"))
    two = _volume("two", nfs={"server": "nfs.example.com", "path": "/exports"})
    assert _causes(refused_as_invalid(lambda: core.create_persistent_volume(two))) == [
        ("spec.nfs", "FieldValueForbidden", "Forbidden: may not specify more than 1 volume type")
    ]

    core.create_persistent_volume(_volume("data", persistentVolumeReclaimPolicy="Retain", storageClassName="manual"))
    claimed = {"spec": {"claimRef": {"namespace": NS, "name": "data"}}}
    assert core.patch_persistent_volume("data", claimed).spec.claim_ref.name == "data"
    status = refused_as_invalid(
        lambda: core.patch_persistent_volume("data", {"spec": {"hostPath": {"path": "/srv/other"}}})
    )
    assert status["details"]["causes"][0]["message"].startswith(
        "Forbidden: spec.persistentvolumesource is immutable after creation\n"
    )
    assert core.read_persistent_volume("data").spec.host_path.path == "/srv/data"


def test_storage_classes(api: ApiClient, server: ThreadedServer) -> None:
    storage = client.StorageV1Api(api)
    orphan = json.dumps({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "orphan"}})
    code, status = raw_request(
        server.url,
        "POST",
        "/apis/storage.k8s.io/v1/storageclasses",
        orphan.encode(),
        {"Content-Type": "application/json"},
    )
    assert code == 422 and status["reason"] == "Invalid"  # (the client itself refuses to send it)
    assert status["message"] == 'StorageClass.storage.k8s.io "orphan" is invalid: provisioner: Required value'
    assert status["details"]["group"] == "storage.k8s.io"
    assert_absent(lambda: storage.read_storage_class("orphan"))

    fast = {"metadata": {"name": "fast"}, "provisioner": "ebs.csi.aws.com", "parameters": {"type": "gp3"}}
    storage.create_storage_class(fast)
    storage.patch_storage_class("fast", {"allowVolumeExpansion": True, "metadata": {"labels": {"tier": "fast"}}})
    status = refused_as_invalid(
        lambda: storage.patch_storage_class("fast", {"parameters": {"type": "io2"}, "reclaimPolicy": "Retain"})
    )
    assert status["message"] == (
        'StorageClass.storage.k8s.io "fast" is invalid: [parameters: Forbidden: updates to parameters are forbidden., '
        "reclaimPolicy: Forbidden: updates to reclaimPolicy are forbidden.]"
    )
    stored = storage.read_storage_class("fast")
    assert stored.parameters == {"type": "gp3"} and stored.allow_volume_expansion is True


def test_csi_drivers_and_volume_attachments(api: ApiClient) -> None:
    storage = client.StorageV1Api(api)
    driver = {
        "metadata": {"name": "hostpath.csi.k8s.io"},
        "spec": {"attachRequired": False, "volumeLifecycleModes": ["Persistent"]},
    }
    storage.create_csi_driver(driver)
    storage.patch_csi_driver("hostpath.csi.k8s.io", {"spec": {"podInfoOnMount": True}})
    status = refused_as_invalid(
        lambda: storage.patch_csi_driver("hostpath.csi.k8s.io", {"spec": {"attachRequired": True}})
    )
    assert _causes(status) == [
        ("spec.attachedRequired", "FieldValueInvalid", "Invalid value: true: field is immutable")
    ]
    assert storage.read_csi_driver("hostpath.csi.k8s.io").spec.attach_required is False

    sourceless = {
        "metadata": {"name": "va"},
        "spec": {"attacher": "hostpath.csi.k8s.io", "source": {}, "nodeName": "n1"},
    }
    assert _causes(refused_as_invalid(lambda: storage.create_volume_attachment(sourceless))) == [
        (
            "spec.source",
            "FieldValueRequired",
            "Required value: must specify exactly one of inlineVolumeSpec and persistentVolumeName",
        )
    ]
    assert_absent(lambda: storage.read_volume_attachment("va"))
    attachment = {**sourceless, "spec": {**sourceless["spec"], "source": {"persistentVolumeName": "data"}}}
    storage.create_volume_attachment(attachment)
    status = refused_as_invalid(lambda: storage.patch_volume_attachment("va", {"spec": {"nodeName": "n2"}}))
    assert status["details"]["causes"][0]["field"] == "spec"
    assert storage.read_volume_attachment("va").spec.node_name == "n1"


def test_nodes(api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    bogus = {"metadata": {"name": "bogus"}, "spec": {"taints": [{"key": "dedicated", "effect": "Bogus"}]}}
    status = refused_as_invalid(lambda: core.create_node(bogus))
    assert status["message"] == (
        'Node "bogus" is invalid: metadata.taints[0].effect: Unsupported value: "Bogus": supported values: '
        '"NoSchedule", "PreferNoSchedule", "NoExecute"'
    )
    assert_absent(lambda: core.read_node("bogus"))

    taint = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
    node = {
        "metadata": {"name": "n1"},
        "spec": {"taints": [taint], "podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]},
    }
    core.create_node(node)
    core.patch_node("n1", {"spec": {"unschedulable": True}})
    core.patch_node("n1", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    status = refused_as_invalid(lambda: core.patch_node("n1", {"spec": {"taints": [taint, taint]}}))
    assert _causes(status) == [
        (
            "metadata.taints[1]",
            "FieldValueDuplicate",
            'Duplicate value: core.Taint{Key:"node-role.kubernetes.io/control-plane", Value:"", Effect:"NoSchedule", '
            "TimeAdded:(*v1.Time)(nil)}: taints must be unique by key and effect pair",
        )
    ]
    status = refused_as_invalid(
        lambda: core.patch_node("n1", {"spec": {"podCIDR": "10.244.2.0/24", "podCIDRs": ["10.244.2.0/24"]}})
    )
    assert _causes(status) == [
        (
            "spec.podCIDRs",
            "FieldValueForbidden",
            'Forbidden: node updates may not change podCIDR except from "" to valid',
        )
    ]
    stored = core.read_node("n1")
    assert stored.spec.pod_cidr == "10.244.1.0/24" and len(stored.spec.taints) == 1 and stored.spec.unschedulable


def test_secrets(api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    keyless = {"metadata": {"name": "keyless"}, "type": "kubernetes.io/tls", "data": {"tls.crt": _b64("CERT")}}
    status = refused_as_invalid(lambda: core.create_namespaced_secret(NS, keyless))
    assert status["message"] == 'Secret "keyless" is invalid: data[tls.key]: Required value'
    assert_absent(lambda: core.read_namespaced_secret("keyless", NS))
    bad_json = {
        "metadata": {"name": "regcred"},
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": "{"},
    }
    assert _causes(refused_as_invalid(lambda: core.create_namespaced_secret(NS, bad_json))) == [
        (
            "data[.dockerconfigjson]",
            "FieldValueInvalid",
            'Invalid value: "<secret contents redacted>": unexpected end of JSON input',
        )
    ]

    # what `kubectl create secret tls|docker-registry|generic` generate
    tls = {
        "metadata": {"name": "tls"},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": _b64("CERT"), "tls.key": _b64("KEY")},
    }
    auths = '{"auths":{"r.example.com":{"username":"u","password":"p","email":"e@x","auth":"dTpw"}}}'
    registry = {
        "metadata": {"name": "docker"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": _b64(auths)},
    }
    generic = {"metadata": {"name": "generic"}, "data": {"a": _b64("b")}}
    for secret in (tls, registry, generic):
        core.create_namespaced_secret(NS, secret)
    assert core.read_namespaced_secret("generic", NS).type == "Opaque"

    status = refused_as_invalid(lambda: core.patch_namespaced_secret("tls", NS, {"data": {"tls.key": None}}))
    assert _causes(status) == [("data[tls.key]", "FieldValueRequired", "Required value")]
    assert set(core.read_namespaced_secret("tls", NS).data) == {"tls.crt", "tls.key"}
