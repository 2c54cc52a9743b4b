"""Local APIServices: every served group-version is an apiregistration.k8s.io APIService, as kube-apiserver has them.

Through the official client: the built-in ones exist from the start (Available,
reason Local), a CRD's group-version gets one while a CRD serves it, one that is
deleted comes back at the next sync, and APIService objects are validated as
upstream validates them.
"""

from __future__ import annotations

import json
import time
from typing import Any

import kubernetes.client
import pytest
from kubernetes.client import ApiextensionsV1Api, ApiregistrationV1Api
from kubernetes.client.rest import ApiException
from tests.integration.conftest import ThreadedServer

from pinnace.apiserver.apiservices import AUTOMANAGED

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.toys.example.com"},
    "spec": {
        "group": "toys.example.com",
        "names": {"kind": "Gadget", "plural": "gadgets"},
        "scope": "Namespaced",
        "versions": [
            {"name": name, "served": True, "storage": name == "v1", "schema": {"openAPIV3Schema": {"type": "object"}}}
            for name in ("v1", "v2beta1")
        ],
    },
}


def services(api: ApiregistrationV1Api) -> dict[str, Any]:
    return {s.metadata.name: s for s in api.list_api_service().items}


def eventually(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "not true in time"
        time.sleep(0.05)
    return result


def test_every_builtin_group_version_is_a_local_available_apiservice(k8s_client: kubernetes.client.ApiClient) -> None:
    api = ApiregistrationV1Api(k8s_client)
    listed = services(api)
    served = kubernetes.client.ApisApi(k8s_client).get_api_versions().groups
    wanted = {"v1."} | {f"{v.version}.{g.name}" for g in served for v in g.versions}
    assert set(listed) == wanted
    for name, svc in listed.items():
        assert svc.spec.service is None and svc.metadata.labels == {AUTOMANAGED: "onstart"}, name
        (condition,) = svc.status.conditions
        assert (condition.type, condition.status, condition.reason) == ("Available", "True", "Local"), name
    priorities = {n: (s.spec.group_priority_minimum, s.spec.version_priority) for n, s in listed.items()}
    assert priorities["v1."] == (18000, 1)
    assert priorities["v1.apps"] == (17800, 15)
    assert priorities["v2.autoscaling"] == (17500, 30)
    assert priorities["v1.flowcontrol.apiserver.k8s.io"] == (16100, 21)


def test_a_crds_group_versions_are_registered_while_it_serves_them(k8s_client: kubernetes.client.ApiClient) -> None:
    api = ApiregistrationV1Api(k8s_client)
    ApiextensionsV1Api(k8s_client).create_custom_resource_definition(CRD)
    names = ("v1.toys.example.com", "v2beta1.toys.example.com")
    listed = eventually(lambda: (found := services(api)) and all(n in found for n in names) and found)
    for name in names:
        svc = listed[name]
        assert svc.metadata.labels == {AUTOMANAGED: "true"}
        assert (svc.spec.group, svc.spec.group_priority_minimum, svc.spec.version_priority) == (
            "toys.example.com",
            1000,
            100,
        )
        assert svc.status.conditions[0].reason == "Local"
    ApiextensionsV1Api(k8s_client).delete_custom_resource_definition(CRD["metadata"]["name"])
    eventually(lambda: not set(names) & set(services(api)))


def test_a_deleted_apiservice_comes_back(
    threaded_server: ThreadedServer, k8s_client: kubernetes.client.ApiClient
) -> None:
    api = ApiregistrationV1Api(k8s_client)
    api.delete_api_service("v1.apps")
    assert "v1.apps" not in services(api)
    threaded_server.call(threaded_server.server.apiservices.sync(force=True))  # what the periodic repair does
    assert services(api)["v1.apps"].spec.group_priority_minimum == 17800


@pytest.mark.parametrize(
    ("name", "spec", "messages"),
    [
        (
            "v1.foo",
            {"group": "bar", "version": "v1", "groupPriorityMinimum": 100, "versionPriority": 10},
            ['metadata.name: Invalid value: "v1.foo": must be `spec.version+"."+spec.group`: "v1.bar"'],
        ),
        (
            "v2.",
            {"group": "", "version": "v2", "groupPriorityMinimum": 100, "versionPriority": 10},
            ["spec.group: Required value: only v1 may have an empty group and it better be legacy kube"],
        ),
        (
            "v1.bar",
            {"group": "bar", "version": "v1", "groupPriorityMinimum": 0, "versionPriority": 1001},
            [
                "spec.groupPriorityMinimum: Invalid value: 0: must be positive and less than 20000",
                "spec.versionPriority: Invalid value: 1001: must be positive and less than 1000",
            ],
        ),
        (
            "v1.bar",
            {"group": "bar", "version": "v1", "groupPriorityMinimum": 1, "versionPriority": 1, "caBundle": "eA=="},
            ['spec.caBundle: Invalid value: "eA==": local APIServices may not have a caBundle'],
        ),
        (
            "v1.bar",
            {
                "group": "bar",
                "version": "v1",
                "groupPriorityMinimum": 1,
                "versionPriority": 1,
                "service": {"namespace": "ns", "port": 70000},
            },
            [
                "spec.service.name: Required value",
                "spec.service.port: Invalid value: 70000: must be a valid port number, 1-65535, inclusive",
            ],
        ),
    ],
)
def test_apiservices_are_validated_as_upstream(
    k8s_client: kubernetes.client.ApiClient, name: str, spec: dict[str, Any], messages: list[str]
) -> None:
    body = {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": name}, "spec": spec}
    with pytest.raises(ApiException) as caught:
        ApiregistrationV1Api(k8s_client).create_api_service(body)
    assert caught.value.status == 422
    status = json.loads(caught.value.body)
    for message in messages:
        assert message in status["message"], status["message"]


def test_a_valid_external_apiservice_is_stored(k8s_client: kubernetes.client.ApiClient) -> None:
    body = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": "v1beta1.metrics.k8s.io"},
        "spec": {
            "group": "metrics.k8s.io",
            "version": "v1beta1",
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
            "insecureSkipTLSVerify": True,
            "service": {"namespace": "kube-system", "name": "metrics-server"},
        },
    }
    created = ApiregistrationV1Api(k8s_client).create_api_service(body)
    assert created.spec.service.port == 443  # defaulted
    assert created.status is None or not created.status.conditions  # not proxied to: its availability unknown


def test_a_users_local_apiservice_is_marked_available(k8s_client: kubernetes.client.ApiClient) -> None:
    api = ApiregistrationV1Api(k8s_client)
    spec = {"group": "local.example.com", "version": "v1", "groupPriorityMinimum": 100, "versionPriority": 10}
    api.create_api_service({"metadata": {"name": "v1.local.example.com"}, "spec": spec})

    def reason() -> str | None:
        status = api.read_api_service("v1.local.example.com").status
        conditions = (status.conditions if status else None) or []
        return next((c.reason for c in conditions if c.type == "Available" and c.status == "True"), None)

    assert eventually(reason) == "Local"
