"""Validation of built-in kinds: decode errors, semantic checks and immutable fields, in upstream's words."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from pinnace.api import defaults, errors, validation
from pinnace.api.validation import core

Obj = dict[str, Any]
DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"


def deployment(**spec: Any) -> Obj:
    obj: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
            **spec,
        },
    }
    return obj


def pod(**spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": "busybox"}], **spec},
    }


def causes(group: str, kind: str, obj: Obj, old: Obj | None = None) -> list[str]:
    """The ``field: message`` lines of a defaulted object's validation."""
    obj = copy.deepcopy(obj)
    defaults.apply_defaults(group, kind, obj)
    if old is not None:
        old = copy.deepcopy(old)
        defaults.apply_defaults(group, kind, old)
    return [f"{c.field}: {c.message}" for c in validation.validate(group, kind, obj, old)]


# ---- decode errors ---------------------------------------------------------------------------------------

DECODE_CASES: list[tuple[str, str, Obj, str | None]] = [
    ("valid", DEPLOYMENT, deployment(), None),
    (
        "string replicas",
        DEPLOYMENT,
        deployment(replicas="3"),
        "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32",
    ),
    (
        "fractional replicas",
        DEPLOYMENT,
        deployment(replicas=1.5),
        "json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32",
    ),
    (
        "replicas out of int32",
        DEPLOYMENT,
        deployment(replicas=2**31),
        "json: cannot unmarshal number 2147483648 into Go struct field DeploymentSpec.spec.replicas of type int32",
    ),
    (
        "containers as an object",
        DEPLOYMENT,
        deployment(template={"spec": {"containers": {"name": "x"}}}),
        "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers "
        "of type []v1.Container",
    ),
    (
        "number env value (no index in the path)",
        "io.k8s.api.core.v1.Pod",
        pod(containers=[{"name": "a", "image": "b", "env": [{"name": "X", "value": 1}]}]),
        "json: cannot unmarshal number into Go struct field EnvVar.spec.containers.env.value of type string",
    ),
    (
        "labels value not a string",
        "io.k8s.api.core.v1.ConfigMap",
        {"metadata": {"name": "x", "labels": {"a": True}}},
        "json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type string",
    ),
    (
        "configmap data number (no map key in the path)",
        "io.k8s.api.core.v1.ConfigMap",
        {"metadata": {"name": "x"}, "data": {"a": 1}},
        "json: cannot unmarshal number into Go struct field ConfigMap.data of type string",
    ),
    (
        "boolean as a string",
        "io.k8s.api.core.v1.ConfigMap",
        {"immutable": "yes"},
        "json: cannot unmarshal string into Go struct field ConfigMap.immutable of type bool",
    ),
    (
        "bad quantity",
        "io.k8s.api.core.v1.Pod",
        pod(containers=[{"name": "a", "image": "b", "resources": {"limits": {"memory": "1GB"}}}]),
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
    ),
    (
        "numeric quantity is fine",
        "io.k8s.api.core.v1.Pod",
        pod(containers=[{"name": "a", "image": "b", "resources": {"limits": {"cpu": 2}}}]),
        None,
    ),
    (
        "a quantity error wins over an earlier type error",
        "io.k8s.api.core.v1.Pod",
        pod(hostname=5, containers=[{"name": "a", "image": "b", "resources": {"limits": {"cpu": "x"}}}]),
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
    ),
    (
        "only the first type error",
        DEPLOYMENT,
        deployment(replicas="1", minReadySeconds="2"),
        "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32",
    ),
    (
        "int-or-string given a bool",
        DEPLOYMENT,
        deployment(strategy={"rollingUpdate": {"maxSurge": True}}),
        "json: cannot unmarshal bool into Go struct field RollingUpdateDeployment.spec.strategy.rollingUpdate.maxSurge"
        " of type int32",
    ),
    (
        "bad base64 in a secret",
        "io.k8s.api.core.v1.Secret",
        {"data": {"a": "not base64!"}},
        "illegal base64 data at input byte 3",
    ),
    ("base64 with a newline", "io.k8s.api.core.v1.Secret", {"data": {"a": "aGVs\nbG8="}}, None),
    ("base64 short", "io.k8s.api.core.v1.Secret", {"data": {"a": "aGVsbG8"}}, "illegal base64 data at input byte 4"),
    (
        "a number in a list of strings",
        "io.k8s.api.core.v1.Pod",
        {"spec": {"containers": [{"name": "a", "image": "b", "args": ["x", 1]}]}},
        "json: cannot unmarshal number into Go struct field Container.spec.containers.args of type string",
    ),
    (
        "an array for a map",
        "io.k8s.api.core.v1.Pod",
        {"spec": {"nodeSelector": ["x"]}},
        "json: cannot unmarshal array into Go struct field PodSpec.spec.nodeSelector of type map[string]string",
    ),
    (
        "a bool for a quantity in a resource list",
        "io.k8s.api.core.v1.Pod",
        {"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": True}}}]}},
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
    ),
    ("nulls are ignored", DEPLOYMENT, deployment(replicas=None, selector=None), None),
    ("unknown fields are not this check's business", DEPLOYMENT, deployment(bogus={"x": 1}), None),
]


