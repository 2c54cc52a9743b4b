"""CustomResourceDefinitions through the official client: ApiextensionsV1Api and CustomObjectsApi."""

from __future__ import annotations

import copy
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException
from tests.integration.conftest import ThreadedServer, raw_request

from pinnace.apiserver.negotiation import MAX_NESTING_DEPTH

GROUP = "stable.example.com"
NAME = f"crontabs.{GROUP}"

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": NAME},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"], "categories": ["all"]},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {
                    "status": {},
                    "scale": {
                        "specReplicasPath": ".spec.replicas",
                        "statusReplicasPath": ".status.replicas",
                        "labelSelectorPath": ".status.selector",
                    },
                },
                "additionalPrinterColumns": [
                    {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                ],
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "x-kubernetes-validations": [
                                    {"rule": "self.replicas <= self.maxReplicas", "message": "too many replicas"},
                                    {"rule": "self.image == oldSelf.image", "message": "image is immutable"},
                                ],
                                "properties": {
                                    "cronSpec": {"type": "string", "pattern": r"^(\S+\s+){4}\S+$"},
                                    "image": {"type": "string"},
                                    "replicas": {"type": "integer", "minimum": 0, "default": 1},
                                    "maxReplicas": {"type": "integer", "default": 10},
                                },
                            },
                            "status": {
                                "type": "object",
                                "properties": {"replicas": {"type": "integer"}, "selector": {"type": "string"}},
                            },
                        },
                    }
                },
            },
            {
                "name": "v1beta1",
                "served": True,
                "storage": False,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            },
        ],
    },
}


def cron(name: str, version: str = "v1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{version}",
        "kind": "CronTab",
        "metadata": {"name": name},
        "spec": {"cronSpec": "* * * * */5", "image": "img", **spec},
    }


