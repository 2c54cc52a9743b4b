"""autoscaling/v1 and autoscaling/v2 HorizontalPodAutoscalers: one object, two API versions.

kube-apiserver serves HPAs at both versions from one storage, kept at v2, and
converts on every read and write (upstream ``pkg/apis/autoscaling/v1/
conversion.go``), so ``kubectl autoscale`` (which writes v1) and v2 clients
see the same objects. v1 knows one metric, a CPU utilization target; the rest
of a v2 HPA travels through v1 in four annotations, JSON in v1's own shapes:

* ``autoscaling.alpha.kubernetes.io/metrics``: the spec metrics other than
  CPU utilization targets (v1 ``MetricSpec``s: ``targetAverageUtilization``,
  ``metricName``, ``targetValue`` … instead of v2's ``target`` and ``metric``);
* ``autoscaling.alpha.kubernetes.io/current-metrics``: every status metric;
* ``autoscaling.alpha.kubernetes.io/conditions``: the status conditions;
* ``autoscaling.alpha.kubernetes.io/behavior``: the scaling behavior, encoded as
  upstream encodes it (its internal Go type, which has no JSON tags: field
  names capitalized, absent pointers ``null``) and read back ignoring case.

A v1 write turns them back into fields and drops them; a v1 HPA without
metrics gets the CPU target v1 always implied (80%, appended after the
annotation's metrics, as upstream orders them). A v2 read never shows them.
Both directions return a new top-level dict and share untouched values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from pinnace.api import errors

__all__ = ["ROUND_TRIP_ANNOTATIONS", "to_v1", "to_v2"]

Obj = dict[str, Any]

METRIC_SPECS = "autoscaling.alpha.kubernetes.io/metrics"
METRIC_STATUSES = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR = "autoscaling.alpha.kubernetes.io/behavior"
#: The annotations only a conversion writes (dropped from what a conversion reads, so none is stale).
ROUND_TRIP_ANNOTATIONS = (METRIC_SPECS, METRIC_STATUSES, CONDITIONS, BEHAVIOR)
#: What v1 implies when an HPA names no metric at all.
DEFAULT_CPU_UTILIZATION = 80

_SOURCES = ("object", "pods", "resource", "containerResource", "external")
_CONDITION_FIELDS = ("type", "status", "lastTransitionTime", "reason", "message")


def _m(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _put(out: Obj, key: str, value: Any) -> None:
    """Set ``key`` unless ``value`` is absent (Go's ``omitempty`` on a pointer)."""
    if value is not None:
        out[key] = value


def _ref(value: Any) -> Obj:
    """A CrossVersionObjectReference (kind, name, apiVersion), the same in both versions."""
    ref = _m(value)
    out: Obj = {"kind": ref.get("kind", ""), "name": ref.get("name", "")}
    _put(out, "apiVersion", ref.get("apiVersion") or None)
    return out


def _is_cpu_resource(metric: Obj) -> bool:
    resource = metric.get("resource")
    return metric.get("type") == "Resource" and isinstance(resource, dict) and resource.get("name") == "cpu"


def _cpu_utilization(metric: Obj, part: str) -> Any:
    """A CPU resource metric's ``target`` or ``current`` averageUtilization (None if it has none)."""
    return _m(_m(metric.get("resource")).get(part)).get("averageUtilization")


# ---- metrics -----------------------------------------------------------------------------------
#: How a v1 field is written when v2 has no value for it: a required string (""), an optional field
#: (omitted), a required Quantity (Go writes its zero as "0"), an object reference.
_STR, _OPT, _QTY, _REF = range(4)
_Field = tuple[str, tuple[str, ...], int]  # the v1 name, its place in v2, how an absent value is written


def _source_fields(part: str, kind: str) -> tuple[_Field, ...]:
    """The fields of one v1 metric source (``part``: "target" for a spec, "current" for a status) in v1's
    order, each with its place in the v2 source, as upstream's conversion functions map them."""
    prefix = part  # v1 spells "targetAverageValue" where v2 has target.averageValue, "current…" likewise
    if kind in ("resource", "containerResource"):
        fields: tuple[_Field, ...] = (
            ("name", ("name",), _STR),
            (f"{prefix}AverageUtilization", (part, "averageUtilization"), _OPT),
            (f"{prefix}AverageValue", (part, "averageValue"), _OPT if part == "target" else _QTY),
        )
        return fields + ((("container", ("container",), _STR),) if kind == "containerResource" else ())
    if kind == "object":
        return (
            ("target", ("describedObject",), _REF),
            ("metricName", ("metric", "name"), _STR),
            (f"{prefix}Value", (part, "value"), _QTY),
            ("selector", ("metric", "selector"), _OPT),
            ("averageValue", (part, "averageValue"), _OPT),
        )
    if kind == "pods":
        return (
            ("metricName", ("metric", "name"), _STR),
            (f"{prefix}AverageValue", (part, "averageValue"), _QTY),
            ("selector", ("metric", "selector"), _OPT),
        )
    return (  # external
        ("metricName", ("metric", "name"), _STR),
        ("metricSelector", ("metric", "selector"), _OPT),
        (f"{prefix}Value", (part, "value"), _OPT if part == "target" else _QTY),
        (f"{prefix}AverageValue", (part, "averageValue"), _OPT),
    )


#: Go's field order of the v2 types, which a conversion to v2 writes its keys in.
_V2_ORDER = {
    "resource": ("name", "target", "current"),
    "containerResource": ("name", "target", "current", "container"),
    "object": ("describedObject", "target", "metric", "current"),
    "pods": ("metric", "target", "current"),
    "external": ("metric", "target", "current"),
    "target": ("type", "value", "averageValue", "averageUtilization"),
    "current": ("value", "averageValue", "averageUtilization"),
    "metric": ("name", "selector"),
}
_V2_STATUS_OBJECT_ORDER = ("metric", "current", "describedObject")


def _absent(how: int) -> Any:
    return {_STR: "", _QTY: "0", _REF: {}}.get(how)


def _to_v1_source(part: str) -> Callable[[str, Obj], Obj]:
    def convert(kind: str, src: Obj) -> Obj:
        out: Obj = {}
        for name, path, how in _source_fields(part, kind):
            value: Any = src
            for key in path:
                value = _m(value).get(key)
            if value is None and how == _OPT:
                continue
            out[name] = _ref(value) if how == _REF else _absent(how) if value is None else value
        return out

    return convert


def _target_type(kind: str, src: Obj) -> str:
    """The v2 target type a v1 metric source implies (v1 has none: which value is set says it)."""
    if kind in ("resource", "containerResource"):
        return "AverageValue" if src.get("targetAverageUtilization") is None else "Utilization"
    if kind == "object":
        return "Value" if src.get("averageValue") is None else "AverageValue"
    if kind == "pods":
        return "AverageValue"
    return "AverageValue" if src.get("targetValue") is None else "Value"


def _to_v2_source(part: str) -> Callable[[str, Obj], Obj]:
    def convert(kind: str, src: Obj) -> Obj:
        out: Obj = {part: {"type": _target_type(kind, src)}} if part == "target" else {}
        for name, path, how in _source_fields(part, kind):
            value = src.get(name)
            if value is None and how == _OPT:
                continue
            value = _ref(value) if how == _REF else _absent(how) if value is None else value
            node = out
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = value
        order = _V2_STATUS_OBJECT_ORDER if (kind, part) == ("object", "current") else _V2_ORDER[kind]
        return {
            key: _in_order(out[key], _V2_ORDER[key]) if key in ("target", "current", "metric") else out[key]
            for key in order
            if key in out
        }

    return convert


def _in_order(node: Obj, order: tuple[str, ...]) -> Obj:
    return {key: node[key] for key in order if key in node}


_spec_source_to_v1, _spec_source_to_v2 = _to_v1_source("target"), _to_v2_source("target")
_status_source_to_v1, _status_source_to_v2 = _to_v1_source("current"), _to_v2_source("current")


def _convert_metric(metric: Any, convert: Callable[[str, Obj], Obj]) -> Obj:
    """One MetricSpec or MetricStatus: its type, and each source it has, converted."""
    src = _m(metric)
    out: Obj = {"type": src.get("type", "")}
    for kind in _SOURCES:
        value = src.get(kind)
        if isinstance(value, dict):
            out[kind] = convert(kind, value)
    return out


# ---- behavior ----------------------------------------------------------------------------------
_GO_NAMES = {
    "scaleUp": "ScaleUp",
    "scaleDown": "ScaleDown",
    "stabilizationWindowSeconds": "StabilizationWindowSeconds",
    "selectPolicy": "SelectPolicy",
    "policies": "Policies",
    "type": "Type",
    "value": "Value",
    "periodSeconds": "PeriodSeconds",
}
_RULE_FIELDS = ("stabilizationWindowSeconds", "selectPolicy", "policies")
_POLICY_FIELDS = ("type", "value", "periodSeconds")
_GO_ZERO = {"type": "", "value": 0, "periodSeconds": 0}


def _behavior_to_go(behavior: Obj) -> Obj:
    """v2's behavior as upstream's internal Go type marshals (every field, ``null`` for an absent pointer)."""
    out: Obj = {}
    for direction in ("scaleUp", "scaleDown"):
        rules = behavior.get(direction)
        if not isinstance(rules, dict):
            out[_GO_NAMES[direction]] = None
            continue
        go_rules: Obj = {_GO_NAMES[f]: rules.get(f) for f in _RULE_FIELDS}
        policies = rules.get("policies")
        if isinstance(policies, list):
            go_rules["Policies"] = [{_GO_NAMES[f]: _m(p).get(f, _GO_ZERO[f]) for f in _POLICY_FIELDS} for p in policies]
        out[_GO_NAMES[direction]] = go_rules
    return out


def _behavior_from_go(value: Any) -> Obj:
    """The behavior annotation's object back in v2's field names (keys match ignoring case, as Go's decoder)."""
    names = {go.lower(): ours for ours, go in _GO_NAMES.items()}

    def rename(node: Any, fields: tuple[str, ...]) -> Obj:
        out: Obj = {}
        for key, item in _m(node).items():
            ours = names.get(key.lower())
            if ours in fields and item is not None:
                out[ours] = item
        return out

    behavior: Obj = {}
    for direction, rules in rename(value, ("scaleUp", "scaleDown")).items():
        converted = rename(rules, _RULE_FIELDS)
        if "policies" in converted:
            converted["policies"] = [rename(p, _POLICY_FIELDS) for p in _l(converted["policies"])]
        behavior[direction] = converted
    return behavior


# ---- the two directions ------------------------------------------------------------------------
def _annotation_json(annotations: Mapping[str, Any], key: str) -> Any:
    try:
        return orjson.loads(annotations[key])
    except (orjson.JSONDecodeError, TypeError):
        raise errors.BadRequest(
            f'HorizontalPodAutoscaler in version "v1" cannot be handled as a HorizontalPodAutoscaler: '
            f"annotation {key} is not valid JSON"
        ) from None


def to_v1(obj: Mapping[str, Any]) -> Obj:
    """A stored (autoscaling/v2) HPA as autoscaling/v1 serves it."""
    meta = dict(_m(obj.get("metadata")))
    annotations = {k: v for k, v in _m(meta.get("annotations")).items() if k not in ROUND_TRIP_ANNOTATIONS}
    spec, status = _m(obj.get("spec")), _m(obj.get("status"))
    metrics = [m for m in _l(spec.get("metrics")) if isinstance(m, dict)]

    v1_spec: Obj = {"scaleTargetRef": _ref(spec.get("scaleTargetRef"))}
    _put(v1_spec, "minReplicas", spec.get("minReplicas"))
    v1_spec["maxReplicas"] = spec.get("maxReplicas", 0)
    for metric in metrics:
        if _is_cpu_resource(metric):  # the first CPU metric: its utilization target, if it has one
            _put(v1_spec, "targetCPUUtilizationPercentage", _cpu_utilization(metric, "target"))
            break

    v1_status: Obj = {}
    _put(v1_status, "observedGeneration", status.get("observedGeneration"))
    _put(v1_status, "lastScaleTime", status.get("lastScaleTime"))
    v1_status["currentReplicas"] = status.get("currentReplicas", 0)
    v1_status["desiredReplicas"] = status.get("desiredReplicas", 0)
    current_metrics = [m for m in _l(status.get("currentMetrics")) if isinstance(m, dict)]
    for metric in current_metrics:
        if _is_cpu_resource(metric):
            _put(v1_status, "currentCPUUtilizationPercentage", _cpu_utilization(metric, "current"))

    others = [
        _convert_metric(m, _spec_source_to_v1)
        for m in metrics
        if not (_is_cpu_resource(m) and _cpu_utilization(m, "target") is not None)
    ]
    conditions = [{f: _m(c)[f] for f in _CONDITION_FIELDS if f in _m(c)} for c in _l(status.get("conditions"))]
    if others:
        annotations[METRIC_SPECS] = orjson.dumps(others).decode()
    if current_metrics:
        statuses = [_convert_metric(m, _status_source_to_v1) for m in current_metrics]
        annotations[METRIC_STATUSES] = orjson.dumps(statuses).decode()
    if conditions:
        annotations[CONDITIONS] = orjson.dumps(conditions).decode()
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        annotations[BEHAVIOR] = orjson.dumps(_behavior_to_go(behavior)).decode()
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": v1_spec,
        "status": v1_status,
    }