@pytest.mark.parametrize(("name", "definition", "obj", "message"), DECODE_CASES, ids=[c[0] for c in DECODE_CASES])
def test_decode_errors(name: str, definition: str, obj: Obj, message: str | None) -> None:
    assert validation.decode_error(obj, definition) == message


def test_check_decodable_is_a_400_with_upstreams_context_on_create() -> None:
    context = 'Deployment in version "v1" cannot be handled as a Deployment: '
    with pytest.raises(errors.BadRequest) as info:
        validation.check_decodable(deployment(replicas="3"), DEPLOYMENT, context)
    assert info.value.message == (
        'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go '
        "struct field DeploymentSpec.spec.replicas of type int32"
    )


def test_check_decodable_of_a_patch_result_is_a_422_on_patch() -> None:
    with pytest.raises(errors.Invalid) as info:
        validation.check_decodable({"spec": {"replicas": "x"}}, DEPLOYMENT, "")
    cause = info.value.causes[0]
    assert cause.field == "patch"
    assert cause.message.startswith('Invalid value: "{\\"spec\\":{\\"replicas\\":\\"x\\"}}": json: cannot unmarshal')
    assert info.value.message.startswith(' "" is invalid: patch: Invalid value: ')


# ---- semantic checks on create ---------------------------------------------------------------------------

VALID: list[tuple[str, str, Obj]] = [
    ("apps", "Deployment", deployment()),
    ("", "Pod", pod()),
    (
        "",
        "Pod",
        pod(
            volumes=[{"name": "data"}],
            containers=[
                {
                    "name": "a",
                    "image": "b",
                    "volumeMounts": [{"name": "data", "mountPath": "/d"}],
                    "ports": [{"name": "http", "containerPort": 80}, {"name": "metrics", "containerPort": 9090}],
                    "resources": {
                        "requests": {"cpu": "500m", "memory": "128Mi"},
                        "limits": {"cpu": "1", "memory": "1Gi"},
                    },
                }
            ],
        ),
    ),
    ("", "Service", {"spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    ("", "Service", {"spec": {"clusterIP": "None"}}),
    ("", "ConfigMap", {"data": {"app.properties": "x", "KEY_1": "y"}}),
    (
        "batch",
        "Job",
        {
            "metadata": {"name": "j", "uid": "u1"},
            "spec": {
                "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}
            },
        },
    ),
    (
        "apps",
        "StatefulSet",
        {
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {
                        "containers": [
                            {"name": "c", "image": "i", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}
                        ]
                    },
                },
                "volumeClaimTemplates": [{"metadata": {"name": "data"}}],
            }
        },
    ),
]


