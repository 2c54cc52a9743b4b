"""Event validation, per the API version a write came through (upstream ``core/validation/events.go``).

Both Event APIs store one object (:mod:`pinnace.api.eventconversion`), and
upstream validates its internal (core) form, so messages name core fields
whichever API was used. Every write passes the *legacy* checks (namespaces
that agree; for a new-style Event — one with ``eventTime`` — the reporting
fields, action and reason). A write through events.k8s.io/v1 must also be a
new-style Event: ``eventTime`` and a Normal/Warning ``type`` required, the
deprecated core fields unset, a valid ``series``; and on update almost every
field is immutable. core/v1 keeps the legacy checks only, for old clients.
"""

from __future__ import annotations

from typing import Any

from pinnace.api import eventconversion, names
from pinnace.api.errors import Cause
from pinnace.api.validation.field import immutable, invalid, required, semantic_equal

__all__ = ["core_event", "events_event"]

Obj = dict[str, Any]

REPORTING_INSTANCE_LENGTH_LIMIT = 128
ACTION_LENGTH_LIMIT = 128
REASON_LENGTH_LIMIT = 128
NOTE_LENGTH_LIMIT = 1024


def _str(obj: Obj, key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def _ref_namespace(obj: Obj) -> str:
    ref = obj.get("involvedObject")
    value = ref.get("namespace") if isinstance(ref, dict) else None
    return value if isinstance(value, str) else ""


def _at_most(causes: list[Cause], obj: Obj, key: str, limit: int) -> None:
    if len(_str(obj, key)) > limit:
        causes.append(invalid(key, "", f"can have at most {limit} characters"))


def _legacy(event: Obj) -> list[Cause]:
    """``legacyValidateEvent`` over the core form."""
    causes: list[Cause] = []
    namespace = _str(event.get("metadata") or {}, "namespace")
    ref_ns = _ref_namespace(event)
    mismatch = invalid("involvedObject.namespace", ref_ns, "does not match event.namespace")
    if not event.get("eventTime"):
        if (not ref_ns and namespace not in ("", "default")) or (ref_ns and namespace != ref_ns):
            causes.append(mismatch)
        return causes
    if not ref_ns and namespace not in ("default", "kube-system"):
        causes.append(mismatch)
    controller = _str(event, "reportingComponent")
    if not controller:
        causes.append(required("reportingController"))
    causes += [invalid("reportingController", controller, msg) for msg in names.is_qualified_name(controller)]
    if not _str(event, "reportingInstance"):
        causes.append(required("reportingInstance"))
    _at_most(causes, event, "reportingInstance", REPORTING_INSTANCE_LENGTH_LIMIT)
    if not _str(event, "action"):
        causes.append(required("action"))
    _at_most(causes, event, "action", ACTION_LENGTH_LIMIT)
    if not _str(event, "reason"):
        causes.append(required("reason"))
    _at_most(causes, event, "reason", REASON_LENGTH_LIMIT)
    _at_most(causes, event, "message", NOTE_LENGTH_LIMIT)
    return causes


def _series(event: Obj) -> list[Cause]:
    series = event.get("series")
    if not isinstance(series, dict):
        return []
    causes: list[Cause] = []
    count = series.get("count")
    if not isinstance(count, int) or count < 2:
        causes.append(invalid("series.count", "", "should be at least 2"))
    if not series.get("lastObservedTime"):
        causes.append(required("series.lastObservedTime"))
    return causes


#: Fields an events.k8s.io/v1 update may not change, in upstream's order (``reason`` is checked twice there).
_IMMUTABLE = (
    "involvedObject",
    "reason",
    "message",
    "source",
    "firstTimestamp",
    "lastTimestamp",
    "count",
    "reason",
    "type",
    "eventTime",
    "action",
    "related",
)


def _strict_create(event: Obj) -> list[Cause]:
    causes = _series(event)
    if not event.get("eventTime"):
        causes.append(required("eventTime"))
    kind = _str(event, "type")
    if kind not in ("Normal", "Warning"):
        causes.append(invalid("type", "", f"has invalid value: {kind}"))
    for key in ("firstTimestamp", "lastTimestamp"):
        if event.get(key):
            causes.append(invalid(key, "", "needs to be unset"))
    if event.get("count"):
        causes.append(invalid("count", "", "needs to be unset"))
    source = event.get("source")
    if isinstance(source, dict) and (source.get("component") or source.get("host")):
        causes.append(invalid("source", "", "needs to be unset"))
    return causes


def _strict_update(event: Obj, old: Obj) -> list[Cause]:
    causes = [] if semantic_equal(event.get("series"), old.get("series")) else _series(event)
    for key in _IMMUTABLE:
        causes += immutable(key, event.get(key), old.get(key))
    causes += immutable("reportingController", event.get("reportingComponent"), old.get("reportingComponent"))
    causes += immutable("reportingInstance", event.get("reportingInstance"), old.get("reportingInstance"))
    return causes


def core_event(obj: Obj, old: Obj | None) -> list[Cause]:
    """A core/v1 Event write: the legacy checks only (old clients keep working)."""
    return _legacy(obj)


def events_event(obj: Obj, old: Obj | None) -> list[Cause]:
    """An events.k8s.io/v1 Event write: legacy and strict checks, on the stored (core) form."""
    event = eventconversion.to_core(obj)
    causes = _legacy(event)
    if old is None:
        return causes + _strict_create(event)
    return causes + _strict_update(event, eventconversion.to_core(old))
