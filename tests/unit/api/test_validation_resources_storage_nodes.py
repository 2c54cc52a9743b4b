"""LimitRange, ResourceQuota, PersistentVolume, the storage.k8s.io kinds, Node and the Secret types are checked
as kube-apiserver 1.32 checks them: the same causes, paths and wording."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from pinnace.api import validation
from pinnace.api.validation.core import go_json_map_error

Obj = dict[str, Any]
STORAGE = "storage.k8s.io"
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def _messages(group: str, kind: str, obj: Obj, old: Obj | None = None) -> list[str]:
    return [f"{c.field}: {c.message}" for c in validation.validate(group, kind, obj, old)]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# ---- LimitRange ----------------------------------------------------------------------------------


def _limit_range(*limits: Obj) -> Obj:
    return {"metadata": {"name": "lr"}, "spec": {"limits": list(limits)}}


def test_a_good_limit_range_passes() -> None:
    container = {
        "type": "Container",
        "max": {"cpu": "2", "memory": "1Gi"},
        "min": {"cpu": "100m", "memory": "4Mi"},
        "default": {"cpu": "500m", "memory": "200Mi"},
        "defaultRequest": {"cpu": "200m", "memory": "100Mi"},
        "maxLimitRequestRatio": {"cpu": "10"},
    }
    pod = {"type": "Pod", "max": {"cpu": "4"}}
    claim = {"type": "PersistentVolumeClaim", "max": {"storage": "10Gi"}, "min": {"storage": "1Gi"}}
    assert _messages("", "LimitRange", _limit_range(container, pod, claim)) == []


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (
            {"type": "Container", "default": {"cpu": "2"}, "max": {"cpu": "1"}},
            ["spec.limits[0].default[cpu]: Invalid value: 1: default value 2 is greater than max value 1"],
        ),
        (
            {"type": "Container", "min": {"memory": "2Gi"}, "max": {"memory": "1Gi"}},
            ["spec.limits[0].min[memory]: Invalid value: 2Gi: min value 2Gi is greater than max value 1Gi"],
        ),
        (
            {"type": "Container", "min": {"cpu": "500m"}, "defaultRequest": {"cpu": "100m"}},
            [
                "spec.limits[0].defaultRequest[cpu]: Invalid value: 100m: min value 500m is greater than "
                "default request value 100m"
            ],
        ),
        (
            {"type": "Container", "default": {"cpu": "1"}, "defaultRequest": {"cpu": "2"}, "max": {"cpu": "3"}},
            [
                "spec.limits[0].defaultRequest[cpu]: Invalid value: 2: default request value 2 is greater than "
                "default limit value 1"
            ],
        ),
        (
            {"type": "Container", "min": {"cpu": "2"}, "default": {"cpu": "1"}},
            ["spec.limits[0].default[cpu]: Invalid value: 2: min value 2 is greater than default value 1"],
        ),
        (
            {"type": "Container", "maxLimitRequestRatio": {"cpu": "800m"}},
            ["spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: 800m: ratio 800m is less than 1"],
        ),
        (
            {"type": "Container", "min": {"cpu": "250m"}, "max": {"cpu": "1"}, "maxLimitRequestRatio": {"cpu": "5"}},
            ["spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: 5: ratio 5 is greater than max/min = 4.000000"],
        ),
        ({"type": "Container", "max": {"cpu": "-1"}}, []),  # as upstream: no sign check on a limit range
        (
            {"type": "Container", "default": {"example.com/gpu": "2"}, "defaultRequest": {"example.com/gpu": "1"}},
            [
                "spec.limits[0].defaultRequest[example.com/gpu]: Invalid value: 1: default value 2 must equal to "
                "defaultRequest value 1 in example.com/gpu"
            ],
        ),
        (
            {"type": "Pod", "default": {"cpu": "1"}, "defaultRequest": {"cpu": "1"}},
            [
                "spec.limits[0].default: Forbidden: may not be specified when `type` is 'Pod'",
                "spec.limits[0].defaultRequest: Forbidden: may not be specified when `type` is 'Pod'",
            ],
        ),
        (
            {"type": "PersistentVolumeClaim", "max": {"cpu": "1"}},
            [
                "spec.limits[0].limits: Required value: either minimum or maximum storage value is required, "
                "but neither was provided"
            ],
        ),
        (
            {"type": "Bogus"},
            ['spec.limits[0].type: Invalid value: "Bogus": must be a standard limit type or fully qualified'],
        ),
        (
            {"type": "Container", "max": {"storage": "1Gi", "bogus": "1"}},
            [
                'spec.limits[0].max[bogus]: Invalid value: "bogus": must be a standard resource type or fully '
                "qualified",
                'spec.limits[0].max[bogus]: Invalid value: "bogus": must be a standard resource for containers',
                'spec.limits[0].max[storage]: Invalid value: "storage": must be a standard resource for containers',
            ],
        ),
    ],
)
def test_bad_limits_are_refused(limit: Obj, expected: list[str]) -> None:
    assert _messages("", "LimitRange", _limit_range(limit)) == expected


def test_a_limit_type_appears_once() -> None:
    messages = _messages("", "LimitRange", _limit_range({"type": "Pod"}, {"type": "Pod"}))
    assert messages == ['spec.limits[1].type: Duplicate value: "Pod"']


# ---- ResourceQuota -------------------------------------------------------------------------------


def _quota(**spec: Any) -> Obj:
    return {"metadata": {"name": "q"}, "spec": spec}


def test_good_quotas_pass() -> None:
    hard = {
        "count/deployments.apps": "2",
        "cpu": "1",
        "memory": "1G",
        "persistentvolumeclaims": "10",
        "pods": "2",
        "requests.nvidia.com/gpu": "4",
        "requests.storage": "10Gi",
        "hugepages-2Mi": "1Gi",
    }
    assert _messages("", "ResourceQuota", _quota(hard=hard)) == []
    assert _messages("", "ResourceQuota", _quota(hard={"pods": "5"}, scopes=["BestEffort", "NotTerminating"])) == []
    selector = {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}
    assert _messages("", "ResourceQuota", _quota(hard={"cpu": "4", "pods": "10"}, scopeSelector=selector)) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"hard": {"pods": "-1"}}, ['spec.hard[pods]: Invalid value: "-1": must be greater than or equal to 0']),
        ({"hard": {"services": "1500m"}}, ["spec.hard[services]: Invalid value: 1500m: must be an integer"]),
        ({"hard": {"example.com/gpu": "0.5"}}, ["spec.hard[example.com/gpu]: Invalid value: 500m: must be an integer"]),
        (
            {"hard": {"storage": "1Gi"}},
            ['spec.hard[storage]: Invalid value: "storage": must be a standard resource for quota'],
        ),
        (
            {"hard": {"bogus": "1"}},
            [
                'spec.hard[bogus]: Invalid value: "bogus": must be a standard resource type or fully qualified',
                'spec.hard[bogus]: Invalid value: "bogus": must be a standard resource for quota',
            ],
        ),
        (
            {"hard": {"pods": "1"}, "scopes": ["Bogus"]},
            ['spec.scopes: Invalid value: []core.ResourceQuotaScope{"Bogus"}: unsupported scope'],
        ),
        (
            {"hard": {"services": "1"}, "scopes": ["BestEffort"]},
            [
                'spec.scopes: Invalid value: []core.ResourceQuotaScope{"BestEffort"}: unsupported scope applied '
                "to resource"
            ],
        ),
        (
            {"hard": {"pods": "1"}, "scopes": ["Terminating", "NotTerminating"]},
            [
                'spec.scopes: Invalid value: []core.ResourceQuotaScope{"Terminating", "NotTerminating"}: '
                "conflicting scopes"
            ],
        ),
        (
            {
                "hard": {"pods": "1"},
                "scopeSelector": {"matchExpressions": [{"scopeName": "BestEffort", "operator": "In"}]},
            },
            [
                "spec.scopeSelector.matchExpressions.operator: Invalid value: \"In\": must be 'Exists' when scope is "
                "any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, "
                "ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity",
                "spec.scopeSelector.matchExpressions.values: Required value: must be at least one value when "
                "`operator` is 'In' or 'NotIn' for scope selector",
            ],
        ),
        (
            {
                "hard": {"pods": "1"},
                "scopeSelector": {
                    "matchExpressions": [{"scopeName": "PriorityClass", "operator": "Exists", "values": ["a"]}]
                },
            },
            [
                'spec.scopeSelector.matchExpressions.values: Invalid value: []string{"a"}: must be no value when '
                "`operator` is 'Exist' or 'DoesNotExist' for scope selector"
            ],
        ),
        (
            {
                "hard": {"pods": "1"},
                "scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "Near"}]},
            },
            ['spec.scopeSelector.matchExpressions.operator: Invalid value: "Near": not a valid selector operator'],
        ),
    ],
)
def test_bad_quotas_are_refused(spec: Obj, expected: list[str]) -> None:
    assert _messages("", "ResourceQuota", _quota(**spec)) == expected


def test_a_quota_keeps_its_scopes() -> None:
    old = _quota(hard={"pods": "1"}, scopes=["BestEffort"])
    assert _messages("", "ResourceQuota", _quota(hard={"pods": "9"}, scopes=["BestEffort"]), old) == []
    assert _messages("", "ResourceQuota", _quota(hard={"pods": "1"}), old) == [
        "spec.scopes: Invalid value: []core.ResourceQuotaScope(nil): field is immutable"
    ]


# ---- PersistentVolume ----------------------------------------------------------------------------


def _volume(**spec: Any) -> Obj:
    base: Obj = {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/data"}}
    base.update(spec)
    return {"metadata": {"name": "pv"}, "spec": {k: v for k, v in base.items() if v is not None}}


def test_good_volumes_pass() -> None:
    assert _messages("", "PersistentVolume", _volume()) == []
    affinity = {
        "required": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}
            ]
        }
    }
    local = _volume(hostPath=None, local={"path": "/mnt/disk"}, nodeAffinity=affinity, volumeMode="Block")
    assert _messages("", "PersistentVolume", local) == []
    csi = _volume(hostPath=None, csi={"driver": "ebs.csi.aws.com", "volumeHandle": "vol-1"}, storageClassName="gp3")
    assert _messages("", "PersistentVolume", csi) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"capacity": None},
            [
                "spec.capacity: Required value",
                'spec.capacity: Unsupported value: core.ResourceList(nil): supported values: "storage"',
            ],
        ),
        ({"hostPath": None}, ["spec: Required value: must specify a volume type"]),
        (
            {"nfs": {"server": "nfs.example.com", "path": "/exports"}},
            ["spec.nfs: Forbidden: may not specify more than 1 volume type"],
        ),
        ({"accessModes": None}, ["spec.accessModes: Required value"]),
        (
            {"accessModes": ["ReadWriteOnce", "Sometimes"]},
            [
                'spec.accessModes: Unsupported value: "Sometimes": supported values: "ReadOnlyMany", '
                '"ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"'
            ],
        ),
        (
            {"accessModes": ["ReadWriteOncePod", "ReadWriteOnce"]},
            ["spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes"],
        ),
        ({"capacity": {"storage": "0"}}, ['spec.capacity[storage]: Invalid value: "0": must be greater than zero']),
        (
            {"capacity": {"storage": "-1"}},
            [
                "spec.capacity[storage]: Invalid value: -1: must be a valid resource quantity",
                'spec.capacity[storage]: Invalid value: "-1": must be greater than zero',
            ],
        ),
        (
            {"capacity": {"storage": "1Gi", "cpu": "1"}},
            [
                'spec.capacity: Unsupported value: core.ResourceList{"cpu":resource.Quantity{i:resource.int64Amount'
                '{value:1, scale:0}, d:resource.infDecAmount{Dec:(*inf.Dec)(nil)}, s:"1", Format:"DecimalSI"}, '
                '"storage":resource.Quantity{i:resource.int64Amount{value:1073741824, scale:0}, '
                'd:resource.infDecAmount{Dec:(*inf.Dec)(nil)}, s:"1Gi", Format:"BinarySI"}}: supported values: '
                '"storage"'
            ],
        ),
        ({"hostPath": {}}, ["spec.hostPath.path: Required value"]),
        ({"hostPath": {"path": "/a/../b"}}, ["spec.hostPath.path: Invalid value: \"/a/../b\": must not contain '..'"]),
        (
            {"hostPath": {"path": "/data", "type": "Folder"}},
            [
                'spec.hostPath.type: Unsupported value: "Folder": supported values: "", "BlockDevice", '
                '"CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"'
            ],
        ),
        (
            {"persistentVolumeReclaimPolicy": "Keep"},
            [
                'spec.persistentVolumeReclaimPolicy: Unsupported value: "Keep": supported values: "Delete", '
                '"Recycle", "Retain"'
            ],
        ),
        (
            {"hostPath": {"path": "/"}, "persistentVolumeReclaimPolicy": "Recycle"},
            ["spec.persistentVolumeReclaimPolicy: Forbidden: may not be 'recycle' for a hostPath mount of '/'"],
        ),
        (
            {"volumeMode": "Raw"},
            ['spec.volumeMode: Unsupported value: "Raw": supported values: "Block", "Filesystem"'],
        ),
        ({"storageClassName": "Fast_SSD"}, [f'spec.storageClassName: Invalid value: "Fast_SSD": {SUBDOMAIN_MSG}']),
        (
            {"hostPath": None, "local": {"path": "/mnt"}},
            ["spec.nodeAffinity: Required value: Local volume requires node affinity"],
        ),
        (
            {"nodeAffinity": {}},
            ["spec.nodeAffinity.required: Required value: must specify required node constraints"],
        ),
        (
            {
                "nodeAffinity": {
                    "required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "In"}]}]}
                }
            },
            [
                "spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values: Required value: "
                "must be specified when `operator` is 'In' or 'NotIn'"
            ],
        ),
        (
            {"hostPath": None, "nfs": {"server": "s", "path": "exports"}},
            ['spec.nfs.path: Invalid value: "exports": must be an absolute path'],
        ),
        (
            {"hostPath": None, "csi": {"driver": "", "volumeHandle": ""}},
            [
                "spec.csi.driver: Required value",
                f'spec.csi.driver: Invalid value: "": {SUBDOMAIN_MSG}',
                "spec.csi.volumeHandle: Required value",
            ],
        ),
    ],
)
def test_bad_volumes_are_refused(spec: Obj, expected: list[str]) -> None:
    assert _messages("", "PersistentVolume", _volume(**spec)) == expected


def test_mount_options_only_where_the_volume_takes_them() -> None:
    volume = _volume()
    volume["metadata"]["annotations"] = {"volume.beta.kubernetes.io/mount-options": "ro"}
    assert _messages("", "PersistentVolume", volume) == [
        "metadata.annotations.volume.beta.kubernetes.io/mount-options: Forbidden: may not specify mount options "
        "for this volume type"
    ]
    nfs = _volume(hostPath=None, nfs={"server": "s", "path": "/e"})
    nfs["metadata"]["annotations"] = {"volume.beta.kubernetes.io/mount-options": "ro"}
    assert _messages("", "PersistentVolume", nfs) == []


def test_a_volume_keeps_its_source_and_mode() -> None:
    old = _volume()
    claimed = copy.deepcopy(old)
    claimed["spec"]["claimRef"] = {"namespace": "default", "name": "data"}
    claimed["spec"]["persistentVolumeReclaimPolicy"] = "Delete"
    assert _messages("", "PersistentVolume", claimed, old) == []
    moved = _volume(hostPath={"path": "/elsewhere"}, volumeMode="Block")
    messages = _messages("", "PersistentVolume", moved, old)
    assert messages[0].startswith(
        "spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation\n"
    )
    assert messages[1:] == ['volumeMode: Invalid value: "Block": field is immutable']


# ---- StorageClass --------------------------------------------------------------------------------


def _class(**fields: Any) -> Obj:
    return {"metadata": {"name": "fast"}, "provisioner": "ebs.csi.aws.com", **fields}


def test_a_good_storage_class_passes() -> None:
    topologies = [{"matchLabelExpressions": [{"key": "topology.kubernetes.io/zone", "values": ["a", "b"]}]}]
    good = _class(
        parameters={"type": "gp3"},
        reclaimPolicy="Retain",
        volumeBindingMode="WaitForFirstConsumer",
        allowedTopologies=topologies,
        allowVolumeExpansion=True,
    )
    assert _messages(STORAGE, "StorageClass", good) == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"provisioner": None}, ["provisioner: Required value"]),
        (
            {"provisioner": "my provisioner"},
            [
                'provisioner: Invalid value: "my provisioner": name part must consist of alphanumeric characters, '
                "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or "
                "'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
            ],
        ),
        (
            {"reclaimPolicy": "Recycle"},
            ['reclaimPolicy: Unsupported value: "Recycle": supported values: "Delete", "Retain"'],
        ),
        (
            {"volumeBindingMode": "Later"},
            ['volumeBindingMode: Unsupported value: "Later": supported values: "Immediate", "WaitForFirstConsumer"'],
        ),
        ({"parameters": {"": "x"}}, ['parameters: Invalid value: "": field can not be empty.']),
        ({"parameters": {f"k{i}": "v" for i in range(513)}}, ["parameters: Too long: may not be more than 512 bytes"]),
        ({"parameters": {"k": "v" * 262144}}, ["parameters: Too long: may not be more than 262144 bytes"]),
        (
            {"allowedTopologies": [{"matchLabelExpressions": [{"key": "zone", "values": []}]}]},
            ["allowedTopologies[0].matchLabelExpressions[0].values: Required value"],
        ),
        (
            {
                "allowedTopologies": [
                    {"matchLabelExpressions": [{"key": "zone", "values": ["a"]}]},
                    {"matchLabelExpressions": [{"key": "zone", "values": ["a", "a"]}]},
                ]
            },
            [
                'allowedTopologies[1].matchLabelExpressions[0].values[1]: Duplicate value: "a"',
                'allowedTopologies[1].matchLabelExpressions: Duplicate value: ""',
            ],
        ),
    ],
)
def test_bad_storage_classes_are_refused(fields: Obj, expected: list[str]) -> None:
    obj = {k: v for k, v in _class(**fields).items() if v is not None}
    assert _messages(STORAGE, "StorageClass", obj) == expected


def test_a_storage_class_is_frozen_but_for_its_metadata_and_expansion() -> None:
    old = _class(parameters={"type": "gp3"})
    assert _messages(STORAGE, "StorageClass", _class(parameters={"type": "gp3"}, allowVolumeExpansion=True), old) == []
    assert _messages(STORAGE, "StorageClass", _class(parameters={"type": "gp3"}, reclaimPolicy="Delete"), old) == []
    changed = _class(
        provisioner="other.example.com",
        parameters={"type": "io2"},
        reclaimPolicy="Retain",
        volumeBindingMode="WaitForFirstConsumer",
    )
    assert _messages(STORAGE, "StorageClass", changed, old) == [
        "parameters: Forbidden: updates to parameters are forbidden.",
        "provisioner: Forbidden: updates to provisioner are forbidden.",
        "reclaimPolicy: Forbidden: updates to reclaimPolicy are forbidden.",
        'volumeBindingMode: Invalid value: "WaitForFirstConsumer": field is immutable',
    ]


# ---- CSIDriver, VolumeAttachment, CSINode --------------------------------------------------------


def test_csi_drivers() -> None:
    good = {"metadata": {"name": "ebs.csi.aws.com"}, "spec": {"attachRequired": True, "podInfoOnMount": False}}
    assert _messages(STORAGE, "CSIDriver", good) == []
    bad = {
        "metadata": {"name": "d.example.com"},
        "spec": {
            "fsGroupPolicy": "Sometimes",
            "volumeLifecycleModes": ["Forever"],
            "tokenRequests": [{"audience": "a", "expirationSeconds": 60}, {"audience": "a"}],
        },
    }
    assert _messages(STORAGE, "CSIDriver", bad) == [
        'spec.fsGroupPolicy: Unsupported value: "Sometimes": supported values: "File", "None", '
        '"ReadWriteOnceWithFSType"',
        "spec.tokenRequests[0].expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes",
        'spec.tokenRequests[1].audience: Duplicate value: "a"',
        'spec.volumeLifecycleModes: Unsupported value: "Forever": supported values: "Persistent", "Ephemeral"',
    ]
    mutable = copy.deepcopy(good)
    mutable["spec"].update(podInfoOnMount=True, fsGroupPolicy="File")
    assert _messages(STORAGE, "CSIDriver", mutable, good) == []
    frozen = copy.deepcopy(good)
    frozen["spec"].update(attachRequired=False, volumeLifecycleModes=["Ephemeral"])
    assert _messages(STORAGE, "CSIDriver", frozen, good) == [
        "spec.attachedRequired: Invalid value: false: field is immutable",
        'spec.volumeLifecycleModes: Invalid value: []storage.VolumeLifecycleMode{"Ephemeral"}: field is immutable',
    ]


def test_volume_attachments() -> None:
    spec = {"attacher": "ebs.csi.aws.com", "source": {"persistentVolumeName": "pv-1"}, "nodeName": "node-1"}
    good = {"metadata": {"name": "va"}, "spec": spec}
    assert _messages(STORAGE, "VolumeAttachment", good) == []
    bad = {"metadata": {"name": "va"}, "spec": {"attacher": "", "source": {}, "nodeName": "node-1"}}
    assert _messages(STORAGE, "VolumeAttachment", bad) == [
        "spec.attacher: Required value",
        "spec.source: Required value: must specify exactly one of inlineVolumeSpec and persistentVolumeName",
        "spec.attacher: Required value",
        f'spec.attacher: Invalid value: "": {SUBDOMAIN_MSG}',
    ]
    moved = copy.deepcopy(good)
    moved["spec"]["nodeName"] = "node-2"
    assert _messages(STORAGE, "VolumeAttachment", moved, good) == [
        'spec: Invalid value: storage.VolumeAttachmentSpec{Attacher:"ebs.csi.aws.com", '
        "Source:storage.VolumeAttachmentSource{PersistentVolumeName:(*string)(0xc000010000), "
        'InlineVolumeSpec:(*core.PersistentVolumeSpec)(nil)}, NodeName:"node-2"}: field is immutable'
    ]


def test_csi_nodes() -> None:
    driver = {"name": "ebs.csi.aws.com", "nodeID": "i-1", "topologyKeys": ["topology.ebs.csi.aws.com/zone"]}
    good = {"metadata": {"name": "node-1"}, "spec": {"drivers": [driver]}}
    assert _messages(STORAGE, "CSINode", good) == []
    bad = {"metadata": {"name": "node-1"}, "spec": {"drivers": [driver, {**driver, "nodeID": ""}]}}
    assert _messages(STORAGE, "CSINode", bad) == [
        "spec.drivers[1].nodeID: Required value",
        'spec.drivers[1].name: Duplicate value: "ebs.csi.aws.com"',
    ]
    changed = {"metadata": {"name": "node-1"}, "spec": {"drivers": [{**driver, "nodeID": "i-2"}]}}
    assert _messages(STORAGE, "CSINode", changed, good)[0].startswith(
        'CSINodeDriver: Invalid value: storage.CSINodeDriver{Name:"ebs.csi.aws.com", NodeID:"i-2"'
    )


# ---- Node ----------------------------------------------------------------------------------------


def _node(**spec: Any) -> Obj:
    return {"metadata": {"name": "n1"}, "spec": spec}


def test_good_nodes_pass() -> None:
    taints = [
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": "2024-01-01T00:00:00Z"},
        {"key": "dedicated", "value": "gpu", "effect": "PreferNoSchedule"},
        {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
    ]
    assert _messages("", "Node", _node(taints=taints, podCIDR="10.244.1.0/24", podCIDRs=["10.244.1.0/24"])) == []
    assert _messages("", "Node", _node(podCIDRs=["10.244.1.0/24", "fd00:10:244:1::/64"])) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"taints": [{"key": "a", "effect": "Bogus"}]},
            [
                'metadata.taints[0].effect: Unsupported value: "Bogus": supported values: "NoSchedule", '
                '"PreferNoSchedule", "NoExecute"'
            ],
        ),
        ({"taints": [{"key": "a"}]}, ["metadata.taints[0].effect: Required value"]),
        (
            {"taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "a", "value": "b", "effect": "NoSchedule"}]},
            [
                'metadata.taints[1]: Duplicate value: core.Taint{Key:"a", Value:"b", Effect:"NoSchedule", '
                "TimeAdded:(*v1.Time)(nil)}: taints must be unique by key and effect pair"
            ],
        ),
        (
            {"taints": [{"key": "-a", "value": "b c", "effect": "NoSchedule"}]},
            [
                'metadata.taints[0].key: Invalid value: "-a": name part must consist of alphanumeric characters, '
                "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or "
                "'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
                'metadata.taints[0].value: Invalid value: "b c": a valid label must be an empty string or consist of '
                "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character "
                "(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
                "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            ],
        ),
        ({"podCIDR": "10.244.1.0"}, ['spec.podCIDRs[0]: Invalid value: []string{"10.244.1.0"}: must be valid CIDR']),
        (
            {"podCIDRs": ["10.244.1.0/24", "10.244.2.0/24"]},
            [
                'spec.podCIDRs: Invalid value: []string{"10.244.1.0/24", "10.244.2.0/24"}: may specify no more '
                "than one CIDR for each IP family"
            ],
        ),
        (
            {"podCIDRs": ["fd00::/64", "fd00::/64"]},
            [
                'spec.podCIDRs: Invalid value: []string{"fd00::/64", "fd00::/64"}: may specify no more than one '
                "CIDR for each IP family",
                'spec.podCIDRs[1]: Duplicate value: "fd00::/64"',
            ],
        ),
    ],
)
def test_bad_nodes_are_refused(spec: Obj, expected: list[str]) -> None:
    assert _messages("", "Node", _node(**spec)) == expected


def test_node_updates() -> None:
    old = _node(podCIDR="10.244.1.0/24", providerID="pinnace://n1")
    cordoned = _node(podCIDR="10.244.1.0/24", providerID="pinnace://n1", unschedulable=True)
    assert _messages("", "Node", cordoned, old) == []
    assert _messages("", "Node", _node(podCIDR="10.244.1.0/24"), _node()) == []  # set once
    changed = _node(
        podCIDR="10.244.9.0/24", providerID="other://n1", externalID="x", taints=[{"key": "k", "effect": "Never"}]
    )
    assert _messages("", "Node", changed, old) == [
        'spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid',
        'spec.providerID: Forbidden: node updates may not change providerID except from "" to valid',
        'metadata.taints[0].effect: Unsupported value: "Never": supported values: "NoSchedule", '
        '"PreferNoSchedule", "NoExecute"',
        "spec.externalID: Forbidden: may not be updated",
    ]
    assert _messages("", "Node", _node(configSource={}), _node()) == [
        "spec.configSource: Invalid value: core.NodeConfigSource{ConfigMap:(*core.ConfigMapNodeConfigSource)(nil)}: "
        "exactly one reference subfield must be non-nil"
    ]


def test_a_status_write_is_not_checked() -> None:
    old = _node(taints=[{"key": "a", "effect": "Bogus"}])  # (stored before these checks existed)
    new = copy.deepcopy(old)
    new["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    assert _messages("", "Node", new, old) == []


# ---- Secret --------------------------------------------------------------------------------------


def _secret(type_: str, data: dict[str, str] | None = None, **meta: Any) -> Obj:
    encoded = {k: _b64(v) for k, v in (data or {}).items()}
    return {"metadata": {"name": "s", **meta}, "type": type_, "data": encoded}


def test_good_secrets_pass() -> None:
    docker = '{"auths":{"r.example.com":{"username":"u","password":"p","auth":"dTpw"}}}'
    for obj in (
        _secret("Opaque", {"a": "b"}),
        _secret("kubernetes.io/tls", {"tls.crt": "CERT", "tls.key": "KEY"}),
        _secret("kubernetes.io/dockerconfigjson", {".dockerconfigjson": docker}),
        _secret("kubernetes.io/dockercfg", {".dockercfg": '{"r.example.com":{"auth":"dTpw"}}'}),
        _secret("kubernetes.io/basic-auth", {"username": ""}),
        _secret("kubernetes.io/ssh-auth", {"ssh-privatekey": "KEY"}),
        _secret("kubernetes.io/service-account-token", annotations={"kubernetes.io/service-account.name": "default"}),
        _secret("bootstrap.kubernetes.io/token", {"token-id": "abcdef", "token-secret": "0123456789abcdef"}),
        _secret("example.com/custom"),
    ):
        assert _messages("", "Secret", obj) == [], obj["type"]


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (_secret("kubernetes.io/tls", {"tls.crt": "CERT"}), ["data[tls.key]: Required value"]),
        (
            _secret("kubernetes.io/tls"),
            ["data[tls.crt]: Required value", "data[tls.key]: Required value"],
        ),
        (
            _secret("kubernetes.io/service-account-token"),
            ["metadata.annotations[kubernetes.io/service-account.name]: Required value"],
        ),
        (_secret("kubernetes.io/dockercfg"), ["data[.dockercfg]: Required value"]),
        (
            _secret("kubernetes.io/dockerconfigjson", {".dockerconfigjson": "{auths}"}),
            [
                "data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": invalid character 'a' "
                "looking for beginning of object key string"
            ],
        ),
        (
            _secret("kubernetes.io/dockerconfigjson", {".dockerconfigjson": "[]"}),
            [
                'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": json: cannot unmarshal array '
                "into Go value of type map[string]interface {}"
            ],
        ),
        (
            _secret("kubernetes.io/basic-auth", {"user": "u"}),
            ["data[username]: Required value", "data[password]: Required value"],
        ),
        (_secret("kubernetes.io/ssh-auth", {"ssh-privatekey": ""}), ["data[ssh-privatekey]: Required value"]),
        (
            _secret("Opaque", {"big": "x" * (1024 * 1024 + 1)}),
            ["data: Too long: may not be more than 1048576 bytes"],
        ),
    ],
)
def test_bad_secrets_are_refused(obj: Obj, expected: list[str]) -> None:
    assert _messages("", "Secret", obj) == expected


def test_a_secret_of_exactly_one_mebibyte_passes() -> None:
    assert _messages("", "Secret", _secret("Opaque", {"a": "x" * (1024 * 1024 - 1), "b": "y"})) == []


def _config_map(data: dict[str, str], binary: dict[str, str] | None = None) -> Obj:
    return {"metadata": {"name": "cm", "namespace": "ns"}, "data": data, "binaryData": binary or {}}


def test_a_config_map_holds_at_most_one_mebibyte_of_values_keys_not_counted() -> None:
    mib = 1024 * 1024
    too_long = ["[]: Too long: may not be more than 1048576 bytes"]  # upstream's path: the whole object
    assert _messages("", "ConfigMap", _config_map({"a": "x" * (mib - 1), "long-key-" * 20: "y"})) == []
    assert _messages("", "ConfigMap", _config_map({"a": "x" * mib, "b": "y"})) == too_long
    assert _messages("", "ConfigMap", _config_map({"a": "é" * (mib // 2 + 1)})) == too_long  # bytes, not characters
    # binaryData counts decoded: 3 bytes per 4 characters of base64.
    assert _messages("", "ConfigMap", _config_map({"a": "x" * (mib - 3)}, {"b": _b64("abc")})) == []
    assert _messages("", "ConfigMap", _config_map({"a": "x" * (mib - 3)}, {"b": _b64("abcd")})) == too_long


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (b"", "unexpected end of JSON input"),
        (b'{"a":1', "unexpected end of JSON input"),
        (b"{}", None),
        (b"null", None),
        (b' {"a": [1, 2.5e3, true, null, "x\\u00e9"]} ', None),
        (b"x", "invalid character 'x' looking for beginning of value"),
        (b'{"a" 1}', "invalid character '1' after object key"),
        (b'{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
        (b"[1 2]", "invalid character '2' after array element"),
        (b'{"a":tru}', "invalid character '}' in literal true (expecting 'e')"),
        (b'{"a":"\\q"}', "invalid character 'q' in string escape code"),
        (b'{"a":1.}', "invalid character '}' after decimal point in numeric literal"),
        (b"{}}", "invalid character '}' after top-level value"),
        (b'"text"', "json: cannot unmarshal string into Go value of type map[string]interface {}"),
        (b"12", "json: cannot unmarshal number into Go value of type map[string]interface {}"),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, None),  # (deep, but within Go's limit: no recursion here)
        (b"[" * 10001, "invalid character '[' exceeded max depth"),
    ],
)
def test_docker_config_json_errors_are_gos(text: bytes, error: str | None) -> None:
    assert go_json_map_error(text) == error


def test_validators_never_raise_on_wrong_types() -> None:
    junk: list[Any] = [None, 1, "x", [], [1, None, "x"], {"a": None}, True]
    shapes: list[tuple[str, str, str]] = [
        ("", "LimitRange", "spec"),
        ("", "ResourceQuota", "spec"),
        ("", "PersistentVolume", "spec"),
        ("", "Node", "spec"),
        (STORAGE, "CSIDriver", "spec"),
        (STORAGE, "VolumeAttachment", "spec"),
        (STORAGE, "CSINode", "spec"),
        (STORAGE, "StorageClass", "parameters"),
        ("", "Secret", "data"),
    ]
    for group, kind, key in shapes:
        for value in junk:
            for inner in junk:
                obj: Obj = {"metadata": {"name": "x", "annotations": inner}, key: value}
                if isinstance(value, dict):
                    obj[key] = {k: inner for k in ("limits", "hard", "scopes", "capacity", "taints", "drivers", "a")}
                old: Obj = {"metadata": {"name": "x"}, key: inner, "type": inner}
                validation.validate(group, kind, obj)
                validation.validate(group, kind, obj, old)
