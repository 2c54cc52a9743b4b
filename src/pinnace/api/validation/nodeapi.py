"""Validation of RuntimeClass (node.k8s.io), as upstream's validation package words it.

Upstream 1.32's ``ValidateRuntimeClass`` and ``ValidateRuntimeClassUpdate``:
the handler is a DNS-1123 label (an empty one included: upstream reports it as
invalid, not as missing) and never changes; ``overhead.podFixed`` is checked
as container limits are (resource names, non-negative quantities, reported
under ``overhead.limits``, as upstream reports them); ``scheduling`` has a
valid node selector and valid, unique tolerations.
"""

from __future__ import annotations

from typing import Any

from pinnace.api import names
from pinnace.api.errors import Cause
from pinnace.api.validation import core, field
from pinnace.api.validation.field import GoValue, Validator, invalid, not_supported
from pinnace.api.validation.shapes import as_str as _text

__all__ = ["VALIDATORS", "runtime_class", "tolerations"]

Obj = dict[str, Any]

TOLERATION_OPERATORS = ("Equal", "Exists")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def _toleration_value(toleration: Obj) -> GoValue:
    """``%#v`` of a ``core.Toleration`` (how upstream prints a whole toleration)."""
    seconds = "(*int64)(nil)" if toleration.get("tolerationSeconds") is None else "(*int64)(0xc000000000)"
    parts = ", ".join(
        f"{key.capitalize()}:{field.go_value(_text(toleration.get(key)))}"
        for key in ("key", "operator", "value", "effect")
    )
    return GoValue(f"core.Toleration{{{parts}, TolerationSeconds:{seconds}}}")


def tolerations(items: Any, path: str) -> list[Cause]:
    """``ValidateTolerations`` plus RuntimeClass's uniqueness rule (key, operator, value and effect)."""
    out: list[Cause] = []
    seen: set[tuple[str, str, str, str]] = set()
    for i, toleration in enumerate(items if isinstance(items, list) else []):
        toleration = toleration if isinstance(toleration, dict) else {}
        p = f"{path}[{i}]"
        key, operator = _text(toleration.get("key")), _text(toleration.get("operator"))
        value, effect = _text(toleration.get("value")), _text(toleration.get("effect"))
        if key:
            out.extend(invalid(f"{p}.key", key, msg) for msg in names.is_qualified_name(key))
        elif operator != "Exists":
            out.append(
                invalid(
                    f"{p}.operator",
                    operator,
                    'operator must be Exists when `key` is empty, which means "match all values and all keys"',
                )
            )
        if toleration.get("tolerationSeconds") is not None and effect != "NoExecute":
            out.append(invalid(f"{p}.effect", effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        if operator in ("Equal", ""):
            out.extend(invalid(f"{p}.operator", value, msg) for msg in names.is_valid_label_value(value))
        elif operator == "Exists":
            if value:
                out.append(
                    invalid(
                        f"{p}.operator",
                        _toleration_value(toleration),
                        "value must be empty when `operator` is 'Exists'",
                    )
                )
        else:
            out.append(not_supported(f"{p}.operator", operator, TOLERATION_OPERATORS))
        if effect and effect not in TAINT_EFFECTS:
            out.append(not_supported(f"{p}.effect", effect, TAINT_EFFECTS))
        identity = (key, operator, value, effect)
        if identity in seen:
            out.append(field.duplicate(p, _toleration_value(toleration)))
        seen.add(identity)
    return out


def runtime_class(obj: Obj, old: Obj | None) -> list[Cause]:
    """A RuntimeClass: handler (immutable), overhead, scheduling."""
    handler = _text(obj.get("handler"))
    out = core.dns1123_label("handler", handler)
    overhead = obj.get("overhead")
    if isinstance(overhead, dict):
        out.extend(core.resource_requirements({"limits": overhead.get("podFixed")}, "overhead"))
    scheduling = obj.get("scheduling")
    if isinstance(scheduling, dict):
        selector = scheduling.get("nodeSelector")
        if isinstance(selector, dict):
            out.extend(names.validate_labels(selector, "scheduling.nodeSelector"))
        out.extend(tolerations(scheduling.get("tolerations"), "scheduling.tolerations"))
    if old is not None:
        out.extend(field.immutable("handler", handler, _text(old.get("handler"))))
    return out


#: (group, kind) -> the kind's checks; merged into :mod:`pinnace.api.validation`'s table.
VALIDATORS: dict[tuple[str, str], Validator] = {("node.k8s.io", "RuntimeClass"): runtime_class}