def to_v2(obj: Mapping[str, Any]) -> Obj:
    """An autoscaling/v1 HPA in its stored (autoscaling/v2) form."""
    meta = dict(_m(obj.get("metadata")))
    given = _m(meta.get("annotations"))
    spec, status = _m(obj.get("spec")), _m(obj.get("status"))

    metrics: list[Obj] = []
    if METRIC_SPECS in given:
        metrics = [_convert_metric(m, _spec_source_to_v2) for m in _l(_annotation_json(given, METRIC_SPECS))]
    target = spec.get("targetCPUUtilizationPercentage")
    if target is None and not metrics:
        target = DEFAULT_CPU_UTILIZATION  # what v1 always implied
    if target is not None:
        cpu = {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}
        metrics.append({"type": "Resource", "resource": cpu})
    v2_spec: Obj = {"scaleTargetRef": _ref(spec.get("scaleTargetRef"))}
    _put(v2_spec, "minReplicas", spec.get("minReplicas"))
    v2_spec["maxReplicas"] = spec.get("maxReplicas", 0)
    v2_spec["metrics"] = metrics
    if BEHAVIOR in given:
        v2_spec["behavior"] = _behavior_from_go(_annotation_json(given, BEHAVIOR))

    v2_status: Obj = {}
    _put(v2_status, "observedGeneration", status.get("observedGeneration"))
    _put(v2_status, "lastScaleTime", status.get("lastScaleTime"))
    if status.get("currentReplicas"):  # omitempty in v2 (and required in v1): a zero is not written
        v2_status["currentReplicas"] = status["currentReplicas"]
    v2_status["desiredReplicas"] = status.get("desiredReplicas", 0)
    if METRIC_STATUSES in given:  # every status metric, the CPU one included, with more than v1's field has
        current = [_convert_metric(m, _status_source_to_v2) for m in _l(_annotation_json(given, METRIC_STATUSES))]
        v2_status["currentMetrics"] = current
    elif (utilization := status.get("currentCPUUtilizationPercentage")) is not None:
        cpu_now = {"name": "cpu", "current": {"averageUtilization": utilization}}
        v2_status["currentMetrics"] = [{"type": "Resource", "resource": cpu_now}]
    if CONDITIONS in given:
        conditions = _l(_annotation_json(given, CONDITIONS))
        v2_status["conditions"] = [{f: _m(c)[f] for f in _CONDITION_FIELDS if f in _m(c)} for c in conditions]

    kept = {k: v for k, v in given.items() if k not in ROUND_TRIP_ANNOTATIONS}
    if kept:
        meta["annotations"] = kept
    else:
        meta.pop("annotations", None)
    out: Obj = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta, "spec": v2_spec}
    if "status" in obj:
        out["status"] = v2_status
    return out
