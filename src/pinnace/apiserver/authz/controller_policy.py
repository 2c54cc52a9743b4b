"""The roles of the controllers Pinnace runs, and their bindings (upstream's ``controller_policy.go``).

Each controller gets the ClusterRole ``system:controller:NAME`` with upstream's
rules, bound to upstream's subject (the ``kube-system/NAME`` service account) and
to ``system:kube-controller-manager``: Pinnace's controller manager runs every
controller in one process under that one identity.
"""

from __future__ import annotations

from pinnace.apiserver.authz.policy_objects import (
    EVENTS,
    KUBE_CONTROLLER_MANAGER,
    READ,
    Obj,
    cluster_binding,
    cluster_role,
    r,
    service_account,
    user,
)

__all__ = ["CONTROLLER_ROLES", "CONTROLLER_ROLE_BINDINGS", "CONTROLLER_RULES"]

#: The controllers Pinnace runs, by upstream's service account name, and their rules (upstream's controller_policy).
CONTROLLER_RULES: dict[str, list[Obj]] = {
    "certificate-controller": [
        r(["delete", "get", "list", "watch"], "certificates.k8s.io", "certificatesigningrequests"),
        r(
            "update",
            "certificates.k8s.io",
            ["certificatesigningrequests/approval", "certificatesigningrequests/status"],
        ),
        r(
            "approve",
            "certificates.k8s.io",
            "signers",
            ("kubernetes.io/kube-apiserver-client-kubelet", "kubernetes.io/legacy-unknown"),
        ),
        r(
            "sign",
            "certificates.k8s.io",
            "signers",
            (
                "kubernetes.io/kube-apiserver-client",
                "kubernetes.io/kube-apiserver-client-kubelet",
                "kubernetes.io/kubelet-serving",
                "kubernetes.io/legacy-unknown",
            ),
        ),
        r("create", "authorization.k8s.io", "subjectaccessreviews"),
        EVENTS,
    ],
    "clusterrole-aggregation-controller": [
        r(["escalate", "get", "list", "patch", "update", "watch"], "rbac.authorization.k8s.io", "clusterroles"),
    ],
    "cronjob-controller": [
        r(["get", "list", "update", "watch"], "batch", "cronjobs"),
        r(["create", "delete", "get", "list", "patch", "update", "watch"], "batch", "jobs"),
        r("update", "batch", "cronjobs/status"),
        r("update", "batch", "cronjobs/finalizers"),
        r(["delete", "list"], "", "pods"),
        EVENTS,
    ],
    "daemon-set-controller": [
        r(READ, ["apps", "extensions"], "daemonsets"),
        r("update", ["apps", "extensions"], "daemonsets/status"),
        r("update", ["apps", "extensions"], "daemonsets/finalizers"),
        r(["list", "watch"], "", "nodes"),
        r(["create", "delete", "list", "patch", "watch"], "", "pods"),
        r("create", "", "pods/binding"),
        r(["create", "delete", "get", "list", "patch", "update", "watch"], "apps", "controllerrevisions"),
        EVENTS,
    ],
    "deployment-controller": [
        r(["get", "list", "update", "watch"], ["apps", "extensions"], "deployments"),
        r("update", ["apps", "extensions"], "deployments/status"),
        r("update", ["apps", "extensions"], "deployments/finalizers"),
        r(["create", "delete", "get", "list", "patch", "update", "watch"], ["apps", "extensions"], "replicasets"),
        r(["get", "list", "update", "watch"], "", "pods"),
        EVENTS,
    ],
    "disruption-controller": [
        r(READ, ["extensions", "apps"], "deployments"),
        r(READ, ["apps", "extensions"], "replicasets"),
        r(READ, "", "replicationcontrollers"),
        r(READ, "policy", "poddisruptionbudgets"),
        r(READ, "apps", "statefulsets"),
        r("update", "policy", "poddisruptionbudgets/status"),
        r("get", "*", "*/scale"),
        r(["patch", "update"], "", "pods/status"),
        EVENTS,
    ],
    "endpoint-controller": [
        r(READ, "", ["pods", "services"]),
        r(["create", "delete", "get", "list", "update"], "", "endpoints"),
        r("create", "", "endpoints/restricted"),
        EVENTS,
    ],
    "endpointslice-controller": [
        r(READ, "", ["nodes", "pods", "services"]),
        r("update", "", "services/finalizers"),
        r(["create", "delete", "get", "list", "update"], "discovery.k8s.io", "endpointslices"),
        EVENTS,
    ],
    "generic-garbage-collector": [r(["delete", "get", "list", "patch", "update", "watch"], "*", "*"), EVENTS],
    "horizontal-pod-autoscaler": [
        r(READ, "autoscaling", "horizontalpodautoscalers"),
        r("update", "autoscaling", "horizontalpodautoscalers/status"),
        r(["get", "update"], "*", "*/scale"),
        r("list", "", "pods"),
        r("list", "metrics.k8s.io", "pods"),
        r(["get", "list"], "custom.metrics.k8s.io", "*"),
        r(["get", "list"], "external.metrics.k8s.io", "*"),
        EVENTS,
    ],
    "job-controller": [
        r(["get", "list", "patch", "update", "watch"], "batch", "jobs"),
        r(["patch", "update"], "batch", "jobs/status"),
        r(["patch", "update"], "batch", "jobs/finalizers"),
        r(["create", "delete", "list", "patch", "watch"], "", "pods"),
        EVENTS,
    ],
    "namespace-controller": [
        r(["delete", "get", "list", "watch"], "", "namespaces"),
        r("update", "", ["namespaces/finalize", "namespaces/status"]),
        r(["delete", "deletecollection", "get", "list"], "*", "*"),
    ],
    "node-controller": [
        r(["delete", "get", "list", "patch", "update"], "", "nodes"),
        r(["patch", "update"], "", "nodes/status"),
        r(["patch", "update"], "", "pods/status"),
        r(["delete", "list"], "", "pods"),
        EVENTS,
    ],
    "persistent-volume-binder": [
        r(["create", "delete", "get", "list", "update", "watch"], "", "persistentvolumes"),
        r("update", "", "persistentvolumes/status"),
        r(["get", "list", "update", "watch"], "", "persistentvolumeclaims"),
        r("update", "", "persistentvolumeclaims/status"),
        r(["create", "delete", "get", "list", "watch"], "", "pods"),
        r(READ, "storage.k8s.io", "storageclasses"),
        r(["get", "list"], "", "nodes"),
        r("watch", "", "events"),
        EVENTS,
    ],
    "ephemeral-volume-controller": [
        r(READ, "", "pods"),
        r("update", "", "pods/finalizers"),
        r(["create", "get", "list", "watch"], "", "persistentvolumeclaims"),
        EVENTS,
    ],
    "pvc-protection-controller": [
        r(["get", "list", "update", "watch"], "", "persistentvolumeclaims"),
        r(["get", "list", "watch"], "", "pods"),
        EVENTS,
    ],
    "pv-protection-controller": [
        r(["get", "list", "update", "watch"], "", "persistentvolumes"),
        EVENTS,
    ],
    "pod-garbage-collector": [
        r(["delete", "list", "watch"], "", "pods"),
        r(READ, "", "nodes"),
        r("patch", "", "pods/status"),
    ],
    "replicaset-controller": [
        r(["get", "list", "update", "watch"], ["apps", "extensions"], "replicasets"),
        r("update", ["apps", "extensions"], "replicasets/status"),
        r("update", ["apps", "extensions"], "replicasets/finalizers"),
        r(["create", "delete", "list", "patch", "watch"], "", "pods"),
        EVENTS,
    ],
    "replication-controller": [
        r(["get", "list", "update", "watch"], "", "replicationcontrollers"),
        r("update", "", "replicationcontrollers/status"),
        r("update", "", "replicationcontrollers/finalizers"),
        r(["create", "delete", "list", "patch", "watch"], "", "pods"),
        EVENTS,
    ],
    "resourcequota-controller": [r(["list", "watch"], "*", "*"), r("update", "", "resourcequotas/status"), EVENTS],
    "root-ca-cert-publisher": [r(["create", "update"], "", "configmaps"), EVENTS],
    "service-account-controller": [r("create", "", "serviceaccounts"), EVENTS],
    "statefulset-controller": [
        r(["list", "watch"], "", "pods"),
        r(["get", "list", "watch"], "apps", "statefulsets"),
        r("update", "apps", "statefulsets/status"),
        r("update", "apps", "statefulsets/finalizers"),
        r(["create", "delete", "get", "patch", "update"], "", "pods"),
        r(["create", "delete", "get", "list", "patch", "update", "watch"], "apps", "controllerrevisions"),
        r(["create", "get"], "", "persistentvolumeclaims"),
        r(["update", "patch"], "", "persistentvolumeclaims"),
        EVENTS,
    ],
    "ttl-after-finished-controller": [r(["delete", "get", "list", "watch"], "batch", "jobs"), EVENTS],
}

#: The ClusterRole ``system:controller:NAME`` of each controller.
CONTROLLER_ROLES = [cluster_role(f"system:controller:{name}", rules) for name, rules in CONTROLLER_RULES.items()]

#: Each controller's role bound to its own service account, as upstream, and to Pinnace's controller manager.
CONTROLLER_ROLE_BINDINGS = [
    cluster_binding(
        f"system:controller:{name}",
        f"system:controller:{name}",
        [service_account("kube-system", name), user(KUBE_CONTROLLER_MANAGER)],
    )
    for name in CONTROLLER_RULES
]
