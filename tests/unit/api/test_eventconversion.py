"""core/v1 <-> events.k8s.io/v1 Event conversion, and the generic conversion front that serves it."""

from __future__ import annotations

import copy

from pinnace.api import conversion, eventconversion
from pinnace.api.registry import builtin_registry

META = {"name": "cm.1", "namespace": "default", "uid": "u-1", "resourceVersion": "7"}
REF = {"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "namespace": "default", "uid": "c-1"}

CORE = {
    "apiVersion": "v1",
    "kind": "Event",
    "metadata": META,
    "involvedObject": REF,
    "related": {"kind": "Pod", "name": "p"},
    "message": "hello",
    "reason": "Tested",
    "action": "Testing",
    "type": "Warning",
    "source": {"component": "tester", "host": "h1"},
    "firstTimestamp": "2024-01-01T00:00:00Z",
    "lastTimestamp": "2024-01-01T00:01:00Z",
    "count": 3,
    "eventTime": "2024-01-01T00:00:00.000001Z",
    "series": {"count": 2, "lastObservedTime": "2024-01-01T00:01:00.000001Z"},
    "reportingComponent": "tester",
    "reportingInstance": "tester-1",
}

EVENTS = {
    "apiVersion": "events.k8s.io/v1",
    "kind": "Event",
    "metadata": META,
    "regarding": REF,
    "related": {"kind": "Pod", "name": "p"},
    "note": "hello",
    "reason": "Tested",
    "action": "Testing",
    "type": "Warning",
    "deprecatedSource": {"component": "tester", "host": "h1"},
    "deprecatedFirstTimestamp": "2024-01-01T00:00:00Z",
    "deprecatedLastTimestamp": "2024-01-01T00:01:00Z",
    "deprecatedCount": 3,
    "eventTime": "2024-01-01T00:00:00.000001Z",
    "series": {"count": 2, "lastObservedTime": "2024-01-01T00:01:00.000001Z"},
    "reportingController": "tester",
    "reportingInstance": "tester-1",
}


def test_core_to_events_maps_every_field() -> None:
    assert eventconversion.to_events(CORE) == EVENTS


def test_events_to_core_maps_every_field() -> None:
    assert eventconversion.to_core(EVENTS) == CORE


def test_round_trips_are_lossless() -> None:
    assert eventconversion.to_core(eventconversion.to_events(CORE)) == CORE
    assert eventconversion.to_events(eventconversion.to_core(EVENTS)) == EVENTS


def test_inputs_are_not_mutated() -> None:
    core, events = copy.deepcopy(CORE), copy.deepcopy(EVENTS)
    eventconversion.to_events(core)
    eventconversion.to_core(events)
    assert core == CORE and events == EVENTS


def test_absent_fields_stay_absent_but_the_reporting_strings_core_v1_always_writes() -> None:
    # core/v1's reportingComponent and reportingInstance have no omitempty: Go writes them empty; events.k8s.io's
    # reportingController and reportingInstance have it, so the empty ones are left out the other way.
    minimal = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": META, "note": "n"}
    core = {"apiVersion": "v1", "kind": "Event", "metadata": META, "message": "n"}
    assert eventconversion.to_core(minimal) == {**core, "reportingComponent": "", "reportingInstance": ""}
    assert eventconversion.to_events({**core, "reportingComponent": "", "reportingInstance": ""}) == minimal
    assert eventconversion.to_events(core) == minimal


def test_the_other_versions_field_names_are_dropped() -> None:
    # A core name in an events.k8s.io body has no field to land in (and must not clobber the mapped one).
    stray = {**EVENTS, "message": "stray", "involvedObject": {"name": "x"}}
    assert eventconversion.to_core(stray) == CORE
    stray_core = {**CORE, "note": "stray", "regarding": {"name": "x"}}
    assert eventconversion.to_events(stray_core) == EVENTS


def test_events_k8s_io_shares_the_core_storage_and_converts() -> None:
    reg = builtin_registry()
    core = reg.get("", "v1", "events")
    events = reg.get("events.k8s.io", "v1", "events")
    assert core is not None and events is not None
    assert events.storage_prefix == core.storage_prefix == "/registry/core/events/"
    assert events.key("ns", "e") == core.key("ns", "e")
    assert conversion.needs_read_conversion(events)
    assert not conversion.needs_read_conversion(core)
    assert conversion.to_version(events, CORE) == EVENTS
    assert conversion.to_storage(events, EVENTS) == CORE
    assert conversion.to_version(core, CORE) is CORE
    assert conversion.to_storage(core, CORE) is CORE


def test_other_builtins_are_not_converted() -> None:
    reg = builtin_registry()
    cm = reg.get("", "v1", "configmaps")
    assert cm is not None and cm.storage_group is None
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}
    assert not conversion.needs_read_conversion(cm)
    assert conversion.to_version(cm, obj) is obj
    assert conversion.to_storage(cm, obj) is obj
