"""Valid objects of the built-in kinds (and of one custom resource) that ``fuzz_api.py`` mutates.

Each :class:`Sample` is one kind: where its collection lives, a valid object of it (the server must accept
it as it is) and the subresources it serves. Objects carry a fixed name; the fuzzer renames them per request.
The custom resource definition's schema uses what a CRD schema can say: defaults, int-or-string,
preserve-unknown-fields, a map-type list, nullable, patterns, enums, formats and a scale subresource.

Dev-time data of the fuzzer, not imported by the package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

#: The custom resource's API group and version (the CRD is created before any sample of it is sent).
CR_GROUP = "fuzz.pinnace.dev"
CR_VERSION = "v1"

#: A webhook that is never reached: it only matches a resource nobody writes, and its failures are ignored.
_NOWHERE = {"url": "https://127.0.0.1:1/never"}
_WEBHOOK_RULES = [
    {
        "apiGroups": ["nothing.fuzz.pinnace.dev"],
        "apiVersions": ["v1"],
        "operations": ["CREATE"],
        "resources": ["nothings"],
        "scope": "*",
    }
]


@dataclass(frozen=True)
class Sample:
    """One kind the fuzzer writes: its collection's path prefix, plural, a valid object, subresources."""

    api: str  # "/api/v1" or "/apis/GROUP/VERSION"
    plural: str
    obj: Obj
    namespaced: bool = True
    subresources: tuple[str, ...] = field(default=())

    @property
    def kind(self) -> str:
        """The object's kind."""
        return str(self.obj["kind"])

    def collection(self, namespace: str) -> str:
        """The path of the kind's collection (in ``namespace`` when namespaced)."""
        return f"{self.api}/namespaces/{namespace}/{self.plural}" if self.namespaced else f"{self.api}/{self.plural}"


def _meta(name: str, **extra: Any) -> Obj:
    managed = {
        "manager": "fuzz",
        "operation": "Update",
        "apiVersion": "v1",
        "time": "2026-01-01T00:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}},
    }
    return {"name": name, "labels": {"app": "fuzz"}, "annotations": {"a": "b"}, "managedFields": [managed], **extra}


def _container(name: str = "c") -> Obj:
    return {
        "name": name,
        "image": "busybox:1.36",
        "command": ["sleep", "3600"],
        "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}],
        "env": [{"name": "A", "value": "1"}],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}},
        "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 5},
    }


def _pod_template() -> Obj:
    return {
        "metadata": {"labels": {"app": "fuzz"}},
        "spec": {
            "containers": [_container()],
            "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {
                "nodeAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "weight": 1,
                            "preference": {"matchExpressions": [{"key": "z", "operator": "In", "values": ["a"]}]},
                        }
                    ]
                }
            },
        },
    }


def _selector() -> Obj:
    return {"matchLabels": {"app": "fuzz"}}


def _crd_schema() -> Obj:
    return {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer", "default": 1, "minimum": 0},
                    "port": {"x-kubernetes-int-or-string": True},
                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    "items": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {"name": {"type": "string"}, "value": {"type": "string", "default": "v"}},
                        },
                    },
                    "note": {"type": "string", "nullable": True, "maxLength": 64},
                    "code": {"type": "string", "pattern": "^[a-z]+(-[a-z0-9]+)*$"},
                    "mode": {"type": "string", "enum": ["fast", "slow"], "default": "fast"},
                    "size": {"type": "number", "format": "double"},
                    "when": {"type": "string", "format": "date-time"},
                    "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                    "limits": {"type": "object", "additionalProperties": {"x-kubernetes-int-or-string": True}},
                },
            },
            "status": {
                "type": "object",
                "properties": {"replicas": {"type": "integer"}, "selector": {"type": "string"}},
            },
        },
    }


