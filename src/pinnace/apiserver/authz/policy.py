"""The bootstrap RBAC policy of kube-apiserver v1.32, as data: default roles and bindings.

(Over 600 lines because it is one table of data, one object per entry; there is no logic to split.)

Upstream's ``bootstrappolicy`` package, written down as rbac/v1 objects: the
user-facing roles (cluster-admin, admin, edit, view, the last three filled by
aggregation from the ``system:aggregate-to-*`` roles), the ``system:*`` roles of
components and discovery, the ``system:controller:*`` roles of the controllers
Pinnace runs, the namespaced roles of kube-system and kube-public, and the
objects ``kubeadm init`` adds. Every object carries upstream's labels and the
``rbac.authorization.kubernetes.io/autoupdate: "true"`` annotation (the kubeadm
ones do not: kubeadm creates them once), which is what
:mod:`~pinnace.apiserver.authz.bootstrap` reconciles.

One Pinnace difference, with its reason: Pinnace's controller manager runs every
controller, the scheduler and the simulated nodes in one process under one
identity, ``system:kube-controller-manager`` (upstream's controllers each use
their own service account). So the controller and scheduler bindings name that
user beside upstream's subject, and :data:`PINNACE_CLUSTER_ROLE_BINDINGS` lets it
act for the simulated nodes it runs.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AUTOUPDATE",
    "CLUSTER_ROLES",
    "CLUSTER_ROLE_BINDINGS",
    "KUBE_CONTROLLER_MANAGER",
    "KUBE_SCHEDULER",
    "ROLES",
    "ROLE_BINDINGS",
]

Obj = dict[str, Any]

AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
_BOOTSTRAPPING = {"kubernetes.io/bootstrapping": "rbac-defaults"}
KUBE_CONTROLLER_MANAGER = "system:kube-controller-manager"
KUBE_SCHEDULER = "system:kube-scheduler"
BOOTSTRAP_TOKEN_GROUP = "system:bootstrappers:kubeadm:default-node-token"

READ = ["get", "list", "watch"]
READ_WRITE = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]


def _as_list(value: list[str] | str) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def r(verbs: list[str] | str, groups: list[str] | str, resources: list[str] | str, names: tuple[str, ...] = ()) -> Obj:
    """A resource rule."""
    rule: Obj = {"verbs": _as_list(verbs), "apiGroups": _as_list(groups), "resources": _as_list(resources)}
    if names:
        rule["resourceNames"] = list(names)
    return rule


def u(verbs: list[str] | str, *urls: str) -> Obj:
    """A non-resource URL rule."""
    return {"verbs": [verbs] if isinstance(verbs, str) else list(verbs), "nonResourceURLs": list(urls)}


EVENTS = r(["create", "update", "patch"], ["", "events.k8s.io"], "events")


def _meta(name: str, labels: dict[str, str] | None = None, *, namespace: str = "", autoupdate: bool = True) -> Obj:
    meta: Obj = {"name": name, "labels": {**_BOOTSTRAPPING, **(labels or {})}}
    if namespace:
        meta["namespace"] = namespace
    if autoupdate:
        meta["annotations"] = {AUTOUPDATE: "true"}
    else:
        meta["labels"] = dict(labels or {})
        if not meta["labels"]:
            del meta["labels"]
    return meta


def cluster_role(name: str, rules: list[Obj], labels: dict[str, str] | None = None, *, autoupdate: bool = True) -> Obj:
    """A ClusterRole object."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _meta(name, labels, autoupdate=autoupdate),
        "rules": rules,
    }


