"""Validation of LimitRange and ResourceQuota (core/v1), as upstream's validation package words it.

Upstream's ``ValidateLimitRange`` and ``ValidateResourceQuota`` (with its
update): resource names by the kind's rules (``must be a standard resource
for quota``, ``must be a standard resource for containers`` …), quantities
that make sense (a quota's hard limits not negative, object counts whole
numbers; a limit range's min ≤ defaultRequest ≤ default ≤ max and
maxLimitRequestRatio ≥ 1, each with upstream's sentence), quota scopes and
scope selectors that fit the resources they limit, and a quota's scopes
immutable. The quantity helpers (:func:`parse_quantity`, :func:`value_of`)
serve :mod:`.storage` too.

As upstream, a limit range's own quantities may be negative (``max: {cpu:
-1}`` is stored, and then refuses every container with a CPU limit); only
their order is checked.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import Any

from pinnace.api import names, quantity
from pinnace.api.errors import Cause
from pinnace.api.gofmt import go_quote
from pinnace.api.validation import field
from pinnace.api.validation.field import GoValue, Validator, duplicate, forbidden, invalid, required
from pinnace.api.validation.shapes import as_dict as _dict
from pinnace.api.validation.shapes import as_dicts as _dicts

__all__ = [
    "VALIDATORS",
    "go_value_of",
    "limit_range",
    "milli_value",
    "parse_quantity",
    "resource_name_problems",
    "resource_quota",
    "value_of",
]

Obj = dict[str, Any]

_STANDARD_CONTAINER_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})
_COUNTED_OBJECTS = frozenset(
    {
        "pods",
        "resourcequotas",
        "services",
        "replicationcontrollers",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "services.nodeports",
        "services.loadbalancers",
    }
)
_COMPUTE = frozenset(
    {
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
    }
)
#: upstream helper ``standardResources``.
_STANDARD_RESOURCES = _COMPUTE | _COUNTED_OBJECTS | {"storage", "requests.storage"}
#: upstream helper ``standardQuotaResources`` (no bare ``storage``).
_STANDARD_QUOTA_RESOURCES = _COMPUTE | _COUNTED_OBJECTS | {"requests.storage"}
_LIMIT_TYPES = frozenset({"Pod", "Container", "PersistentVolumeClaim"})

_SCOPES = frozenset(
    {"Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass", "CrossNamespacePodAffinity"}
)
#: The scopes that select pods, so only pod counts and compute resources may be limited under them.
_POD_SCOPES = frozenset(
    {"Terminating", "NotTerminating", "NotBestEffort", "PriorityClass", "CrossNamespacePodAffinity"}
)
_POD_COMPUTE = frozenset({"cpu", "memory", "limits.cpu", "limits.memory", "requests.cpu", "requests.memory"})
_EXISTS_ONLY_SCOPES = frozenset(
    {"BestEffort", "NotBestEffort", "Terminating", "NotTerminating", "CrossNamespacePodAffinity"}
)
_CONFLICTING_SCOPES = (frozenset({"BestEffort", "NotBestEffort"}), frozenset({"Terminating", "NotTerminating"}))
_EXISTS_ONLY_MSG = (
    "must be 'Exists' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, "
    "ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity"
)

#: upstream ``resource.MaxMilliValue``: the largest value whose milli-units fit an int64.
_MAX_MILLI_VALUE = (2**63 - 1) // 1000


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


# ---- resource names and quantities ---------------------------------------------------------------


def _is_native(name: str) -> bool:
    """``IsNativeResource``: unprefixed, or in a ``kubernetes.io/`` namespace."""
    return "/" not in name or "kubernetes.io/" in name


def _is_extended(name: str) -> bool:
    """``IsExtendedResourceName``: outside kubernetes.io, no ``requests.`` prefix, a qualified name as a quota key."""
    if _is_native(name) or name.startswith("requests."):
        return False
    return not names.is_qualified_name("requests." + name)


def _is_quota_hugepages(name: str) -> bool:
    return name.startswith(("hugepages-", "requests.hugepages-"))


def overcommit_allowed(name: str) -> bool:
    """``IsOvercommitAllowed``: native and not hugepages (requests may then differ from limits)."""
    return _is_native(name) and not name.startswith("hugepages-")


@functools.lru_cache(maxsize=1024)
def resource_name_problems(name: str, rule: str = "any") -> tuple[str, ...]:
    """Upstream's resource name checks: ``validateResourceName`` (``any``), and on top of it
    ``validateContainerResourceName`` (``container``) or ``ValidateResourceQuotaResourceName`` (``quota``)."""
    problems = names.is_qualified_name(name)
    if not problems and "/" not in name and name not in _STANDARD_RESOURCES and not _is_quota_hugepages(name):
        problems.append("must be a standard resource type or fully qualified")
    if rule == "container":
        if "/" not in name:
            if name not in _STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-"):
                problems.append("must be a standard resource for containers")
        elif not _is_native(name) and not _is_extended(name):
            problems.append("doesn't follow extended resource name standard")
    elif rule == "quota" and "/" not in name and not _is_standard_quota(name):
        problems.append("must be a standard resource for quota")
    return tuple(problems)


def _is_integer_resource(name: str) -> bool:
    """``IsIntegerResourceName``: object counts and extended resources."""
    return name in _COUNTED_OBJECTS or _is_extended(name)


def parse_quantity(raw: Any) -> quantity.Quantity | None:
    """A resource list's value as a quantity; None for what is none (decoding reports those first)."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        return None
    try:
        return quantity.parse(str(raw).strip())
    except quantity.QuantityError:
        return None