#: The CRD that defines the custom resource sample (``widgets.fuzz.pinnace.dev``).
CRD: Obj = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{CR_GROUP}"},
    "spec": {
        "group": CR_GROUP,
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
        "versions": [
            {
                "name": CR_VERSION,
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": _crd_schema()},
                "subresources": {
                    "status": {},
                    "scale": {
                        "specReplicasPath": ".spec.replicas",
                        "statusReplicasPath": ".status.replicas",
                        "labelSelectorPath": ".status.selector",
                    },
                },
                "additionalPrinterColumns": [{"name": "Mode", "type": "string", "jsonPath": ".spec.mode"}],
            }
        ],
    },
}


def samples() -> list[Sample]:
    """One valid object of each kind the fuzzer writes (fresh copies on every call)."""
    apps, batch = "/apis/apps/v1", "/apis/batch/v1"
    rbac, net = "/apis/rbac.authorization.k8s.io/v1", "/apis/networking.k8s.io/v1"
    adm, storage = "/apis/admissionregistration.k8s.io/v1", "/apis/storage.k8s.io/v1"
    webhook = {
        "name": "w.fuzz.pinnace.dev",
        "clientConfig": _NOWHERE,
        "rules": _WEBHOOK_RULES,
        "failurePolicy": "Ignore",
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "timeoutSeconds": 1,
    }
    return [
        Sample(
            "/api/v1",
            "pods",
            {"apiVersion": "v1", "kind": "Pod", "metadata": _meta("p"), **{"spec": _pod_template()["spec"]}},
            subresources=("status",),
        ),
        Sample(
            apps,
            "deployments",
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": _meta("d"),
                "spec": {
                    "replicas": 0,
                    "selector": _selector(),
                    "template": _pod_template(),
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                },
            },
            subresources=("status", "scale"),
        ),
        Sample(
            apps,
            "statefulsets",
            {
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": _meta("s"),
                "spec": {
                    "replicas": 0,
                    "serviceName": "svc",
                    "selector": _selector(),
                    "template": _pod_template(),
                    "volumeClaimTemplates": [
                        {
                            "metadata": {"name": "data"},
                            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                        }
                    ],
                },
            },
            subresources=("status", "scale"),
        ),
        Sample(
            apps,
            "daemonsets",
            {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": _meta("ds"),
                "spec": {"selector": _selector(), "template": _pod_template()},
            },
            subresources=("status",),
        ),
        Sample(
            apps,
            "replicasets",
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": _meta("rs"),
                "spec": {"replicas": 0, "selector": _selector(), "template": _pod_template()},
            },
            subresources=("status", "scale"),
        ),
        Sample(
            "/api/v1",
            "replicationcontrollers",
            {
                "apiVersion": "v1",
                "kind": "ReplicationController",
                "metadata": _meta("rc"),
                "spec": {"replicas": 0, "selector": {"app": "fuzz"}, "template": _pod_template()},
            },
            subresources=("status", "scale"),
        ),
        Sample(
            batch,
            "jobs",
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": _meta("j"),
                "spec": {
                    "suspend": True,
                    "parallelism": 1,
                    "completions": 2,
                    "backoffLimit": 1,
                    "template": {
                        "spec": {"containers": [_container()], "restartPolicy": "Never"},
                    },
                },
            },
            subresources=("status",),
        ),
        Sample(
            batch,
            "cronjobs",
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "metadata": _meta("cj"),
                "spec": {
                    "schedule": "*/5 * * * *",
                    "suspend": True,
                    "timeZone": "Etc/UTC",
                    "jobTemplate": {
                        "spec": {"template": {"spec": {"containers": [_container()], "restartPolicy": "OnFailure"}}}
                    },
                },
            },
            subresources=("status",),
        ),
        Sample(
            "/api/v1",
            "services",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": _meta("svc"),
                "spec": {
                    "type": "NodePort",
                    "selector": {"app": "fuzz"},
                    "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
                    "sessionAffinity": "ClientIP",
                },
            },
            subresources=("status",),
        ),
        Sample(
            "/api/v1",
            "configmaps",
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("cm"), "data": {"a": "1"}, "binaryData": {}},
        ),
        Sample(
            "/api/v1",
            "secrets",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": _meta("sec"),
                "type": "Opaque",
                "data": {"a": "MQ=="},
                "stringData": {"b": "2"},
            },
        ),
        Sample(
            "/api/v1",
            "persistentvolumeclaims",
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": _meta("pvc"),
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                    "storageClassName": "none",
                },
            },
            subresources=("status",),
        ),
        Sample(
            "/api/v1",
            "persistentvolumes",
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": _meta("fuzz-pv"),
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "hostPath": {"path": "/tmp/fuzz-pv"},
                    "persistentVolumeReclaimPolicy": "Retain",
                },
            },
            namespaced=False,
            subresources=("status",),
        ),
        Sample(
            "/api/v1",
            "limitranges",
            {
                "apiVersion": "v1",
                "kind": "LimitRange",
                "metadata": _meta("lr"),
                "spec": {
                    "limits": [
                        {
                            "type": "Container",
                            "default": {"memory": "64Mi"},
                            "defaultRequest": {"cpu": "5m"},
                            "max": {"memory": "1Gi"},
                        }
                    ]
                },
            },
        ),
        Sample(
            "/api/v1",
            "resourcequotas",
            {
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": _meta("rq"),
                "spec": {"hard": {"pods": "1000", "requests.cpu": "100", "count/configmaps": "1000"}},
            },
            subresources=("status",),
        ),
        Sample(
            "/api/v1",
            "serviceaccounts",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("sa"), "secrets": [{"name": "x"}]},
        ),
        Sample(
            "/api/v1",
            "endpoints",
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": _meta("ep"),
                "subsets": [{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"name": "http", "port": 80}]}],
            },
        ),
        Sample(
            "/api/v1",
            "events",
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": _meta("ev"),
                "involvedObject": {"kind": "Pod", "name": "p", "namespace": "fuzz"},
                "reason": "Fuzz",
                "message": "m",
                "type": "Normal",
                "count": 1,
                "firstTimestamp": "2026-01-01T00:00:00Z",
                "source": {"component": "fuzz"},
            },
        ),
        Sample(
            "/api/v1",
            "podtemplates",
            {"apiVersion": "v1", "kind": "PodTemplate", "metadata": _meta("pt"), "template": _pod_template()},
        ),
        Sample(
            "/api/v1",
            "nodes",
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": _meta("fuzz-node"),
                "spec": {"unschedulable": True, "taints": [{"key": "fuzz", "effect": "NoSchedule"}]},
            },
            namespaced=False,
            subresources=("status",),
        ),
        Sample(
            "/apis/autoscaling/v2",
            "horizontalpodautoscalers",
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": _meta("hpa"),
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"},
                    "minReplicas": 1,
                    "maxReplicas": 3,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                        }
                    ],
                    "behavior": {"scaleDown": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}},
                },
            },
            subresources=("status",),
        ),
        Sample(
            "/apis/policy/v1",
            "poddisruptionbudgets",
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": _meta("pdb"),
                "spec": {"minAvailable": "50%", "selector": _selector()},
            },
            subresources=("status",),
        ),
        Sample(
            net,
            "ingresses",
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": _meta("ing"),
                "spec": {
                    "rules": [
                        {
                            "host": "a.example.com",
                            "http": {
                                "paths": [
                                    {
                                        "path": "/",
                                        "pathType": "Prefix",
                                        "backend": {"service": {"name": "svc", "port": {"number": 80}}},
                                    }
                                ]
                            },
                        }
                    ],
                    "tls": [{"hosts": ["a.example.com"], "secretName": "sec"}],
                },
            },
            subresources=("status",),
        ),
        Sample(
            net,
            "ingressclasses",
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "IngressClass",
                "metadata": _meta("fuzz-ic"),
                "spec": {"controller": "example.com/fuzz"},
            },
            namespaced=False,
        ),
        Sample(
            net,
            "networkpolicies",
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": _meta("np"),
                "spec": {
                    "podSelector": _selector(),
                    "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 80}]}],
                },
            },
        ),
        Sample(
            rbac,
            "roles",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": _meta("r"),
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
            },
        ),
        Sample(
            rbac,
            "rolebindings",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": _meta("rb"),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
                "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "fuzz"}],
            },
        ),
        Sample(
            rbac,
            "clusterroles",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": _meta("fuzz-cr"),
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"fuzz-aggregate": "true"}}]},
            },
            namespaced=False,
        ),
        Sample(
            rbac,
            "clusterrolebindings",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": _meta("fuzz-crb"),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "fuzz-cr"},
                "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "fuzz"}],
            },
            namespaced=False,
        ),
        Sample(
            "/apis/scheduling.k8s.io/v1",
            "priorityclasses",
            {
                "apiVersion": "scheduling.k8s.io/v1",
                "kind": "PriorityClass",
                "metadata": _meta("fuzz-pc"),
                "value": 100,
                "preemptionPolicy": "Never",
                "description": "d",
            },
            namespaced=False,
        ),
        Sample(
            "/apis/coordination.k8s.io/v1",
            "leases",
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": _meta("l"),
                "spec": {
                    "holderIdentity": "fuzz",
                    "leaseDurationSeconds": 15,
                    "renewTime": "2026-01-01T00:00:00.000000Z",
                    "leaseTransitions": 0,
                },
            },
        ),
        Sample(
            storage,
            "storageclasses",
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": _meta("fuzz-sc"),
                "provisioner": "example.com/fuzz",
                "parameters": {"a": "b"},
                "reclaimPolicy": "Delete",
                "volumeBindingMode": "WaitForFirstConsumer",
                "allowedTopologies": [{"matchLabelExpressions": [{"key": "zone", "values": ["a"]}]}],
            },
            namespaced=False,
        ),
        Sample(
            storage,
            "csidrivers",
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "CSIDriver",
                "metadata": _meta("fuzz.example.com"),
                "spec": {"attachRequired": False, "podInfoOnMount": True, "volumeLifecycleModes": ["Persistent"]},
            },
            namespaced=False,
        ),
        Sample(
            "/apis/discovery.k8s.io/v1",
            "endpointslices",
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": _meta("es"),
                "addressType": "IPv4",
                "endpoints": [{"addresses": ["10.1.2.3"], "conditions": {"ready": True}}],
                "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
            },
        ),
        Sample(
            "/apis/events.k8s.io/v1",
            "events",
            {
                "apiVersion": "events.k8s.io/v1",
                "kind": "Event",
                "metadata": _meta("ev2"),
                "eventTime": "2026-01-01T00:00:00.000000Z",
                "reportingController": "example.com/fuzz",
                "reportingInstance": "i",
                "action": "Fuzz",
                "reason": "Fuzz",
                "type": "Normal",
                "regarding": {"kind": "Pod", "name": "p", "namespace": "fuzz"},
            },
        ),
        Sample(
            adm,
            "validatingwebhookconfigurations",
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingWebhookConfiguration",
                "metadata": _meta("fuzz-vwc"),
                "webhooks": [webhook],
            },
            namespaced=False,
        ),
        Sample(
            adm,
            "mutatingwebhookconfigurations",
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "MutatingWebhookConfiguration",
                "metadata": _meta("fuzz-mwc"),
                "webhooks": [{**webhook, "reinvocationPolicy": "Never"}],
            },
            namespaced=False,
        ),
        Sample(
            "/apis/apiextensions.k8s.io/v1",
            "customresourcedefinitions",
            CRD,
            namespaced=False,
            subresources=("status",),
        ),
        Sample(
            f"/apis/{CR_GROUP}/{CR_VERSION}",
            "widgets",
            {
                "apiVersion": f"{CR_GROUP}/{CR_VERSION}",
                "kind": "Widget",
                "metadata": _meta("w"),
                "spec": {
                    "replicas": 1,
                    "port": "http",
                    "extra": {"free": {"form": [1, "two", None]}},
                    "items": [{"name": "a", "value": "x"}, {"name": "b"}],
                    "note": None,
                    "code": "abc-1",
                    "mode": "slow",
                    "size": 1.5,
                    "when": "2026-01-01T00:00:00Z",
                    "tags": ["x", "y"],
                    "limits": {"cpu": 1, "mem": "1Gi"},
                },
            },
            subresources=("status", "scale"),
        ),
    ]
