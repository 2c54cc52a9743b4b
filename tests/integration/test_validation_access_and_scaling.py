"""RBAC objects, PodDisruptionBudgets, HorizontalPodAutoscalers and PriorityClasses that kube-apiserver refuses are
refused (422 Invalid, upstream's causes, nothing written) through the official ``kubernetes`` client, while what
kubectl and the client create as a matter of course still passes."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from tests.integration.conftest import ThreadedServer, assert_absent, raw_request, refused_as_invalid

NS = "default"
RBAC = "rbac.authorization.k8s.io"
PODS = {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}
TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
JSON = {"Content-Type": "application/json"}

Obj = dict[str, Any]


def _causes(status: Obj) -> list[tuple[str, str, str]]:
    return [(c["reason"], c["field"], c["message"]) for c in status["details"]["causes"]]


# ---- RBAC ----------------------------------------------------------------------------------------


def test_bad_roles_are_refused_and_not_stored(k8s_client: ApiClient, threaded_server: ThreadedServer) -> None:
    rbac = client.RbacAuthorizationV1Api(k8s_client)
    role: Obj = {"metadata": {"name": "bad"}, "rules": [{"verbs": [], "apiGroups": [""], "resources": ["pods"]}]}
    status = refused_as_invalid(lambda: rbac.create_namespaced_role(NS, role))
    message = (
        'Role.rbac.authorization.k8s.io "bad" is invalid: rules[0].verbs: Required value: '
        "verbs must contain at least one value"
    )
    assert status["message"] == message
    assert status["details"]["group"] == RBAC and status["details"]["kind"] == "Role"
    assert_absent(lambda: rbac.read_namespaced_role("bad", NS))
    # (the client insists on the verbs key: without it, as kubectl apply of a manifest sends it)
    del role["rules"][0]["verbs"]
    path = f"/apis/{RBAC}/v1/namespaces/{NS}/roles"
    code, answer = raw_request(threaded_server.url, "POST", path, json.dumps(role).encode(), JSON)
    assert (code, answer["reason"], answer["message"]) == (422, "Invalid", message)
    assert_absent(lambda: rbac.read_namespaced_role("bad", NS))

    role["rules"] = [{"verbs": ["get"], "resources": ["pods"]}, {"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]
    assert _causes(refused_as_invalid(lambda: rbac.create_namespaced_role(NS, role))) == [
        (
            "FieldValueRequired",
            "rules[0].apiGroups",
            "Required value: resource rules must supply at least one api group",
        ),
        (
            "FieldValueInvalid",
            "rules[1].nonResourceURLs",
            'Invalid value: []string{"/healthz"}: namespaced rules cannot apply to non-resource URLs',
        ),
    ]
    assert_absent(lambda: rbac.read_namespaced_role("bad", NS))

    aggregated = {
        "metadata": {"name": "bad-aggregate"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchExpressions": [{"key": "a", "operator": "Near"}]}]},
    }
    assert _causes(refused_as_invalid(lambda: rbac.create_cluster_role(aggregated))) == [
        (
            "FieldValueInvalid",
            "aggregationRule.clusterRoleSelectors[0].matchExpressions[0].operator",
            'Invalid value: "Near": not a valid selector operator',
        )
    ]
    assert_absent(lambda: rbac.read_cluster_role("bad-aggregate"))


def test_bad_bindings_are_refused_and_the_role_ref_never_changes(k8s_client: ApiClient) -> None:
    rbac = client.RbacAuthorizationV1Api(k8s_client)
    binding = {
        "metadata": {"name": "readers"},
        "roleRef": {"apiGroup": RBAC, "kind": "Pod", "name": "view"},
        "subjects": [{"kind": "Foo", "name": "jane"}],
    }
    assert _causes(refused_as_invalid(lambda: rbac.create_namespaced_role_binding(NS, binding))) == [
        ("FieldValueNotSupported", "roleRef.kind", 'Unsupported value: "Pod": supported values: "Role", "ClusterRole"'),
        (
            "FieldValueNotSupported",
            "subjects[0].kind",
            'Unsupported value: "Foo": supported values: "ServiceAccount", "User", "Group"',
        ),
    ]
    assert_absent(lambda: rbac.read_namespaced_role_binding("readers", NS))

    cluster_binding = {
        "metadata": {"name": "readers"},
        "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "builder"}],
    }
    assert _causes(refused_as_invalid(lambda: rbac.create_cluster_role_binding(cluster_binding))) == [
        ("FieldValueNotSupported", "roleRef.kind", 'Unsupported value: "Role": supported values: "ClusterRole"'),
        ("FieldValueRequired", "subjects[0].namespace", "Required value"),
    ]

    binding["roleRef"]["kind"] = "ClusterRole"
    binding["subjects"] = [{"apiGroup": RBAC, "kind": "User", "name": "jane"}]
    created = rbac.create_namespaced_role_binding(NS, binding)
    changed = {**binding, "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "edit"}}
    changed["metadata"] = {"name": "readers", "resourceVersion": created.metadata.resource_version}
    status = refused_as_invalid(lambda: rbac.replace_namespaced_role_binding("readers", NS, changed))
    assert status["message"] == (
        'RoleBinding.rbac.authorization.k8s.io "readers" is invalid: roleRef: Invalid value: '
        'rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef'
    )
    refused_as_invalid(lambda: rbac.patch_namespaced_role_binding("readers", NS, {"roleRef": {"name": "admin"}}))
    stored = rbac.read_namespaced_role_binding("readers", NS)
    assert stored.role_ref.name == "view" and stored.metadata.resource_version == created.metadata.resource_version
    # the subjects may change
    patched = rbac.patch_namespaced_role_binding(
        "readers", NS, {"subjects": [{"apiGroup": RBAC, "kind": "Group", "name": "devs"}]}
    )
    assert [s.name for s in patched.subjects] == ["devs"]


# ---- PodDisruptionBudget -------------------------------------------------------------------------


def test_a_budget_with_both_bounds_isrefused_as_invalid(k8s_client: ApiClient) -> None:
    policy = client.PolicyV1Api(k8s_client)
    pdb = {
        "metadata": {"name": "web"},
        "spec": {"minAvailable": 1, "maxUnavailable": "150%", "selector": {"matchLabels": {"app": "web"}}},
    }
    assert _causes(refused_as_invalid(lambda: policy.create_namespaced_pod_disruption_budget(NS, pdb))) == [
        (
            "FieldValueInvalid",
            "spec",
            "Invalid value: policy.PodDisruptionBudgetSpec{MinAvailable:(*intstr.IntOrString)(0xc000a1e000), "
            "Selector:(*v1.LabelSelector)(0xc000a1e000), MaxUnavailable:(*intstr.IntOrString)(0xc000a1e000), "
            "UnhealthyPodEvictionPolicy:(*policy.UnhealthyPodEvictionPolicyType)(nil)}: "
            "minAvailable and maxUnavailable cannot be both set",
        ),
        (
            "FieldValueInvalid",
            "spec.maxUnavailable",
            'Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"150%"}: must not be greater than 100%',
        ),
    ]
    assert_absent(lambda: policy.read_namespaced_pod_disruption_budget("web", NS))

    del pdb["spec"]["maxUnavailable"]
    created = policy.create_namespaced_pod_disruption_budget(NS, pdb)
    refused_as_invalid(
        lambda: policy.patch_namespaced_pod_disruption_budget(
            "web", NS, {"spec": {"unhealthyPodEvictionPolicy": "Never"}}
        )
    )
    stored = policy.read_namespaced_pod_disruption_budget("web", NS)
    assert stored.spec.unhealthy_pod_eviction_policy is None
    assert stored.metadata.resource_version == created.metadata.resource_version


# ---- HorizontalPodAutoscaler ---------------------------------------------------------------------


def _hpa(**spec: Any) -> Obj:
    return {"metadata": {"name": "web"}, "spec": {"scaleTargetRef": TARGET, **spec}}


def test_max_replicas_below_min_replicas_is_refused_at_either_version(k8s_client: ApiClient) -> None:
    v1, v2 = client.AutoscalingV1Api(k8s_client), client.AutoscalingV2Api(k8s_client)
    expected = [
        ("FieldValueInvalid", "spec.maxReplicas", "Invalid value: 2: must be greater than or equal to `minReplicas`")
    ]
    bad = _hpa(minReplicas=5, maxReplicas=2)
    assert _causes(refused_as_invalid(lambda: v2.create_namespaced_horizontal_pod_autoscaler(NS, bad))) == expected
    assert _causes(refused_as_invalid(lambda: v1.create_namespaced_horizontal_pod_autoscaler(NS, bad))) == expected
    assert_absent(lambda: v2.read_namespaced_horizontal_pod_autoscaler("web", NS))

    # v1's CPU target is checked where upstream's internal form has it
    zero_cpu = _hpa(maxReplicas=3, targetCPUUtilizationPercentage=0)
    assert _causes(refused_as_invalid(lambda: v1.create_namespaced_horizontal_pod_autoscaler(NS, zero_cpu))) == [
        (
            "FieldValueInvalid",
            "spec.metrics[0].resource.target.averageUtilization",
            "Invalid value: 0: must be greater than 0",
        )
    ]
    behavior = {"scaleUp": {"policies": [{"type": "Pods", "value": 4, "periodSeconds": 3600}]}}
    assert _causes(
        refused_as_invalid(
            lambda: v2.create_namespaced_horizontal_pod_autoscaler(NS, _hpa(maxReplicas=3, behavior=behavior))
        )
    ) == [
        (
            "FieldValueInvalid",
            "spec.behavior.scaleUp.policies[0].periodSeconds",
            "Invalid value: 3600: must be less than or equal to 1800",
        )
    ]
    assert_absent(lambda: v1.read_namespaced_horizontal_pod_autoscaler("web", NS))


def test_a_refused_autoscaler_update_leaves_it_as_it_was(k8s_client: ApiClient) -> None:
    v1, v2 = client.AutoscalingV1Api(k8s_client), client.AutoscalingV2Api(k8s_client)
    created = v1.create_namespaced_horizontal_pod_autoscaler(NS, _hpa(minReplicas=2, maxReplicas=4))
    status = refused_as_invalid(
        lambda: v1.patch_namespaced_horizontal_pod_autoscaler("web", NS, {"spec": {"maxReplicas": 1}})
    )
    assert status["message"] == (
        'HorizontalPodAutoscaler.autoscaling "web" is invalid: spec.maxReplicas: Invalid value: 1: '
        "must be greater than or equal to `minReplicas`"
    )
    refused_as_invalid(lambda: v2.patch_namespaced_horizontal_pod_autoscaler("web", NS, {"spec": {"minReplicas": 0}}))
    stored = v2.read_namespaced_horizontal_pod_autoscaler("web", NS)
    assert (stored.spec.min_replicas, stored.spec.max_replicas) == (2, 4)
    assert stored.metadata.resource_version == created.metadata.resource_version
    assert v2.patch_namespaced_horizontal_pod_autoscaler("web", NS, {"spec": {"maxReplicas": 9}}).spec.max_replicas == 9


def test_an_invalid_metric_cannot_come_in_through_v1s_annotation(k8s_client: ApiClient) -> None:
    # autoscaling/v1 keeps v2's other metrics in an annotation: changing only it is a spec change all the same.
    v1, v2 = client.AutoscalingV1Api(k8s_client), client.AutoscalingV2Api(k8s_client)
    v1.create_namespaced_horizontal_pod_autoscaler(NS, _hpa(maxReplicas=4))
    pods_metric = {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue"}}}
    patch = {"metadata": {"annotations": {"autoscaling.alpha.kubernetes.io/metrics": json.dumps([pods_metric])}}}
    causes = _causes(refused_as_invalid(lambda: v1.patch_namespaced_horizontal_pod_autoscaler("web", NS, patch)))
    assert any(field.startswith("spec.metrics[0].pods.target") for _, field, _ in causes), causes
    stored = v2.read_namespaced_horizontal_pod_autoscaler("web", NS).spec.metrics  # v2's default CPU target only
    assert [m.type for m in stored] == ["Resource"]


# ---- PriorityClass -------------------------------------------------------------------------------


def test_priority_classes_users_may_not_create(k8s_client: ApiClient) -> None:
    scheduling = client.SchedulingV1Api(k8s_client)
    too_high = {"metadata": {"name": "urgent"}, "value": 2_000_000_000}
    status = refused_as_invalid(lambda: scheduling.create_priority_class(too_high))
    assert status["message"] == (
        'PriorityClass.scheduling.k8s.io "urgent" is invalid: value: Forbidden: '
        "maximum allowed value of a user defined priority is 1000000000"
    )
    assert_absent(lambda: scheduling.read_priority_class("urgent"))
    reserved = {"metadata": {"name": "system-urgent"}, "value": 1000}
    assert _causes(refused_as_invalid(lambda: scheduling.create_priority_class(reserved))) == [
        (
            "FieldValueForbidden",
            "metadata.name",
            "Forbidden: priority class names with 'system-' prefix are reserved for system use only. "
            "error: system-urgent is not a known system priority class",
        )
    ]
    assert_absent(lambda: scheduling.read_priority_class("system-urgent"))


def test_a_priority_class_keeps_its_value_and_policy(k8s_client: ApiClient) -> None:
    scheduling = client.SchedulingV1Api(k8s_client)
    # the two system classes the server created at start-up are there, and valid
    assert scheduling.read_priority_class("system-node-critical").value == 2_000_001_000
    created = scheduling.create_priority_class({"metadata": {"name": "high"}, "value": 1000})
    assert _causes(refused_as_invalid(lambda: scheduling.patch_priority_class("high", {"value": 1001}))) == [
        ("FieldValueForbidden", "value", "Forbidden: may not be changed in an update.")
    ]
    assert _causes(
        refused_as_invalid(lambda: scheduling.patch_priority_class("high", {"preemptionPolicy": "Never"}))
    ) == [("FieldValueInvalid", "preemptionPolicy", 'Invalid value: "Never": field is immutable')]
    stored = scheduling.read_priority_class("high")
    assert stored.value == 1000 and stored.metadata.resource_version == created.metadata.resource_version
    assert scheduling.patch_priority_class("high", {"description": "for the important ones"}).value == 1000


# ---- what kubectl writes -------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_what_kubectl_creates_passes(threaded_server: ThreadedServer) -> None:
    commands = [
        ["create", "role", "pod-reader", "--verb=get,list", "--resource=pods,deployments.apps", "--resource-name=a"],
        ["create", "clusterrole", "health", "--verb=get", "--non-resource-url=/healthz"],
        ["create", "clusterrole", "aggregate", "--aggregation-rule=rbac.example.com/aggregate=true"],
        [
            "create",
            "rolebinding",
            "readers",
            "--role=pod-reader",
            "--user=jane",
            "--group=devs",
            "--serviceaccount=default:builder",
        ],
        [
            "create",
            "clusterrolebinding",
            "health",
            "--clusterrole=health",
            "--user=jane",
            "--serviceaccount=default:builder",
        ],
        ["create", "pdb", "web", "--selector=app=web", "--min-available=1"],
        ["create", "pdb", "api", "--selector=app=api", "--max-unavailable=50%"],
        ["create", "priorityclass", "high", "--value=1000", "--preemption-policy=Never", "--description=high"],
        ["create", "deployment", "web", "--image=nginx"],
        ["autoscale", "deployment", "web", "--min=2", "--max=5", "--cpu-percent=80"],
        ["create", "priorityclass", "too-high", "--value=2000000000"],
    ]
    results = [
        subprocess.run(
            ["kubectl", f"--server={threaded_server.url}", "--namespace", NS, *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        for args in commands
    ]
    assert [(r.returncode, r.stderr) for r in results[:-1]] == [(0, "")] * (len(commands) - 1)
    assert results[-1].returncode == 1
    assert results[-1].stderr.strip() == (
        'error: failed to create priorityclass: PriorityClass.scheduling.k8s.io "too-high" is invalid: value: '
        "Forbidden: maximum allowed value of a user defined priority is 1000000000"
    )
