"""The bootstrap policy's namespaced Roles and RoleBindings, in kube-system and kube-public (upstream's
``namespace_policy.go``, plus the ones ``kubeadm init`` creates).

Leader locking for the controller manager and scheduler, the authentication
reader, the bootstrap signer and token cleaner, and kubeadm's readers of
``kubeadm-config``, ``kubelet-config`` and ``cluster-info``.
"""

from __future__ import annotations

from pinnace.apiserver.authz.policy_objects import (
    BOOTSTRAP_TOKEN_GROUP,
    EVENTS,
    KUBE_CONTROLLER_MANAGER,
    KUBE_SCHEDULER,
    READ,
    Obj,
    binding,
    group,
    r,
    role,
    service_account,
    user,
)

__all__ = ["ROLES", "ROLE_BINDINGS"]

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
