"""Status conditions (metav1.Condition) as upstream's ``meta.SetStatusCondition`` keeps them.

A condition list holds at most one condition per ``type``. Setting one keeps
its ``lastTransitionTime`` unless its ``status`` changed (a transition is a
change of status, not of reason or message).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

__all__ = [
    "find_status_condition",
    "is_status_condition_false",
    "is_status_condition_true",
    "remove_status_condition",
    "set_status_condition",
]

Obj = dict[str, Any]


def _timestamp(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_status_condition(
    conditions: list[Obj],
    type_: str,
    status: str,
    reason: str,
    message: str = "",
    *,
    observed_generation: int | None = None,
    now: datetime | None = None,
) -> bool:
    """Set the condition of ``type_`` in place; True if anything changed."""
    if status not in ("True", "False", "Unknown"):
        raise ValueError(f"condition status must be True, False or Unknown, not {status!r}")
    new: Obj = {"type": type_, "status": status, "reason": reason, "message": message}
    if observed_generation is not None:
        new["observedGeneration"] = observed_generation
    existing = find_status_condition(conditions, type_)
    if existing is None:
        conditions.append({**new, "lastTransitionTime": _timestamp(now)})
        return True
    changed = False
    if existing.get("status") != status:
        existing["lastTransitionTime"] = _timestamp(now)
        changed = True
    for key, value in new.items():
        if existing.get(key) != value:
            existing[key] = value
            changed = True
    return changed


def find_status_condition(conditions: list[Obj] | None, type_: str) -> Obj | None:
    """The condition of ``type_``, if present."""
    for cond in conditions or []:
        if cond.get("type") == type_:
            return cond
    return None


def remove_status_condition(conditions: list[Obj], type_: str) -> bool:
    """Remove the condition of ``type_``; True if it was there."""
    for i, cond in enumerate(conditions):
        if cond.get("type") == type_:
            del conditions[i]
            return True
    return False


def is_status_condition_true(conditions: list[Obj] | None, type_: str) -> bool:
    """Whether the condition of ``type_`` is present with status True."""
    cond = find_status_condition(conditions, type_)
    return cond is not None and cond.get("status") == "True"


def is_status_condition_false(conditions: list[Obj] | None, type_: str) -> bool:
    """Whether the condition of ``type_`` is present with status False."""
    cond = find_status_condition(conditions, type_)
    return cond is not None and cond.get("status") == "False"