def aggregated(name: str, selector_label: str, labels: dict[str, str] | None = None) -> Obj:
    """A ClusterRole whose rules the aggregation controller fills from roles labelled ``selector_label``."""
    role = cluster_role(name, [], labels)
    role["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {selector_label: "true"}}]}
    return role


def user(name: str) -> Obj:
    """A User subject."""
    return {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": name}


def group(name: str) -> Obj:
    """A Group subject."""
    return {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name}


def service_account(namespace: str, name: str) -> Obj:
    """A ServiceAccount subject."""
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def cluster_binding(name: str, role: str, subjects: list[Obj], *, autoupdate: bool = True) -> Obj:
    """A ClusterRoleBinding of ClusterRole ``role``."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _meta(name, autoupdate=autoupdate),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    }


def role(namespace: str, name: str, rules: list[Obj], *, autoupdate: bool = True) -> Obj:
    """A Role object."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(name, namespace=namespace, autoupdate=autoupdate),
        "rules": rules,
    }


def binding(namespace: str, name: str, subjects: list[Obj], *, role_name: str = "", autoupdate: bool = True) -> Obj:
    """A RoleBinding of Role ``role_name`` (by default the Role of the binding's own name)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(name, namespace=namespace, autoupdate=autoupdate),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name or name},
        "subjects": subjects,
    }


_TO_ADMIN = {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}
_TO_EDIT = {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}
_TO_VIEW = {"rbac.authorization.k8s.io/aggregate-to-view": "true"}

_USER_ROLES = [
    cluster_role("cluster-admin", [r("*", "*", "*"), u("*", "*")]),
    aggregated("admin", "rbac.authorization.k8s.io/aggregate-to-admin"),
    aggregated("edit", "rbac.authorization.k8s.io/aggregate-to-edit", _TO_ADMIN),
    aggregated("view", "rbac.authorization.k8s.io/aggregate-to-view", _TO_EDIT),
    cluster_role(
        "system:aggregate-to-admin",
        [
            r("create", "authorization.k8s.io", "localsubjectaccessreviews"),
            r(READ_WRITE, "rbac.authorization.k8s.io", ["rolebindings", "roles"]),
        ],
        _TO_ADMIN,
    ),
    cluster_role(
        "system:aggregate-to-edit",
        [
            r(READ, "", ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"]),
            r("impersonate", "", "serviceaccounts"),
            r(WRITE, "", ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]),
            r("create", "", "pods/eviction"),
            r(
                WRITE,
                "",
                [
                    "configmaps",
                    "events",
                    "persistentvolumeclaims",
                    "replicationcontrollers",
                    "replicationcontrollers/scale",
                    "secrets",
                    "serviceaccounts",
                    "services",
                    "services/proxy",
                ],
            ),
            r("create", "", "serviceaccounts/token"),
            r(
                WRITE,
                "apps",
                [
                    "daemonsets",
                    "deployments",
                    "deployments/rollback",
                    "deployments/scale",
                    "replicasets",
                    "replicasets/scale",
                    "statefulsets",
                    "statefulsets/scale",
                ],
            ),
            r(WRITE, "autoscaling", "horizontalpodautoscalers"),
            r(WRITE, "batch", ["cronjobs", "jobs"]),
            r(
                WRITE,
                "extensions",
                [
                    "daemonsets",
                    "deployments",
                    "deployments/rollback",
                    "deployments/scale",
                    "ingresses",
                    "networkpolicies",
                    "replicasets",
                    "replicasets/scale",
                    "replicationcontrollers/scale",
                ],
            ),
            r(WRITE, "policy", "poddisruptionbudgets"),
            r(WRITE, "networking.k8s.io", ["ingresses", "networkpolicies"]),
            r(READ_WRITE, "coordination.k8s.io", "leases"),
        ],
        _TO_EDIT,
    ),
    cluster_role(
        "system:aggregate-to-view",
        [
            r(
                READ,
                "",
                [
                    "configmaps",
                    "endpoints",
                    "persistentvolumeclaims",
                    "persistentvolumeclaims/status",
                    "pods",
                    "replicationcontrollers",
                    "replicationcontrollers/scale",
                    "serviceaccounts",
                    "services",
                    "services/status",
                ],
            ),
            r(
                READ,
                "",
                [
                    "bindings",
                    "events",
                    "limitranges",
                    "namespaces/status",
                    "pods/log",
                    "pods/status",
                    "replicationcontrollers/status",
                    "resourcequotas",
                    "resourcequotas/status",
                ],
            ),
            r(READ, "", "namespaces"),
            r(READ, "discovery.k8s.io", "endpointslices"),
            r(
                READ,
                "apps",
                [
                    "controllerrevisions",
                    "daemonsets",
                    "daemonsets/status",
                    "deployments",
                    "deployments/scale",
                    "deployments/status",
                    "replicasets",
                    "replicasets/scale",
                    "replicasets/status",
                    "statefulsets",
                    "statefulsets/scale",
                    "statefulsets/status",
                ],
            ),
            r(READ, "autoscaling", ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
            r(READ, "batch", ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
            r(
                READ,
                "extensions",
                [
                    "daemonsets",
                    "daemonsets/status",
                    "deployments",
                    "deployments/scale",
                    "deployments/status",
                    "ingresses",
                    "ingresses/status",
                    "networkpolicies",
                    "replicasets",
                    "replicasets/scale",
                    "replicasets/status",
                    "replicationcontrollers/scale",
                ],
            ),
            r(READ, "policy", ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
            r(READ, "networking.k8s.io", ["ingresses", "ingresses/status", "networkpolicies"]),
        ],
        _TO_VIEW,
    ),
]

_SYSTEM_ROLES = [
    cluster_role(
        "system:discovery",
        [
            u(
                "get",
                "/api",
                "/api/*",
                "/apis",
                "/apis/*",
                "/healthz",
                "/livez",
                "/openapi",
                "/openapi/*",
                "/readyz",
                "/version",
                "/version/",
            )
        ],
    ),
    cluster_role("system:public-info-viewer", [u("get", "/healthz", "/livez", "/readyz", "/version", "/version/")]),
    cluster_role(
        "system:basic-user",
        [
            r("create", "authorization.k8s.io", ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
            r("create", "authentication.k8s.io", "selfsubjectreviews"),
        ],
    ),
    cluster_role(
        "system:monitoring",
        [
            u(
                "get",
                "/healthz",
                "/healthz/*",
                "/livez",
                "/livez/*",
                "/metrics",
                "/metrics/slis",
                "/readyz",
                "/readyz/*",
            )
        ],
    ),
    cluster_role(
        "system:auth-delegator",
        [
            r("create", "authentication.k8s.io", "tokenreviews"),
            r("create", "authorization.k8s.io", "subjectaccessreviews"),
        ],
    ),
    cluster_role("system:kube-aggregator", [r(READ, "", ["endpoints", "services"])]),
    cluster_role("system:kube-dns", [r(["list", "watch"], "", ["endpoints", "services"])]),
    cluster_role(
        "system:service-account-issuer-discovery", [u("get", "/.well-known/openid-configuration", "/openid/v1/jwks")]
    ),
    cluster_role(
        "system:heapster",
        [r(READ, "", ["events", "namespaces", "nodes", "pods"]), r(READ, "extensions", "deployments")],
    ),
    cluster_role(
        "system:kubelet-api-admin",
        [
            r(READ, "", "nodes"),
            r("proxy", "", "nodes"),
            r("*", "", ["nodes/log", "nodes/metrics", "nodes/proxy", "nodes/stats"]),
        ],
    ),
    cluster_role(
        "system:node-problem-detector",
        [r("get", "", "nodes"), r("patch", "", "nodes/status"), EVENTS],
    ),
    cluster_role(
        "system:node-proxier",
        [
            r(["list", "watch"], "", ["endpoints", "services"]),
            r(READ, "", "nodes"),
            EVENTS,
            r(["list", "watch"], "discovery.k8s.io", "endpointslices"),
        ],
    ),
    cluster_role(
        "system:node",
        [
            r("create", "authentication.k8s.io", "tokenreviews"),
            r("create", "authorization.k8s.io", ["localsubjectaccessreviews", "subjectaccessreviews"]),
            r(READ, "", "services"),
            r(["create", "get", "list", "watch"], "", "nodes"),
            r(["patch", "update"], "", "nodes/status"),
            r(["patch", "update"], "", "nodes"),
            r(["create", "patch", "update"], "", "events"),
            r(READ, "", "pods"),
            r(["create", "delete"], "", "pods"),
            r(["patch", "update"], "", "pods/status"),
            r("create", "", "pods/eviction"),
            r(READ, "", ["configmaps", "secrets"]),
            r("get", "", ["persistentvolumeclaims", "persistentvolumes"]),
            r("get", "", "endpoints"),
            r(["create", "get", "list", "watch"], "certificates.k8s.io", "certificatesigningrequests"),
            r(["create", "delete", "get", "patch", "update"], "coordination.k8s.io", "leases"),
            r("get", "storage.k8s.io", "volumeattachments"),
            r("create", "", "serviceaccounts/token"),
            r(["get", "patch", "update"], "", "persistentvolumeclaims/status"),
            r(READ, "storage.k8s.io", "csidrivers"),
            r(["create", "delete", "get", "patch", "update"], "storage.k8s.io", "csinodes"),
            r(READ, "node.k8s.io", "runtimeclasses"),
        ],
    ),
    cluster_role(
        "system:node-bootstrapper",
        [r(["create", "get", "list", "watch"], "certificates.k8s.io", "certificatesigningrequests")],
    ),
    cluster_role(
        "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
        [r("create", "certificates.k8s.io", "certificatesigningrequests/nodeclient")],
    ),
    cluster_role(
        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
        [r("create", "certificates.k8s.io", "certificatesigningrequests/selfnodeclient")],
    ),
    *[
        cluster_role(
            f"system:certificates.k8s.io:{name}",
            [r("approve", "certificates.k8s.io", "signers", (f"kubernetes.io/{signer}",))],
        )
        for name, signer in (
            ("kube-apiserver-client-approver", "kube-apiserver-client"),
            ("kube-apiserver-client-kubelet-approver", "kube-apiserver-client-kubelet"),
            ("kubelet-serving-approver", "kubelet-serving"),
            ("legacy-unknown-approver", "legacy-unknown"),
        )
    ],
    cluster_role(
        "system:persistent-volume-provisioner",
        [
            r(["create", "delete", "get", "list", "watch"], "", "persistentvolumes"),
            r(["get", "list", "update", "watch"], "", "persistentvolumeclaims"),
            r(READ, "storage.k8s.io", "storageclasses"),
            r("watch", "", "events"),
            EVENTS,
        ],
    ),
    cluster_role(
        "system:volume-scheduler",
        [
            r(["get", "list", "patch", "update", "watch"], "", "persistentvolumes"),
            r(READ, "storage.k8s.io", "storageclasses"),
            r(["get", "list", "patch", "update", "watch"], "", "persistentvolumeclaims"),
        ],
    ),
    cluster_role(
        KUBE_CONTROLLER_MANAGER,
        [
            EVENTS,
            r("create", "coordination.k8s.io", "leases"),
            r(["get", "update"], "coordination.k8s.io", "leases", ("kube-controller-manager",)),
            r("create", "", ["secrets", "serviceaccounts"]),
            r("delete", "", "secrets"),
            r("get", "", ["configmaps", "namespaces", "secrets", "serviceaccounts"]),
            r("update", "", ["secrets", "serviceaccounts"]),
            r("create", "authentication.k8s.io", "tokenreviews"),
            r("create", "authorization.k8s.io", "subjectaccessreviews"),
            r(["list", "watch"], "*", "*"),
            r("create", "", "serviceaccounts/token"),
        ],
    ),
    cluster_role(
        KUBE_SCHEDULER,
        [
            EVENTS,
            r("create", "coordination.k8s.io", "leases"),
            r(["get", "update"], "coordination.k8s.io", "leases", ("kube-scheduler",)),
            r(READ, "", "nodes"),
            r(["delete", "get", "list", "watch"], "", "pods"),
            r("create", "", ["bindings", "pods/binding"]),
            r(["patch", "update"], "", "pods/status"),
            r(READ, "", ["replicationcontrollers", "services"]),
            r(READ, ["apps", "extensions"], "replicasets"),
            r(READ, "apps", "statefulsets"),
            r(READ, "policy", "poddisruptionbudgets"),
            r(READ, "", ["persistentvolumeclaims", "persistentvolumes"]),
            r("create", "authentication.k8s.io", "tokenreviews"),
            r("create", "authorization.k8s.io", "subjectaccessreviews"),
            r(READ, "storage.k8s.io", "csinodes"),
            r(READ, "", "namespaces"),
            r(READ, "storage.k8s.io", "csidrivers"),
            r(READ, "storage.k8s.io", "csistoragecapacities"),
        ],
    ),
]

#: The controllers Pinnace runs, by upstream's service account name, and their rules (upstream's controller_policy).
_CONTROLLERS: dict[str, list[Obj]] = {
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

_CONTROLLER_ROLES = [cluster_role(f"system:controller:{name}", rules) for name, rules in _CONTROLLERS.items()]

#: Every default ClusterRole.
CLUSTER_ROLES: list[Obj] = [
    *_USER_ROLES,
    *_SYSTEM_ROLES,
    *_CONTROLLER_ROLES,
    cluster_role("kubeadm:get-nodes", [r("get", "", "nodes")], autoupdate=False),
]

#: Every default ClusterRoleBinding.
CLUSTER_ROLE_BINDINGS: list[Obj] = [
    cluster_binding("cluster-admin", "cluster-admin", [group("system:masters")]),
    cluster_binding("system:basic-user", "system:basic-user", [group("system:authenticated")]),
    cluster_binding("system:discovery", "system:discovery", [group("system:authenticated")]),
    cluster_binding(
        "system:public-info-viewer",
        "system:public-info-viewer",
        [group("system:authenticated"), group("system:unauthenticated")],
    ),
    cluster_binding("system:monitoring", "system:monitoring", [group("system:monitoring")]),
    cluster_binding("system:kube-controller-manager", KUBE_CONTROLLER_MANAGER, [user(KUBE_CONTROLLER_MANAGER)]),
    cluster_binding("system:kube-dns", "system:kube-dns", [service_account("kube-system", "kube-dns")]),
    # The scheduler runs inside Pinnace's controller manager, under its identity.
    cluster_binding(KUBE_SCHEDULER, KUBE_SCHEDULER, [user(KUBE_SCHEDULER), user(KUBE_CONTROLLER_MANAGER)]),
    cluster_binding(
        "system:volume-scheduler", "system:volume-scheduler", [user(KUBE_SCHEDULER), user(KUBE_CONTROLLER_MANAGER)]
    ),
    # Upstream leaves system:node unbound (the Node authorizer grants nodes their access).
    cluster_binding("system:node", "system:node", []),
    cluster_binding("system:node-proxier", "system:node-proxier", [user("system:kube-proxy")]),
    cluster_binding(
        "system:service-account-issuer-discovery",
        "system:service-account-issuer-discovery",
        [group("system:serviceaccounts")],
    ),
    # Each controller's own service account as upstream, and Pinnace's controller manager, which runs them all.
    *[
        cluster_binding(
            f"system:controller:{name}",
            f"system:controller:{name}",
            [service_account("kube-system", name), user(KUBE_CONTROLLER_MANAGER)],
        )
        for name in _CONTROLLERS
    ],
    # kubeadm init's bindings.
    cluster_binding("kubeadm:cluster-admins", "cluster-admin", [group("kubeadm:cluster-admins")], autoupdate=False),
    cluster_binding("kubeadm:get-nodes", "kubeadm:get-nodes", [group(BOOTSTRAP_TOKEN_GROUP)], autoupdate=False),
    cluster_binding(
        "kubeadm:kubelet-bootstrap", "system:node-bootstrapper", [group(BOOTSTRAP_TOKEN_GROUP)], autoupdate=False
    ),
    cluster_binding(
        "kubeadm:node-autoapprove-bootstrap",
        "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
        [group(BOOTSTRAP_TOKEN_GROUP)],
        autoupdate=False,
    ),
    cluster_binding(
        "kubeadm:node-autoapprove-certificate-rotation",
        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
        [group("system:nodes")],
        autoupdate=False,
    ),
    # Pinnace: the controller manager runs the simulated nodes (``--sim-nodes``), which do what kubelets do.
    cluster_binding("pinnace:controller-manager:simulated-nodes", "system:node", [user(KUBE_CONTROLLER_MANAGER)]),
    # Pinnace: each node agent runs the node's service proxy (kube-proxy) under the node's own identity; kubeadm
    # binds kube-proxy's service account to the same role (kubeadm:node-proxier).
    cluster_binding("pinnace:node-proxier", "system:node-proxier", [group("system:nodes")]),
]

_LEADER_LOCK = ["get", "update"]

#: Every default namespaced Role.
ROLES: list[Obj] = [
    role(
        "kube-system",
        "extension-apiserver-authentication-reader",
        [r(READ, "", "configmaps", ("extension-apiserver-authentication",))],
    ),
    role(
        "kube-system",
        "system::leader-locking-kube-controller-manager",
        [
            r("watch", "", "configmaps"),
            r(_LEADER_LOCK, "", "configmaps", ("kube-controller-manager",)),
        ],
    ),
    role(
        "kube-system",
        "system::leader-locking-kube-scheduler",
        [r("watch", "", "configmaps"), r(_LEADER_LOCK, "", "configmaps", ("kube-scheduler",))],
    ),
    role(
        "kube-system",
        "system:controller:bootstrap-signer",
        [r(READ, "", "secrets")],
    ),
    role(
        "kube-system",
        "system:controller:token-cleaner",
        [r(["delete", "get", "list", "watch"], "", "secrets"), EVENTS],
    ),
    role(
        "kube-public",
        "system:controller:bootstrap-signer",
        # Pinnace's bootstrap signer writes its signatures with a merge patch (upstream's updates): patch too.
        [r(READ, "", "configmaps"), r(["update", "patch"], "", "configmaps", ("cluster-info",)), EVENTS],
    ),
    # kubeadm init's roles.
    role(
        "kube-system",
        "kubeadm:nodes-kubeadm-config",
        [r("get", "", "configmaps", ("kubeadm-config",))],
        autoupdate=False,
    ),
    role("kube-system", "kubeadm:kubelet-config", [r("get", "", "configmaps", ("kubelet-config",))], autoupdate=False),
    role(
        "kube-public",
        "kubeadm:bootstrap-signer-clusterinfo",
        [r("get", "", "configmaps", ("cluster-info",))],
        autoupdate=False,
    ),
]

#: Every default RoleBinding (each named after its Role, as upstream's are).
ROLE_BINDINGS: list[Obj] = [
    binding(
        "kube-system",
        "system::extension-apiserver-authentication-reader",
        [user(KUBE_CONTROLLER_MANAGER), user(KUBE_SCHEDULER)],
        role_name="extension-apiserver-authentication-reader",
    ),
    binding(
        "kube-system",
        "system::leader-locking-kube-controller-manager",
        [user(KUBE_CONTROLLER_MANAGER), service_account("kube-system", "kube-controller-manager")],
    ),
    binding(
        "kube-system",
        "system::leader-locking-kube-scheduler",
        [user(KUBE_SCHEDULER), service_account("kube-system", "kube-scheduler")],
    ),
    # The bootstrap signer and token cleaner run in Pinnace's controller manager, under its identity.
    binding(
        "kube-system",
        "system:controller:token-cleaner",
        [service_account("kube-system", "token-cleaner"), user(KUBE_CONTROLLER_MANAGER)],
    ),
    *[
        binding(
            ns,
            "system:controller:bootstrap-signer",
            [service_account("kube-system", "bootstrap-signer"), user(KUBE_CONTROLLER_MANAGER)],
        )
        for ns in ("kube-system", "kube-public")
    ],
    *[
        binding("kube-system", name, [group(BOOTSTRAP_TOKEN_GROUP), group("system:nodes")], autoupdate=False)
        for name in ("kubeadm:nodes-kubeadm-config", "kubeadm:kubelet-config")
    ],
    binding("kube-public", "kubeadm:bootstrap-signer-clusterinfo", [user("system:anonymous")], autoupdate=False),
]
