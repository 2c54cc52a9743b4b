"""A create or update skips its second normalising walk only when nothing could have made the object abnormal.

The decode check of a create body, an update body or a patch's result proves
it normal (nothing a decode/encode round trip changes; for a custom resource:
pruned and defaulted by its schema); a mutating admission plugin that handled
the request voids that proof, so what it adds is normalised as before: empty
maps and lists and nulls go, unknown fields are dropped.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pinnace.apiserver.admission import AdmissionRequest
from pinnace.apiserver.server import APIServer
from pinnace.client.rest import ResourceRef, RestClient

DEPLOYMENTS = ResourceRef("apps", "v1", "deployments")
CONFIGMAPS = ResourceRef("", "v1", "configmaps")
CRDS = ResourceRef("apiextensions.k8s.io", "v1", "customresourcedefinitions")
WIDGETS = ResourceRef("example.com", "v1", "widgets")


class Sloppy:
    """Adds what a round trip would drop to every Deployment it admits."""

    name = "Sloppy"

    def handles(self, request: AdmissionRequest) -> bool:
        return request.info.plural in ("deployments", "widgets")

    async def admit(self, request: AdmissionRequest) -> None:
        assert request.obj is not None
        if request.info.plural == "widgets":
            if request.obj["metadata"]["name"] == "sloppy":
                request.obj["spec"]["colour"] = "red"  # not in the schema
            return
        request.obj["metadata"]["annotations"] = {}
        request.obj["metadata"]["finalizers"] = None
        request.obj["spec"]["colour"] = "red"
        request.obj["spec"]["template"]["spec"]["containers"][0]["ports"] = []


@pytest.fixture
def rest(api_server: APIServer, client: RestClient) -> RestClient:
    """The shared test server's client, with :class:`Sloppy` in the server's mutating phase."""
    assert api_server.rest.admission is not None
    api_server.rest.admission.mutating.append(Sloppy())
    return client


def _deployment(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
        },
    }


async def test_what_a_mutating_plugin_adds_to_a_normal_body_is_normalised(rest: RestClient) -> None:
    created = await rest.create(DEPLOYMENTS, _deployment("web"), "default")
    assert "annotations" not in created["metadata"] and "finalizers" not in created["metadata"]
    assert "colour" not in created["spec"]
    container = created["spec"]["template"]["spec"]["containers"][0]
    assert "ports" not in container
    assert container["imagePullPolicy"] == "Always" and container["resources"] == {}  # defaults, kept
    assert list(created)[:3] == ["kind", "apiVersion", "metadata"]
    assert created == await rest.get(DEPLOYMENTS, "web", "default")


async def test_a_normal_body_no_plugin_touched_is_stored_in_order_with_its_defaults(rest: RestClient) -> None:
    body = {"data": {"a": "b"}, "metadata": {"name": "cm", "labels": {"x": "y"}}}
    created = await rest.create(CONFIGMAPS, body, "default")
    assert list(created) == ["kind", "apiVersion", "metadata", "data"]
    assert created["data"] == {"a": "b"} and created["metadata"]["labels"] == {"x": "y"}
    odd = {"data": {}, "metadata": {"name": "cm2", "annotations": {}, "finalizers": []}}
    created = await rest.create(CONFIGMAPS, odd, "default")
    assert "data" not in created and set(created["metadata"]) == {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    }


async def test_what_a_mutating_plugin_adds_on_update_is_normalised(rest: RestClient) -> None:
    await rest.create(DEPLOYMENTS, _deployment("web"), "default")
    patched = await rest.patch(DEPLOYMENTS, "web", {"metadata": {"labels": {"v": "2"}}}, "default")
    whole = {**_deployment("web"), "metadata": {"name": "web", "namespace": "default"}}
    replaced = await rest.update(DEPLOYMENTS, whole)
    for updated in (patched, replaced):
        assert "annotations" not in updated["metadata"] and "finalizers" not in updated["metadata"]
        assert "colour" not in updated["spec"]
        assert "ports" not in updated["spec"]["template"]["spec"]["containers"][0]
    assert replaced == await rest.get(DEPLOYMENTS, "web", "default")


JSON_PATCH = "application/json-patch+json"


async def test_an_update_no_plugin_touched_is_normalised_unless_its_check_found_it_normal(rest: RestClient) -> None:
    await rest.create(CONFIGMAPS, {"metadata": {"name": "cm"}, "data": {"a": "b"}}, "default")
    tidy = await rest.patch(CONFIGMAPS, "cm", {"metadata": {"labels": {"x": "y"}}}, "default")
    assert tidy["metadata"]["labels"] == {"x": "y"} and tidy["data"] == {"a": "b"}
    assert list(tidy) == ["kind", "apiVersion", "metadata", "data"]
    odd = [
        {"op": "add", "path": "/metadata/annotations", "value": {}},
        {"op": "add", "path": "/binaryData", "value": {}},
    ]
    patched = await rest.patch(CONFIGMAPS, "cm", odd, "default", patch_type=JSON_PATCH)
    assert "annotations" not in patched["metadata"] and "binaryData" not in patched
    body = {"metadata": {"name": "cm", "namespace": "default", "finalizers": [], "labels": {}}, "data": {}}
    replaced = await rest.update(CONFIGMAPS, body)
    assert "data" not in replaced and "finalizers" not in replaced["metadata"] and "labels" not in replaced["metadata"]
    assert replaced == await rest.get(CONFIGMAPS, "cm", "default")


async def test_a_custom_resource_is_pruned_again_only_if_admission_may_have_changed_it(rest: RestClient) -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {"size": {"type": "integer", "default": 1}, "shape": {"type": "string"}},
            }
        },
    }
    crd = {
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}],
        },
    }
    await rest.create(CRDS, crd)
    for _ in range(100):
        if any(
            r.get("name") == "widgets" for r in (await rest.request("GET", "/apis/example.com/v1")).get("resources", [])
        ):
            break
        await asyncio.sleep(0.02)
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"shape": "round", "extra": 1}}
    tidy = await rest.create(WIDGETS, {**body, "metadata": {"name": "tidy"}}, "default")
    assert tidy["spec"] == {"shape": "round", "size": 1}  # pruned by the check, then defaulted
    sloppy = await rest.create(WIDGETS, {**body, "metadata": {"name": "sloppy"}}, "default")
    assert sloppy["spec"] == {"shape": "round", "size": 1}  # what admission added is pruned too
    assert sloppy == await rest.get(WIDGETS, "sloppy", "default")

    # updates: a patch's result and a replacement, pruned and defaulted by their check (or, under
    # fieldValidation=Ignore, which skips the check, by the decode), and again after a plugin changed them
    extra = {"spec": {"extra": 2, "size": None}}
    assert (await rest.patch(WIDGETS, "tidy", extra, "default"))["spec"] == {"shape": "round", "size": 1}
    ignored = await rest.request(
        "PATCH",
        WIDGETS.path("default", "tidy"),
        body=extra,
        params={"fieldValidation": "Ignore"},
        content_type="application/merge-patch+json",
    )
    assert ignored["spec"] == {"shape": "round", "size": 1}
    replaced = await rest.update(WIDGETS, {**body, "metadata": {"name": "tidy", "namespace": "default"}})
    assert replaced["spec"] == {"shape": "round", "size": 1}
    resized = await rest.patch(WIDGETS, "sloppy", {"spec": {"size": 2}}, "default")
    assert resized["spec"] == {"shape": "round", "size": 2}  # the plugin's colour pruned
    assert resized == await rest.get(WIDGETS, "sloppy", "default")