def value_of(q: quantity.Quantity) -> int:
    """``Quantity.Value()``: whole units, rounded away from zero."""
    v = q.value
    return math.ceil(v) if v >= 0 else -math.ceil(-v)


def milli_value(q: quantity.Quantity) -> int:
    """``Quantity.MilliValue()``: thousandths, rounded away from zero."""
    v = q.value * 1000
    return math.ceil(v) if v >= 0 else -math.ceil(-v)


def go_value_of(q: quantity.Quantity) -> GoValue:
    """How ``field.Error`` prints a ``resource.Quantity`` value: its ``String()``, unquoted."""
    return GoValue(str(q))


def _nonnegative(path: str, q: quantity.Quantity | None) -> list[Cause]:
    """``ValidateNonnegativeQuantity`` (the value quoted: upstream passes ``value.String()``)."""
    if q is not None and q.value < 0:
        return [invalid(path, str(q), field.NEGATIVE)]
    return []


def _resource_list(values: Any) -> dict[str, Any]:
    """A resource list's entries by name, in name order (Go ranges over maps in no order; sorted is stable)."""
    if not isinstance(values, dict):
        return {}
    return {str(k): values[k] for k in sorted(values, key=str)}


# ---- LimitRange ----------------------------------------------------------------------------------


def _limit_type_problems(type_: str) -> list[str]:
    """``validateLimitRangeTypeName``."""
    problems = names.is_qualified_name(type_)
    if not problems and "/" not in type_ and type_ not in _LIMIT_TYPES:
        problems.append("must be a standard limit type or fully qualified")
    return problems


def limit_range(obj: Obj, old: Obj | None) -> list[Cause]:
    """``ValidateLimitRange``: types, resource names, and the order min ≤ defaultRequest ≤ default ≤ max."""
    out: list[Cause] = []
    seen_types: set[str] = set()
    for i, limit in enumerate(_dicts(_dict(obj.get("spec")).get("limits"))):
        out.extend(_limit_item(limit, f"spec.limits[{i}]", seen_types))
    return out


def _limit_item(limit: Obj, path: str, seen_types: set[str]) -> list[Cause]:
    out: list[Cause] = []
    raw_type = limit.get("type")
    type_ = raw_type if isinstance(raw_type, str) else ""
    out.extend(invalid(f"{path}.type", type_, msg) for msg in _limit_type_problems(type_))
    if type_ in seen_types:
        out.append(duplicate(f"{path}.type", type_))
    seen_types.add(type_)
    rule = "container" if type_ in ("Pod", "Container") else "any"
    sections: dict[str, dict[str, quantity.Quantity | None]] = {}

    def named(section: str) -> None:
        parsed: dict[str, quantity.Quantity | None] = {}
        for name, raw in _resource_list(limit.get(section)).items():
            where = f"{path}.{section}[{name}]"
            out.extend(invalid(where, name, msg) for msg in resource_name_problems(name, rule))
            parsed[name] = parse_quantity(raw)
        sections[section] = parsed

    named("max")
    named("min")
    if type_ == "Pod":
        for section in ("default", "defaultRequest"):
            if limit.get(section):
                out.append(forbidden(f"{path}.{section}", "may not be specified when `type` is 'Pod'"))
    else:
        named("default")
        named("defaultRequest")
    if type_ == "PersistentVolumeClaim" and "storage" not in sections["min"] and "storage" not in sections["max"]:
        out.append(
            required(f"{path}.limits", "either minimum or maximum storage value is required, but neither was provided")
        )
    named("maxLimitRequestRatio")
    keys = sorted(set().union(*(section.keys() for section in sections.values())))
    for key in keys:
        out.extend(_limit_order(path, key, {name: section.get(key) for name, section in sections.items()}))
    return out


