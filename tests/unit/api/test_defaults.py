"""Defaulting: upstream's SetDefaults_* for the built-in kinds."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pinnace.api import defaults, strategy, typed
from pinnace.api.defaults import apply_defaults
from pinnace.api.registry import builtin_registry

Obj = dict[str, Any]


def _deployment(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
            **spec,
        },
    }


def test_deployment_defaults() -> None:
    obj = _deployment()
    apply_defaults("apps", "Deployment", obj)
    spec = obj["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Always"
    assert pod["dnsPolicy"] == "ClusterFirst"
    assert pod["schedulerName"] == "default-scheduler"
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["securityContext"] == {}
    assert "enableServiceLinks" not in pod  # a Pod default, not a template one
    assert pod["containers"][0] == {
        "name": "c",
        "image": "nginx",
        "imagePullPolicy": "Always",
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "resources": {},
    }


def test_given_values_are_kept() -> None:
    obj = _deployment(replicas=0, strategy={"type": "Recreate"})
    apply_defaults("apps", "Deployment", obj)
    assert obj["spec"]["replicas"] == 0
    assert obj["spec"]["strategy"] == {"type": "Recreate"}


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("registry:5000/nginx", "Always"),
        ("registry:5000/nginx:1", "IfNotPresent"),
        ("nginx@sha256:abc", "IfNotPresent"),
    ],
)
def test_image_pull_policy(image: str, policy: str) -> None:
    pod = {"spec": {"containers": [{"name": "c", "image": image}]}}
    apply_defaults("", "Pod", pod)
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_pod_defaults_probes_ports_volumes_and_requests() -> None:
    pod: dict[str, Any] = {
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "i:1",
                    "ports": [{"containerPort": 80}],
                    "livenessProbe": {"httpGet": {"port": 80}},
                    "resources": {"limits": {"cpu": "1"}},
                }
            ],
            "volumes": [{"name": "s", "secret": {"secretName": "x"}}, {"name": "e"}],
        }
    }
    apply_defaults("", "Pod", pod)
    c = pod["spec"]["containers"][0]
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert c["livenessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert c["resources"] == {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}
    assert pod["spec"]["volumes"] == [
        {"name": "s", "secret": {"secretName": "x", "defaultMode": 420}},
        {"name": "e", "emptyDir": {}},
    ]
    assert pod["spec"]["enableServiceLinks"] is True


def test_secret_namespace_and_unknown_kinds() -> None:
    secret: dict[str, Any] = {"metadata": {"name": "s"}}
    apply_defaults("", "Secret", secret)
    assert secret["type"] == "Opaque"
    typed_secret = {"metadata": {"name": "s"}, "type": "kubernetes.io/tls"}
    apply_defaults("", "Secret", typed_secret)
    assert typed_secret["type"] == "kubernetes.io/tls"
    ns: dict[str, Any] = {"metadata": {"name": "team", "labels": {"kubernetes.io/metadata.name": "forged"}}}
    apply_defaults("", "Namespace", ns)
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team"}
    cm: dict[str, Any] = {"metadata": {"name": "c"}}
    apply_defaults("", "ConfigMap", cm)
    assert cm == {"metadata": {"name": "c"}}


def test_job_and_cronjob_defaults() -> None:
    template = {"metadata": {"labels": {"j": "1"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    job: dict[str, Any] = {"metadata": {"name": "j"}, "spec": {"template": template}}
    apply_defaults("batch", "Job", job)
    assert {k: v for k, v in job["spec"].items() if k != "template"} == {
        "completions": 1,
        "parallelism": 1,
        "backoffLimit": 6,
        "completionMode": "NonIndexed",
        "suspend": False,
        "podReplacementPolicy": "TerminatingOrFailed",
    }
    assert job["metadata"]["labels"] == {"j": "1"}
    cron: dict[str, Any] = {"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}}
    apply_defaults("batch", "CronJob", cron)
    assert cron["spec"]["concurrencyPolicy"] == "Allow"
    assert cron["spec"]["successfulJobsHistoryLimit"] == 3
    assert "backoffLimit" not in cron["spec"]["jobTemplate"]["spec"]


def test_items_that_are_not_objects_are_left_alone() -> None:
    pod: dict[str, Any] = {
        "spec": {
            "hostNetwork": True,
            "containers": [None, 1, {"name": "a", "ports": [None, {"containerPort": 1}], "env": [None, "x"]}],
            "initContainers": "x",
            "volumes": [None, {"name": "v"}, 3],
        }
    }
    apply_defaults("", "Pod", pod)
    spec = pod["spec"]
    assert spec["containers"][:2] == [None, 1] and spec["initContainers"] == "x"
    assert spec["containers"][2]["ports"] == [None, {"containerPort": 1, "protocol": "TCP", "hostPort": 1}]
    assert spec["containers"][2]["env"] == [None, "x"]
    assert spec["volumes"] == [None, {"name": "v", "emptyDir": {}}, 3]


# ---- core/v1 storage, endpoints, limits, nodes and services; networking, discovery, RBAC, scheduling, storage,
# admission registration and flow control ---------------------------------------------------------------------------
def _defaulted(group: str, kind: str, obj: Obj) -> Obj:
    """``obj``, defaulted in place."""
    apply_defaults(group, kind, obj)
    return obj


def test_persistent_volume_defaults() -> None:
    pv = _defaulted("", "PersistentVolume", {"metadata": {"name": "pv"}, "spec": {"hostPath": {"path": "/d"}}})
    assert pv["spec"] == {
        "hostPath": {"path": "/d", "type": ""},
        "persistentVolumeReclaimPolicy": "Retain",
        "volumeMode": "Filesystem",
    }
    assert pv["status"] == {"phase": "Pending"}
    kept = _defaulted(
        "",
        "PersistentVolume",
        {
            "spec": {"persistentVolumeReclaimPolicy": "Delete", "volumeMode": "Block", "hostPath": {"type": "File"}},
            "status": {"phase": "Bound"},
        },
    )
    assert kept["spec"] == {
        "persistentVolumeReclaimPolicy": "Delete",
        "volumeMode": "Block",
        "hostPath": {"type": "File"},
    }
    assert kept["status"] == {"phase": "Bound"}


def test_legacy_volume_sources_of_persistent_volumes_and_pods() -> None:
    pv = _defaulted(
        "",
        "PersistentVolume",
        {"spec": {"rbd": {"monitors": ["m"], "image": "i", "pool": ""}, "iscsi": {"iqn": "q"}, "scaleIO": {}}},
    )
    assert pv["spec"]["rbd"] == {
        "monitors": ["m"],
        "image": "i",
        "pool": "rbd",  # a plain Go string: empty is unset
        "user": "admin",
        "keyring": "/etc/ceph/keyring",
    }
    assert pv["spec"]["iscsi"] == {"iqn": "q", "iscsiInterface": "default"}
    assert pv["spec"]["scaleIO"] == {"storageMode": "ThinProvisioned", "fsType": "xfs"}
    pod = _defaulted(
        "",
        "Pod",
        {"spec": {"volumes": [{"name": "a", "azureDisk": {"diskName": "d", "diskURI": "u", "fsType": ""}}]}},
    )
    assert pod["spec"]["volumes"][0]["azureDisk"] == {
        "diskName": "d",
        "diskURI": "u",
        "fsType": "",  # a Go pointer: set, even if empty
        "cachingMode": "ReadWrite",
        "readOnly": False,
        "kind": "Shared",
    }


def test_pod_volume_sources_downward_api_projections_and_ephemeral_claims() -> None:
    field_ref = {"fieldRef": {"fieldPath": "metadata.name"}}
    volumes: list[Obj] = [
        {"name": "d", "downwardAPI": {"items": [{"path": "n", **field_ref}]}},
        {
            "name": "p",
            "projected": {
                "defaultMode": 256,
                "sources": [
                    {"downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "x", "apiVersion": "v2"}}]}},
                    {"serviceAccountToken": {"path": "t"}},
                    {"serviceAccountToken": {"path": "u", "expirationSeconds": 7200}},
                ],
            },
        },
        {"name": "e", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}},
    ]
    pod = _defaulted("", "Pod", {"spec": {"volumes": volumes}})
    downward, projected, ephemeral = pod["spec"]["volumes"]
    assert downward["downwardAPI"] == {
        "items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name", "apiVersion": "v1"}}],
        "defaultMode": 420,
    }
    assert projected["projected"]["defaultMode"] == 256
    assert projected["projected"]["sources"] == [
        {"downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "x", "apiVersion": "v2"}}]}},
        {"serviceAccountToken": {"path": "t", "expirationSeconds": 3600}},
        {"serviceAccountToken": {"path": "u", "expirationSeconds": 7200}},
    ]
    assert ephemeral["ephemeral"]["volumeClaimTemplate"]["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "volumeMode": "Filesystem",
    }


def test_host_ports_are_defaulted_in_pods_only() -> None:
    containers = [{"name": "c", "image": "i", "ports": [{"containerPort": 80}, {"containerPort": 81, "hostPort": 9}]}]
    pod = _defaulted("", "Pod", {"spec": {"hostNetwork": True, "containers": copy.deepcopy(containers)}})
    assert [p.get("hostPort") for p in pod["spec"]["containers"][0]["ports"]] == [80, 9]
    template = {"spec": {"hostNetwork": True, "containers": copy.deepcopy(containers)}}
    deployment = _defaulted("apps", "Deployment", {"spec": {"template": template}})
    ports = deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert [p.get("hostPort") for p in ports] == [None, 9]  # since v1.28 (DefaultHostNetworkHostPortsInPodTemplates)


def test_persistent_volume_claim_and_stateful_set_claim_templates() -> None:
    pvc = _defaulted("", "PersistentVolumeClaim", {"metadata": {"name": "c"}, "spec": {"accessModes": ["RWO"]}})
    assert pvc["spec"] == {"accessModes": ["RWO"], "volumeMode": "Filesystem"}
    assert pvc["status"] == {"phase": "Pending"}
    block = _defaulted("", "PersistentVolumeClaim", {"spec": {"volumeMode": "Block"}, "status": {"phase": "Bound"}})
    assert block == {"spec": {"volumeMode": "Block"}, "status": {"phase": "Bound"}}
    sts = _defaulted("apps", "StatefulSet", {"spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"}}, 7]}})
    assert sts["spec"]["volumeClaimTemplates"] == [
        {"metadata": {"name": "data"}, "spec": {"volumeMode": "Filesystem"}, "status": {"phase": "Pending"}},
        7,
    ]


def test_endpoints_namespace_and_node_status() -> None:
    ep = _defaulted(
        "", "Endpoints", {"subsets": [{"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}, {"addresses": []}]}
    )
    assert ep["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]
    assert ep["subsets"][1] == {"addresses": []}
    ns = _defaulted("", "Namespace", {"metadata": {"name": "a"}})
    assert ns["status"] == {"phase": "Active"}
    terminating = _defaulted("", "Namespace", {"metadata": {"name": "a"}, "status": {"phase": "Terminating"}})
    assert terminating["status"] == {"phase": "Terminating"}
    node = _defaulted("", "Node", {"status": {"capacity": {"cpu": "4", "pods": "110"}}})
    assert node["status"]["allocatable"] == {"cpu": "4", "pods": "110"}
    assert node["status"]["allocatable"] is not node["status"]["capacity"]
    given = _defaulted("", "Node", {"status": {"capacity": {"cpu": "4"}, "allocatable": {"cpu": "3"}}})
    assert given["status"]["allocatable"] == {"cpu": "3"}
    assert _defaulted("", "Node", {"metadata": {"name": "n"}}) == {"metadata": {"name": "n"}}  # nothing added
    assert _defaulted("", "Node", {"status": {"capacity": {}}}) == {"status": {"capacity": {}}}


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (  # the default limit from the max, the default request from the default limit
            {"type": "Container", "max": {"cpu": "2", "memory": "1Gi"}},
            {"default": {"cpu": "2", "memory": "1Gi"}, "defaultRequest": {"cpu": "2", "memory": "1Gi"}},
        ),
        (  # a given default limit wins over the max; the min gives a request only where the limit gives none
            {"type": "Container", "max": {"cpu": "2"}, "default": {"cpu": "1"}, "min": {"cpu": "100m", "memory": "1"}},
            {"default": {"cpu": "1"}, "defaultRequest": {"cpu": "1", "memory": "1"}},
        ),
        (  # a given default request is kept
            {"type": "Container", "default": {"cpu": "1"}, "defaultRequest": {"cpu": "500m"}},
            {"default": {"cpu": "1"}, "defaultRequest": {"cpu": "500m"}},
        ),
        ({"type": "Container", "min": {"cpu": "1"}}, {"defaultRequest": {"cpu": "1"}}),
        ({"type": "Container"}, {}),  # no empty maps
        ({"type": "Pod", "max": {"cpu": "2"}}, {}),  # containers only
        (  # null is unset
            {"type": "Container", "max": {"cpu": "2"}, "default": None},
            {"default": {"cpu": "2"}, "defaultRequest": {"cpu": "2"}},
        ),
    ],
)
def test_limit_range_items(item: Obj, expected: Obj) -> None:
    limit_range = _defaulted("", "LimitRange", {"spec": {"limits": [copy.deepcopy(item)]}})
    assert limit_range["spec"]["limits"] == [{**item, **expected}]


def test_service_affinity_external_ips_target_ports_and_load_balancer_ip_modes() -> None:
    client_ip = _defaulted(
        "",
        "Service",
        {"spec": {"sessionAffinity": "ClientIP", "externalIPs": ["1.2.3.4"], "ports": [{"port": 80, "targetPort": 0}]}},
    )["spec"]
    assert client_ip["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    assert client_ip["externalTrafficPolicy"] == "Cluster"  # a ClusterIP service with external IPs is external
    assert client_ip["ports"] == [{"port": 80, "targetPort": 80, "protocol": "TCP"}]
    timed = {"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}}
    assert _defaulted("", "Service", {"spec": dict(timed)})["spec"]["sessionAffinityConfig"] == {
        "clientIP": {"timeoutSeconds": 60}
    }
    none = _defaulted("", "Service", {"spec": {"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}}})
    assert "sessionAffinityConfig" not in none["spec"]  # dropped without affinity, as upstream
    assert "externalTrafficPolicy" not in none["spec"]
    lb = _defaulted(
        "",
        "Service",
        {
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "targetPort": "http"}]},
            "status": {
                "loadBalancer": {"ingress": [{"ip": "10.0.0.1"}, {"hostname": "lb"}, {"ip": "2", "ipMode": "Proxy"}]}
            },
        },
    )
    assert lb["spec"]["ports"] == [{"port": 80, "targetPort": "http", "protocol": "TCP"}]
    assert lb["status"]["loadBalancer"]["ingress"] == [
        {"ip": "10.0.0.1", "ipMode": "VIP"},
        {"hostname": "lb"},
        {"ip": "2", "ipMode": "Proxy"},
    ]
    external_name = _defaulted("", "Service", {"spec": {"type": "ExternalName", "externalName": "x"}})["spec"]
    assert "internalTrafficPolicy" not in external_name and "externalTrafficPolicy" not in external_name


def test_network_policy_defaults() -> None:
    ingress_only = _defaulted(
        "networking.k8s.io", "NetworkPolicy", {"spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]}}
    )["spec"]
    assert ingress_only["policyTypes"] == ["Ingress"]
    assert ingress_only["ingress"] == [{"ports": [{"port": 80, "protocol": "TCP"}]}]
    both = _defaulted(
        "networking.k8s.io",
        "NetworkPolicy",
        {"spec": {"podSelector": {}, "egress": [{"ports": [{"port": 53, "protocol": "UDP"}, {}]}]}},
    )["spec"]
    assert both["policyTypes"] == ["Ingress", "Egress"]
    assert both["egress"] == [{"ports": [{"port": 53, "protocol": "UDP"}, {"protocol": "TCP"}]}]
    given = _defaulted("networking.k8s.io", "NetworkPolicy", {"spec": {"policyTypes": ["Egress"], "egress": [{}]}})
    assert given["spec"]["policyTypes"] == ["Egress"]


def test_ingress_class_and_ingress() -> None:
    parameters = {"apiGroup": "k8s.example.com", "kind": "Params", "name": "p"}
    cls = _defaulted("networking.k8s.io", "IngressClass", {"spec": {"parameters": dict(parameters)}})
    assert cls["spec"]["parameters"] == {**parameters, "scope": "Cluster"}
    namespaced = {**parameters, "scope": "Namespace", "namespace": "n"}
    kept = _defaulted("networking.k8s.io", "IngressClass", {"spec": {"parameters": dict(namespaced)}})
    assert kept["spec"]["parameters"] == namespaced
    assert _defaulted("networking.k8s.io", "IngressClass", {"spec": {"controller": "c"}}) == {
        "spec": {"controller": "c"}
    }
    ingress: Obj = {"spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix"}]}}]}}
    assert _defaulted("networking.k8s.io", "Ingress", copy.deepcopy(ingress)) == ingress  # networking/v1: none


def test_endpoint_slice_ports() -> None:
    slice_ = _defaulted(
        "discovery.k8s.io",
        "EndpointSlice",
        {"addressType": "IPv4", "ports": [{"port": 80}, {"name": "dns", "protocol": "UDP"}]},
    )
    assert slice_["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}, {"name": "dns", "protocol": "UDP"}]


@pytest.mark.parametrize("kind", ["RoleBinding", "ClusterRoleBinding"])
def test_rbac_bindings(kind: str) -> None:
    binding = _defaulted(
        "rbac.authorization.k8s.io",
        kind,
        {
            "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [
                {"kind": "User", "name": "jane"},
                {"kind": "Group", "name": "devs", "apiGroup": ""},
                {"kind": "ServiceAccount", "name": "sa", "namespace": "default"},
                {"kind": "Robot", "name": "r"},
            ],
        },
    )
    assert binding["roleRef"] == {"kind": "ClusterRole", "name": "view", "apiGroup": "rbac.authorization.k8s.io"}
    assert [s.get("apiGroup") for s in binding["subjects"]] == [
        "rbac.authorization.k8s.io",
        "rbac.authorization.k8s.io",
        None,  # a ServiceAccount's group is "", which is omitted
        None,
    ]
    other = _defaulted(
        "rbac.authorization.k8s.io",
        kind,
        {"roleRef": {"apiGroup": "x"}, "subjects": [{"kind": "User", "apiGroup": "y"}]},
    )
    assert other == {
        "roleRef": {"apiGroup": "x"},
        "subjects": [{"kind": "User", "apiGroup": "y"}],
    }  # left to validation


def test_priority_class_and_storage_class() -> None:
    assert _defaulted("scheduling.k8s.io", "PriorityClass", {"value": 1})["preemptionPolicy"] == "PreemptLowerPriority"
    assert (
        _defaulted("scheduling.k8s.io", "PriorityClass", {"preemptionPolicy": "Never"})["preemptionPolicy"] == "Never"
    )
    sc = _defaulted("storage.k8s.io", "StorageClass", {"provisioner": "p"})
    assert sc == {"provisioner": "p", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}
    given = {"provisioner": "p", "reclaimPolicy": "Retain", "volumeBindingMode": "WaitForFirstConsumer"}
    assert _defaulted("storage.k8s.io", "StorageClass", dict(given)) == given


def test_csi_driver() -> None:
    driver = _defaulted("storage.k8s.io", "CSIDriver", {"metadata": {"name": "d"}})
    assert driver["spec"] == {
        "attachRequired": True,
        "podInfoOnMount": False,
        "storageCapacity": False,
        "fsGroupPolicy": "ReadWriteOnceWithFSType",
        "volumeLifecycleModes": ["Persistent"],
        "requiresRepublish": False,
        "seLinuxMount": False,
    }
    spec = {
        "attachRequired": False,
        "podInfoOnMount": True,
        "storageCapacity": True,
        "fsGroupPolicy": "File",
        "volumeLifecycleModes": ["Ephemeral"],
        "requiresRepublish": True,
        "seLinuxMount": True,
    }
    assert _defaulted("storage.k8s.io", "CSIDriver", {"spec": dict(spec)})["spec"] == spec


@pytest.mark.parametrize("kind", ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"])
def test_webhook_configurations(kind: str) -> None:
    rule = {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}
    hook: Obj = {
        "name": "a.example.com",
        "clientConfig": {"service": {"namespace": "n", "name": "s"}},
        "rules": [rule],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
    }
    config = _defaulted("admissionregistration.k8s.io", kind, {"webhooks": [copy.deepcopy(hook)]})
    expected = {
        **hook,
        "clientConfig": {"service": {"namespace": "n", "name": "s", "port": 443}},
        "rules": [{**rule, "scope": "*"}],
        "failurePolicy": "Fail",
        "matchPolicy": "Equivalent",
        "namespaceSelector": {},
        "objectSelector": {},
        "timeoutSeconds": 10,
    }
    if kind.startswith("Mutating"):
        expected["reinvocationPolicy"] = "Never"
    assert config["webhooks"] == [expected]
    given = {
        **hook,
        "clientConfig": {"url": "https://x"},
        "rules": [{"scope": "Namespaced"}],
        "failurePolicy": "Ignore",
        "matchPolicy": "Exact",
        "namespaceSelector": {"matchLabels": {"a": "b"}},
        "objectSelector": {"matchLabels": {"c": "d"}},
        "timeoutSeconds": 3,
        "reinvocationPolicy": "IfNeeded",
    }
    assert _defaulted("admissionregistration.k8s.io", kind, {"webhooks": [copy.deepcopy(given)]})["webhooks"] == [given]
    selectors = _defaulted("admissionregistration.k8s.io", kind, {"webhooks": [{}, {}]})["webhooks"]
    assert selectors[0]["namespaceSelector"] is not selectors[1]["namespaceSelector"]  # never one shared dict


def test_validating_admission_policies_and_bindings() -> None:
    rules = [{"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["deployments"]}]
    policy = _defaulted(
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicy",
        {
            "spec": {
                "matchConstraints": {"resourceRules": copy.deepcopy(rules)},
                "validations": [{"expression": "true"}],
            }
        },
    )
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert policy["spec"]["matchConstraints"] == {
        "resourceRules": [{**rules[0], "scope": "*"}],
        "matchPolicy": "Equivalent",
        "namespaceSelector": {},
        "objectSelector": {},
    }
    bare = _defaulted(
        "admissionregistration.k8s.io", "ValidatingAdmissionPolicy", {"spec": {"failurePolicy": "Ignore"}}
    )
    assert bare["spec"] == {"failurePolicy": "Ignore"}  # no matchConstraints made up
    binding = _defaulted(
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
        {
            "spec": {
                "policyName": "p",
                "validationActions": ["Deny"],
                "paramRef": {"name": "x"},
                "matchResources": {"excludeResourceRules": copy.deepcopy(rules), "matchPolicy": "Exact"},
            }
        },
    )
    assert binding["spec"]["paramRef"] == {"name": "x"}  # v1 defaults no parameterNotFoundAction
    assert binding["spec"]["matchResources"] == {
        "excludeResourceRules": [{**rules[0], "scope": "*"}],
        "matchPolicy": "Exact",
        "namespaceSelector": {},
        "objectSelector": {},
    }
    without = {"spec": {"policyName": "p", "validationActions": ["Deny"]}}
    assert (
        _defaulted("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding", copy.deepcopy(without))
        == without
    )


def test_flow_control() -> None:
    fc = "flowcontrol.apiserver.k8s.io"
    schema = _defaulted(fc, "FlowSchema", {"spec": {"priorityLevelConfiguration": {"name": "p"}}})
    assert schema["spec"]["matchingPrecedence"] == 1000
    assert _defaulted(fc, "FlowSchema", {"spec": {"matchingPrecedence": 5}})["spec"]["matchingPrecedence"] == 5
    limited = _defaulted(
        fc,
        "PriorityLevelConfiguration",
        {"spec": {"type": "Limited", "limited": {"limitResponse": {"type": "Queue", "queuing": {"queues": 0}}}}},
    )
    assert limited["spec"]["limited"] == {
        "limitResponse": {"type": "Queue", "queuing": {"queues": 64, "handSize": 8, "queueLengthLimit": 50}},
        "nominalConcurrencyShares": 30,
        "lendablePercent": 0,
    }
    zero = _defaulted(fc, "PriorityLevelConfiguration", {"spec": {"limited": {"nominalConcurrencyShares": 0}}})
    assert zero["spec"]["limited"]["nominalConcurrencyShares"] == 0  # a pointer in v1: 0 is a value
    exempt = _defaulted(fc, "PriorityLevelConfiguration", {"spec": {"type": "Exempt", "exempt": {}}})
    assert exempt["spec"]["exempt"] == {"nominalConcurrencyShares": 0, "lendablePercent": 0}


# ---- every defaulter: its defaults are normal values, and odd input never makes it raise ---------------------------
_RULES = [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}]
_HOOK = {
    "name": "a.example.com",
    "clientConfig": {"service": {"namespace": "n", "name": "s"}},
    "rules": _RULES,
    "sideEffects": "None",
    "admissionReviewVersions": ["v1"],
}
_POD_SPEC: Obj = {
    "hostNetwork": True,
    "containers": [
        {
            "name": "c",
            "image": "i",
            "ports": [{"containerPort": 80}],
            "env": [{"name": "e", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "livenessProbe": {"httpGet": {"port": 80}},
            "lifecycle": {"preStop": {"httpGet": {"port": 80}}},
            "resources": {"limits": {"cpu": "1"}},
        }
    ],
    "volumes": [
        {"name": "a"},
        {"name": "s", "secret": {"secretName": "s"}},
        {"name": "d", "downwardAPI": {"items": [{"path": "p", "fieldRef": {"fieldPath": "metadata.name"}}]}},
        {"name": "p", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}},
        {"name": "r", "rbd": {"monitors": ["m"], "image": "i"}},
        {"name": "e", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}},
    ],
}
_TEMPLATE: Obj = {"metadata": {"labels": {"app": "x"}}, "spec": _POD_SPEC}
_SAMPLES: dict[tuple[str, str], Obj] = {
    ("", "Pod"): {"metadata": {"name": "p"}, "spec": _POD_SPEC},
    ("", "PodTemplate"): {"metadata": {"name": "t"}, "template": _TEMPLATE},
    ("", "Secret"): {"metadata": {"name": "s"}},
    ("", "Namespace"): {"metadata": {"name": "n"}},
    ("", "Service"): {
        "metadata": {"name": "s"},
        "spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP", "ports": [{"port": 80}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}},
    },
    ("", "ReplicationController"): {"metadata": {"name": "r"}, "spec": {"template": _TEMPLATE}},
    ("", "Endpoints"): {
        "metadata": {"name": "e"},
        "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}],
    },
    ("", "PersistentVolume"): {
        "metadata": {"name": "pv"},
        "spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/x"}, "accessModes": ["ReadWriteOnce"]},
    },
    ("", "PersistentVolumeClaim"): {"metadata": {"name": "c"}, "spec": {"accessModes": ["ReadWriteOnce"]}},
    ("", "LimitRange"): {"metadata": {"name": "l"}, "spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}}]}},
    ("", "Node"): {"metadata": {"name": "n"}, "status": {"capacity": {"cpu": "1"}}},
    ("apps", "Deployment"): {"metadata": {"name": "d"}, "spec": {"template": _TEMPLATE}},
    ("apps", "ReplicaSet"): {"metadata": {"name": "r"}, "spec": {"template": _TEMPLATE}},
    ("apps", "StatefulSet"): {
        "metadata": {"name": "s"},
        "spec": {"template": _TEMPLATE, "volumeClaimTemplates": [{"metadata": {"name": "data"}}]},
    },
    ("apps", "DaemonSet"): {"metadata": {"name": "d"}, "spec": {"template": _TEMPLATE}},
    ("batch", "Job"): {"metadata": {"name": "j"}, "spec": {"template": _TEMPLATE}},
    ("batch", "CronJob"): {"metadata": {"name": "c"}, "spec": {"jobTemplate": {"spec": {"template": _TEMPLATE}}}},
    ("autoscaling", "HorizontalPodAutoscaler"): {
        "apiVersion": "autoscaling/v2",
        "metadata": {"name": "h", "annotations": {"autoscaling.alpha.kubernetes.io/conditions": "[]"}},
        "spec": {"maxReplicas": 3, "behavior": {"scaleUp": {"selectPolicy": "Min"}}},
    },
    ("apiregistration.k8s.io", "APIService"): {"metadata": {"name": "v1.x"}, "spec": {"service": {"name": "s"}}},
    ("networking.k8s.io", "NetworkPolicy"): {
        "metadata": {"name": "n"},
        "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}], "egress": [{"ports": [{"port": 53}]}]},
    },
    ("networking.k8s.io", "IngressClass"): {
        "metadata": {"name": "i"},
        "spec": {"controller": "c", "parameters": {"kind": "K", "name": "p"}},
    },
    ("discovery.k8s.io", "EndpointSlice"): {"metadata": {"name": "e"}, "addressType": "IPv4", "ports": [{"port": 80}]},
    ("rbac.authorization.k8s.io", "RoleBinding"): {
        "metadata": {"name": "b"},
        "roleRef": {"kind": "Role", "name": "r"},
        "subjects": [{"kind": "User", "name": "jane"}, {"kind": "ServiceAccount", "name": "sa"}],
    },
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): {
        "metadata": {"name": "b"},
        "roleRef": {"kind": "ClusterRole", "name": "r"},
        "subjects": [{"kind": "Group", "name": "devs"}],
    },
    ("scheduling.k8s.io", "PriorityClass"): {"metadata": {"name": "p"}, "value": 1},
    ("storage.k8s.io", "StorageClass"): {"metadata": {"name": "s"}, "provisioner": "p"},
    ("storage.k8s.io", "CSIDriver"): {"metadata": {"name": "d"}, "spec": {"attachRequired": False}},
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): {
        "metadata": {"name": "v"},
        "webhooks": [_HOOK],
    },
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): {"metadata": {"name": "m"}, "webhooks": [_HOOK]},
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): {
        "metadata": {"name": "p"},
        "spec": {"matchConstraints": {"resourceRules": _RULES}, "validations": [{"expression": "true"}]},
    },
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"): {
        "metadata": {"name": "b"},
        "spec": {"policyName": "p", "validationActions": ["Deny"], "matchResources": {"resourceRules": _RULES}},
    },
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"): {
        "metadata": {"name": "f"},
        "spec": {"priorityLevelConfiguration": {"name": "p"}},
    },
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"): {
        "metadata": {"name": "p"},
        "spec": {"type": "Limited", "limited": {"limitResponse": {"type": "Queue", "queuing": {}}}},
    },
}


def test_every_defaulted_kind_has_a_sample() -> None:
    assert set(_SAMPLES) == set(defaults._DEFAULTERS)


@pytest.mark.parametrize("gk", sorted(_SAMPLES))
def test_defaults_are_normal_values(gk: tuple[str, str]) -> None:
    """What a defaulter adds is what a decode/encode round trip keeps (the create path relies on it)."""
    group, kind = gk
    version = str(_SAMPLES[gk].get("apiVersion", "v1")).rsplit("/", 1)[-1]
    info = builtin_registry().by_kind(group, version, kind)
    assert info is not None
    obj = {"apiVersion": info.api_version, "kind": kind, **copy.deepcopy(_SAMPLES[gk])}
    defaulted = copy.deepcopy(obj)
    strategy.decode(info, defaulted, normal=True)  # the defaults, without the normalising walk
    assert defaulted != obj
    walked = copy.deepcopy(defaulted)
    typed.normalize(walked, strategy.schema_of(info))
    assert walked == defaulted
    assert list(walked) == list(defaulted)


#: Values of every JSON type, none of them what a field expects everywhere.
_ODD_VALUES: list[Any] = [None, "", "x", 0, 7, True, [], [None, "y", 3], {}, {"z": None}]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key and index path inside ``value``."""
    out: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        out.append((*path, key))
        out += _paths(child, (*path, key))
    return out


