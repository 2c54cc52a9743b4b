"""Validation of Roles, ClusterRoles and their bindings (rbac.authorization.k8s.io), in upstream's wording.

Upstream's ``pkg/apis/rbac/validation``:

* a policy rule has verbs; a resource rule names API groups and resources; a
  rule is either about resources or about non-resource URLs, and a namespaced
  Role has no non-resource URLs;
* a ClusterRole's aggregation rule has at least one valid label selector;
* a binding's roleRef is in this API group, of kind Role or ClusterRole (a
  ClusterRoleBinding: ClusterRole only), with a valid name, and never changes
  (``roleRef: Invalid value: rbac.RoleRef{…}: cannot change roleRef``); each
  subject is a User, a Group or a ServiceAccount with a name, the API group of
  its kind, and (a ServiceAccount of a ClusterRoleBinding) a namespace.

Upstream's v1 defaulting fills an empty ``roleRef.apiGroup``, and a User's or
Group's empty ``apiGroup``, with this API group; the checks take an empty one
as that default. The names of roles and bindings are path segment names
(checked with the metadata, see :data:`pinnace.api.registry.NAME_RULES`).
"""

from __future__ import annotations

from typing import Any

from pinnace.api import names
from pinnace.api.errors import Cause
from pinnace.api.gofmt import go_quote
from pinnace.api.validation import core, field
from pinnace.api.validation.field import Validator, invalid, not_supported, required
from pinnace.api.validation.shapes import as_dict as _dict
from pinnace.api.validation.shapes import as_list as _list
from pinnace.api.validation.shapes import as_str as _string

__all__ = [
    "RBAC_GROUP",
    "VALIDATORS",
    "cluster_role",
    "cluster_role_binding",
    "policy_rule",
    "role",
    "role_binding",
    "subject",
]

Obj = dict[str, Any]

RBAC_GROUP = "rbac.authorization.k8s.io"
SUBJECT_KINDS = ("ServiceAccount", "User", "Group")


def _path_segment(path: str, value: str) -> list[Cause]:
    """upstream's ``ValidateRBACName`` (``IsValidPathSegmentName``) of a non-empty name."""
    return [invalid(path, value, msg) for msg in names.is_path_segment_name(value)]


# ---- roles -----------------------------------------------------------------------------------------


def policy_rule(rule: Any, path: str, *, namespaced: bool) -> list[Cause]:
    """``ValidatePolicyRule``: verbs; then either non-resource URLs alone, or API groups and resources."""
    rule = _dict(rule)
    out: list[Cause] = []
    if not _list(rule.get("verbs")):
        out.append(required(f"{path}.verbs", "verbs must contain at least one value"))
    urls = _list(rule.get("nonResourceURLs"))
    if urls:
        if namespaced:
            out.append(invalid(f"{path}.nonResourceURLs", urls, "namespaced rules cannot apply to non-resource URLs"))
        if any(_list(rule.get(key)) for key in ("apiGroups", "resources", "resourceNames")):
            out.append(
                invalid(
                    f"{path}.nonResourceURLs",
                    urls,
                    "rules cannot apply to both regular resources and non-resource URLs",
                )
            )
        return out
    if not _list(rule.get("apiGroups")):
        out.append(required(f"{path}.apiGroups", "resource rules must supply at least one api group"))
    if not _list(rule.get("resources")):
        out.append(required(f"{path}.resources", "resource rules must supply at least one resource"))
    return out


def _rules(obj: Obj, *, namespaced: bool) -> list[Cause]:
    out: list[Cause] = []
    for i, rule in enumerate(_list(obj.get("rules"))):
        out.extend(policy_rule(rule, f"rules[{i}]", namespaced=namespaced))
    return out


def role(obj: Obj, old: Obj | None) -> list[Cause]:
    """``ValidateRole``: every rule, namespaced (no non-resource URLs)."""
    return _rules(obj, namespaced=True)