def _limit_order(path: str, key: str, q: dict[str, quantity.Quantity | None]) -> list[Cause]:
    """The comparisons of one resource's min, max, default, defaultRequest and ratio, in upstream's order."""
    out: list[Cause] = []
    low, high, default, request, ratio = (
        q.get("min"),
        q.get("max"),
        q.get("default"),
        q.get("defaultRequest"),
        q.get("maxLimitRequestRatio"),
    )

    def bad(section: str, shown: quantity.Quantity, detail: str) -> None:
        out.append(invalid(f"{path}.{section}[{key}]", go_value_of(shown), detail))

    if low is not None and high is not None and low.value > high.value:
        bad("min", low, f"min value {low} is greater than max value {high}")
    if request is not None and low is not None and low.value > request.value:
        bad("defaultRequest", request, f"min value {low} is greater than default request value {request}")
    if request is not None and high is not None and request.value > high.value:
        bad("defaultRequest", request, f"default request value {request} is greater than max value {high}")
    if request is not None and default is not None and request.value > default.value:
        bad("defaultRequest", request, f"default request value {request} is greater than default limit value {default}")
    if default is not None and low is not None and low.value > default.value:
        bad("default", low, f"min value {low} is greater than default value {default}")
    if default is not None and high is not None and default.value > high.value:
        bad("default", high, f"default value {default} is greater than max value {high}")
    if ratio is not None and ratio.value < 1:
        bad("maxLimitRequestRatio", ratio, f"ratio {ratio} is less than 1")
    if ratio is not None and low is not None and high is not None:
        limit = _max_ratio(ratio, low, high)
        if limit is not None:
            bad("maxLimitRequestRatio", ratio, f"ratio {ratio} is greater than max/min = {limit:f}")
    if not overcommit_allowed(key) and default is not None and request is not None and default.value != request.value:
        bad("defaultRequest", request, f"default value {default} must equal to defaultRequest value {request} in {key}")
    return out


def _max_ratio(ratio: quantity.Quantity, low: quantity.Quantity, high: quantity.Quantity) -> float | None:
    """max/min when the ratio exceeds it (upstream compares in milli-units when they fit), else None."""
    ratio_value: float = float(value_of(ratio))
    low_value, high_value = value_of(low), value_of(high)
    if value_of(ratio) < _MAX_MILLI_VALUE and low_value < _MAX_MILLI_VALUE and high_value < _MAX_MILLI_VALUE:
        ratio_value = milli_value(ratio) / 1000
        low_value, high_value = milli_value(low), milli_value(high)
    if low_value == 0:
        return None  # max/min is infinite (or NaN): no ratio exceeds it
    limit = high_value / low_value
    return limit if ratio_value > limit else None


# ---- ResourceQuota -------------------------------------------------------------------------------


def _scope_fits(scope: str, resource: str) -> bool:
    """``IsResourceQuotaScopeValidForResource``."""
    if scope in _POD_SCOPES:
        return resource == "pods" or resource in _POD_COMPUTE
    if scope == "BestEffort":
        return resource == "pods"
    return True


def _is_standard_quota(name: str) -> bool:
    return name in _STANDARD_QUOTA_RESOURCES or _is_quota_hugepages(name)


def _go_scope_selector(selector: Obj) -> GoValue:
    """``%#v`` of a ``core.ScopeSelector``."""
    exprs = selector.get("matchExpressions")
    if isinstance(exprs, list):
        rendered = ", ".join(
            "core.ScopedResourceSelectorRequirement{ScopeName:"
            + go_quote(str(e.get("scopeName") or ""))
            + ", Operator:"
            + go_quote(str(e.get("operator") or ""))
            + ", Values:"
            + field.go_slice("string", e.get("values")).text
            + "}"
            for e in _dicts(exprs)
        )
        text = "[]core.ScopedResourceSelectorRequirement{" + rendered + "}"
    else:
        text = "[]core.ScopedResourceSelectorRequirement(nil)"
    return GoValue(f"core.ScopeSelector{{MatchExpressions:{text}}}")


