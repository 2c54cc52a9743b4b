"""The bootstrap RBAC policy of kube-apiserver v1.32, as data: default roles and bindings.

Upstream's ``bootstrappolicy`` package, written down as rbac/v1 objects. This
module holds the cluster-wide ones: the user-facing roles (cluster-admin, admin,
edit, view, the last three filled by aggregation from the
``system:aggregate-to-*`` roles), the ``system:*`` roles of components and
discovery, their bindings, and the objects ``kubeadm init`` adds; the
``system:controller:*`` roles of the controllers Pinnace runs are in
:mod:`~pinnace.apiserver.authz.controller_policy`, the namespaced roles of
kube-system and kube-public in :mod:`~pinnace.apiserver.authz.namespace_policy`
(re-exported here: :data:`CLUSTER_ROLES` and the rest are the whole policy), and
the object builders in :mod:`~pinnace.apiserver.authz.policy_objects`. Every
object carries upstream's labels and the
``rbac.authorization.kubernetes.io/autoupdate: "true"`` annotation (the kubeadm
ones do not: kubeadm creates them once), which is what
:mod:`~pinnace.apiserver.authz.bootstrap` reconciles.

One Pinnace difference, with its reason: Pinnace's controller manager runs every
controller, the scheduler and the simulated nodes in one process under one
identity, ``system:kube-controller-manager`` (upstream's controllers each use
their own service account). So the controller and scheduler bindings name that
user beside upstream's subject, and the ``pinnace:controller-manager:simulated-nodes``
binding lets it act for the simulated nodes it runs.
"""

from __future__ import annotations

from pinnace.apiserver.authz.controller_policy import CONTROLLER_ROLE_BINDINGS, CONTROLLER_ROLES
from pinnace.apiserver.authz.namespace_policy import ROLE_BINDINGS, ROLES
from pinnace.apiserver.authz.policy_objects import (
    AUTOUPDATE,
    BOOTSTRAP_TOKEN_GROUP,
    EVENTS,
    KUBE_CONTROLLER_MANAGER,
    KUBE_SCHEDULER,
    READ,
    READ_WRITE,
    WRITE,
    Obj,
    aggregated,
    cluster_binding,
    cluster_role,
    group,
    r,
    service_account,
    u,
    user,
)

__all__ = [
    "AUTOUPDATE",
    "CLUSTER_ROLES",
    "CLUSTER_ROLE_BINDINGS",
    "KUBE_CONTROLLER_MANAGER",
    "KUBE_SCHEDULER",
    "ROLES",
    "ROLE_BINDINGS",
]

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

#: Every default ClusterRole.
CLUSTER_ROLES: list[Obj] = [
    *_USER_ROLES,
    *_SYSTEM_ROLES,
    *CONTROLLER_ROLES,
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
    *CONTROLLER_ROLE_BINDINGS,
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
