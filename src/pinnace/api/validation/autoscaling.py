"""Validation of HorizontalPodAutoscaler (autoscaling), as upstream's validation package words it.

Upstream validates the internal object, which is autoscaling/v2's shape: an
autoscaling/v1 request (``kubectl autoscale``'s, say) is checked in the form
it is stored in (:func:`pinnace.api.hpaconversion.to_v2`: its CPU target and
the metrics and behavior its annotations carry become v2 fields), so both
versions get the same causes at the same v2 field paths.

``validateHorizontalPodAutoscalerSpec``: ``minReplicas`` at least 1 (0 only
for an HPA that already has 0: scale-to-zero is a feature gate, off by
default), ``maxReplicas`` at least 1 and at least ``minReplicas``; the scale
target's kind and name are path segment names; each metric has a known
type with exactly its source set, a metric name, a target of a known type
with positive values; the behavior's scaling rules have a stabilization
window of 0 to 3600 s, a known select policy and policies of a known type
with a positive value and a period of 1 to 1800 s.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from pinnace.api import hpaconversion, names, quantity
from pinnace.api.errors import Cause
from pinnace.api.gofmt import go_quote
from pinnace.api.validation import field
from pinnace.api.validation.field import Validator, forbidden, invalid, not_supported, required
from pinnace.api.validation.shapes import as_dict as _dict
from pinnace.api.validation.shapes import as_int as _int
from pinnace.api.validation.shapes import as_list as _list
from pinnace.api.validation.shapes import as_str as _string

__all__ = [
    "MAX_PERIOD_SECONDS",
    "MAX_STABILIZATION_WINDOW_SECONDS",
    "VALIDATORS",
    "cross_version_object_reference",
    "horizontal_pod_autoscaler",
    "metric_spec",
]

Obj = dict[str, Any]

#: upstream ``MaxPeriodSeconds``: the longest scaling policy period.
MAX_PERIOD_SECONDS = 1800
#: upstream ``MaxStabilizationWindowSeconds``.
MAX_STABILIZATION_WINDOW_SECONDS = 3600
#: Sorted, as upstream's sets list them.
METRIC_SOURCE_TYPES = ("ContainerResource", "External", "Object", "Pods", "Resource")
SELECT_POLICIES = ("Disabled", "Max", "Min")
SCALING_POLICY_TYPES = ("Percent", "Pods")
TARGET_TYPES = ("Utilization", "Value", "AverageValue")
#: Each metric source type and the field holding its source.
_SOURCE_FIELDS = {
    "Object": "object",
    "Pods": "pods",
    "Resource": "resource",
    "External": "external",
    "ContainerResource": "containerResource",
}
#: The order upstream checks the sources a metric holds in.
_SOURCE_ORDER = ("object", "external", "pods", "resource", "containerResource")
_STANDARD_CONTAINER_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})
_POPULATE = "must populate information for the given metric source"
_DECIMAL_EXPONENTS = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_QUANTITY_PARTS = re.compile(r"[+-]?([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[-+]?[0-9]*)")
_BINARY_SUFFIXES = frozenset({"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"})
_EXPONENT = re.compile(r"[eE][-+]?[0-9]+")
_INT64_MAX = 2**63 - 1
#: A stand-in for the pointer Go prints in ``%#v`` of a Quantity held as an inf.Dec (upstream shows an address).
_POINTER = "0xc000a1e000"


def _as_stored(obj: Obj) -> Obj:
    """The HPA in its stored (autoscaling/v2) shape: a v1 one converted, as upstream converts to its internal
    type before validating. Annotations that are not JSON are left out here: the write reports them (400)."""
    if obj.get("apiVersion") != "autoscaling/v1":
        return obj
    meta = {k: v for k, v in _dict(obj.get("metadata")).items() if k != "annotations"}
    for candidate in (obj, {**obj, "metadata": meta}):
        with contextlib.suppress(Exception):
            return hpaconversion.to_v2(candidate)
    return {}


# ---- values as upstream prints them ---------------------------------------------------------------


def _int64_amount(text: str) -> tuple[int, int] | None:
    """(value, scale) of the ``int64Amount`` upstream's ParseQuantity keeps for a quantity, or None when it keeps
    an inf.Dec instead (too many digits, finer than nano units, a fraction of a binary unit)."""
    match = _QUANTITY_PARTS.fullmatch(text)
    if match is None:
        return None
    num, denom, suffix = match.group(1).lstrip("0") or "0", match.group(2) or "", match.group(3)
    negative = text.startswith("-")
    if suffix in _BINARY_SUFFIXES:
        exponent = 10 * (" KMGTPE".index(suffix[0]))
        if denom or 15 - len(num) - int(exponent * 3 / 10) - 1 < 0:
            return None
        value, scale = int(num) << exponent, 0
    else:
        if suffix in _DECIMAL_EXPONENTS:
            exponent = _DECIMAL_EXPONENTS[suffix]
        elif _EXPONENT.fullmatch(suffix):  # e3, E-2
            exponent = int(suffix[1:])
        else:
            return None
        scale = exponent - len(denom)
        if len(num) + len(denom) > 18 or scale < -9:
            return None
        value = int(num + denom)
    if value > _INT64_MAX:
        return None
    return (-value if negative else value), scale


def _quantity(raw: Any) -> field.GoValue:
    """``%#v`` of a ``resource.Quantity`` (how upstream prints a target that is not positive)."""
    text = str(raw).strip()
    try:
        parsed = quantity.parse(text)
    except ValueError:  # (a QuantityError): decoding reports it
        return field.GoValue(go_quote(text))
    amount = _int64_amount(text)
    value, scale = amount if amount is not None else (0, 0)
    dec = "nil" if amount is not None else _POINTER
    return field.GoValue(
        f"resource.Quantity{{i:resource.int64Amount{{value:{value}, scale:{scale}}}, "
        f"d:resource.infDecAmount{{Dec:(*inf.Dec)({dec})}}, s:{go_quote(str(parsed))}, "
        f"Format:{go_quote(parsed.format)}}}"
    )


