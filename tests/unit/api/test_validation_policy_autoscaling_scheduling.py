"""PodDisruptionBudgets, HorizontalPodAutoscalers (both API versions) and PriorityClasses are checked as upstream's
``policy``, ``autoscaling`` and ``scheduling`` validation packages check them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pinnace.api import defaults, validation
from pinnace.api.hpaconversion import BEHAVIOR, METRIC_SPECS
from pinnace.api.podutil import SYSTEM_PRIORITY_CLASSES

Obj = dict[str, Any]


def _messages(group: str, kind: str, obj: Obj, old: Obj | None = None) -> list[str]:
    return [f"{c.field}: {c.message}" for c in validation.validate(group, kind, obj, old)]


# ---- PodDisruptionBudget -------------------------------------------------------------------------

SELECTOR = {"matchLabels": {"app": "web"}}


def _pdb(**spec: Any) -> Obj:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "spec": {"selector": SELECTOR, **spec}}


def _pdb_messages(obj: Obj, old: Obj | None = None) -> list[str]:
    return _messages("policy", "PodDisruptionBudget", obj, old)


@pytest.mark.parametrize(
    "spec",
    [
        {"minAvailable": 1},  # kubectl create pdb --min-available=1
        {"minAvailable": "50%"},
        {"maxUnavailable": 0},
        {"maxUnavailable": "100%", "unhealthyPodEvictionPolicy": "AlwaysAllow"},
        {"minAvailable": 2, "unhealthyPodEvictionPolicy": "IfHealthyBudget", "selector": {}},
        {"selector": None},
    ],
)
def test_good_budgets_pass(spec: Obj) -> None:
    assert _pdb_messages(_pdb(**spec)) == []


PERCENT = (
    "a valid percent string must be a numeric string followed by an ending '%' "
    "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
)


@pytest.mark.parametrize(
    ("spec", "messages"),
    [
        (
            {"minAvailable": 1, "maxUnavailable": 1},
            [
                "spec: Invalid value: policy.PodDisruptionBudgetSpec{MinAvailable:(*intstr.IntOrString)(0xc000a1e000), "
                "Selector:(*v1.LabelSelector)(0xc000a1e000), MaxUnavailable:(*intstr.IntOrString)(0xc000a1e000), "
                "UnhealthyPodEvictionPolicy:(*policy.UnhealthyPodEvictionPolicyType)(nil)}: "
                "minAvailable and maxUnavailable cannot be both set"
            ],
        ),
        ({"minAvailable": -1}, ["spec.minAvailable: Invalid value: -1: must be greater than or equal to 0"]),
        (
            {"maxUnavailable": "1"},
            [f'spec.maxUnavailable: Invalid value: intstr.IntOrString{{Type:1, IntVal:0, StrVal:"1"}}: {PERCENT}'],
        ),
        (
            {"minAvailable": "150%"},
            [
                'spec.minAvailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"150%"}: '
                "must not be greater than 100%"
            ],
        ),
        (
            {"minAvailable": 1, "unhealthyPodEvictionPolicy": "Never"},
            [
                'spec.unhealthyPodEvictionPolicy: Unsupported value: "Never": supported values: '
                '"AlwaysAllow", "IfHealthyBudget"'
            ],
        ),
        (
            {
                "minAvailable": 1,
                "selector": {"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["x"]}]},
            },
            [
                "spec.selector.matchExpressions[0].values: Forbidden: "
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
            ],
        ),
        (
            {"minAvailable": 1, "selector": {"matchLabels": {"-bad": "x"}}},
            [
                'spec.selector.matchLabels: Invalid value: "-bad": name part must consist of alphanumeric characters, '
                "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',"
                "  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
            ],
        ),
    ],
)
def test_bad_budgets_are_refused(spec: Obj, messages: list[str]) -> None:
    assert _pdb_messages(_pdb(**spec)) == messages


def test_a_stored_selector_with_bad_label_values_may_keep_them() -> None:
    selector = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["a b"]}]}
    bad = _pdb(minAvailable=1, selector=selector)
    assert [m.split(":")[0] for m in _pdb_messages(bad)] == ["spec.selector.matchExpressions[0].values[0]"]
    assert _pdb_messages(_pdb(minAvailable=2, selector=selector), bad) == []
    assert _pdb_messages(_pdb(minAvailable=2, selector=selector), _pdb(minAvailable=1)) != []


# ---- HorizontalPodAutoscaler ---------------------------------------------------------------------

TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


def _hpa_v2(**spec: Any) -> Obj:
    obj: Obj = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": TARGET, "maxReplicas": 5, **spec},
    }
    defaults.apply_defaults("autoscaling", "HorizontalPodAutoscaler", obj)
    return obj


def _hpa_v1(annotations: Obj | None = None, **spec: Any) -> Obj:
    obj: Obj = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", **({"annotations": annotations} if annotations else {})},
        "spec": {"scaleTargetRef": TARGET, "maxReplicas": 5, **spec},
    }
    defaults.apply_defaults("autoscaling", "HorizontalPodAutoscaler", obj)
    return obj


UP, DOWN = "spec.behavior.scaleUp", "spec.behavior.scaleDown"


def _hpa_messages(obj: Obj, old: Obj | None = None) -> list[str]:
    return _messages("autoscaling", "HorizontalPodAutoscaler", obj, old)


def _cpu(utilization: int) -> Obj:
    return {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": utilization}},
    }


def test_good_autoscalers_pass() -> None:
    # kubectl autoscale deployment web --min=2 --max=5 --cpu-percent=80, at either version
    assert _hpa_messages(_hpa_v1(minReplicas=2, targetCPUUtilizationPercentage=80)) == []
    assert _hpa_messages(_hpa_v2(minReplicas=2, metrics=[_cpu(80)])) == []
    assert _hpa_messages(_hpa_v1()) == []  # no metric: v1's implied CPU target
    assert _hpa_messages(_hpa_v2()) == []  # likewise, defaulted
    metrics = [
        {
            "type": "Pods",
            "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "500m"}},
        },
        {
            "type": "Object",
            "object": {
                "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "main"},
                "metric": {"name": "requests"},
                "target": {"type": "Value", "value": "10k"},
            },
        },
        {"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": 30}}},
        {
            "type": "ContainerResource",
            "containerResource": {
                "name": "memory",
                "container": "app",
                "target": {"type": "AverageValue", "averageValue": "1Gi"},
            },
        },
    ]
    behavior = {
        "scaleDown": {
            "stabilizationWindowSeconds": 300,
            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
        }
    }
    assert _hpa_messages(_hpa_v2(metrics=metrics, behavior=behavior)) == []


@pytest.mark.parametrize(
    ("spec", "messages"),
    [
        (
            {"minReplicas": 5, "maxReplicas": 2},
            ["spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"],
        ),
        (
            {"minReplicas": 0, "metrics": [_cpu(50)]},
            [
                "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
                "spec.metrics: Forbidden: must specify at least one Object or External metric to support scaling to "
                "zero replicas",
            ],
        ),
        (
            {"maxReplicas": 0},
            [
                "spec.maxReplicas: Invalid value: 0: must be greater than 0",
                "spec.maxReplicas: Invalid value: 0: must be greater than or equal to `minReplicas`",
            ],
        ),
        (
            {"scaleTargetRef": {"kind": "", "name": "a/b"}},
            [
                "spec.scaleTargetRef.kind: Required value",
                "spec.scaleTargetRef.name: Invalid value: \"a/b\": may not contain '/'",
            ],
        ),
        (
            {"metrics": [_cpu(0)]},
            ["spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0"],
        ),
        (
            {"metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Percent"}}}]},
            [
                'spec.metrics[0].resource.target.type: Invalid value: "Percent": '
                "must be either Utilization, Value, or AverageValue",
                "spec.metrics[0].resource.target.averageUtilization: Required value: "
                "must set either a target raw value or a target utilization",
            ],
        ),
        (
            {"metrics": [{"type": "Resource"}]},
            ["spec.metrics[0].resource: Required value: must populate information for the given metric source"],
        ),
        (
            {
                "metrics": [
                    {
                        "type": "Memory",
                        "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Gi"}},
                    }
                ]
            },
            [
                'spec.metrics[0].type: Unsupported value: "Memory": supported values: '
                '"ContainerResource", "External", "Object", "Pods", "Resource"'
            ],
        ),
        (
            {
                "metrics": [
                    {
                        "type": "Pods",
                        "pods": {"metric": {"name": ""}, "target": {"type": "AverageValue", "averageValue": "-1"}},
                        "external": {"metric": {"name": "q"}, "target": {"type": "Value", "value": "1"}},
                    }
                ]
            },
            # only the first source present (upstream's order: object, external, pods …) is checked
            ["spec.metrics[0].external: Forbidden: must populate the given metric source only"],
        ),
        (
            {
                "metrics": [
                    {
                        "type": "Pods",
                        "pods": {
                            "metric": {"name": "rps"},
                            "target": {"type": "AverageValue", "averageValue": "-500m"},
                        },
                    }
                ]
            },
            [
                "spec.metrics[0].pods.target.averageValue: Invalid value: resource.Quantity{i:resource.int64Amount"
                '{value:-500, scale:-3}, d:resource.infDecAmount{Dec:(*inf.Dec)(nil)}, s:"-500m", Format:"DecimalSI"}: '
                "must be positive"
            ],
        ),
        (
            {
                "metrics": [
                    {
                        "type": "External",
                        "external": {"metric": {"name": "q"}, "target": {"type": "AverageValue", "averageValue": "0"}},
                    }
                ]
            },
            [
                "spec.metrics[0].external.target.averageValue: Invalid value: resource.Quantity{i:resource.int64Amount"
                '{value:0, scale:0}, d:resource.infDecAmount{Dec:(*inf.Dec)(nil)}, s:"0", Format:"DecimalSI"}: '
                "must be positive"
            ],
        ),
        (
            {
                "metrics": [
                    {
                        "type": "Object",
                        "object": {
                            "describedObject": {"kind": "Ingress"},
                            "metric": {"name": "a%b"},
                            "target": {"type": "Value"},
                        },
                    }
                ]
            },
            [
                "spec.metrics[0].object.describedObject.name: Required value",
                "spec.metrics[0].object.metric.name: Invalid value: \"a%b\": may not contain '%'",
                "spec.metrics[0].object.target.averageValue: Required value: "
                "must set either a target value or averageValue",
            ],
        ),
        (
            {
                "metrics": [
                    {
                        "type": "ContainerResource",
                        "containerResource": {
                            "name": "gpu",
                            "target": {"type": "Utilization", "averageUtilization": 50, "averageValue": "1"},
                        },
                    }
                ]
            },
            [
                'spec.metrics[0].containerResource.name: Invalid value: "gpu": '
                "must be a standard resource for containers",
                "spec.metrics[0].containerResource.container: Required value: must specify a container",
                "spec.metrics[0].containerResource.target.averageValue: Forbidden: "
                "may not set both a target raw value and a target utilization",
            ],
        ),
        (
            {
                "behavior": {
                    "scaleUp": {
                        "stabilizationWindowSeconds": 3601,
                        "selectPolicy": "Fastest",
                        "policies": [{"type": "Nodes", "value": 0, "periodSeconds": 1801}],
                    },
                    "scaleDown": {"stabilizationWindowSeconds": -1, "policies": []},
                }
            },
            [
                f"{UP}.stabilizationWindowSeconds: Invalid value: 3601: must be less than or equal to 3600",
                f'{UP}.selectPolicy: Unsupported value: "Fastest": supported values: "Disabled", "Max", "Min"',
                f'{UP}.policies[0].type: Unsupported value: "Nodes": supported values: "Percent", "Pods"',
                f"{UP}.policies[0].value: Invalid value: 0: must be greater than zero",
                f"{UP}.policies[0].periodSeconds: Invalid value: 1801: must be less than or equal to 1800",
                f"{DOWN}.stabilizationWindowSeconds: Invalid value: -1: must be greater than or equal to zero",
                f"{DOWN}.policies: Required value: must specify at least one Policy",
            ],
        ),
    ],
)
def test_bad_v2_autoscalers_are_refused(spec: Obj, messages: list[str]) -> None:
    assert _hpa_messages(_hpa_v2(**spec)) == messages


def test_v1_autoscalers_are_checked_in_their_stored_form() -> None:
    """A v1 request gets the causes and v2 paths upstream's internal form gives it."""
    assert _hpa_messages(_hpa_v1(minReplicas=3, maxReplicas=2, targetCPUUtilizationPercentage=0)) == [
        "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`",
        "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0",
    ]
    assert _hpa_messages(_hpa_v1(scaleTargetRef={"kind": "Deployment", "name": ""})) == [
        "spec.scaleTargetRef.name: Required value"
    ]
    pods = [{"type": "Pods", "pods": {"metricName": "", "targetAverageValue": "0"}}]
    behavior = {"ScaleUp": {"Policies": [{"Type": "Pods", "Value": 1, "PeriodSeconds": 0}]}, "ScaleDown": None}
    annotated = _hpa_v1({METRIC_SPECS: json.dumps(pods), BEHAVIOR: json.dumps(behavior)})
    messages = _hpa_messages(annotated)
    assert messages[0] == "spec.metrics[0].pods.metric.name: Required value: must specify a metric name"
    assert messages[1].startswith("spec.metrics[0].pods.target.averageValue: Invalid value: resource.Quantity{")
    assert messages[2:] == [
        "spec.behavior.scaleUp.policies[0].periodSeconds: Invalid value: 0: must be greater than zero"
    ]
    # annotations that are not JSON fail the write (400), not the validation
    assert _hpa_messages(_hpa_v1({METRIC_SPECS: "{"})) == []


