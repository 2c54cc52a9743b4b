"""The official client's discovery-driven ``DynamicClient`` on built-ins and on a CRD added while it runs."""

from __future__ import annotations

import json

import pytest
from kubernetes import dynamic
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

NS = "default"
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.dyn.example.com"},
    "spec": {
        "group": "dyn.example.com",
        "scope": "Namespaced",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
                        },
                    }
                },
            }
        ],
    },
}


def test_built_ins_and_a_new_crd_through_the_dynamic_client(module_k8s_client: ApiClient) -> None:
    dc = dynamic.DynamicClient(module_k8s_client)
    deployments = dc.resources.get(api_version="apps/v1", kind="Deployment")
    template = {"metadata": {"labels": {"a": "dyn"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    body = {"metadata": {"name": "dyn"}, "spec": {"selector": {"matchLabels": {"a": "dyn"}}, "template": template}}
    deployments.create(body={"apiVersion": "apps/v1", "kind": "Deployment", **body}, namespace=NS)
    assert deployments.status.get(name="dyn", namespace=NS).status is not None
    assert deployments.subresources["scale"].get(name="dyn", namespace=NS).spec.replicas == 1
    patched = deployments.patch(body={"spec": {"replicas": 2}}, name="dyn", namespace=NS)  # strategic by default
    assert patched.spec.replicas == 2

    with pytest.raises(dynamic.exceptions.ResourceNotFoundError):
        dc.resources.get(api_version="dyn.example.com/v1", kind="Gadget")
    dc.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition").create(body=CRD)
    gadgets = dc.resources.get(api_version="dyn.example.com/v1", kind="Gadget")  # a miss refreshes the cache
    made = gadgets.create(
        body={"apiVersion": "dyn.example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}, "spec": {"size": 1}},
        namespace=NS,
    )
    assert made.spec.size == 1
    merged = gadgets.patch(
        body={"spec": {"size": 2}}, name="g", namespace=NS, content_type="application/merge-patch+json"
    )
    assert merged.spec.size == 2
    applied = gadgets.server_side_apply(
        body={"apiVersion": "dyn.example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}, "spec": {"size": 3}},
        namespace=NS,
        field_manager="dyn",
        force_conflicts=True,
    )
    assert applied.spec.size == 3
    status = gadgets.status.patch(
        body={"status": {"ready": True}}, name="g", namespace=NS, content_type="application/merge-patch+json"
    )
    assert status.status.ready is True and status.spec.size == 3

    with pytest.raises(ApiException) as refused:  # no strategic merge patch for custom resources
        gadgets.patch(body={"spec": {"size": 4}}, name="g", namespace=NS)
    assert refused.value.status == 415
    assert json.loads(refused.value.body)["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )
    events = [(e["type"], e["object"].spec.size) for e in gadgets.watch(namespace=NS, timeout=1)]
    assert events == [("ADDED", 3)]
    assert gadgets.delete(name="g", namespace=NS).status == "Success"
