"""core/v1 and events.k8s.io/v1 Events are one resource in two versions, as on kube-apiserver.

An Event written through either API is read, listed, watched, patched and
deleted through the other, with the fields renamed by the conversion.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient

from pinnace.api import errors
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.runtime.events import NORMAL, EventRecorder

CORE = ResourceRef("", "v1", "events")
EVENTS = ResourceRef("events.k8s.io", "v1", "events")
CONFIGMAPS = ResourceRef("", "v1", "configmaps")
NS = "default"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"

Obj = dict[str, Any]


def _ref(name: str = "cm", uid: str = "uid-1") -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "name": name, "namespace": NS, "uid": uid}


def _new_style(name: str, *, about: str = "cm", labels: dict[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name}
    if labels:
        meta["labels"] = labels
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": meta,
        "eventTime": "2024-05-01T10:00:00.123456Z",
        "reportingController": "example.com/tester",
        "reportingInstance": "tester-0",
        "action": "Checking",
        "reason": "Checked",
        "note": f"checked {about}",
        "type": "Normal",
        "regarding": _ref(about),
    }


def _old_style(name: str, *, about: str = "cm") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name},
        "involvedObject": _ref(about),
        "reason": "Legacy",
        "message": f"legacy {about}",
        "type": "Warning",
        "source": {"component": "old-tester", "host": "node-1"},
        "firstTimestamp": "2024-05-01T10:00:00Z",
        "lastTimestamp": "2024-05-01T10:05:00Z",
        "count": 4,
    }


def _names(listed: Obj) -> list[str]:
    return [item["metadata"]["name"] for item in listed["items"]]


async def test_an_events_k8s_io_event_is_a_core_event(client: RestClient) -> None:
    created = await client.create(EVENTS, _new_style("new.1"), NS)
    assert created["apiVersion"] == "events.k8s.io/v1" and created["note"] == "checked cm"

    core = await client.get(CORE, "new.1", NS)
    assert core["apiVersion"] == "v1" and core["kind"] == "Event"
    assert core["involvedObject"] == _ref()
    assert core["message"] == "checked cm"
    assert core["reportingComponent"] == "example.com/tester"
    assert core["reportingInstance"] == "tester-0"
    assert core["eventTime"] == "2024-05-01T10:00:00.123456Z"
    assert (core["action"], core["reason"], core["type"]) == ("Checking", "Checked", "Normal")
    for events_only in ("regarding", "note", "reportingController", "deprecatedSource"):
        assert events_only not in core
    assert core["metadata"]["uid"] == created["metadata"]["uid"]
    assert core["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert _names(await client.list(CORE, NS)) == ["new.1"]
    assert _names(await client.list(CORE)) == ["new.1"]


async def test_a_core_event_is_an_events_k8s_io_event(client: RestClient) -> None:
    await client.create(CORE, _old_style("old.1"), NS)
    event = await client.get(EVENTS, "old.1", NS)
    assert event["apiVersion"] == "events.k8s.io/v1"
    assert event["regarding"] == _ref()
    assert event["note"] == "legacy cm"
    assert event["deprecatedSource"] == {"component": "old-tester", "host": "node-1"}
    assert event["deprecatedFirstTimestamp"] == "2024-05-01T10:00:00Z"
    assert event["deprecatedLastTimestamp"] == "2024-05-01T10:05:00Z"
    assert event["deprecatedCount"] == 4
    for core_only in ("involvedObject", "message", "source", "firstTimestamp", "lastTimestamp", "count"):
        assert core_only not in event
    listed = await client.list(EVENTS, NS)
    assert listed["apiVersion"] == "events.k8s.io/v1" and listed["kind"] == "EventList"
    assert listed["items"][0]["regarding"] == _ref()


async def test_field_selectors_use_each_versions_names(client: RestClient) -> None:
    await client.create(EVENTS, _new_style("a.1", about="a"), NS)
    await client.create(CORE, _old_style("b.1", about="b"), NS)
    assert _names(await client.list(CORE, NS, fieldSelector="involvedObject.name=a")) == ["a.1"]
    assert _names(await client.list(EVENTS, NS, fieldSelector="regarding.name=b")) == ["b.1"]
    assert _names(await client.list(EVENTS, NS, fieldSelector="reportingController=example.com/tester")) == ["a.1"]
    assert _names(await client.list(CORE, NS, fieldSelector="reportingComponent=example.com/tester")) == ["a.1"]
    assert _names(await client.list(EVENTS, NS, fieldSelector="source=old-tester")) == ["b.1"]
    assert _names(await client.list(CORE, NS, fieldSelector="type=Normal")) == ["a.1"]
    with pytest.raises(errors.BadRequest, match=r"field label not supported: involvedObject\.name"):
        await client.list(EVENTS, NS, fieldSelector="involvedObject.name=a")
    with pytest.raises(errors.BadRequest, match=r"field label not supported: regarding\.name"):
        await client.list(CORE, NS, fieldSelector="regarding.name=a")


async def test_label_selectors_and_pages_span_both_apis(client: RestClient) -> None:
    for i in range(3):
        await client.create(EVENTS, _new_style(f"n.{i}", labels={"batch": "x"}), NS)
        await client.create(
            CORE, {**_old_style(f"o.{i}"), "metadata": {"name": f"o.{i}", "labels": {"batch": "x"}}}, NS
        )
    everything = ["n.0", "n.1", "n.2", "o.0", "o.1", "o.2"]
    assert _names(await client.list(CORE, NS, labelSelector="batch=x")) == everything
    for ref, field in ((CORE, "involvedObject"), (EVENTS, "regarding")):
        seen: list[str] = []
        params = {"limit": "4"}
        while True:
            page = await client.list(ref, NS, **params)
            assert all(field in item for item in page["items"])
            seen += _names(page)
            token = page["metadata"].get("continue")
            if not token:
                break
            params = {"limit": "4", "continue": token}
        assert seen == everything


async def test_writes_through_one_api_show_through_the_other(client: RestClient) -> None:
    await client.create(EVENTS, _new_style("w.1"), NS)
    series = {"count": 2, "lastObservedTime": "2024-05-01T10:01:00.000000Z"}
    await client.patch(EVENTS, "w.1", {"series": series}, NS)
    assert (await client.get(CORE, "w.1", NS))["series"] == series

    await client.create(CORE, _old_style("w.2"), NS)
    await client.patch(
        CORE, "w.2", {"count": 5, "message": "now five"}, NS, patch_type="application/strategic-merge-patch+json"
    )
    event = await client.get(EVENTS, "w.2", NS)
    assert (event["deprecatedCount"], event["note"]) == (5, "now five")

    replaced = {**event, "metadata": {**event["metadata"], "labels": {"seen": "yes"}}}
    updated = await client.update(EVENTS, replaced)
    assert updated["deprecatedCount"] == 5 and updated["regarding"] == _ref()
    core = await client.get(CORE, "w.2", NS)
    assert core["metadata"]["labels"] == {"seen": "yes"} and core["count"] == 5 and core["message"] == "now five"


async def test_server_side_apply_through_events_k8s_io(client: RestClient) -> None:
    applied = await client.apply(
        EVENTS, {**_new_style("ssa.1"), "metadata": {"name": "ssa.1", "namespace": NS}}, field_manager="tester"
    )
    assert applied["note"] == "checked cm"
    core = await client.get(CORE, "ssa.1", NS)
    assert core["message"] == "checked cm"
    assert core["metadata"]["managedFields"][0]["apiVersion"] == "events.k8s.io/v1"


async def test_delete_through_one_api_removes_from_both(client: RestClient) -> None:
    await client.create(EVENTS, _new_style("d.1"), NS)
    await client.create(CORE, _old_style("d.2"), NS)
    await client.delete(CORE, "d.1", NS)
    await client.delete(EVENTS, "d.2", NS)
    for ref in (CORE, EVENTS):
        for name in ("d.1", "d.2"):
            with pytest.raises(errors.NotFound):
                await client.get(ref, name, NS)

    await client.create(CORE, _old_style("c.1"), NS)
    await client.create(EVENTS, _new_style("c.2"), NS)
    gone = await client.delete_collection(EVENTS, NS)
    assert gone["apiVersion"] == "events.k8s.io/v1" and sorted(_names(gone)) == ["c.1", "c.2"]
    assert all("regarding" in item for item in gone["items"])
    assert _names(await client.list(CORE, NS)) == []


async def _watched(client: RestClient, ref: ResourceRef, resource_version: str) -> list[tuple[str, Obj]]:
    return [
        (ev.type, ev.object)
        async for ev in client.watch(ref, NS, resource_version=resource_version, timeout_seconds=1)
        if ev.type != "BOOKMARK"
    ]


async def test_each_watch_sees_the_other_apis_writes(client: RestClient) -> None:
    start = (await client.list(CORE, NS))["metadata"]["resourceVersion"]
    await client.create(EVENTS, _new_style("x.1"), NS)
    await client.create(CORE, _old_style("x.2"), NS)
    await client.delete(EVENTS, "x.2", NS)

    core_events = await _watched(client, CORE, start)
    assert [(t, o["metadata"]["name"]) for t, o in core_events] == [
        ("ADDED", "x.1"),
        ("ADDED", "x.2"),
        ("DELETED", "x.2"),
    ]
    assert all(o["apiVersion"] == "v1" and "involvedObject" in o and "regarding" not in o for _, o in core_events)

    new_events = await _watched(client, EVENTS, start)
    assert [(t, o["metadata"]["name"]) for t, o in new_events] == [
        ("ADDED", "x.1"),
        ("ADDED", "x.2"),
        ("DELETED", "x.2"),
    ]
    assert all(
        o["apiVersion"] == "events.k8s.io/v1" and "regarding" in o and "involvedObject" not in o for _, o in new_events
    )
    assert new_events[1][1]["note"] == "legacy cm"

    selected = [
        o["metadata"]["name"]
        async for ev in client.watch(
            EVENTS, NS, resource_version=start, timeout_seconds=1, fieldSelector="regarding.name=cm"
        )
        if ev.type == "ADDED" and (o := ev.object)
    ]
    assert selected == ["x.1", "x.2"]


async def test_tables_of_either_api_print_events_of_both(client: RestClient) -> None:
    await client.create(EVENTS, _new_style("t.1"), NS)
    await client.create(CORE, _old_style("t.2"), NS)
    for ref in (CORE, EVENTS):
        table = await client.request("GET", ref.path(NS), accept=TABLE)
        rows = {row["object"]["metadata"]["name"]: row["cells"] for row in table["rows"]}
        assert set(rows) == {"t.1", "t.2"}
        assert "checked cm" in rows["t.1"] and "legacy cm" in rows["t.2"]


async def test_events_k8s_io_writes_are_validated_strictly(client: RestClient) -> None:
    bare = {"metadata": {"name": "bad.1"}, "regarding": _ref(), "note": "n", "reason": "R"}
    with pytest.raises(errors.Invalid) as caught:
        await client.create(EVENTS, bare, NS)
    fields = {c["field"] for c in caught.value.status()["details"]["causes"]}
    assert {"eventTime", "type"} <= fields

    stale = {**_new_style("bad.2"), "deprecatedCount": 3, "deprecatedSource": {"component": "x"}}
    with pytest.raises(errors.Invalid) as caught:
        await client.create(EVENTS, stale, NS)
    fields = {c["field"] for c in caught.value.status()["details"]["causes"]}
    assert fields == {"count", "source"}

    missing = {
        k: v for k, v in _new_style("bad.3").items() if k not in ("reportingController", "reportingInstance", "action")
    }
    with pytest.raises(errors.Invalid) as caught:
        await client.create(EVENTS, missing, NS)
    causes = caught.value.status()["details"]["causes"]
    assert {(c["reason"], c["field"]) for c in causes} >= {
        ("FieldValueRequired", "reportingController"),
        ("FieldValueRequired", "reportingInstance"),
        ("FieldValueRequired", "action"),
    }

    # The same body without eventTime is a valid legacy Event through core/v1, not through events.k8s.io.
    legacy = {"metadata": {"name": "ok.1"}, "involvedObject": _ref(), "message": "m", "reason": "R"}
    await client.create(CORE, legacy, NS)

    await client.create(EVENTS, _new_style("imm.1"), NS)
    with pytest.raises(errors.Invalid, match="field is immutable"):
        await client.patch(EVENTS, "imm.1", {"note": "changed"}, NS)
    with pytest.raises(errors.Invalid, match="should be at least 2"):
        await client.patch(
            EVENTS, "imm.1", {"series": {"count": 1, "lastObservedTime": "2024-05-01T10:00:00.000000Z"}}, NS
        )
    # core/v1 keeps the legacy rules: the message of the same Event may change there.
    assert (await client.patch(CORE, "imm.1", {"message": "changed"}, NS))["message"] == "changed"


async def test_legacy_rules_apply_through_core(client: RestClient) -> None:
    elsewhere = {**_old_style("ns.1"), "involvedObject": {**_ref(), "namespace": "kube-system"}}
    with pytest.raises(errors.Invalid, match=r"does not match event\.namespace"):
        await client.create(CORE, elsewhere, NS)
    new_style = {**_old_style("ns.2"), "eventTime": "2024-05-01T10:00:00.000000Z"}
    with pytest.raises(errors.Invalid) as caught:
        await client.create(CORE, new_style, NS)
    fields = {c["field"] for c in caught.value.status()["details"]["causes"]}
    assert {"reportingController", "reportingInstance", "action"} <= fields


@pytest.mark.parametrize("core", [True, False])
async def test_the_event_recorder_writes_events_both_apis_read(client: RestClient, core: bool) -> None:
    cm = await client.create(CONFIGMAPS, {"metadata": {"name": "subject"}}, NS)
    recorder = EventRecorder(client, "my-controller", "my-controller-0", core=core)
    recorder.event(cm, NORMAL, "Synced", "synced the subject")
    await recorder.flush()
    recorder.event(cm, NORMAL, "Synced", "synced the subject")
    await recorder.flush()
    [event] = (await client.list(EVENTS, NS, fieldSelector="regarding.name=subject"))["items"]
    [legacy] = (await client.list(CORE, NS, fieldSelector="involvedObject.name=subject"))["items"]
    assert event["metadata"]["name"] == legacy["metadata"]["name"]
    assert event["note"] == legacy["message"] == "synced the subject"
    assert legacy["involvedObject"]["uid"] == cm["metadata"]["uid"]
    if core:
        assert legacy["count"] == event["deprecatedCount"] == 2
    else:
        assert legacy["series"]["count"] == event["series"]["count"] == 2


def test_the_official_client_reads_across_apis(k8s_client: ApiClient) -> None:
    events_api = k8s.EventsV1Api(k8s_client)
    core_api = k8s.CoreV1Api(k8s_client)
    events_api.create_namespaced_event(NS, _new_style("official.1"))
    [listed] = core_api.list_namespaced_event(NS).items
    assert listed.involved_object.name == "cm" and listed.message == "checked cm"
    assert listed.reporting_component == "example.com/tester"
    core_api.delete_namespaced_event("official.1", NS)
    assert events_api.list_namespaced_event(NS).items == []


async def test_discovery_gives_both_apis_the_storage_version_hash_of_core_events(client: RestClient) -> None:
    core = await client.request("GET", "/api/v1")
    events = await client.request("GET", "/apis/events.k8s.io/v1")
    hashes = [
        next(r["storageVersionHash"] for r in doc["resources"] if r["name"] == "events") for doc in (core, events)
    ]
    assert hashes == ["r2yiGXH7wu8=", "r2yiGXH7wu8="]  # upstream's: one storage, one hash