def _sign(raw: Any) -> int:
    """The sign of a quantity (1 for one that does not parse: decoding reports it)."""
    try:
        value = quantity.parse(str(raw).strip()).value
    except ValueError:  # (a QuantityError)
        return 1
    return (value > 0) - (value < 0)


# ---- references, metrics -------------------------------------------------------------------------


def cross_version_object_reference(ref: Any, path: str) -> list[Cause]:
    """``ValidateCrossVersionObjectReference``: a kind and a name, each a path segment name."""
    ref = _dict(ref)
    out: list[Cause] = []
    for key in ("kind", "name"):
        value = _string(ref.get(key))
        if not value:
            out.append(required(f"{path}.{key}"))
        else:
            out.extend(invalid(f"{path}.{key}", value, msg) for msg in names.is_path_segment_name(value))
    return out


def _metric_identifier(metric: Any, path: str) -> list[Cause]:
    name = _string(_dict(metric).get("name"))
    if not name:
        return [required(f"{path}.name", "must specify a metric name")]
    return [invalid(f"{path}.name", name, msg) for msg in names.is_path_segment_name(name)]


def _metric_target(target: Obj, path: str) -> list[Cause]:
    """``validateMetricTarget``: a known type, positive values, a utilization of at least 1."""
    out: list[Cause] = []
    type_ = _string(target.get("type"))
    if not type_:
        out.append(required(f"{path}.type", "must specify a metric target type"))
    if type_ not in TARGET_TYPES:
        out.append(invalid(f"{path}.type", type_, "must be either Utilization, Value, or AverageValue"))
    for key in ("value", "averageValue"):
        raw = target.get(key)
        if raw is not None and not isinstance(raw, bool) and _sign(raw) != 1:
            out.append(invalid(f"{path}.{key}", _quantity(raw), "must be positive"))
    utilization = _int(target.get("averageUtilization"))
    if utilization is not None and utilization < 1:
        out.append(invalid(f"{path}.averageUtilization", utilization, "must be greater than 0"))
    return out


def _container_resource_name(name: str, path: str) -> list[Cause]:
    """``ValidateContainerResourceName`` for the names users give (a standard one, or a qualified name)."""
    out = [invalid(path, name, msg) for msg in names.is_qualified_name(name)]
    if "/" not in name and name not in _STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-"):
        out.append(invalid(path, name, "must be a standard resource for containers"))
    return out