def cluster_role(obj: Obj, old: Obj | None) -> list[Cause]:
    """``ValidateClusterRole``: every rule, and an aggregation rule's selectors (at least one, each valid)."""
    out = _rules(obj, namespaced=False)
    aggregation = obj.get("aggregationRule")
    if isinstance(aggregation, dict):
        path = "aggregationRule.clusterRoleSelectors"
        selectors = _list(aggregation.get("clusterRoleSelectors"))
        if not selectors:
            out.append(required(path, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
        for i, selector in enumerate(selectors):
            out.extend(core.label_selector(selector, f"{path}[{i}]"))
    return out


# ---- bindings --------------------------------------------------------------------------------------


def _role_ref(value: Any) -> tuple[str, str, str]:
    """The roleRef's (apiGroup, kind, name), an empty apiGroup defaulted as upstream's v1 defaulting does."""
    ref = _dict(value)
    return _string(ref.get("apiGroup")) or RBAC_GROUP, _string(ref.get("kind")), _string(ref.get("name"))


def _role_ref_value(ref: tuple[str, str, str]) -> field.GoValue:
    """``%#v`` of the internal ``rbac.RoleRef`` (how ``cannot change roleRef`` prints it)."""
    api_group, kind, name = ref
    return field.GoValue(
        f"rbac.RoleRef{{APIGroup:{go_quote(api_group)}, Kind:{go_quote(kind)}, Name:{go_quote(name)}}}"
    )


def subject(value: Any, path: str, *, namespaced: bool) -> list[Cause]:
    """``ValidateRoleBindingSubject``: a name, a known kind, the API group of that kind (and a namespace for a
    ServiceAccount outside a namespaced binding)."""
    subj = _dict(value)
    name, kind = _string(subj.get("name")), _string(subj.get("kind"))
    api_group = _string(subj.get("apiGroup"))
    out: list[Cause] = []
    if not name:
        out.append(required(f"{path}.name"))
    if kind == "ServiceAccount":
        if name:
            out.extend(invalid(f"{path}.name", name, msg) for msg in names.is_dns1123_subdomain(name))
        if api_group:
            out.append(not_supported(f"{path}.apiGroup", api_group, ("",)))
        if not namespaced and not _string(subj.get("namespace")):
            out.append(required(f"{path}.namespace"))
    elif kind in ("User", "Group"):
        if (api_group or RBAC_GROUP) != RBAC_GROUP:  # an empty one is defaulted to the RBAC group
            out.append(not_supported(f"{path}.apiGroup", api_group, (RBAC_GROUP,)))
    else:
        out.append(not_supported(f"{path}.kind", kind, SUBJECT_KINDS))
    return out


def _binding(obj: Obj, old: Obj | None, *, namespaced: bool) -> list[Cause]:
    """``ValidateRoleBinding``/``ValidateClusterRoleBinding`` (+ the unchanged roleRef on update)."""
    ref = _role_ref(obj.get("roleRef"))
    api_group, kind, name = ref
    out: list[Cause] = []
    if api_group != RBAC_GROUP:
        out.append(not_supported("roleRef.apiGroup", api_group, (RBAC_GROUP,)))
    kinds = ("Role", "ClusterRole") if namespaced else ("ClusterRole",)
    if kind not in kinds:
        out.append(not_supported("roleRef.kind", kind, kinds))
    if not name:
        out.append(required("roleRef.name"))
    else:
        out.extend(_path_segment("roleRef.name", name))
    for i, item in enumerate(_list(obj.get("subjects"))):
        out.extend(subject(item, f"subjects[{i}]", namespaced=namespaced))
    if old is not None and ref != _role_ref(old.get("roleRef")):
        out.append(invalid("roleRef", _role_ref_value(ref), "cannot change roleRef"))
    return out


def role_binding(obj: Obj, old: Obj | None) -> list[Cause]:
    """A RoleBinding: of a Role or a ClusterRole; ServiceAccount subjects may leave out their namespace."""
    return _binding(obj, old, namespaced=True)


def cluster_role_binding(obj: Obj, old: Obj | None) -> list[Cause]:
    """A ClusterRoleBinding: of a ClusterRole; ServiceAccount subjects name their namespace."""
    return _binding(obj, old, namespaced=False)


#: (group, kind) -> the kind's checks; merged into :mod:`pinnace.api.validation`'s table.
VALIDATORS: dict[tuple[str, str], Validator] = {
    (RBAC_GROUP, "Role"): role,
    (RBAC_GROUP, "ClusterRole"): cluster_role,
    (RBAC_GROUP, "RoleBinding"): role_binding,
    (RBAC_GROUP, "ClusterRoleBinding"): cluster_role_binding,
}