def wait_established(ext: k8s.ApiextensionsV1Api, name: str, timeout: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        crd = ext.read_custom_resource_definition(name)
        conditions = {c.type: c for c in crd.status.conditions or []}
        if "Established" in conditions and conditions["Established"].status == "True":
            return crd
        assert time.monotonic() < deadline, f"{name} not established within {timeout}s: {conditions}"
        time.sleep(0.01)


@pytest.fixture
def apis(k8s_client: k8s.ApiClient) -> Iterator[tuple[k8s.ApiextensionsV1Api, k8s.CustomObjectsApi]]:
    ext = k8s.ApiextensionsV1Api(k8s_client)
    ext.create_custom_resource_definition(copy.deepcopy(CRD))
    wait_established(ext, NAME)
    yield ext, k8s.CustomObjectsApi(k8s_client)


def body(exc: ApiException) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(exc.body)
    return data


def test_crd_is_established_with_its_names(apis: tuple[k8s.ApiextensionsV1Api, k8s.CustomObjectsApi]) -> None:
    ext, _ = apis
    crd = ext.read_custom_resource_definition(NAME)
    conditions = {c.type: (c.status, c.reason) for c in crd.status.conditions}
    assert conditions == {"NamesAccepted": ("True", "NoConflicts"), "Established": ("True", "InitialNamesAccepted")}
    assert crd.status.accepted_names.list_kind == "CronTabList"
    assert crd.status.accepted_names.singular == "crontab"
    assert crd.status.stored_versions == ["v1"]
    assert crd.metadata.generation == 1


def test_custom_resources_are_defaulted_pruned_validated(
    apis: tuple[k8s.ApiextensionsV1Api, k8s.CustomObjectsApi], threaded_server: ThreadedServer
) -> None:
    _, co = apis
    created = co.create_namespaced_custom_object(GROUP, "v1", "default", "crontabs", cron("a", junk=1))
    assert created["spec"] == {"cronSpec": "* * * * */5", "image": "img", "replicas": 1, "maxReplicas": 10}
    assert created["metadata"]["generation"] == 1
    # Another served version: the same object, its apiVersion as asked.
    beta = co.get_namespaced_custom_object(GROUP, "v1beta1", "default", "crontabs", "a")
    assert beta["apiVersion"] == f"{GROUP}/v1beta1" and beta["spec"] == created["spec"]
    listed = co.list_namespaced_custom_object(GROUP, "v1beta1", "default", "crontabs")
    assert [i["apiVersion"] for i in listed["items"]] == [f"{GROUP}/v1beta1"]

    with pytest.raises(ApiException) as info:
        co.create_namespaced_custom_object(
            GROUP, "v1", "default", "crontabs", cron("b", cronSpec="nope", replicas="two", image=3)
        )
    assert info.value.status == 422
    status = body(info.value)
    assert sorted(c["field"] for c in status["details"]["causes"]) == [
        "<nil>",  # the CEL rules were not run: the object has type errors
        "spec.cronSpec",
        "spec.image",
        "spec.replicas",
    ]
    assert (
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"'
        in status["message"]
    )

    with pytest.raises(ApiException) as info:
        co.create_namespaced_custom_object(GROUP, "v1", "default", "crontabs", cron("c", replicas=11))
    assert body(info.value)["message"] == (
        'CronTab.stable.example.com "c" is invalid: spec: Invalid value: "object": too many replicas'
    )

    with pytest.raises(ApiException) as info:
        co.patch_namespaced_custom_object(GROUP, "v1", "default", "crontabs", "a", {"spec": {"image": "other"}})
    assert body(info.value)["details"]["causes"][0]["message"] == 'Invalid value: "object": image is immutable'

    status_code, _ = raw_request(
        threaded_server.url,
        "PATCH",
        f"/apis/{GROUP}/v1/namespaces/default/crontabs/a",
        b'{"spec":{"replicas":2}}',
        {"Content-Type": "application/strategic-merge-patch+json"},
    )
    assert status_code == 415


def test_status_and_scale_subresources(apis: tuple[k8s.ApiextensionsV1Api, k8s.CustomObjectsApi]) -> None:
    _, co = apis
    co.create_namespaced_custom_object(GROUP, "v1", "default", "crontabs", {**cron("a"), "status": {"replicas": 9}})
    obj = co.get_namespaced_custom_object(GROUP, "v1", "default", "crontabs", "a")
    assert "status" not in obj  # reset on create: status belongs to the status subresource
    obj = co.patch_namespaced_custom_object_status(
        GROUP,
        "v1",
        "default",
        "crontabs",
        "a",
        {"status": {"replicas": 1, "selector": "app=a"}, "spec": {"replicas": 5}},
    )
    assert obj["status"]["replicas"] == 1 and obj["spec"]["replicas"] == 1 and obj["metadata"]["generation"] == 1
    obj = co.patch_namespaced_custom_object(GROUP, "v1", "default", "crontabs", "a", {"spec": {"replicas": 2}})
    assert obj["metadata"]["generation"] == 2 and obj["status"]["replicas"] == 1
    scale = co.get_namespaced_custom_object_scale(GROUP, "v1", "default", "crontabs", "a")
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"] == {"replicas": 1, "selector": "app=a"}
    co.patch_namespaced_custom_object_scale(GROUP, "v1", "default", "crontabs", "a", {"spec": {"replicas": 4}})
    obj = co.get_namespaced_custom_object(GROUP, "v1", "default", "crontabs", "a")
    assert obj["spec"]["replicas"] == 4 and obj["metadata"]["generation"] == 3
    # v1beta1 has no status subresource: there the status is written like any field, and bumps the generation.
    beta = co.patch_namespaced_custom_object(GROUP, "v1beta1", "default", "crontabs", "a", {"status": {"replicas": 7}})
    assert beta["status"]["replicas"] == 7 and beta["metadata"]["generation"] == 4


def test_discovery_openapi_and_table(
    apis: tuple[k8s.ApiextensionsV1Api, k8s.CustomObjectsApi], threaded_server: ThreadedServer
) -> None:
    _, co = apis
    co.create_namespaced_custom_object(GROUP, "v1", "default", "crontabs", cron("a"))
    url = threaded_server.url
    _, group = raw_request(url, "GET", f"/apis/{GROUP}")
    assert [v["version"] for v in group["versions"]] == ["v1", "v1beta1"]
    _, resources = raw_request(url, "GET", f"/apis/{GROUP}/v1")
    assert [r["name"] for r in resources["resources"]] == ["crontabs", "crontabs/status", "crontabs/scale"]
    assert resources["resources"][0]["shortNames"] == ["ct"] and resources["resources"][0]["categories"] == ["all"]
    _, aggregated = raw_request(
        url, "GET", "/apis", headers={"Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"}
    )
    assert GROUP in [g["metadata"]["name"] for g in aggregated["items"]]
    _, index = raw_request(url, "GET", "/openapi/v3")
    assert f"apis/{GROUP}/v1" in index["paths"]
    _, doc = raw_request(url, "GET", f"/openapi/v3/apis/{GROUP}/v1")
    schema = doc["components"]["schemas"]["com.example.stable.v1.CronTab"]
    assert schema["properties"]["spec"]["properties"]["replicas"]["type"] == "integer"
    _, v2 = raw_request(url, "GET", "/openapi/v2")
    assert "com.example.stable.v1.CronTab" in v2["definitions"]
    _, table = raw_request(
        url,
        "GET",
        f"/apis/{GROUP}/v1/namespaces/default/crontabs",
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
    )
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Spec", "Replicas"]
    assert table["rows"][0]["cells"] == ["a", "* * * * */5", 1]


def test_name_conflicts_and_invalid_crds(apis: tuple[k8s.ApiextensionsV1Api, k8s.CustomObjectsApi]) -> None:
    ext, _ = apis
    other = copy.deepcopy(CRD)
    other["metadata"]["name"] = f"crontabs2.{GROUP}"
    other["spec"]["names"] = {"plural": "crontabs2", "kind": "CronTab"}
    ext.create_custom_resource_definition(other)
    deadline = time.monotonic() + 1
    while True:
        crd = ext.read_custom_resource_definition(f"crontabs2.{GROUP}")
        conditions = {c.type: c for c in crd.status.conditions or []}
        if "NamesAccepted" in conditions:
            break
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert (conditions["NamesAccepted"].status, conditions["NamesAccepted"].reason) == ("False", "ListKindConflict")
    assert conditions["NamesAccepted"].message == '"CronTabList" is already in use'
    assert (conditions["Established"].status, conditions["Established"].reason) == ("False", "NotAccepted")
    with pytest.raises(ApiException) as info:
        k8s.CustomObjectsApi(ext.api_client).list_namespaced_custom_object(GROUP, "v1", "default", "crontabs2")
    assert info.value.status == 404

    bad = copy.deepcopy(CRD)
    bad["metadata"]["name"] = f"widgets.{GROUP}"
    bad["spec"]["names"] = {"plural": "widgets", "kind": "Widget"}
    bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["image"] = {}
    with pytest.raises(ApiException) as info:
        ext.create_custom_resource_definition(bad)
    assert info.value.status == 422
    assert body(info.value)["details"]["causes"] == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value: must not be empty for specified object fields",
            "field": "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[image].type",
        }
    ]
    crd = ext.read_custom_resource_definition(NAME)
    crd.spec.scope = "Cluster"
    with pytest.raises(ApiException) as info:
        ext.replace_custom_resource_definition(NAME, crd)
    assert body(info.value)["details"]["causes"][0]["message"] == 'Invalid value: "Cluster": field is immutable'


