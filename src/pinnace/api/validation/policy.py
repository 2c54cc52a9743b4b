"""Validation of PodDisruptionBudget (policy), as upstream's validation package words it.

``ValidatePodDisruptionBudgetSpec``: ``minAvailable`` and ``maxUnavailable``
are mutually exclusive, each a non-negative integer or a percentage up to
100%; the selector is a valid label selector; ``unhealthyPodEvictionPolicy``
is ``IfHealthyBudget`` or ``AlwaysAllow``.
"""

from __future__ import annotations

from typing import Any

from pinnace.api import names
from pinnace.api.errors import Cause
from pinnace.api.validation import core, field
from pinnace.api.validation.field import Validator, invalid, not_supported
from pinnace.api.validation.shapes import as_dict as _dict
from pinnace.api.validation.shapes import as_list as _list

__all__ = ["VALIDATORS", "has_invalid_label_values", "int_or_percent", "pod_disruption_budget"]

Obj = dict[str, Any]

UNHEALTHY_POD_EVICTION_POLICIES = ("AlwaysAllow", "IfHealthyBudget")  # sorted, as upstream lists them
#: Stand-ins for the pointers Go prints in ``%#v`` of a struct holding them (upstream shows real addresses).
_POINTER = "0xc000a1e000"


def _requirement_values(selector: Any) -> list[tuple[int, int, str]]:
    """(expression index, value index, value) of every value of the selector's requirements."""
    return [
        (i, j, value)
        for i, expr in enumerate(_list(_dict(selector).get("matchExpressions")))
        for j, value in enumerate(_list(_dict(expr).get("values")))
        if isinstance(value, str)
    ]


def has_invalid_label_values(selector: Any) -> bool:
    """Whether a requirement of the selector has a value that is not a label value (upstream's
    ``hasInvalidLabelValueInLabelSelector``: such a stored object may keep it on update)."""
    return any(names.is_valid_label_value(value) for _, _, value in _requirement_values(selector))


def int_or_percent(path: str, value: Any) -> list[Cause]:
    """``ValidatePositiveIntOrPercent`` and ``IsNotMoreThan100Percent`` of an IntOrString."""
    problems = field.int_or_percent(path, value)
    if not problems and isinstance(value, str) and int(value[:-1]) > 100:
        return [invalid(path, field.int_or_string(value), "must not be greater than 100%")]
    return problems


def _pointer(type_name: str, value: Any) -> str:
    return f"({type_name})({_POINTER if value is not None else 'nil'})"


def _spec_value(spec: Obj) -> field.GoValue:
    """``%#v`` of the internal ``policy.PodDisruptionBudgetSpec`` (pointer fields print as addresses)."""
    return field.GoValue(
        "policy.PodDisruptionBudgetSpec{"
        f"MinAvailable:{_pointer('*intstr.IntOrString', spec.get('minAvailable'))}, "
        f"Selector:{_pointer('*v1.LabelSelector', spec.get('selector'))}, "
        f"MaxUnavailable:{_pointer('*intstr.IntOrString', spec.get('maxUnavailable'))}, "
        "UnhealthyPodEvictionPolicy:"
        f"{_pointer('*policy.UnhealthyPodEvictionPolicyType', spec.get('unhealthyPodEvictionPolicy'))}}}"
    )


def pod_disruption_budget(obj: Obj, old: Obj | None) -> list[Cause]:
    """``ValidatePodDisruptionBudget``; on update a selector already holding bad label values may keep them."""
    spec = _dict(obj.get("spec"))
    out: list[Cause] = []
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_available is not None and max_unavailable is not None:
        out.append(invalid("spec", _spec_value(spec), "minAvailable and maxUnavailable cannot be both set"))
    if min_available is not None:
        out.extend(int_or_percent("spec.minAvailable", min_available))
    if max_unavailable is not None:
        out.extend(int_or_percent("spec.maxUnavailable", max_unavailable))
    ratchet = old is not None and has_invalid_label_values(_dict(old.get("spec")).get("selector"))
    out.extend(core.label_selector(spec.get("selector"), "spec.selector", allow_invalid_values=ratchet))
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in UNHEALTHY_POD_EVICTION_POLICIES:
        out.append(not_supported("spec.unhealthyPodEvictionPolicy", policy, UNHEALTHY_POD_EVICTION_POLICIES))
    return out


#: (group, kind) -> the kind's checks; merged into :mod:`pinnace.api.validation`'s table.
VALIDATORS: dict[tuple[str, str], Validator] = {("policy", "PodDisruptionBudget"): pod_disruption_budget}