@pytest.mark.parametrize("gk", sorted(_SAMPLES))
def test_odd_input_never_makes_a_defaulter_raise(gk: tuple[str, str]) -> None:
    group, kind = gk
    sample = _SAMPLES[gk]
    for path in _paths(sample):
        for odd in _ODD_VALUES:
            obj = copy.deepcopy(sample)
            parent = obj
            for step in path[:-1]:
                parent = parent[step]
            parent[path[-1]] = copy.deepcopy(odd)
            apply_defaults(group, kind, obj)  # must not raise
            apply_defaults(group, kind, obj)  # nor again, on its own result
    for odd in _ODD_VALUES:
        if isinstance(odd, dict):
            apply_defaults(group, kind, copy.deepcopy(odd))


@pytest.mark.parametrize("gk", sorted(_SAMPLES))
def test_defaulting_twice_changes_nothing_more(gk: tuple[str, str]) -> None:
    group, kind = gk
    once = _defaulted(group, kind, copy.deepcopy(_SAMPLES[gk]))
    assert _defaulted(group, kind, copy.deepcopy(once)) == once


def _decoded(group: str, kind: str, obj: Obj, version: str = "v1") -> Obj:
    """``obj`` as a create decodes it: defaulted, then normalised and filled as Go's round trip leaves it."""
    info = builtin_registry().by_kind(group, version, kind)
    assert info is not None
    strategy.decode(info, obj)
    return obj


