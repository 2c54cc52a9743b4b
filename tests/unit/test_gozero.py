"""What Go's JSON encoding writes of a built-in object: the structs and required zeros it always writes, filled
in, and the omitempty zeros it never writes, removed (``pinnace.api.gozero``)."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api import gozero

DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"


def filled(obj: dict[str, Any], definition: str, field: str | None = None) -> dict[str, Any]:
    gozero.fill(obj, definition, field)
    return obj


def test_a_new_deployment_reads_back_with_its_structs_and_without_its_omitempty_zeros() -> None:
    obj = {
        "metadata": {"name": "web", "generateName": ""},
        "spec": {"paused": False, "minReadySeconds": 0, "replicas": 0, "selector": {"matchLabels": {"a": "b"}}},
    }
    assert filled(obj, DEPLOYMENT) == {
        "metadata": {"name": "web"},
        # replicas is a pointer: its zero stays; paused and minReadySeconds are omitempty scalars: they go
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {}, "spec": {}},
            "strategy": {},
        },
        "status": {},
    }
    assert list(obj) == ["metadata", "spec", "status"]


def test_the_required_zeros_inside_lists_and_maps_are_written() -> None:
    obj = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "a",
                            "ports": [{"name": "http"}],
                            "env": [{"name": "X", "valueFrom": {"fieldRef": {}}}],
                        }
                    ]
                }
            }
        }
    }
    container = filled(obj, DEPLOYMENT)["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"name": "http", "containerPort": 0}]
    assert container["env"][0]["valueFrom"] == {"fieldRef": {"fieldPath": ""}}
    assert container["resources"] == {}


def test_a_missing_struct_is_written_at_its_own_filled_zero_and_each_copy_is_fresh() -> None:
    first = filled({"spec": {}}, "io.k8s.api.core.v1.Node")
    second = filled({"spec": {}}, "io.k8s.api.core.v1.Node")
    assert first["status"]["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 0}}
    assert first["status"]["nodeInfo"]["kubeletVersion"] == ""
    first["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] = 10250
    assert second["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 0


def test_a_value_of_the_wrong_shape_where_a_struct_belongs_becomes_the_struct() -> None:
    assert filled({"spec": {}, "status": None}, "io.k8s.api.core.v1.Service")["status"] == {"loadBalancer": {}}
    assert filled({"status": {"loadBalancer": "x"}}, "io.k8s.api.core.v1.Service")["status"] == {"loadBalancer": {}}


def test_a_field_fills_only_that_top_level_struct() -> None:
    assert filled({"spec": {"replicas": 1}}, "io.k8s.api.apps.v1.ReplicaSet", "status") == {
        "spec": {"replicas": 1},
        "status": {"replicas": 0},
    }


def test_optional_fields_without_omitempty_are_written_at_zero() -> None:
    event = filled({"metadata": {"name": "e"}, "involvedObject": {}}, "io.k8s.api.core.v1.Event")
    assert event["reportingComponent"] == "" and event["reportingInstance"] == ""


def test_kinds_the_descriptors_lack_get_their_spec_and_status_only() -> None:
    crd = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"
    assert filled({"metadata": {}}, crd) == {"metadata": {}, "spec": {}, "status": {}}


@pytest.mark.parametrize("value", ["", 0, None])
def test_a_falsy_value_not_of_the_fields_type_is_not_removed(value: Any) -> None:
    assert filled({"spec": {"paused": value}}, DEPLOYMENT)["spec"]["paused"] == value