def test_patterns_are_gos_regular_expressions(apis: tuple[k8s.ApiextensionsV1Api, k8s.CustomObjectsApi]) -> None:
    ext, objects = apis
    image_schema = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]

    lookbehind = copy.deepcopy(CRD)  # Python's re has lookbehind; Go's regexp (RE2) has not
    lookbehind["metadata"]["name"] = f"gadgets.{GROUP}"
    lookbehind["spec"]["names"] = {"plural": "gadgets", "kind": "Gadget"}
    properties = lookbehind["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    properties["image"] = {"type": "string", "pattern": "(?<=a)b"}
    with pytest.raises(ApiException) as info:
        ext.create_custom_resource_definition(lookbehind)
    assert info.value.status == 422
    assert body(info.value)["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "(?<=a)b": must be a valid regular expression, but isn\'t: '
            "error parsing regexp: invalid or unsupported Perl syntax: `(?<=`",
            "field": "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[image].pattern",
        }
    ]

    backtracking = copy.deepcopy(CRD)  # a minute per object with a backtracking engine; linear here, as upstream
    backtracking["metadata"]["name"] = f"gizmos.{GROUP}"
    backtracking["spec"]["names"] = {"plural": "gizmos", "kind": "Gizmo"}
    properties = backtracking["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    properties["image"] = {"type": "string", "pattern": "^(a+)+$"}
    ext.create_custom_resource_definition(backtracking)
    wait_established(ext, f"gizmos.{GROUP}")
    gizmo = {**cron("g"), "kind": "Gizmo"}
    gizmo["spec"]["image"] = "a" * 40 + "b"
    started = time.monotonic()
    with pytest.raises(ApiException) as info:
        objects.create_namespaced_custom_object(GROUP, "v1", "default", "gizmos", gizmo)
    assert info.value.status == 422 and time.monotonic() - started < 5
    assert "should match '^(a+)+$'" in body(info.value)["message"]
    gizmo["spec"]["image"] = "a" * 40
    objects.create_namespaced_custom_object(GROUP, "v1", "default", "gizmos", gizmo)
    assert image_schema["image"] == {"type": "string"}  # the shared CRD body was not touched


def test_nesting_up_to_the_limit_is_stored_and_served_beyond_it_refused(
    threaded_server: ThreadedServer, k8s_client: k8s.ApiClient
) -> None:
    url, json_body = threaded_server.url, {"Content-Type": "application/json"}
    blobs = free_form_kind(k8s_client, "blobs", "Blob")

    def blob(name: str, depth: int) -> bytes:  # the whole body ``depth`` levels deep
        body = {"apiVersion": f"{GROUP}/v1", "kind": "Blob", "metadata": {"name": name}, "spec": blob_value(depth - 1)}
        return json.dumps(body).encode()

    assert raw_request(url, "POST", blobs, blob("deep", MAX_NESTING_DEPTH), json_body)[0] == 201
    assert raw_request(url, "GET", blobs + "/deep")[0] == 200
    table = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
    assert raw_request(url, "GET", blobs, None, table)[0] == 200
    merge = {"Content-Type": "application/merge-patch+json"}
    assert raw_request(url, "PATCH", blobs + "/deep", b'{"metadata": {"labels": {"a": "b"}}}', merge)[0] == 200
    with urllib.request.urlopen(url + blobs + "?watch=1&timeoutSeconds=1", timeout=10) as response:
        assert json.loads(response.readline())["object"]["metadata"]["name"] == "deep"

    status, answer = raw_request(url, "POST", blobs, blob("deeper", MAX_NESTING_DEPTH + 1), json_body)
    assert (status, answer["reason"]) == (400, "BadRequest")
    assert "nested too deeply" in answer["message"]
    deeper_patch = json.dumps({"spec": blob_value(MAX_NESTING_DEPTH)}).encode()
    assert raw_request(url, "PATCH", blobs + "/deep", deeper_patch, merge)[0] == 400


def free_form_kind(k8s_client: k8s.ApiClient, plural: str, kind: str) -> str:
    """Define a kind whose schema keeps every field (established when this returns); its collection's path."""
    free = copy.deepcopy(CRD)
    free["metadata"]["name"] = f"{plural}.{GROUP}"
    free["spec"]["names"] = {"plural": plural, "kind": kind}
    free["spec"]["versions"] = [
        {
            "name": "v1",
            "served": True,
            "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
        }
    ]
    k8s.ApiextensionsV1Api(k8s_client).create_custom_resource_definition(free)
    wait_established(k8s.ApiextensionsV1Api(k8s_client), f"{plural}.{GROUP}")
    return f"/apis/{GROUP}/v1/namespaces/default/{plural}"


def test_a_patch_read_as_yaml_holds_numbers_as_go_reads_them(k8s_client: k8s.ApiClient) -> None:
    """A merge patch orjson cannot read (an integer beyond a float64) is read as YAML, as Go's YAML reads it: such an
    integer is its text, a smaller one beyond 64 bits a float (it was a 500 when the object was stored)."""
    free_form_kind(k8s_client, "numbers", "Number")
    objects = k8s.CustomObjectsApi(k8s_client)
    number = {"apiVersion": f"{GROUP}/v1", "kind": "Number", "metadata": {"name": "n"}, "spec": {}}
    objects.create_namespaced_custom_object(GROUP, "v1", "default", "numbers", number)
    patch = {"spec": {"huge": 10**400, "big": 10**30, "items": [{"name": 10**400}]}}
    patched = objects.patch_namespaced_custom_object(GROUP, "v1", "default", "numbers", "n", patch)
    assert patched["spec"] == {"huge": "1" + "0" * 400, "big": 1e30, "items": [{"name": "1" + "0" * 400}]}
    assert objects.get_namespaced_custom_object(GROUP, "v1", "default", "numbers", "n")["spec"] == patched["spec"]


def blob_value(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def test_deleting_a_crd_deletes_its_objects(apis: tuple[k8s.ApiextensionsV1Api, k8s.CustomObjectsApi]) -> None:
    ext, co = apis
    for name in ("a", "b"):
        co.create_namespaced_custom_object(GROUP, "v1", "default", "crontabs", cron(name))
    ext.delete_custom_resource_definition(NAME)
    deadline = time.monotonic() + 5
    while True:
        try:
            ext.read_custom_resource_definition(NAME)
        except ApiException as exc:
            assert exc.status == 404
            break
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with pytest.raises(ApiException) as info:
        co.list_namespaced_custom_object(GROUP, "v1", "default", "crontabs")
    assert info.value.status == 404
    # Created again, it starts empty.
    ext.create_custom_resource_definition(copy.deepcopy(CRD))
    wait_established(ext, NAME)
    assert co.list_namespaced_custom_object(GROUP, "v1", "default", "crontabs")["items"] == []


def test_crds_are_served_again_after_a_restart(tmp_path: Path) -> None:
    first = ThreadedServer(tmp_path)
    try:
        api = k8s.ApiClient(k8s.Configuration(host=first.url))
        ext = k8s.ApiextensionsV1Api(api)
        ext.create_custom_resource_definition(copy.deepcopy(CRD))
        wait_established(ext, NAME)
        k8s.CustomObjectsApi(api).create_namespaced_custom_object(GROUP, "v1", "default", "crontabs", cron("a"))
    finally:
        first.close()
    second = ThreadedServer(tmp_path)
    try:
        api = k8s.ApiClient(k8s.Configuration(host=second.url))
        got = k8s.CustomObjectsApi(api).get_namespaced_custom_object(GROUP, "v1", "default", "crontabs", "a")
        assert got["spec"]["replicas"] == 1
    finally:
        second.close()


def test_watchers_get_custom_resources_at_their_own_version(
    apis: tuple[k8s.ApiextensionsV1Api, k8s.CustomObjectsApi],
) -> None:
    """Watch events are converted (and defaulted) per served version, whichever version each watcher asked for."""
    from kubernetes import watch

    _, co = apis
    co.create_namespaced_custom_object(GROUP, "v1", "default", "crontabs", cron("w1"))
    rv = co.list_namespaced_custom_object(GROUP, "v1", "default", "crontabs")["metadata"]["resourceVersion"]
    co.create_namespaced_custom_object(GROUP, "v1beta1", "default", "crontabs", cron("w2", version="v1beta1"))
    co.patch_namespaced_custom_object(GROUP, "v1", "default", "crontabs", "w1", {"spec": {"replicas": 3}})

    def events(version: str) -> list[tuple[str, str, str, Any]]:
        seen = []
        stream = watch.Watch().stream(
            co.list_namespaced_custom_object,
            GROUP,
            version,
            "default",
            "crontabs",
            resource_version=rv,
            timeout_seconds=2,
        )
        for event in stream:
            obj = event["object"]
            seen.append((event["type"], obj["apiVersion"], obj["metadata"]["name"], obj["spec"].get("replicas")))
            if len(seen) == 2:
                break
        return seen

    for version in ("v1beta1", "v1", "v1beta1"):
        # w2 was made at v1beta1, whose schema has no default for replicas: only a v1 reader sees v1's default.
        assert events(version) == [
            ("ADDED", f"{GROUP}/{version}", "w2", 1 if version == "v1" else None),
            ("MODIFIED", f"{GROUP}/{version}", "w1", 3),
        ]


def test_a_default_added_to_the_schema_later_is_served_on_every_read(
    apis: tuple[k8s.ApiextensionsV1Api, k8s.CustomObjectsApi],
) -> None:
    """Upstream defaults custom resources as they are read from storage, so a default added to the schema after
    an object was stored shows on every read of it (get, list, watch), while the stored object stays as it was
    (the v1beta1 schema has no defaults: it serves the object as stored)."""
    from kubernetes import watch

    ext, co = apis
    co.create_namespaced_custom_object(GROUP, "v1", "default", "crontabs", cron("old"))
    spec_schema = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    patched = copy.deepcopy(spec_schema)
    patched["properties"]["suspend"] = {"type": "boolean", "default": False}
    versions = copy.deepcopy(CRD["spec"]["versions"])
    versions[0]["schema"]["openAPIV3Schema"]["properties"]["spec"] = patched
    ext.patch_custom_resource_definition(NAME, {"spec": {"versions": versions}})
    deadline = time.monotonic() + 5
    while "suspend" not in co.get_namespaced_custom_object(GROUP, "v1", "default", "crontabs", "old")["spec"]:
        assert time.monotonic() < deadline, "the new default is not served"
        time.sleep(0.02)
    want = {"cronSpec": "* * * * */5", "image": "img", "replicas": 1, "maxReplicas": 10, "suspend": False}
    assert co.get_namespaced_custom_object(GROUP, "v1", "default", "crontabs", "old")["spec"] == want
    (listed,) = co.list_namespaced_custom_object(GROUP, "v1", "default", "crontabs")["items"]
    assert listed["spec"] == want
    stream = watch.Watch().stream(
        co.list_namespaced_custom_object, GROUP, "v1", "default", "crontabs", timeout_seconds=2
    )
    for event in stream:
        assert (event["type"], event["object"]["spec"]) == ("ADDED", want)
        break
    stored = co.get_namespaced_custom_object(GROUP, "v1beta1", "default", "crontabs", "old")["spec"]
    assert stored == {"cronSpec": "* * * * */5", "image": "img", "replicas": 1, "maxReplicas": 10}
    # An object written with every default is served as written, at both versions.
    co.create_namespaced_custom_object(GROUP, "v1", "default", "crontabs", cron("new", suspend=True))
    assert co.get_namespaced_custom_object(GROUP, "v1", "default", "crontabs", "new")["spec"]["suspend"] is True
    assert co.get_namespaced_custom_object(GROUP, "v1beta1", "default", "crontabs", "new")["spec"]["suspend"] is True


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (("items",), {"type": "object", "required": [["name"]]},
         "json: cannot unmarshal array into Go struct field JSONSchemaProps.required of type string"),
        (("items",), ["x"], "json: cannot unmarshal string into Go value of type v1.JSONSchemaProps"),
        (("additionalProperties",), "x", "boolean or JSON schema expected"),
    ],
)  # fmt: skip
def test_a_schema_inside_items_or_additional_properties_is_decoded_as_go_does(
    threaded_server: ThreadedServer, where: tuple[str, ...], value: Any, message: str
) -> None:
    """A CRD schema's items and additionalProperties unmarshal themselves in Go: a wrong type inside them stops the
    decode with their own error (it reached the structural checks, and a list in ``required`` was a 500)."""
    bad = copy.deepcopy(CRD)
    spec_schema = bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    spec_schema["list"] = {"type": "array" if where == ("items",) else "object", where[0]: value}
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"  # raw: the client refuses such a body itself
    status, answer = raw_request(
        threaded_server.url, "POST", crds, json.dumps(bad).encode(), {"Content-Type": "application/json"}
    )
    assert status == 400
    assert answer["message"] == (
        f'CustomResourceDefinition in version "v1" cannot be handled as a CustomResourceDefinition: {message}'
    )


