"""The event recorder writes events.k8s.io/v1 Events, folding repeats into a series."""

from __future__ import annotations

import pytest

from pinnace.client.rest import ResourceRef, RestClient
from pinnace.runtime.clock import FakeClock
from pinnace.runtime.events import NORMAL, WARNING, EventRecorder

EVENTS = ResourceRef("events.k8s.io", "v1", "events")
CONFIGMAPS = ResourceRef("", "v1", "configmaps")


async def test_events_are_recorded_and_repeats_become_a_series(client: RestClient) -> None:
    cm = await client.create(CONFIGMAPS, {"metadata": {"name": "subject"}}, "default")
    clock = FakeClock()
    recorder = EventRecorder(client, "my-controller", "my-controller-0", clock=clock)
    recorder.event(cm, NORMAL, "Synced", "synced the subject")
    await recorder.flush()
    recorder.event(cm, NORMAL, "Synced", "synced the subject")
    recorder.event(cm, NORMAL, "Synced", "synced the subject")
    recorder.event(cm, WARNING, "Failed", "could not sync")
    await recorder.flush()
    events = (await client.list(EVENTS, "default"))["items"]
    by_reason = {e["reason"]: e for e in events}
    assert set(by_reason) == {"Synced", "Failed"}
    synced = by_reason["Synced"]
    assert synced["regarding"] == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "subject",
        "namespace": "default",
        "uid": cm["metadata"]["uid"],
        "resourceVersion": cm["metadata"]["resourceVersion"],
    }
    assert synced["reportingController"] == "my-controller"
    assert synced["reportingInstance"] == "my-controller-0"
    assert synced["type"] == "Normal" and synced["action"] == "Synced"
    assert synced["series"]["count"] == 3
    assert by_reason["Failed"]["type"] == "Warning" and "series" not in by_reason["Failed"]
    # After the series window, the same event starts a new Event object.
    await clock.advance(400)
    recorder.event(cm, NORMAL, "Synced", "synced the subject")
    await recorder.flush()
    assert len((await client.list(EVENTS, "default"))["items"]) == 3


async def test_event_type_is_checked(client: RestClient) -> None:
    recorder = EventRecorder(client, "c")
    with pytest.raises(ValueError):
        recorder.event({"metadata": {"name": "x"}}, "Info", "R", "n")


async def test_series_past_their_window_are_forgotten(client: RestClient) -> None:
    """The recorder remembers a series only for its window: a long-running controller does not grow without end."""
    clock = FakeClock()
    recorder = EventRecorder(client, "c", clock=clock)
    for i in range(3):
        cm = await client.create(CONFIGMAPS, {"metadata": {"name": f"old-{i}"}}, "default")
        recorder.event(cm, NORMAL, "Synced", "synced")
    await recorder.flush()
    assert len(recorder._seen) == 3
    await clock.advance(400)
    fresh = await client.create(CONFIGMAPS, {"metadata": {"name": "fresh"}}, "default")
    recorder.event(fresh, NORMAL, "Synced", "synced")
    await recorder.flush()
    assert [seen.name for seen in recorder._seen.values()] == [
        e["metadata"]["name"]
        for e in (await client.list(EVENTS, "default"))["items"]
        if e["regarding"]["name"] == "fresh"
    ]


async def test_a_repeat_recorded_while_the_first_is_written_joins_its_series(client: RestClient) -> None:
    cm = await client.create(CONFIGMAPS, {"metadata": {"name": "twice"}}, "default")
    recorder = EventRecorder(client, "c", clock=FakeClock())
    recorder.event(cm, NORMAL, "NoPods", "No matching pods found")
    recorder.event(cm, NORMAL, "NoPods", "No matching pods found")  # before the first is written
    await recorder.flush()
    events = [e for e in (await client.list(EVENTS, "default"))["items"] if e["regarding"]["name"] == "twice"]
    assert [e["series"]["count"] for e in events] == [2]