def test_min_replicas_zero_stays_allowed_for_an_autoscaler_that_has_it() -> None:
    external = {"type": "External", "external": {"metric": {"name": "q"}, "target": {"type": "Value", "value": "5"}}}
    old = _hpa_v2(minReplicas=0, metrics=[external])
    assert _hpa_messages(_hpa_v2(minReplicas=0, maxReplicas=9, metrics=[external]), old) == []
    assert _hpa_messages(_hpa_v2(minReplicas=0, maxReplicas=9, metrics=[external]), _hpa_v2()) == [
        "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"
    ]


# ---- PriorityClass -------------------------------------------------------------------------------


def _class(name: str, value: Any, **fields: Any) -> Obj:
    return {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": name},
        "value": value,
        **fields,
    }


def _class_messages(obj: Obj, old: Obj | None = None) -> list[str]:
    return _messages("scheduling.k8s.io", "PriorityClass", obj, old)


def test_good_priority_classes_pass() -> None:
    # kubectl create priorityclass high --value=1000 --preemption-policy=Never --global-default
    assert _class_messages(_class("high", 1000, globalDefault=True, preemptionPolicy="Never")) == []
    assert _class_messages(_class("top", 1_000_000_000)) == []
    assert _class_messages(_class("low", -5, preemptionPolicy="PreemptLowerPriority")) == []
    for name, value in SYSTEM_PRIORITY_CLASSES.items():  # as the API server creates them at start-up
        assert _class_messages(_class(name, value, preemptionPolicy="PreemptLowerPriority", description="x")) == []