def _resource_source(src: Obj, path: str, *, container: bool) -> list[Cause]:
    """``validateResourceSource``/``validateContainerResourceSource``: a resource name (and container), and a
    target of either a utilization or a raw value."""
    out: list[Cause] = []
    name = _string(src.get("name"))
    if not name:
        out.append(required(f"{path}.name", "must specify a resource name"))
    elif container:
        out.extend(_container_resource_name(name, f"{path}.name"))
    if container:
        container_name = _string(src.get("container"))
        if not container_name:
            out.append(required(f"{path}.container", "must specify a container"))
        else:
            out.extend(invalid(f"{path}.container", container_name, m) for m in names.is_dns1123_label(container_name))
    target = _dict(src.get("target"))
    out.extend(_metric_target(target, f"{path}.target"))
    utilization, average = target.get("averageUtilization"), target.get("averageValue")
    if utilization is None and average is None:
        out.append(
            required(f"{path}.target.averageUtilization", "must set either a target raw value or a target utilization")
        )
    if utilization is not None and average is not None:
        out.append(
            forbidden(f"{path}.target.averageValue", "may not set both a target raw value and a target utilization")
        )
    return out


def _object_source(src: Obj, path: str) -> list[Cause]:
    out = cross_version_object_reference(src.get("describedObject"), f"{path}.describedObject")
    out.extend(_metric_identifier(src.get("metric"), f"{path}.metric"))
    target = _dict(src.get("target"))
    out.extend(_metric_target(target, f"{path}.target"))
    if target.get("value") is None and target.get("averageValue") is None:
        out.append(required(f"{path}.target.averageValue", "must set either a target value or averageValue"))
    return out


def _external_source(src: Obj, path: str) -> list[Cause]:
    out = _metric_identifier(src.get("metric"), f"{path}.metric")
    target = _dict(src.get("target"))
    out.extend(_metric_target(target, f"{path}.target"))
    value, average = target.get("value"), target.get("averageValue")
    if value is None and average is None:
        out.append(
            required(f"{path}.target.averageValue", "must set either a target value for metric or a per-pod target")
        )
    if value is not None and average is not None:
        out.append(forbidden(f"{path}.target.value", "may not set both a target value for metric and a per-pod target"))
    return out


def _pods_source(src: Obj, path: str) -> list[Cause]:
    out = _metric_identifier(src.get("metric"), f"{path}.metric")
    target = _dict(src.get("target"))
    out.extend(_metric_target(target, f"{path}.target"))
    if target.get("averageValue") is None:
        out.append(required(f"{path}.target.averageValue", "must specify a positive target averageValue"))
    return out


def _source(kind: str, src: Obj, path: str) -> list[Cause]:
    if kind == "object":
        return _object_source(src, path)
    if kind == "external":
        return _external_source(src, path)
    if kind == "pods":
        return _pods_source(src, path)
    return _resource_source(src, path, container=kind == "containerResource")


def metric_spec(metric: Any, path: str) -> list[Cause]:
    """``validateMetricSpec``: a known type, the source of that type, and no other source.

    Upstream reports an unknown type twice (two identical causes, one line of
    the message): here it is reported once.
    """
    metric = _dict(metric)
    out: list[Cause] = []
    type_ = _string(metric.get("type"))
    if not type_:
        out.append(required(f"{path}.type", "must specify a metric source type"))
    if type_ not in METRIC_SOURCE_TYPES:
        out.append(not_supported(f"{path}.type", type_, METRIC_SOURCE_TYPES))
    present = [kind for kind in _SOURCE_ORDER if metric.get(kind) is not None]
    if present:  # only the first source present is checked, as upstream
        out.extend(_source(present[0], _dict(metric[present[0]]), f"{path}.{present[0]}"))
    expected = _SOURCE_FIELDS.get(type_)
    if expected is not None and metric.get(expected) is None:
        out.append(required(f"{path}.{expected}", _POPULATE))
    if len(present) != 1:
        out.extend(
            forbidden(f"{path}.{kind}", "must populate the given metric source only")
            for kind in sorted(present)
            if kind != expected
        )
    return out


