"""core/v1 Events and events.k8s.io/v1 Events: one object, two API versions.

kube-apiserver keeps both Event APIs in one storage (the events.k8s.io
resource *cohabits* with the core one) and converts between them on every read
and write, so an Event written through either API is read through the other.
The stored form is the core/v1 one. The two differ only in field names
(upstream ``pkg/apis/events/v1/conversion.go`` plus the internal field
``ReportingController``, spelled ``reportingComponent`` in core/v1):

=====================  ============================
core/v1                events.k8s.io/v1
=====================  ============================
involvedObject         regarding
message                note
source                 deprecatedSource
firstTimestamp         deprecatedFirstTimestamp
lastTimestamp          deprecatedLastTimestamp
count                  deprecatedCount
reportingComponent     reportingController
=====================  ============================

``action``, ``eventTime``, ``reason``, ``related``, ``reportingInstance``,
``series``, ``type`` and ``metadata`` keep their names. A field the target
version lacks (a core name in an events.k8s.io body, or the reverse) is dropped,
as decoding into the other version's type would. The functions are pure: they
return a new top-level dict and share the values (metadata included), which
callers never mutate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["CORE_API_VERSION", "EVENTS_API_VERSION", "to_core", "to_events"]

Obj = dict[str, Any]

CORE_API_VERSION = "v1"
EVENTS_API_VERSION = "events.k8s.io/v1"

#: core/v1 field name → events.k8s.io/v1 field name, for the fields whose names differ.
_CORE_TO_EVENTS: dict[str, str] = {
    "involvedObject": "regarding",
    "message": "note",
    "source": "deprecatedSource",
    "firstTimestamp": "deprecatedFirstTimestamp",
    "lastTimestamp": "deprecatedLastTimestamp",
    "count": "deprecatedCount",
    "reportingComponent": "reportingController",
}
_EVENTS_TO_CORE: dict[str, str] = {v: k for k, v in _CORE_TO_EVENTS.items()}


def _convert(obj: Mapping[str, Any], renames: Mapping[str, str], foreign: Mapping[str, str], api_version: str) -> Obj:
    out: Obj = {"apiVersion": api_version, "kind": "Event"}
    for key, value in obj.items():
        if key in ("apiVersion", "kind") or key in foreign:
            continue
        out[renames.get(key, key)] = value
    return out


#: Strings core/v1 writes even when empty (no ``omitempty``), and their events.k8s.io/v1 names, which it leaves
#: out when empty.
_CORE_WRITES_EMPTY = ("reportingComponent", "reportingInstance")
_EVENTS_OMITS_EMPTY = ("reportingController", "reportingInstance")


def to_events(obj: Mapping[str, Any]) -> Obj:
    """A core/v1 Event as events.k8s.io/v1 serves it."""
    out = _convert(obj, _CORE_TO_EVENTS, _EVENTS_TO_CORE, EVENTS_API_VERSION)
    for name in _EVENTS_OMITS_EMPTY:
        if out.get(name) == "":
            del out[name]
    return out


def to_core(obj: Mapping[str, Any]) -> Obj:
    """An events.k8s.io/v1 Event in its core/v1 (stored) form."""
    out = _convert(obj, _EVENTS_TO_CORE, _CORE_TO_EVENTS, CORE_API_VERSION)
    for name in _CORE_WRITES_EMPTY:
        out.setdefault(name, "")
    return out