RESERVED = (
    "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: "
)


@pytest.mark.parametrize(
    ("obj", "messages"),
    [
        (
            _class("high", 2_000_000_000),
            ["value: Forbidden: maximum allowed value of a user defined priority is 1000000000"],
        ),
        (_class("system-high", 1000), [RESERVED + "system-high is not a known system priority class"]),
        (
            _class("system-node-critical", 5),
            [RESERVED + "value of system-node-critical PriorityClass must be 2000001000"],
        ),
        (
            _class("system-cluster-critical", 2_000_000_000, globalDefault=True),
            [RESERVED + "globalDefault of system-cluster-critical PriorityClass must be false"],
        ),
        (
            _class("high", 10, preemptionPolicy="Sometimes"),
            ['preemptionPolicy: Unsupported value: "Sometimes": supported values: "PreemptLowerPriority", "Never"'],
        ),
        (_class("high", 10, preemptionPolicy=""), ["preemptionPolicy: Required value"]),
    ],
)
def test_bad_priority_classes_are_refused(obj: Obj, messages: list[str]) -> None:
    assert _class_messages(obj) == messages


def test_value_and_preemption_policy_never_change() -> None:
    old = _class("high", 1000)
    assert _class_messages(_class("high", 1001, preemptionPolicy="Never"), old) == [
        "value: Forbidden: may not be changed in an update.",
        'preemptionPolicy: Invalid value: "Never": field is immutable',
    ]
    # the default policy, now named, is no change; the description may change
    assert _class_messages(_class("high", 1000, preemptionPolicy="PreemptLowerPriority", description="d"), old) == []