@pytest.mark.parametrize("metadata", ["true", 5, [1], True])
def test_custom_resource_metadata_that_is_no_object_is_refused(
    threaded_server: ThreadedServer, k8s_client: k8s.ApiClient, metadata: Any
) -> None:
    """Upstream decodes a custom resource's metadata into ObjectMeta: metadata that is no object stops the decode of
    a create or PUT body (400) and of a patch's result (422 on ``patch``), and nothing is written. (It was taken as
    empty: a PUT or merge patch kept the old metadata and wrote the rest, a create asked for a name.)"""
    plains = free_form_kind(k8s_client, "plains", "Plain")
    objects = k8s.CustomObjectsApi(k8s_client)
    plain = {"apiVersion": f"{GROUP}/v1", "kind": "Plain", "metadata": {"name": "p"}, "spec": {"a": 1}}
    before = objects.create_namespaced_custom_object(GROUP, "v1", "default", "plains", plain)
    go_type = {str: "string", int: "number", list: "array", bool: "bool"}[type(metadata)]
    message = f"json: cannot unmarshal {go_type} into Go value of type v1.ObjectMeta"
    bad = json.dumps({**plain, "metadata": metadata, "spec": {"a": 2}}).encode()
    as_json = {"Content-Type": "application/json"}
    for method, path in (("POST", plains), ("PUT", plains + "/p")):
        status, answer = raw_request(threaded_server.url, method, path, bad, as_json)
        assert (status, answer["message"]) == (400, f'Plain in version "v1" cannot be handled as a Plain: {message}')
    patches = [
        ("application/merge-patch+json", {"metadata": metadata, "spec": {"a": 2}}),
        ("application/json-patch+json", [{"op": "replace", "path": "/metadata", "value": metadata}]),
    ]
    for media, body in patches:
        status, answer = raw_request(
            threaded_server.url, "PATCH", plains + "/p", json.dumps(body).encode(), {"Content-Type": media}
        )
        assert (status, answer["details"]["causes"][0]["field"]) == (422, "patch"), answer
        assert answer["message"].endswith(message)
    after = objects.get_namespaced_custom_object(GROUP, "v1", "default", "plains", "p")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["spec"] == {"a": 1}


