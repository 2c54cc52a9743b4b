"""Upstream's v1.32 defaults of storage, nodes, limits, endpoints, networking, discovery, RBAC, scheduling, admission
registration and flow control objects, read back through the official ``kubernetes`` client after creating each
kind without the defaulted fields; and kubectl's STORAGECLASS and PV columns that show them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from tests.integration.conftest import ThreadedServer

NS = "default"
RBAC = "rbac.authorization.k8s.io"
Obj = dict[str, Any]

#: Rules no request of these tests matches (a webhook or policy here must never be called).
UNUSED_RULES = [
    {"apiGroups": ["example.com"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["widgets"]}
]


@pytest.fixture(scope="module")
def server(module_server: ThreadedServer) -> ThreadedServer:
    return module_server


@pytest.fixture(scope="module")
def api(module_k8s_client: ApiClient) -> ApiClient:
    return module_k8s_client


def _json(call: Callable[..., Any], *args: Any) -> Obj:
    """The object a client call answers, as the JSON the server sent (not the client's model)."""
    response = call(*args, _preload_content=False)
    data: Obj = json.loads(response.data)
    return data


def test_persistent_volumes_claims_and_their_status(api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    pv = {
        "metadata": {"name": "defaults-pv"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/data"}},
    }
    core.create_persistent_volume(pv)
    spec = _json(core.read_persistent_volume, "defaults-pv")["spec"]
    assert spec["persistentVolumeReclaimPolicy"] == "Retain"
    assert spec["volumeMode"] == "Filesystem"
    assert spec["hostPath"] == {"path": "/data", "type": ""}
    status = core.read_persistent_volume("defaults-pv").status  # a new volume is Pending, since its creation
    assert status.phase == "Pending" and status.last_phase_transition_time is not None
    # a status write without a phase: Pending
    core.patch_persistent_volume_status("defaults-pv", {"status": {"message": "made by hand"}})
    assert core.read_persistent_volume_status("defaults-pv").status.phase == "Pending"

    kept = {
        "metadata": {"name": "defaults-pv-kept"},
        "spec": {**pv["spec"], "persistentVolumeReclaimPolicy": "Delete", "volumeMode": "Block"},
    }
    core.create_persistent_volume(kept)
    read = core.read_persistent_volume("defaults-pv-kept")
    assert (read.spec.persistent_volume_reclaim_policy, read.spec.volume_mode) == ("Delete", "Block")

    claim = {
        "metadata": {"name": "defaults-claim"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    core.create_namespaced_persistent_volume_claim(NS, claim)
    created = core.read_namespaced_persistent_volume_claim("defaults-claim", NS)
    assert (created.spec.volume_mode, created.status.phase) == ("Filesystem", "Pending")
    core.patch_namespaced_persistent_volume_claim_status(
        "defaults-claim", NS, {"status": {"capacity": {"storage": "1Gi"}}}
    )
    assert core.read_namespaced_persistent_volume_claim_status("defaults-claim", NS).status.phase == "Pending"


def test_storage_classes_and_csi_drivers(api: ApiClient) -> None:
    storage = client.StorageV1Api(api)
    storage.create_storage_class({"metadata": {"name": "defaults-sc"}, "provisioner": "example.com/disk"})
    sc = storage.read_storage_class("defaults-sc")
    assert (sc.reclaim_policy, sc.volume_binding_mode) == ("Delete", "Immediate")
    storage.create_storage_class(
        {
            "metadata": {"name": "defaults-sc-kept"},
            "provisioner": "example.com/disk",
            "reclaimPolicy": "Retain",
            "volumeBindingMode": "WaitForFirstConsumer",
        }
    )
    kept = storage.read_storage_class("defaults-sc-kept")
    assert (kept.reclaim_policy, kept.volume_binding_mode) == ("Retain", "WaitForFirstConsumer")

    storage.create_csi_driver({"metadata": {"name": "defaults.csi.example.com"}, "spec": {}})
    assert _json(storage.read_csi_driver, "defaults.csi.example.com")["spec"] == {
        "attachRequired": True,
        "podInfoOnMount": False,
        "storageCapacity": False,
        "fsGroupPolicy": "ReadWriteOnceWithFSType",
        "volumeLifecycleModes": ["Persistent"],
        "requiresRepublish": False,
        "seLinuxMount": False,
    }
    storage.create_csi_driver(
        {
            "metadata": {"name": "kept.csi.example.com"},
            "spec": {"attachRequired": False, "volumeLifecycleModes": ["Ephemeral"]},
        }
    )
    driver = storage.read_csi_driver("kept.csi.example.com").spec
    assert (driver.attach_required, driver.volume_lifecycle_modes) == (False, ["Ephemeral"])


def test_endpoints_limit_ranges_nodes_and_namespaces(api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_endpoints(
        NS,
        {
            "metadata": {"name": "defaults-ep"},
            "subsets": [
                {
                    "addresses": [{"ip": "10.0.0.1"}],
                    "ports": [{"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}],
                }
            ],
        },
    )
    ports = core.read_namespaced_endpoints("defaults-ep", NS).subsets[0].ports
    assert sorted((p.port, p.protocol) for p in ports) == [(53, "UDP"), (80, "TCP")]

    core.create_namespaced_limit_range(
        NS,
        {
            "metadata": {"name": "defaults-limits"},
            "spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"}}]},
        },
    )
    item = core.read_namespaced_limit_range("defaults-limits", NS).spec.limits[0]
    assert item.default == {"cpu": "2"}
    assert item.default_request == {"cpu": "2", "memory": "64Mi"}

    core.create_node(
        {"metadata": {"name": "defaults-node"}, "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}
    )
    assert core.read_node("defaults-node").status.allocatable == {"cpu": "4", "memory": "8Gi", "pods": "110"}
    core.create_node(
        {
            "metadata": {"name": "defaults-node-kept"},
            "status": {"capacity": {"cpu": "4"}, "allocatable": {"cpu": "3500m"}},
        }
    )
    assert core.read_node("defaults-node-kept").status.allocatable == {"cpu": "3500m"}

    core.create_namespace({"metadata": {"name": "defaults-ns"}})
    namespace = core.read_namespace("defaults-ns")
    assert namespace.status.phase == "Active"
    assert namespace.metadata.labels == {"kubernetes.io/metadata.name": "defaults-ns"}


def test_services_with_client_ip_affinity_and_external_ips(api: ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_service(
        NS,
        {
            "metadata": {"name": "defaults-affinity"},
            "spec": {"sessionAffinity": "ClientIP", "externalIPs": ["192.0.2.10"], "ports": [{"port": 80}]},
        },
    )
    spec = core.read_namespaced_service("defaults-affinity", NS).spec
    assert spec.session_affinity_config.client_ip.timeout_seconds == 10800
    assert spec.external_traffic_policy == "Cluster"
    assert (spec.ports[0].protocol, spec.ports[0].target_port) == ("TCP", 80)


def test_stateful_set_claim_templates(api: ApiClient) -> None:
    apps = client.AppsV1Api(api)
    template = {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "postgres:17"}]}}
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    apps.create_namespaced_stateful_set(
        NS,
        {
            "metadata": {"name": "defaults-db"},
            "spec": {"selector": {"matchLabels": {"app": "db"}}, "template": template, "volumeClaimTemplates": [claim]},
        },
    )
    read = _json(apps.read_namespaced_stateful_set, "defaults-db", NS)["spec"]["volumeClaimTemplates"][0]
    assert read["spec"]["volumeMode"] == "Filesystem"
    assert read["status"] == {"phase": "Pending"}


def test_network_policies_ingress_classes_and_endpoint_slices(api: ApiClient) -> None:
    networking = client.NetworkingV1Api(api)
    networking.create_namespaced_network_policy(
        NS,
        {
            "metadata": {"name": "defaults-ingress-only"},
            "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]},
        },
    )
    ingress_only = networking.read_namespaced_network_policy("defaults-ingress-only", NS).spec
    assert ingress_only.policy_types == ["Ingress"]
    assert ingress_only.ingress[0].ports[0].protocol == "TCP"
    networking.create_namespaced_network_policy(
        NS,
        {
            "metadata": {"name": "defaults-both"},
            "spec": {"podSelector": {}, "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]},
        },
    )
    both = networking.read_namespaced_network_policy("defaults-both", NS).spec
    assert both.policy_types == ["Ingress", "Egress"]
    assert both.egress[0].ports[0].protocol == "UDP"

    networking.create_ingress_class(
        {
            "metadata": {"name": "defaults-class"},
            "spec": {
                "controller": "example.com/ingress",
                "parameters": {"apiGroup": "example.com", "kind": "Params", "name": "p"},
            },
        }
    )
    assert networking.read_ingress_class("defaults-class").spec.parameters.scope == "Cluster"

    discovery = client.DiscoveryV1Api(api)
    discovery.create_namespaced_endpoint_slice(
        NS,
        {
            "metadata": {"name": "defaults-slice"},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"]}],
            "ports": [{"port": 80}],
        },
    )
    assert _json(discovery.read_namespaced_endpoint_slice, "defaults-slice", NS)["ports"] == [
        {"name": "", "protocol": "TCP", "port": 80}
    ]


def test_rbac_bindings_and_priority_classes(api: ApiClient) -> None:
    rbac = client.RbacAuthorizationV1Api(api)
    subjects = [
        {"kind": "User", "name": "jane"},
        {"kind": "Group", "name": "devs"},
        {"kind": "ServiceAccount", "name": "builder", "namespace": NS},
    ]
    rbac.create_namespaced_role_binding(
        NS,
        {"metadata": {"name": "defaults-rb"}, "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": subjects},
    )
    rbac.create_cluster_role_binding(
        {"metadata": {"name": "defaults-crb"}, "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": subjects}
    )
    for binding in (
        _json(rbac.read_namespaced_role_binding, "defaults-rb", NS),
        _json(rbac.read_cluster_role_binding, "defaults-crb"),
    ):
        assert binding["roleRef"] == {"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"}
        assert binding["subjects"] == [
            {"kind": "User", "apiGroup": RBAC, "name": "jane"},
            {"kind": "Group", "apiGroup": RBAC, "name": "devs"},
            {"kind": "ServiceAccount", "name": "builder", "namespace": NS},
        ]

    scheduling = client.SchedulingV1Api(api)
    scheduling.create_priority_class({"metadata": {"name": "defaults-high"}, "value": 1000})
    assert scheduling.read_priority_class("defaults-high").preemption_policy == "PreemptLowerPriority"
    scheduling.create_priority_class(
        {"metadata": {"name": "defaults-never"}, "value": 1000, "preemptionPolicy": "Never"}
    )
    assert scheduling.read_priority_class("defaults-never").preemption_policy == "Never"


def test_webhook_configurations(api: ApiClient) -> None:
    admission = client.AdmissionregistrationV1Api(api)
    hook = {
        "clientConfig": {"service": {"namespace": NS, "name": "hooks", "path": "/check"}},
        "rules": UNUSED_RULES,
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
    }
    defaulted = {
        "failurePolicy": "Fail",
        "matchPolicy": "Equivalent",
        "namespaceSelector": {},
        "objectSelector": {},
        "timeoutSeconds": 10,
    }
    admission.create_validating_webhook_configuration(
        {"metadata": {"name": "defaults-validating"}, "webhooks": [{"name": "check.example.com", **hook}]}
    )
    validating = _json(admission.read_validating_webhook_configuration, "defaults-validating")["webhooks"][0]
    assert {k: validating[k] for k in defaulted} == defaulted
    assert "reinvocationPolicy" not in validating
    assert validating["rules"][0]["scope"] == "*"
    assert validating["clientConfig"]["service"]["port"] == 443

    admission.create_mutating_webhook_configuration(
        {
            "metadata": {"name": "defaults-mutating"},
            "webhooks": [{"name": "mutate.example.com", **hook, "timeoutSeconds": 5, "failurePolicy": "Ignore"}],
        }
    )
    mutating = _json(admission.read_mutating_webhook_configuration, "defaults-mutating")["webhooks"][0]
    assert {k: mutating[k] for k in defaulted} == {**defaulted, "timeoutSeconds": 5, "failurePolicy": "Ignore"}
    assert mutating["reinvocationPolicy"] == "Never"
    assert mutating["rules"][0]["scope"] == "*"


def test_validating_admission_policies_and_bindings(api: ApiClient) -> None:
    admission = client.AdmissionregistrationV1Api(api)
    admission.create_validating_admission_policy(
        {
            "metadata": {"name": "defaults-policy"},
            "spec": {"matchConstraints": {"resourceRules": UNUSED_RULES}, "validations": [{"expression": "true"}]},
        }
    )
    spec = _json(admission.read_validating_admission_policy, "defaults-policy")["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert spec["matchConstraints"] == {
        "resourceRules": [{**UNUSED_RULES[0], "scope": "*"}],
        "matchPolicy": "Equivalent",
        "namespaceSelector": {},
        "objectSelector": {},
    }
    admission.create_validating_admission_policy_binding(
        {
            "metadata": {"name": "defaults-binding"},
            "spec": {
                "policyName": "defaults-policy",
                "validationActions": ["Deny"],
                "matchResources": {"namespaceSelector": {"matchLabels": {"team": "a"}}},
            },
        }
    )
    match = _json(admission.read_validating_admission_policy_binding, "defaults-binding")["spec"]["matchResources"]
    assert match == {
        "namespaceSelector": {"matchLabels": {"team": "a"}},
        "matchPolicy": "Equivalent",
        "objectSelector": {},
    }


def test_flow_control(api: ApiClient) -> None:
    flowcontrol = client.FlowcontrolApiserverV1Api(api)
    flowcontrol.create_priority_level_configuration(
        {
            "metadata": {"name": "defaults-level"},
            "spec": {"type": "Limited", "limited": {"limitResponse": {"type": "Queue", "queuing": {}}}},
        }
    )
    limited = _json(flowcontrol.read_priority_level_configuration, "defaults-level")["spec"]["limited"]
    assert limited == {
        "nominalConcurrencyShares": 30,
        "lendablePercent": 0,
        "limitResponse": {"type": "Queue", "queuing": {"queues": 64, "handSize": 8, "queueLengthLimit": 50}},
    }
    flowcontrol.create_flow_schema(
        {"metadata": {"name": "defaults-schema"}, "spec": {"priorityLevelConfiguration": {"name": "defaults-level"}}}
    )
    assert flowcontrol.read_flow_schema("defaults-schema").spec.matching_precedence == 1000


def _columns(table: str) -> list[dict[str, str]]:
    """The rows of kubectl's table output, by column header (headers may hold a space: ``RECLAIM POLICY``)."""
    header, *rows = table.splitlines()
    starts = [0, *(gap.end() for gap in re.finditer(r" {2,}", header))]
    ends = [*starts[1:], None]
    names = [header[a:b].strip() for a, b in zip(starts, ends, strict=True)]
    return [{name: row[a:b].strip() for name, a, b in zip(names, starts, ends, strict=True)} for row in rows]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_shows_the_defaulted_storage_columns(server: ThreadedServer) -> None:
    manifests = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": "kubectl-sc"},
                "provisioner": "example.com/disk",
            },
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": "kubectl-pv"},
                "spec": {"capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/pv"}},
            },
        ],
    }

    def kubectl(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            ["kubectl", f"--server={server.url}", *args], input=stdin, capture_output=True, text=True, timeout=60
        )
        assert (done.returncode, done.stderr) == (0, "")
        return done.stdout

    kubectl("create", "-f", "-", stdin=json.dumps(manifests))
    classes = {row["NAME"]: row for row in _columns(kubectl("get", "storageclass"))}
    assert classes["kubectl-sc"]["RECLAIMPOLICY"] == "Delete"
    assert classes["kubectl-sc"]["VOLUMEBINDINGMODE"] == "Immediate"
    volumes = {row["NAME"]: row for row in _columns(kubectl("get", "pv"))}
    assert volumes["kubectl-pv"]["RECLAIM POLICY"] == "Retain"
    assert volumes["kubectl-pv"]["CAPACITY"] == "2Gi"