# ---- all ---------------------------------------------------------------------------------------

_JUNK: list[Obj] = [
    {"spec": "x"},
    {"spec": {"minAvailable": [1], "maxUnavailable": {"a": 1}, "selector": "app=web", "unhealthyPodEvictionPolicy": 3}},
    {"spec": {"selector": {"matchLabels": [1], "matchExpressions": {"key": "a"}}}},
    {"spec": {"selector": {"matchExpressions": [None, 1, {"key": None, "operator": 2, "values": "x"}]}}},
    {"apiVersion": "autoscaling/v1", "metadata": {"annotations": {METRIC_SPECS: "[1, null, {}]", BEHAVIOR: "7"}}},
    {"apiVersion": "autoscaling/v1", "metadata": "x", "spec": {"scaleTargetRef": "x", "minReplicas": "1"}},
    {
        "apiVersion": "autoscaling/v2",
        "spec": {
            "minReplicas": True,
            "maxReplicas": None,
            "metrics": [None, {"type": 1, "pods": "x", "object": []}, {"type": "Pods", "pods": {"target": 1}}],
            "behavior": {"scaleUp": {"policies": [None, {"value": "x"}], "selectPolicy": ["Max"]}, "scaleDown": 3},
        },
    },
    {"spec": {"metrics": [{"type": "Object", "object": {"target": {"value": "1e999999", "averageValue": "abc"}}}]}},
    {"metadata": {"name": 5}, "value": "high", "globalDefault": "yes", "preemptionPolicy": ["Never"]},
    {"metadata": None, "value": None},
]


@pytest.mark.parametrize("junk", _JUNK)
@pytest.mark.parametrize(
    ("group", "kind"),
    [
        ("policy", "PodDisruptionBudget"),
        ("autoscaling", "HorizontalPodAutoscaler"),
        ("scheduling.k8s.io", "PriorityClass"),
    ],
)
def test_malformed_objects_never_raise(group: str, kind: str, junk: Obj) -> None:
    assert isinstance(_messages(group, kind, junk), list)
    assert isinstance(_messages(group, kind, junk, {"spec": 1, "value": "x", "preemptionPolicy": 2}), list)
