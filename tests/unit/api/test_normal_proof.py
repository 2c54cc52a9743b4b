"""The proof that lets a create skip its second normalising walk.

A create body's decode check (:mod:`pinnace.api.validation.decoding`) walks
the whole object; when it finds nothing a decode/encode round trip would
change (no unknown key, no null or empty value an encode omits), the object
is *normal* and the create's :func:`pinnace.api.typed.normalize` only fixes
the top-level order. That holds only if the decode walk sees everything the
typed walk would change, and if the defaults added in between are normal
values themselves: both are checked here, over every definition and every
defaulted kind.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pinnace.api import defaults, strategy, typed
from pinnace.api.definitions import definition_for, load_definitions
from pinnace.api.registry import builtin_registry
from pinnace.api.validation import check_decodable, decoding


def _pairs(name: str) -> list[str]:
    """Every place (as a path) where the typed walk could change something the decode walk does not see."""
    problems: list[str] = []
    seen: set[tuple[int, int]] = set()

    def visit(d: decoding._Node, t: typed._Node, path: str) -> None:
        if (id(d), id(t)) in seen:
            return
        seen.add((id(d), id(t)))
        if t.props is not None:  # the typed walk checks a struct's keys: the decode walk must, with the same keys
            if d.kind != decoding._STRUCT or set(d.props) != set(t.props):
                problems.append(f"{path}: struct")
                return
            for key, child in t.props.items():
                visit(d.props[key], child, f"{path}.{key}")
        elif t.values is not None:
            if d.kind != decoding._MAP or d.elem is None:
                problems.append(f"{path}: map")
                return
            visit(d.elem, t.values, f"{path}[*]")
        elif t.items is not None:
            if d.kind != decoding._LIST or d.elem is None:
                problems.append(f"{path}: list")
                return
            visit(d.elem, t.items, f"{path}[]")
        scalars = {
            typed.TIME: decoding._TIME,
            typed.MICRO: decoding._MICROTIME,
            typed.QUANTITY: decoding._QUANTITY,
            typed.BYTES: decoding._BYTES,
        }
        if t.scalar and d.kind != scalars[t.scalar]:  # the typed walk rewrites it: the decode walk must read it
            problems.append(f"{path}: scalar")
        if d.kind == decoding._STRUCT and not t.is_struct:  # the decode walk keeps empty structs: so must typed
            problems.append(f"{path}: empty struct")

    visit(decoding._definition(name), typed._compile(load_definitions()[name]), name)
    return problems


def test_the_decode_walk_sees_all_that_the_typed_walk_would_change_in_every_definition() -> None:
    names = sorted(load_definitions())
    assert len(names) > 500
    problems = [p for name in names for p in _pairs(name)]
    assert problems == []


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {}}], "securityContext": {}},
            },
        },
    }


def _normal(obj: dict[str, Any]) -> bool:
    return decoding.decode_check(obj, "io.k8s.api.apps.v1.Deployment")[2]


def test_a_normal_body_is_found_normal_and_normalising_it_changes_nothing() -> None:
    obj = _deployment()
    assert _normal(obj)
    same = copy.deepcopy(obj)
    typed.normalize(same, definition_for("apps", "v1", "Deployment"))
    assert same == obj


@pytest.mark.parametrize(
    "change",
    [
        lambda o: o["metadata"].__setitem__("annotations", {}),  # an empty map: omitted
        lambda o: o["metadata"].__setitem__("finalizers", []),  # an empty list: omitted
        lambda o: o["metadata"].__setitem__("creationTimestamp", None),  # null: omitted
        lambda o: o["spec"].__setitem__("paused", None),
        lambda o: o["metadata"].__setitem__("creationTimestamp", "2026-11-28T06:27:35+02:00"),  # written in UTC
        lambda o: o["metadata"].__setitem__("creationTimestamp", "2026-11-28T04:27:35.5Z"),  # in whole seconds
        lambda o: o["spec"]["template"]["spec"]["containers"][0].__setitem__("resources", {"limits": {"cpu": "0.5"}}),
        lambda o: o["spec"]["template"]["spec"]["containers"][0].__setitem__("resources", {"limits": {"cpu": 1}}),
        lambda o: o["spec"]["template"]["spec"]["containers"][0].__setitem__("ports", []),
        lambda o: o["spec"]["template"]["spec"]["containers"][0].__setitem__("colour", "red"),  # unknown
        lambda o: o["spec"].__setitem__("replicas", "three"),  # does not decode
    ],
)
def test_what_a_round_trip_would_change_makes_a_body_not_normal(change: Any) -> None:
    obj = _deployment()
    change(obj)
    assert not _normal(obj)


def test_check_decodable_records_only_a_normal_body_for_its_create() -> None:
    obj = _deployment()
    assert check_decodable(obj, "io.k8s.api.apps.v1.Deployment", "ctx: ") is False
    assert typed.take_normal(copy.deepcopy(obj)) is False  # another object: no proof (and the record is spent)
    check_decodable(obj, "io.k8s.api.apps.v1.Deployment", "ctx: ")
    assert typed.take_normal(obj) is True
    assert typed.take_normal(obj) is False  # spent
    odd = _deployment()
    odd["metadata"]["annotations"] = {}
    check_decodable(odd, "io.k8s.api.apps.v1.Deployment", "ctx: ")
    assert typed.take_normal(odd) is False


_CONTAINERS = [
    {
        "name": "c",
        "image": "nginx:1.27",
        "ports": [{"containerPort": 80}],
        "env": [{"name": "P", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "resources": {"limits": {"cpu": "1"}},
        "livenessProbe": {"httpGet": {"port": 80}},
        "readinessProbe": {"exec": {"command": ["true"]}},
        "lifecycle": {"preStop": {"httpGet": {"port": 80}}},
    }
]
_POD_SPEC: dict[str, Any] = {
    "containers": _CONTAINERS,
    "initContainers": [{"name": "i", "image": "busybox"}],
    "volumes": [
        {"name": "a"},
        {"name": "b", "secret": {"secretName": "s"}},
        {"name": "h", "hostPath": {"path": "/x"}},
        {"name": "p", "projected": {"sources": [{"configMap": {"name": "c"}}]}},
    ],
}
_TEMPLATE = {"metadata": {"labels": {"app": "x"}}, "spec": _POD_SPEC}
_HOOK_RULES = [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}]
_HOOK = {
    "name": "a.example.com",
    "clientConfig": {"service": {"namespace": "n", "name": "s"}},
    "rules": _HOOK_RULES,
    "sideEffects": "None",
    "admissionReviewVersions": ["v1"],
}
_SAMPLES: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("", "Pod"): [{"metadata": {"name": "p"}, "spec": _POD_SPEC}, {"metadata": {"name": "p"}}],
    ("", "PodTemplate"): [{"metadata": {"name": "t"}, "template": _TEMPLATE}, {"metadata": {"name": "t"}}],
    ("", "Secret"): [{"metadata": {"name": "s"}}],
    ("", "Namespace"): [{"metadata": {"name": "n"}}],
    ("", "Service"): [
        {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}},
        {"metadata": {"name": "s"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
        {"metadata": {"name": "s"}},
    ],
    ("", "ReplicationController"): [{"metadata": {"name": "r"}, "spec": {"template": _TEMPLATE}}],
    ("apps", "Deployment"): [
        {"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": _TEMPLATE}},
        {"metadata": {"name": "d"}, "spec": {"strategy": {"type": "Recreate"}, "template": {}}},
        {"metadata": {"name": "d"}},
    ],
    ("apps", "ReplicaSet"): [{"metadata": {"name": "r"}, "spec": {"template": _TEMPLATE}}],
    ("apps", "StatefulSet"): [{"metadata": {"name": "s"}, "spec": {"template": _TEMPLATE}}, {"metadata": {}}],
    ("apps", "DaemonSet"): [{"metadata": {"name": "d"}, "spec": {"template": _TEMPLATE}}],
    ("batch", "Job"): [
        {"metadata": {"name": "j"}, "spec": {"template": _TEMPLATE}},
        {"metadata": {"name": "j"}, "spec": {"backoffLimitPerIndex": 1, "template": _TEMPLATE}},
    ],
    ("batch", "CronJob"): [
        {"metadata": {"name": "c"}, "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": _TEMPLATE}}}},
        {"metadata": {"name": "c"}, "spec": {"schedule": "@daily", "jobTemplate": {}}},
    ],
    ("autoscaling", "HorizontalPodAutoscaler"): [  # at v1 here; v2's below
        {"metadata": {"name": "h"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "w"}, "maxReplicas": 3}},
    ],
    ("apiregistration.k8s.io", "APIService"): [
        {"metadata": {"name": "v1.x"}, "spec": {"group": "x", "version": "v1", "service": {"name": "s"}}},
        {"metadata": {"name": "v1.x"}, "spec": {"group": "x", "version": "v1"}},
    ],
    ("", "Endpoints"): [{"metadata": {"name": "e"}, "subsets": [{"ports": [{"port": 80}]}]}],
    ("", "PersistentVolume"): [{"metadata": {"name": "pv"}, "spec": {"hostPath": {"path": "/x"}}}],
    ("", "PersistentVolumeClaim"): [{"metadata": {"name": "c"}, "spec": {"accessModes": ["ReadWriteOnce"]}}],
    ("", "LimitRange"): [{"metadata": {"name": "l"}, "spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}}]}}],
    ("", "Node"): [{"metadata": {"name": "n"}, "status": {"capacity": {"cpu": "1"}}}, {"metadata": {"name": "n"}}],
    ("networking.k8s.io", "NetworkPolicy"): [
        {"metadata": {"name": "n"}, "spec": {"egress": [{"ports": [{"port": 53}]}]}}
    ],
    ("networking.k8s.io", "IngressClass"): [
        {"metadata": {"name": "i"}, "spec": {"parameters": {"kind": "K", "name": "p"}}}
    ],
    ("discovery.k8s.io", "EndpointSlice"): [
        {"metadata": {"name": "e"}, "addressType": "IPv4", "ports": [{"port": 80}]}
    ],
    ("rbac.authorization.k8s.io", "RoleBinding"): [
        {
            "metadata": {"name": "b"},
            "roleRef": {"kind": "Role", "name": "r"},
            "subjects": [{"kind": "User", "name": "u"}],
        }
    ],
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): [
        {"metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "r"}},
        {"metadata": {"name": "b"}},
    ],
    ("scheduling.k8s.io", "PriorityClass"): [{"metadata": {"name": "p"}, "value": 1}],
    ("storage.k8s.io", "StorageClass"): [{"metadata": {"name": "s"}, "provisioner": "p"}],
    ("storage.k8s.io", "CSIDriver"): [{"metadata": {"name": "d"}, "spec": {}}, {"metadata": {"name": "d"}}],
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): [
        {"metadata": {"name": "v"}, "webhooks": [_HOOK]}
    ],
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): [
        {"metadata": {"name": "m"}, "webhooks": [_HOOK]}
    ],
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): [
        {"metadata": {"name": "p"}, "spec": {"matchConstraints": {"resourceRules": _HOOK_RULES}}},
        {"metadata": {"name": "p"}},
    ],
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"): [
        {"metadata": {"name": "b"}, "spec": {"policyName": "p", "matchResources": {"resourceRules": _HOOK_RULES}}}
    ],
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"): [
        {"metadata": {"name": "f"}, "spec": {}},
        {"metadata": {"name": "f"}},
    ],
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"): [
        {"metadata": {"name": "p"}, "spec": {"limited": {"limitResponse": {"type": "Queue", "queuing": {}}}}},
        {"metadata": {"name": "p"}, "spec": {"exempt": {}}},
    ],
}


def test_every_defaulted_kind_has_samples() -> None:
    assert set(_SAMPLES) == set(defaults._DEFAULTERS)


@pytest.mark.parametrize(("gk", "index"), [(gk, i) for gk, samples in _SAMPLES.items() for i in range(len(samples))])
def test_defaults_added_to_a_normal_object_leave_it_normal(gk: tuple[str, str], index: int) -> None:
    group, kind = gk
    info = builtin_registry().by_kind(group, "v1", kind)
    assert info is not None
    obj = {"apiVersion": info.api_version, "kind": kind, **copy.deepcopy(_SAMPLES[gk][index])}
    assert decoding.decode_check(obj, info.definition)[2], "the sample itself must be normal"
    defaulted = copy.deepcopy(obj)
    strategy.decode(info, defaulted, normal=True)  # defaults, no walk
    walked = copy.deepcopy(obj)
    strategy.decode(info, walked)  # defaults, then the normalising walk
    assert defaulted != obj or index > 0  # each kind's first sample gets defaults
    assert list(defaulted.items()) == list(walked.items())  # the walk would have changed nothing
    assert decoding.decode_check(defaulted, info.definition)[2]


@pytest.mark.parametrize(
    "spec",
    [
        {"scaleTargetRef": {"kind": "Deployment", "name": "w"}, "maxReplicas": 3},
        {
            "scaleTargetRef": {"kind": "Deployment", "name": "w"},
            "maxReplicas": 3,
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}},
        },
    ],
)
def test_autoscaling_v2_defaults_leave_a_normal_hpa_normal(spec: dict[str, Any]) -> None:
    info = builtin_registry().get("autoscaling", "v2", "horizontalpodautoscalers")
    assert info is not None
    obj = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"}, "spec": spec}
    assert decoding.decode_check(obj, info.definition)[2]
    defaulted, walked = copy.deepcopy(obj), copy.deepcopy(obj)
    strategy.decode(info, defaulted, normal=True)
    strategy.decode(info, walked)
    assert defaulted["spec"]["minReplicas"] == 1 and defaulted["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert list(defaulted.items()) == list(walked.items())
    assert decoding.decode_check(defaulted, info.definition)[2]


def test_crd_defaults_leave_a_normal_crd_normal() -> None:
    info = builtin_registry().by_kind("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
    assert info is not None
    crd: dict[str, Any] = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    }
    assert decoding.decode_check(crd, info.definition)[2]
    defaulted, walked = copy.deepcopy(crd), copy.deepcopy(crd)
    strategy.decode(info, defaulted, normal=True)
    strategy.decode(info, walked)
    assert defaulted["spec"]["names"]["listKind"] == "WidgetList" and defaulted["spec"]["conversion"]
    assert list(defaulted.items()) == list(walked.items())