@pytest.mark.parametrize(("group", "kind", "obj"), VALID, ids=[f"{k}-{i}" for i, (_, k, _) in enumerate(VALID)])
def test_valid_objects_pass(group: str, kind: str, obj: Obj) -> None:
    if kind == "Job":
        validation.prepare_create(group, kind, obj)
    assert causes(group, kind, obj) == []


INVALID: list[tuple[str, str, str, Obj, list[str]]] = [
    (
        "selector does not match the template",
        "apps",
        "Deployment",
        deployment(selector={"matchLabels": {"app": "other"}}),
        [
            'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: '
            "`selector` does not match template `labels`"
        ],
    ),
    (
        "no selector",
        "apps",
        "Deployment",
        deployment(selector=None),
        [
            "spec.selector: Required value",
            'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: '
            "`selector` does not match template `labels`",
        ],
    ),
    (
        "empty selector",
        "apps",
        "Deployment",
        deployment(selector={}),
        [
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
        ],
    ),
    (
        "negative replicas",
        "apps",
        "Deployment",
        deployment(replicas=-1),
        ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"],
    ),
    (
        "a deployment's pods restart always",
        "apps",
        "Deployment",
        deployment(
            template={
                "metadata": {"labels": {"app": "web"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "web", "image": "nginx"}]},
            }
        ),
        ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'],
    ),
    (
        "rolling update that cannot progress",
        "apps",
        "Deployment",
        deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}),
        [
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, "
            'StrVal:""}: may not be 0 when `maxSurge` is 0'
        ],
    ),
    (
        "no containers",
        "",
        "Pod",
        pod(containers=[]),
        ["spec.containers: Required value"],
    ),
    (
        "container name, image, duplicate across init containers",
        "",
        "Pod",
        pod(
            containers=[{"name": "App_1"}, {"name": "b", "image": "x"}],
            initContainers=[{"name": "b", "image": "y"}],
        ),
        [
            'spec.containers[0].name: Invalid value: "App_1": a lowercase RFC 1123 label must consist of lower case '
            "alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',"
            "  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            "spec.containers[0].image: Required value",
            'spec.initContainers[0].name: Duplicate value: "b"',
        ],
    ),
    (
        "ports: names, numbers, protocols",
        "",
        "Pod",
        pod(
            containers=[
                {
                    "name": "a",
                    "image": "b",
                    "ports": [
                        {"name": "http", "containerPort": 80},
                        {"name": "http", "containerPort": 70000},
                        {"name": "Web_Port", "containerPort": 81, "protocol": "HTTP"},
                    ],
                }
            ]
        ),
        [
            'spec.containers[0].ports[1].name: Duplicate value: "http"',
            "spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            'spec.containers[0].ports[2].name: Invalid value: "Web_Port": must contain only alpha-numeric characters'
            " (a-z, 0-9), and hyphens (-)",
            'spec.containers[0].ports[2].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
        ],
    ),
    (
        "env names and volume mounts",
        "",
        "Pod",
        pod(
            containers=[
                {
                    "name": "a",
                    "image": "b",
                    "env": [{"name": "A=B"}, {"value": "x"}],
                    "volumeMounts": [{"name": "data", "mountPath": "/d"}],
                }
            ]
        ),
        [
            'spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name must consist '
            "only of printable ASCII characters other than '='",
            "spec.containers[0].env[1].name: Required value",
            'spec.containers[0].volumeMounts[0].name: Not found: "data"',
        ],
    ),
    (
        "ports, env sources, mount paths and volume types: each item's own path",
        "",
        "Pod",
        pod(
            containers=[
                {
                    "name": "a",
                    "image": "b",
                    "ports": [{"containerPort": 80, "hostPort": 70000}, {"name": "x", "containerPort": 0}],
                    "env": [
                        {
                            "name": "A",
                            "value": "v",
                            "valueFrom": {"fieldRef": {"fieldPath": "x"}, "secretKeyRef": {"name": "s", "key": "k"}},
                        },
                        {"name": "B", "valueFrom": {}},
                    ],
                    "volumeMounts": [{"name": "d", "mountPath": "/m"}, {"name": "d", "mountPath": "/m"}, {"name": "d"}],
                }
            ],
            volumes=[{"name": "d", "emptyDir": {}, "hostPath": {"path": "/x"}}, {"name": "e", "secret": {}}],
        ),
        [
            "spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type",
            "spec.volumes[1].secret.secretName: Required value",
            "spec.containers[0].ports[0].hostPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.containers[0].ports[1].containerPort: Required value",
            'spec.containers[0].env[0].valueFrom: Invalid value: "": may not be specified when `value` is not empty',
            'spec.containers[0].env[0].valueFrom: Invalid value: "": may not have more than one field specified at a '
            "time",
            'spec.containers[0].env[1].valueFrom: Invalid value: "": must specify one of: `fieldRef`, '
            "`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            'spec.containers[0].volumeMounts[0].name: Not found: "d"',
            'spec.containers[0].volumeMounts[1].name: Not found: "d"',
            'spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/m": must be unique',
            'spec.containers[0].volumeMounts[2].name: Not found: "d"',
            "spec.containers[0].volumeMounts[2].mountPath: Required value",
        ],
    ),
    (
        "volumes: names and duplicates",
        "",
        "Pod",
        pod(volumes=[{"name": "data"}, {"name": "data"}, {"name": "Cfg", "configMap": {}}]),
        [
            'spec.volumes[1].name: Duplicate value: "data"',
            "spec.volumes[2].configMap.name: Required value",
            'spec.volumes[2].name: Invalid value: "Cfg": a lowercase RFC 1123 label must consist of lower case '
            "alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',"
            "  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        ],
    ),
    (
        "requests above limits, negative and unknown resources",
        "",
        "Pod",
        pod(
            containers=[
                {
                    "name": "a",
                    "image": "b",
                    "resources": {
                        "limits": {"cpu": "1", "memory": "256Mi", "cpus": "1"},
                        "requests": {"cpu": "1.5", "memory": "-1"},
                    },
                }
            ]
        ),
        [
            'spec.containers[0].resources.limits[cpus]: Invalid value: "cpus": must be a standard resource for '
            "containers",
            'spec.containers[0].resources.requests: Invalid value: "1500m": must be less than or equal to cpu limit'
            " of 1",
            'spec.containers[0].resources.requests[cpus]: Invalid value: "cpus": must be a standard resource for '
            "containers",  # requests default to the limits
            'spec.containers[0].resources.requests[memory]: Invalid value: "-1": must be greater than or equal to 0',
        ],
    ),
    (
        "restart and DNS policies",
        "",
        "Pod",
        pod(restartPolicy="Sometimes", dnsPolicy="Google"),
        [
            'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
            'spec.dnsPolicy: Unsupported value: "Google": supported values: "ClusterFirst", '
            '"ClusterFirstWithHostNet", "Default", "None"',
        ],
    ),
    (
        "service ports",
        "",
        "Service",
        {"spec": {"type": "Internal", "ports": [{"port": 80}, {"name": "b", "port": 0, "protocol": "HTTP"}]}},
        [
            'spec.type: Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", '
            '"LoadBalancer", "NodePort"',
            "spec.ports[0].name: Required value",
            "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            'spec.ports[1].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
            "spec.ports[1].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",  # defaulted
        ],
    ),
    ("service without ports", "", "Service", {"spec": {}}, ["spec.ports: Required value"]),
    (
        "config map keys",
        "",
        "ConfigMap",
        {"data": {"a b": "x"}, "binaryData": {"a b": "eA=="}},
        [
            "data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', "
            "'_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
            "'[-._a-zA-Z0-9]+')",
            'binaryData[a b]: Invalid value: "a b": a valid config key must consist of alphanumeric characters, '
            "'-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
            "'[-._a-zA-Z0-9]+')",
            'data[a b]: Invalid value: "a b": duplicate of key present in binaryData',
        ],
    ),
    (
        "a job's pods never restart always",
        "batch",
        "Job",
        {
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
            }
        },
        ['spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"'],
    ),
    (
        "claim without access modes or size",
        "",
        "PersistentVolumeClaim",
        {"spec": {}},
        [
            "spec.accessModes: Required value: at least 1 access mode is required",
            "spec.resources[storage]: Required value",
        ],
    ),
]