def test_custom_resource_metadata_must_fit_object_meta(
    threaded_server: ThreadedServer, k8s_client: k8s.ApiClient
) -> None:
    """Upstream decodes a custom resource's metadata into ObjectMeta: labels that are no map are refused (they were
    stored, and a list with a label selector then failed in the watch cache: a 500)."""
    odds = free_form_kind(k8s_client, "odds", "Odd")
    odd = {"apiVersion": f"{GROUP}/v1", "kind": "Odd", "metadata": {"name": "o", "labels": 5}}
    status, answer = raw_request(
        threaded_server.url, "POST", odds, json.dumps(odd).encode(), {"Content-Type": "application/json"}
    )
    assert (status, answer["message"]) == (
        400,
        'Odd in version "v1" cannot be handled as a Odd: '
        "json: cannot unmarshal number into Go struct field ObjectMeta.labels of type map[string]string",
    )
    objects = k8s.CustomObjectsApi(k8s_client)
    odd["metadata"]["labels"] = {"a": "1"}
    objects.create_namespaced_custom_object(GROUP, "v1", "default", "odds", odd)
    with pytest.raises(ApiException) as info:
        objects.patch_namespaced_custom_object(GROUP, "v1", "default", "odds", "o", {"metadata": {"labels": "x"}})
    assert info.value.status == 422 and json.loads(info.value.body)["details"]["causes"][0]["field"] == "patch"
    listed = objects.list_namespaced_custom_object(GROUP, "v1", "default", "odds", label_selector="a=1")
    assert [o["metadata"]["name"] for o in listed["items"]] == ["o"]