def test_a_go_zero_value_is_defaulted_as_unset_and_a_null_pointer_too() -> None:
    """A Go defaulter checks a plain field against its zero value ("", 0) and a pointer field against nil: a body
    that sends the zero of a plain field, or null for a pointer, gets the default; a pointer's zero is kept."""
    probe = {"exec": {"command": ["true"]}, "timeoutSeconds": 0, "periodSeconds": 0, "failureThreshold": 0}
    http = {"httpGet": {"port": 80, "path": "", "scheme": ""}, "successThreshold": 0}
    container = {"name": "c", "image": "x", "terminationMessagePath": "", "terminationMessagePolicy": ""}
    pod = _decoded(
        "",
        "Pod",
        {
            "metadata": {"name": "p"},
            "spec": {
                "containers": [{**container, "readinessProbe": probe, "livenessProbe": http}],
                "restartPolicy": "",
                "dnsPolicy": "",
                "schedulerName": "",
                "terminationGracePeriodSeconds": None,
                "enableServiceLinks": None,
                "securityContext": None,
            },
        },
    )
    spec = pod["spec"]
    c = spec["containers"][0]
    assert (c["terminationMessagePath"], c["terminationMessagePolicy"]) == ("/dev/termination-log", "File")
    assert {k: c["readinessProbe"][k] for k in ("timeoutSeconds", "periodSeconds", "failureThreshold")} == {
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "failureThreshold": 3,
    }
    assert c["livenessProbe"]["httpGet"] == {"port": 80, "path": "/", "scheme": "HTTP"}
    assert c["livenessProbe"]["successThreshold"] == 1
    assert (spec["restartPolicy"], spec["dnsPolicy"], spec["schedulerName"]) == (
        "Always",
        "ClusterFirst",
        "default-scheduler",
    )
    pointers = (spec["terminationGracePeriodSeconds"], spec["enableServiceLinks"], spec["securityContext"])
    assert pointers == (30, True, {})

    kept = _decoded("", "Pod", {"metadata": {"name": "p"}, "spec": {"containers": [container]}})
    kept_spec = _decoded(
        "", "Pod", {"metadata": {"name": "p"}, "spec": {**kept["spec"], "terminationGracePeriodSeconds": 0}}
    )["spec"]
    assert kept_spec["terminationGracePeriodSeconds"] == 0  # a pointer's zero is a value

    deployment = _decoded(
        "apps",
        "Deployment",
        _deployment(
            replicas=None,
            strategy={"type": "", "rollingUpdate": {"maxSurge": None}},
            revisionHistoryLimit=None,
            progressDeadlineSeconds=None,
        ),
    )
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
    }
    assert (deployment["spec"]["revisionHistoryLimit"], deployment["spec"]["progressDeadlineSeconds"]) == (10, 600)
    zeros = _decoded("apps", "Deployment", _deployment(replicas=0, revisionHistoryLimit=0))
    assert (zeros["spec"]["replicas"], zeros["spec"]["revisionHistoryLimit"]) == (0, 0)

    template = _deployment()["spec"]
    stateful = _decoded(
        "apps",
        "StatefulSet",
        {
            "metadata": {"name": "s"},
            "spec": {
                **template,
                "serviceName": "s",
                "podManagementPolicy": "",
                "updateStrategy": {"type": "", "rollingUpdate": {"partition": None}},
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "", "whenScaled": ""},
            },
        },
    )["spec"]
    assert stateful["podManagementPolicy"] == "OrderedReady"
    assert stateful["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert stateful["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    daemon = _decoded(
        "apps", "DaemonSet", {"metadata": {"name": "d"}, "spec": {**template, "updateStrategy": {"type": ""}}}
    )["spec"]
    assert daemon["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}

    job_template = {"template": {"spec": {"containers": [container], "restartPolicy": "Never"}}}
    cron = _decoded(
        "batch",
        "CronJob",
        {
            "metadata": {"name": "c"},
            "spec": {
                "schedule": "* * * * *",
                "concurrencyPolicy": "",
                "suspend": None,
                "successfulJobsHistoryLimit": 0,
                "failedJobsHistoryLimit": None,
                "jobTemplate": {"spec": job_template},
            },
        },
    )["spec"]
    assert (cron["concurrencyPolicy"], cron["suspend"]) == ("Allow", False)
    assert (cron["successfulJobsHistoryLimit"], cron["failedJobsHistoryLimit"]) == (0, 1)
    job = _decoded(
        "batch", "Job", {"metadata": {"name": "j"}, "spec": {**job_template, "suspend": None, "completionMode": None}}
    )["spec"]
    assert (job["suspend"], job["completionMode"], job["parallelism"]) == (False, "NonIndexed", 1)
    hpa = {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3, "minReplicas": None}
    hpa_body = {"apiVersion": "autoscaling/v2", "metadata": {"name": "h"}, "spec": hpa}
    autoscaled = _decoded("autoscaling", "HorizontalPodAutoscaler", hpa_body, "v2")
    assert autoscaled["spec"]["minReplicas"] == 1
