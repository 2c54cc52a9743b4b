"""Validation of PriorityClass (scheduling.k8s.io), as upstream's validation package words it.

``ValidatePriorityClass`` on create: a user class's value is at most
1000000000; names starting ``system-`` are reserved for the two built-in
classes (``system-cluster-critical`` at 2000000000, ``system-node-critical`` at
2000001000, neither the global default); ``preemptionPolicy`` is
``PreemptLowerPriority`` or ``Never``. ``ValidatePriorityClassUpdate`` on update:
the value and the preemption policy never change (and nothing else is
checked, as upstream).
"""

from __future__ import annotations

from typing import Any

from pinnace.api.errors import Cause
from pinnace.api.podutil import SYSTEM_PRIORITY_CLASSES
from pinnace.api.validation import field
from pinnace.api.validation.field import Validator, forbidden, not_supported, required

__all__ = ["HIGHEST_USER_DEFINABLE_PRIORITY", "SYSTEM_PRIORITY_CLASS_PREFIX", "VALIDATORS", "priority_class"]

Obj = dict[str, Any]

#: upstream ``scheduling.HighestUserDefinablePriority``.
HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
#: upstream ``scheduling.SystemPriorityClassPrefix``.
SYSTEM_PRIORITY_CLASS_PREFIX = "system-"
PREEMPTION_POLICIES = ("PreemptLowerPriority", "Never")
#: What v1 defaulting sets when a class names no policy (compared as such on update).
DEFAULT_PREEMPTION_POLICY = "PreemptLowerPriority"


def _system_class_problem(name: str, value: Any, global_default: Any) -> str | None:
    """upstream's ``IsKnownSystemPriorityClass``: why a ``system-`` class is not one of the built-in ones."""
    if name not in SYSTEM_PRIORITY_CLASSES:
        return f"{name} is not a known system priority class"
    if value != SYSTEM_PRIORITY_CLASSES[name]:
        return f"value of {name} PriorityClass must be {SYSTEM_PRIORITY_CLASSES[name]}"
    if global_default is True:
        return f"globalDefault of {name} PriorityClass must be false"
    return None


def _create(obj: Obj) -> list[Cause]:
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    name = name if isinstance(name, str) else ""
    value = obj.get("value", 0)
    out: list[Cause] = []
    if name.startswith(SYSTEM_PRIORITY_CLASS_PREFIX):
        problem = _system_class_problem(name, value, obj.get("globalDefault"))
        if problem is not None:
            out.append(
                forbidden(
                    "metadata.name",
                    f"priority class names with '{SYSTEM_PRIORITY_CLASS_PREFIX}' prefix are reserved for system use "
                    f"only. error: {problem}",
                )
            )
    elif isinstance(value, int) and value > HIGHEST_USER_DEFINABLE_PRIORITY:
        out.append(
            forbidden("value", f"maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}")
        )
    policy = obj.get("preemptionPolicy")
    if policy == "":
        out.append(required("preemptionPolicy"))
    elif policy is not None and policy not in PREEMPTION_POLICIES:
        out.append(not_supported("preemptionPolicy", policy, PREEMPTION_POLICIES))
    return out


def _update(obj: Obj, old: Obj) -> list[Cause]:
    out: list[Cause] = []
    if obj.get("value", 0) != old.get("value", 0):
        out.append(forbidden("value", "may not be changed in an update."))
    policy = obj.get("preemptionPolicy") or DEFAULT_PREEMPTION_POLICY
    old_policy = old.get("preemptionPolicy") or DEFAULT_PREEMPTION_POLICY
    out.extend(field.immutable("preemptionPolicy", policy, old_policy))
    return out


def priority_class(obj: Obj, old: Obj | None) -> list[Cause]:
    """``ValidatePriorityClass`` on create, ``ValidatePriorityClassUpdate`` on update."""
    return _create(obj) if old is None else _update(obj, old)


#: (group, kind) -> the kind's checks; merged into :mod:`pinnace.api.validation`'s table.
VALIDATORS: dict[tuple[str, str], Validator] = {("scheduling.k8s.io", "PriorityClass"): priority_class}