def _metrics(metrics: Any, path: str, min_replicas: int | None) -> list[Cause]:
    out: list[Cause] = []
    listed = _list(metrics)
    for i, metric in enumerate(listed):
        out.extend(metric_spec(metric, f"{path}[{i}]"))
    if min_replicas == 0 and not any(_dict(m).get("type") in ("Object", "External") for m in listed):
        out.append(
            forbidden(path, "must specify at least one Object or External metric to support scaling to zero replicas")
        )
    return out


# ---- behavior ------------------------------------------------------------------------------------


def _scaling_policy(policy: Any, path: str) -> list[Cause]:
    policy = _dict(policy)
    out: list[Cause] = []
    type_ = _string(policy.get("type"))
    if type_ not in SCALING_POLICY_TYPES:
        out.append(not_supported(f"{path}.type", type_, SCALING_POLICY_TYPES))
    value = _int(policy.get("value")) or 0
    if value <= 0:
        out.append(invalid(f"{path}.value", value, "must be greater than zero"))
    period = _int(policy.get("periodSeconds")) or 0
    if period <= 0:
        out.append(invalid(f"{path}.periodSeconds", period, "must be greater than zero"))
    if period > MAX_PERIOD_SECONDS:
        out.append(invalid(f"{path}.periodSeconds", period, f"must be less than or equal to {MAX_PERIOD_SECONDS}"))
    return out


def _scaling_rules(rules: Any, path: str) -> list[Cause]:
    """``validateScalingRules`` of one direction (nothing when it is not set)."""
    if not isinstance(rules, dict):
        return []
    out: list[Cause] = []
    window = _int(rules.get("stabilizationWindowSeconds"))
    if window is not None and window < 0:
        out.append(invalid(f"{path}.stabilizationWindowSeconds", window, "must be greater than or equal to zero"))
    if window is not None and window > MAX_STABILIZATION_WINDOW_SECONDS:
        out.append(
            invalid(
                f"{path}.stabilizationWindowSeconds",
                window,
                f"must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}",
            )
        )
    select = rules.get("selectPolicy")
    if select is not None and select not in SELECT_POLICIES:
        out.append(not_supported(f"{path}.selectPolicy", select, SELECT_POLICIES))
    policies = _list(rules.get("policies"))
    if not policies:
        out.append(required(f"{path}.policies", "must specify at least one Policy"))
    for i, policy in enumerate(policies):
        out.extend(_scaling_policy(policy, f"{path}.policies[{i}]"))
    return out


# ---- the kind ------------------------------------------------------------------------------------


def horizontal_pod_autoscaler(obj: Obj, old: Obj | None) -> list[Cause]:
    """``ValidateHorizontalPodAutoscaler`` (on update, minReplicas 0 stays allowed for an HPA that has it)."""
    spec = _dict(_as_stored(obj).get("spec"))
    old_spec = _dict(_as_stored(old).get("spec")) if old is not None else {}
    lower_bound = 0 if old is not None and old_spec.get("minReplicas") == 0 else 1
    out: list[Cause] = []
    min_replicas, max_replicas = _int(spec.get("minReplicas")), _int(spec.get("maxReplicas")) or 0
    if min_replicas is not None and min_replicas < lower_bound:
        out.append(invalid("spec.minReplicas", min_replicas, f"must be greater than or equal to {lower_bound}"))
    if max_replicas < 1:
        out.append(invalid("spec.maxReplicas", max_replicas, "must be greater than 0"))
    if min_replicas is not None and max_replicas < min_replicas:
        out.append(invalid("spec.maxReplicas", max_replicas, "must be greater than or equal to `minReplicas`"))
    out.extend(cross_version_object_reference(spec.get("scaleTargetRef"), "spec.scaleTargetRef"))
    out.extend(_metrics(spec.get("metrics"), "spec.metrics", min_replicas))
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        out.extend(_scaling_rules(behavior.get("scaleUp"), "spec.behavior.scaleUp"))
        out.extend(_scaling_rules(behavior.get("scaleDown"), "spec.behavior.scaleDown"))
    return out


#: (group, kind) -> the kind's checks; merged into :mod:`pinnace.api.validation`'s table.
VALIDATORS: dict[tuple[str, str], Validator] = {("autoscaling", "HorizontalPodAutoscaler"): horizontal_pod_autoscaler}
