"""The status of CustomResourceDefinitions: accepted names and conditions.

:func:`name_conflicts` is upstream's naming controller in one pure function:
the names a CRD may hold, and its NamesAccepted condition, given the names
the other CRDs of its group accepted and the built-in resources of the group.
:func:`set_condition` and :func:`condition` manage ``status.conditions`` the
way upstream's ``SetCRDCondition`` does (the transition time moves only when
the status does).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pinnace.api.registry import ResourceInfo

Obj = dict[str, Any]


def _names_of(names: Obj) -> dict[str, set[str]]:
    return {
        "plural": {names["plural"]} if names.get("plural") else set(),
        "singular": {names["singular"]} if names.get("singular") else set(),
        "shortNames": set(names.get("shortNames") or ()),
        "kind": {names["kind"]} if names.get("kind") else set(),
        "listKind": {names["listKind"]} if names.get("listKind") else set(),
    }


def name_conflicts(crd: Obj, others: list[Obj], builtins: list[ResourceInfo]) -> tuple[Obj, Obj]:
    """The names a CRD may hold and its NamesAccepted condition (upstream's naming controller).

    Names another CRD of the group already accepted, or a built-in resource of
    the group uses, conflict — unless this CRD accepted them first.
    """
    spec = crd.get("spec") or {}
    group = spec.get("group")
    requested: Obj = dict(spec.get("names") or {})
    accepted: Obj = dict((crd.get("status") or {}).get("acceptedNames") or {})
    taken_resources: set[str] = set()
    taken_kinds: set[str] = set()
    for other in others:
        ospec = other.get("spec") or {}
        if ospec.get("group") != group or (other.get("metadata") or {}).get("name") == (crd.get("metadata") or {}).get(
            "name"
        ):
            continue
        onames = (other.get("status") or {}).get("acceptedNames") or {}
        got = _names_of(onames)
        taken_resources |= got["plural"] | got["singular"] | got["shortNames"]
        taken_kinds |= got["kind"] | got["listKind"]
    for info in builtins:
        if info.group == group and not info.custom:
            taken_resources |= {info.plural, info.singular, *info.short_names}
            taken_kinds |= {info.kind, info.list_kind}
    new_names: Obj = {}
    reason = ""
    message = ""

    def check(key: str, value: Any, taken: set[str], why: str) -> None:
        nonlocal reason, message
        values = value if isinstance(value, list) else [value] if value else []
        old = accepted.get(key)
        old_values = old if isinstance(old, list) else [old] if old else []
        bad = [x for x in values if x in taken and x not in old_values]
        if bad:
            reason, message = why, f'"{bad[0]}" is already in use'
            if old:
                new_names[key] = old
        elif value:
            new_names[key] = value

    check("plural", requested.get("plural"), taken_resources, "PluralConflict")
    check("singular", requested.get("singular"), taken_resources, "SingularConflict")
    check("shortNames", list(requested.get("shortNames") or []), taken_resources, "ShortNamesConflict")
    check("kind", requested.get("kind"), taken_kinds, "KindConflict")
    check("listKind", requested.get("listKind"), taken_kinds, "ListKindConflict")
    if requested.get("categories"):
        new_names["categories"] = list(requested["categories"])
    new_names.setdefault("plural", "")
    new_names.setdefault("kind", "")
    if reason:
        condition = {"type": "NamesAccepted", "status": "False", "reason": reason, "message": message}
    else:
        condition = {
            "type": "NamesAccepted",
            "status": "True",
            "reason": "NoConflicts",
            "message": "no conflicts found",
        }
    return new_names, condition


def set_condition(status: Obj, condition: Obj, *, now: datetime | None = None) -> bool:
    """Set a condition in ``status.conditions`` (the transition time moves only when the status does)."""
    conditions = status.setdefault("conditions", [])
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for existing in conditions:
        if existing.get("type") == condition["type"]:
            if all(existing.get(k) == condition.get(k) for k in ("status", "reason", "message")):
                return False
            if existing.get("status") != condition["status"]:
                existing["lastTransitionTime"] = stamp
            existing.update({k: condition[k] for k in ("status", "reason", "message")})
            return True
    conditions.append({**condition, "lastTransitionTime": stamp})
    return True


def condition(crd: Obj, type_: str) -> Obj | None:
    """One condition of a CRD's status, if set."""
    for c in (crd.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == type_:
            return c
    return None
