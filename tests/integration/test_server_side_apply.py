"""Server-side apply over HTTP: the PATCH media type, its options, status codes and managedFields on every write."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api import errors
from pinnace.client.rest import ResourceRef, RestClient

DEPLOYMENTS = ResourceRef("apps", "v1", "deployments")
CONFIGMAPS = ResourceRef("", "v1", "configmaps")
APPLY = "application/apply-patch+yaml"


def deployment(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
        },
    }


async def apply(client: RestClient, body: Any, manager: str | None = "m", **params: str) -> dict[str, Any]:
    query = dict(params)
    if manager is not None:
        query["fieldManager"] = manager
    path = DEPLOYMENTS.path("default", "web", params.pop("subresource", None))
    query.pop("subresource", None)
    return await client.request("PATCH", path, body=body, content_type=APPLY, params=query)


def managers(obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(e["manager"], e["operation"], e.get("subresource", "")) for e in obj["metadata"]["managedFields"]]


async def test_apply_creates_updates_and_conflicts(client: RestClient) -> None:
    created = await apply(client, deployment(2))
    assert created["spec"]["replicas"] == 2
    assert managers(created) == [("m", "Apply", "")]
    assert created["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:replicas"] == {}

    with pytest.raises(errors.Conflict) as caught:
        await apply(client, deployment(3), manager="other")
    status = caught.value.status()
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "m": .spec.replicas'
    assert status["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "m"', "field": ".spec.replicas"}
    ]

    dry = await apply(client, deployment(4), manager="other", force="true", dryRun="All")
    assert dry["spec"]["replicas"] == 4
    assert (await client.get(DEPLOYMENTS, "web", "default"))["spec"]["replicas"] == 2

    forced = await apply(client, deployment(3), manager="other", force="true")
    assert forced["spec"]["replicas"] == 3
    assert sorted(managers(forced)) == [("m", "Apply", ""), ("other", "Apply", "")]


async def test_apply_options_are_checked(client: RestClient) -> None:
    with pytest.raises(errors.Invalid) as caught:
        await apply(client, deployment(1), manager=None)
    assert caught.value.message == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'
    )
    with pytest.raises(errors.UnsupportedMediaType, match="application/apply-patch\\+yaml"):
        await client.request(
            "PATCH",
            DEPLOYMENTS.path("default", "web"),
            body=b"\xa0",
            content_type="application/apply-patch+cbor",
            params={"fieldManager": "m"},
        )
    with pytest.raises(errors.BadRequest, match="Incorrect version specified in apply patch"):
        await apply(client, {**deployment(1), "apiVersion": "apps/v1beta1"})
    yaml_body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: yml\ndata:\n  a: b\n"  # a plain y is a bool
    made = await client.request(
        "PATCH", CONFIGMAPS.path("default", "yml"), body=yaml_body, content_type=APPLY, params={"fieldManager": "m"}
    )
    assert made["data"] == {"a": "b"}


async def test_status_apply_is_recorded_for_the_status_subresource(client: RestClient) -> None:
    await apply(client, deployment(1))
    status_cfg = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "status": {"replicas": 1}}
    out = await apply(client, status_cfg, manager="ctrl", subresource="status")
    assert out["status"]["replicas"] == 1
    entry = next(e for e in out["metadata"]["managedFields"] if e["manager"] == "ctrl")
    assert entry["subresource"] == "status"
    assert entry["fieldsV1"] == {"f:status": {"f:replicas": {}}}


async def test_plain_writes_record_update_entries(client: RestClient) -> None:
    created = await client.request(
        "POST",
        CONFIGMAPS.path("default"),
        body={"metadata": {"name": "c"}, "data": {"a": "1"}},
        params={"fieldManager": "creator"},
    )
    assert managers(created) == [("creator", "Update", "")]
    patched = await client.patch(CONFIGMAPS, "c", {"data": {"b": "2"}}, namespace="default")
    entries = {e["manager"]: e for e in patched["metadata"]["managedFields"]}
    assert entries["creator"]["fieldsV1"] == {"f:data": {".": {}, "f:a": {}}}
    by_agent = next(m for m in entries if m != "creator")  # named after the client's User-Agent product
    assert entries[by_agent]["fieldsV1"] == {"f:data": {"f:b": {}}}

    reset = await client.patch(CONFIGMAPS, "c", {"metadata": {"managedFields": [{}]}}, namespace="default")
    assert "managedFields" not in reset["metadata"]


async def test_force_is_any_value_but_false_and_0_as_upstream_reads_it(client: RestClient) -> None:
    await apply(client, deployment(2))
    for refused in ("false", "0"):
        with pytest.raises(errors.Conflict):
            await apply(client, deployment(3), manager="other", force=refused)
    taken = await apply(client, deployment(3), manager="other", force="yes")  # upstream: true (as "t" and "")
    assert taken["spec"]["replicas"] == 3 and ("other", "Apply", "") in managers(taken)