def _quota_hard(hard: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    for name, raw in _resource_list(hard).items():
        where = f"{path}[{name}]"
        out.extend(invalid(where, name, msg) for msg in resource_name_problems(name, "quota"))
        q = parse_quantity(raw)
        out.extend(_nonnegative(where, q))
        if q is not None and _is_integer_resource(name) and milli_value(q) % 1000 != 0:
            out.append(invalid(where, go_value_of(q), "must be an integer"))
    return out


def _conflicting(scopes: Iterable[str]) -> bool:
    present = set(scopes)
    return any(pair <= present for pair in _CONFLICTING_SCOPES)


def _quota_scopes(spec: Obj, hard_names: list[str]) -> list[Cause]:
    """``validateResourceQuotaScopes``."""
    scopes = spec.get("scopes")
    if not isinstance(scopes, list) or not scopes:
        return []
    shown = field.go_slice("core.ResourceQuotaScope", scopes)
    out: list[Cause] = []
    for scope in _strings(scopes):
        if scope not in _SCOPES:
            out.append(invalid("spec.scopes", shown, "unsupported scope"))
        for name in hard_names:
            if _is_standard_quota(name) and not _scope_fits(scope, name):
                out.append(invalid("spec.scopes", shown, "unsupported scope applied to resource"))
    if _conflicting(_strings(scopes)):
        out.append(invalid("spec.scopes", shown, "conflicting scopes"))
    return out


def _quota_scope_selector(spec: Obj, hard_names: list[str]) -> list[Cause]:
    """``validateScopedResourceSelectorRequirement`` (its paths carry no index, as upstream's)."""
    selector = spec.get("scopeSelector")
    if not isinstance(selector, dict):
        return []
    path = "spec.scopeSelector.matchExpressions"
    out: list[Cause] = []
    names_used: list[str] = []
    for req in _dicts(selector.get("matchExpressions")):
        scope = str(req.get("scopeName") or "")
        operator = str(req.get("operator") or "")
        values = req.get("values")
        if scope not in _SCOPES:
            out.append(invalid(f"{path}.scopeName", scope, "unsupported scope"))
        for name in hard_names:
            if _is_standard_quota(name) and not _scope_fits(scope, name):
                out.append(invalid(path, _go_scope_selector(selector), "unsupported scope applied to resource"))
        if scope in _EXISTS_ONLY_SCOPES and operator != "Exists":
            out.append(invalid(f"{path}.operator", operator, _EXISTS_ONLY_MSG))
        if operator in ("In", "NotIn"):
            if not values:
                out.append(
                    required(
                        f"{path}.values",
                        "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector",
                    )
                )
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                out.append(
                    invalid(
                        f"{path}.values",
                        field.go_slice("string", values),
                        "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector",
                    )
                )
        else:
            out.append(invalid(f"{path}.operator", operator, "not a valid selector operator"))
        names_used.append(scope)
    if _conflicting(names_used):
        out.append(invalid(path, field.go_slice("core.ResourceQuotaScope", spec.get("scopes")), "conflicting scopes"))
    return out


def resource_quota(obj: Obj, old: Obj | None) -> list[Cause]:
    """``ValidateResourceQuota`` (spec) and on update ``ValidateResourceQuotaUpdate``: the scopes never change."""
    spec = _dict(obj.get("spec"))
    hard_names = list(_resource_list(spec.get("hard")))
    out = _quota_hard(spec.get("hard"), "spec.hard")
    out.extend(_quota_scopes(spec, hard_names))
    out.extend(_quota_scope_selector(spec, hard_names))
    if old is not None:
        new_scopes = spec.get("scopes")
        if set(_strings(new_scopes)) != set(_strings(_dict(old.get("spec")).get("scopes"))):
            out.append(invalid("spec.scopes", field.go_slice("core.ResourceQuotaScope", new_scopes), field.IMMUTABLE))
    return out


#: (group, kind) -> the kind's checks; merged into :mod:`pinnace.api.validation`'s table.
VALIDATORS: dict[tuple[str, str], Validator] = {
    ("", "LimitRange"): limit_range,
    ("", "ResourceQuota"): resource_quota,
}
