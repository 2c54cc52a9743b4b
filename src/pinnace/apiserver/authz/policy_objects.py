"""Builders of the rbac/v1 objects the bootstrap policy is written with, and the identities it names.

:mod:`~pinnace.apiserver.authz.policy` (cluster-wide roles and bindings),
:mod:`~pinnace.apiserver.authz.controller_policy` (the controllers' roles) and
:mod:`~pinnace.apiserver.authz.namespace_policy` (roles in kube-system and
kube-public) are tables of calls to these (upstream's ``rbacv1helpers``). Every
object carries upstream's ``kubernetes.io/bootstrapping: rbac-defaults`` label and
the ``rbac.authorization.kubernetes.io/autoupdate: "true"`` annotation, unless it
is one of kubeadm's (created once, ``autoupdate=False``).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AUTOUPDATE",
    "BOOTSTRAP_TOKEN_GROUP",
    "EVENTS",
    "KUBE_CONTROLLER_MANAGER",
    "KUBE_SCHEDULER",
    "READ",
    "READ_WRITE",
    "WRITE",
    "Obj",
    "aggregated",
    "binding",
    "cluster_binding",
    "cluster_role",
    "group",
    "r",
    "role",
    "service_account",
    "u",
    "user",
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