@pytest.mark.parametrize(("name", "group", "kind", "obj", "expected"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_objects(name: str, group: str, kind: str, obj: Obj, expected: list[str]) -> None:
    assert causes(group, kind, obj) == expected


# ---- immutable fields on update --------------------------------------------------------------------------


def _changed(obj: Obj, change: Callable[[Obj], None]) -> Obj:
    new = copy.deepcopy(obj)
    change(new)
    return new


def _set(path: str, value: Any) -> Callable[[Obj], None]:
    def change(obj: Obj) -> None:
        *parents, last = path.split(".")
        node = obj
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


JOB: Obj = {
    "metadata": {"name": "j", "uid": "u1"},
    "spec": {
        "template": {
            "metadata": {"labels": {"a": "b"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]},
        },
        "selector": {"matchLabels": {"a": "b"}},
    },
}
STS: Obj = {
    "spec": {
        "selector": {"matchLabels": {"a": "b"}},
        "serviceName": "s",
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
    }
}

UPDATES: list[tuple[str, str, str, Obj, Callable[[Obj], None], list[str]]] = [
    ("deployment image", "apps", "Deployment", deployment(), _set("spec.template.spec.containers.0.image", "x"), []),
    ("deployment replicas", "apps", "Deployment", deployment(), _set("spec.replicas", 5), []),
    (
        "deployment selector",
        "apps",
        "Deployment",
        deployment(),
        lambda o: (
            _set("spec.selector", {"matchLabels": {"app": "v2"}})(o),
            _set("spec.template.metadata.labels", {"app": "v2"})(o),
        ),
        [
            'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"v2"}, '
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
        ],
    ),
    (
        "statefulset spec",
        "apps",
        "StatefulSet",
        STS,
        _set("spec.serviceName", "other"),
        [
            "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
            "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
        ],
    ),
    ("statefulset template", "apps", "StatefulSet", STS, _set("spec.template.spec.containers.0.image", "x"), []),
    ("pod image", "", "Pod", pod(), _set("spec.containers.0.image", "busybox:2"), []),
    (
        "pod ports",
        "",
        "Pod",
        pod(),
        _set("spec.containers.0.ports", [{"containerPort": 80}]),
        ["spec: Forbidden: " + validation.core.POD_UPDATE_FORBIDDEN],
    ),
    ("pod tolerations added", "", "Pod", pod(), _set("spec.tolerations", [{"key": "k", "operator": "Exists"}]), []),
    ("job parallelism", "batch", "Job", JOB, _set("spec.parallelism", 3), []),
    (
        "job template",
        "batch",
        "Job",
        JOB,
        _set("spec.template.spec.containers.0.image", "x"),
        ["spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable"],
    ),
    (
        "service cluster IP",
        "",
        "Service",
        {"spec": {"clusterIP": "10.0.0.10", "ports": [{"port": 80}]}},
        _set("spec.clusterIP", "None"),
        ['spec.clusterIPs[0]: Invalid value: []string{"None"}: may not change once set'],
    ),
    (
        "immutable config map data",
        "",
        "ConfigMap",
        {"immutable": True, "data": {"a": "1"}},
        _set("data", {"a": "2"}),
        ["data: Forbidden: field is immutable when `immutable` is set"],
    ),
    (
        "immutable config map made mutable",
        "",
        "ConfigMap",
        {"immutable": True, "data": {"a": "1"}},
        _set("immutable", False),
        ["immutable: Forbidden: field is immutable when `immutable` is set"],
    ),
    ("mutable config map", "", "ConfigMap", {"data": {"a": "1"}}, _set("data", {"a": "2"}), []),
    (
        "immutable secret",
        "",
        "Secret",
        {"immutable": True, "data": {"a": "MQ=="}},
        _set("data", {"a": "Mg=="}),
        ["data: Forbidden: field is immutable when `immutable` is set"],
    ),
    (
        "secret type",
        "",
        "Secret",
        {"type": "Opaque"},
        _set("type", "kubernetes.io/tls"),
        [  # and the new type's own rules, as upstream checks them on update too
            'type: Invalid value: "kubernetes.io/tls": field is immutable',
            "data[tls.crt]: Required value",
            "data[tls.key]: Required value",
        ],
    ),
    (
        "claim spec",
        "",
        "PersistentVolumeClaim",
        {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}},
        _set("spec.accessModes", ["ReadWriteMany"]),
        [
            "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName"
            " for bound claims"
        ],
    ),
    ("namespace: anything goes", "", "Namespace", {"spec": {}}, _set("spec.finalizers", []), []),
]


@pytest.mark.parametrize(("name", "group", "kind", "old", "change", "expected"), UPDATES, ids=[c[0] for c in UPDATES])
def test_updates(
    name: str, group: str, kind: str, old: Obj, change: Callable[[Obj], None], expected: list[str]
) -> None:
    old = copy.deepcopy(old)
    defaults.apply_defaults(group, kind, old)  # what is stored
    assert causes(group, kind, _changed(old, change), old) == expected


def test_a_status_only_update_is_not_revalidated() -> None:
    broken = pod(containers=[])
    assert validation.validate("", "Pod", {**broken, "status": {"phase": "Running"}}, broken) == []


def test_a_job_selects_its_pods_by_uid() -> None:
    job: Obj = {"metadata": {"name": "pi", "uid": "1234"}, "spec": {"template": {"spec": {}}}}
    validation.prepare_create("batch", "Job", job)
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "1234"}}
    assert job["spec"]["template"]["metadata"]["labels"] == {
        "controller-uid": "1234",
        "batch.kubernetes.io/controller-uid": "1234",
        "job-name": "pi",
        "batch.kubernetes.io/job-name": "pi",
    }


