"""What a creator owns, in the shapes real kube-apiservers write (``kubectl get --show-managed-fields``): the
create is compared with the kind's Go zero value, so what that value has already is nobody's; a map, list or
pointer struct is a member ('.') of its own; an atomic struct is one leaf."""

from __future__ import annotations

from typing import Any

from pinnace.api import managedfields
from pinnace.api.registry import ResourceInfo, builtin_registry

REGISTRY = builtin_registry()


def created(group: str, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
    info = REGISTRY.get(group, "v1", plural)
    assert isinstance(info, ResourceInfo)
    fields: dict[str, Any] = managedfields._created_fields(info, obj)
    return fields


def test_an_event_owns_its_atomic_reference_whole_and_not_its_zero_strings() -> None:
    event = {
        "metadata": {"name": "e", "namespace": "d"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "d"},
        "reason": "Started",
        "source": {"component": "kubelet"},
        "reportingComponent": "",
        "reportingInstance": "",
    }
    assert created("", "events", event) == {
        "f:involvedObject": {},
        "f:reason": {},
        "f:source": {"f:component": {}},
    }


def test_a_namespace_owns_nothing_of_its_empty_spec() -> None:
    namespace = {"metadata": {"name": "n", "labels": {"kubernetes.io/metadata.name": "n"}}, "spec": {}}
    assert created("", "namespaces", namespace) == {
        "f:metadata": {"f:labels": {".": {}, "f:kubernetes.io/metadata.name": {}}}
    }


def test_a_deployment_owns_pointer_structs_and_new_items_as_members() -> None:
    deployment = {
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "c",
                            "image": "nginx",
                            "resources": {"limits": {"cpu": "1"}},
                            "livenessProbe": {"httpGet": {"port": 80}},
                        }
                    ]
                },
            },
        },
    }
    assert created("apps", "deployments", deployment) == {
        "f:spec": {
            "f:selector": {},
            "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}}, "f:type": {}},
            "f:template": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"c"}': {
                            ".": {},
                            "f:image": {},
                            "f:livenessProbe": {".": {}, "f:httpGet": {".": {}, "f:port": {}}},
                            "f:name": {},
                            "f:resources": {".": {}, "f:limits": {".": {}, "f:cpu": {}}},
                        }
                    }
                },
            },
        }
    }
