"""Which admission requests a webhook or a policy applies to: rules, scope, namespace and object selectors.

The shared matching of upstream's ``admission/plugin/webhook/predicates``:

* a rule (``RuleWithOperations``) matches on operation, API group, version,
  resource (``pods``, ``pods/status``, ``*`` — every resource but no
  subresource —, ``*/status``, ``*/*``) and scope (``Cluster``, ``Namespaced``,
  ``*``); policies' rules also on ``resourceNames``;
* ``matchPolicy: Equivalent`` (the default) lets a rule that names another
  served version of the same group and resource match too;
* ``namespaceSelector`` selects by the labels of the request's namespace (of
  the Namespace itself for namespaces; cluster-scoped requests always match);
* ``objectSelector`` selects by the labels of the object or its old self.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pinnace.api import selectors
from pinnace.apiserver.admission import AdmissionRequest

__all__ = [
    "Served",
    "namespace_labels_needed",
    "namespace_selector_matches",
    "object_selector_matches",
    "rule_matches",
    "rules_match",
    "selector",
]

Obj = dict[str, Any]
#: Whether the server serves (group, version, plural): for ``matchPolicy: Equivalent``.
Served = Callable[[str, str, str], bool]


def _has(values: Any, value: str) -> bool:
    return isinstance(values, list) and ("*" in values or value in values)


def _resource_matches(resources: Any, plural: str, subresource: str) -> bool:
    for entry in resources if isinstance(resources, list) else ():
        res, _, sub = str(entry).partition("/")
        if (res == "*" or res == plural) and (sub == "*" or sub == subresource):
            return True
    return False


def rule_matches(rule: Mapping[str, Any], request: AdmissionRequest, served: Served | None = None) -> bool:
    """Whether one rule covers the request (``served`` given: Equivalent versions of it too)."""
    info = request.info
    if not _has(rule.get("operations"), request.operation.value):
        return False
    if not _has(rule.get("apiGroups"), info.group):
        return False
    if not _resource_matches(rule.get("resources"), info.plural, request.subresource):
        return False
    scope = rule.get("scope") or "*"
    if scope == "Cluster" and info.namespaced:
        return False
    if scope == "Namespaced" and not info.namespaced:
        return False
    names = rule.get("resourceNames")
    if names and request.name not in names:
        return False
    versions = rule.get("apiVersions")
    if _has(versions, info.version):
        return True
    return served is not None and any(served(info.group, str(v), info.plural) for v in versions or ())


def rules_match(
    rules: Any, request: AdmissionRequest, match_policy: str = "Equivalent", served: Served | None = None
) -> bool:
    """Whether any of ``rules`` covers the request."""
    equivalent = served if match_policy != "Exact" else None
    return any(isinstance(r, dict) and rule_matches(r, request, equivalent) for r in rules or ())


def selector(raw: Any) -> selectors.LabelSelector:
    """A namespaceSelector/objectSelector as a LabelSelector (absent: everything)."""
    return selectors.EVERYTHING if raw is None else selectors.from_label_selector(raw)


def _labels(obj: Obj | None) -> dict[str, str]:
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def namespace_labels_needed(request: AdmissionRequest) -> str | None:
    """The namespace whose labels a namespaceSelector is matched against (None: none to look up)."""
    if request.info.group == "" and request.info.plural == "namespaces":
        return None
    return request.namespace or None


def namespace_selector_matches(sel: selectors.LabelSelector, request: AdmissionRequest, namespace: Obj | None) -> bool:
    """Whether the request passes a namespaceSelector; ``namespace``: the request's Namespace object."""
    if sel.empty:
        return True
    info = request.info
    if info.group == "" and info.plural == "namespaces":
        return sel.matches(_labels(request.obj if request.obj is not None else request.old))
    if not info.namespaced:
        return True
    return sel.matches(_labels(namespace))


def object_selector_matches(sel: selectors.LabelSelector, request: AdmissionRequest) -> bool:
    """Whether the object or its old self carries the labels an objectSelector asks for."""
    if sel.empty:
        return True
    return (request.obj is not None and sel.matches(_labels(request.obj))) or (
        request.old is not None and sel.matches(_labels(request.old))
    )