def test_a_service_update_without_cluster_ip_keeps_it() -> None:
    old: Obj = {"spec": {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"]}}
    new: Obj = {"spec": {"ports": [{"port": 80}]}}
    validation.prepare_update("", "Service", new, old)
    assert new["spec"]["clusterIP"] == "10.0.0.1" and new["spec"]["clusterIPs"] == ["10.0.0.1"]


def test_resource_requirements_report_in_name_order_whatever_the_lists_order() -> None:
    def messages(resources: Obj) -> list[tuple[str, str]]:
        return [(c.field, c.message) for c in core.resource_requirements(resources, "r")]

    assert messages({"requests": {"memory": "-1", "cpus": "1"}}) == messages(
        {"requests": {"cpus": "1", "memory": "-1"}}
    )
    assert messages({"requests": {"memory": "-1", "cpus": "1"}}) == [
        ("r.requests[cpus]", 'Invalid value: "cpus": must be a standard resource for containers'),
        ("r.requests[memory]", 'Invalid value: "-1": must be greater than or equal to 0'),
    ]
    # a value that is no quantity (a decode error, reported before validation) is left out, as before
    assert messages({"limits": {"cpu": "1", "x": {"a": 1}}, "requests": {"cpu": "2"}}) == [
        ("r.requests", 'Invalid value: "2": must be less than or equal to cpu limit of 1')
    ]


def test_config_keys_checked_first_by_pattern_get_the_same_answers() -> None:
    keys = ["a", "A_b-c.d", "-", "_", "9", ".a", "..a", ".", "..", "a" * 253, "a" * 254, "a b", "ü", "", "a..b", "a/b"]
    for key in keys:
        got = [c.message for c in core.config_map({"data": {key: "v"}}, None)]
        problems = core.config_key_problems(key)
        assert len(got) == len(problems) and all(g.endswith(": " + p) for g, p in zip(got, problems, strict=True))
