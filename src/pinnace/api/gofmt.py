"""Values printed the way Go prints them in upstream's error messages.

Users read kube-apiserver's errors, which print bad values with Go's
formatting: strings with ``%q`` (:func:`go_quote`), and other values as
``field.Error`` shows them, ``%#v`` for maps and slices (:func:`go_value`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["GoValue", "go_float", "go_quote", "go_value", "label_selector_text", "string_map"]


def go_quote(value: str) -> str:
    """Go's ``%q`` of a string (used where upstream quotes a bad value)."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable():
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_float(x: float) -> str:
    """``fmt.Sprint(float64)``: shortest repr, exponent only below 1e-4 or from 1e21."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    r = repr(x)
    if "e" in r and 1e-4 <= abs(x) < 1e21:
        r = format(Decimal(r), "f")
    if r.endswith(".0"):
        r = r[:-2]
    return r


def go_value(value: Any) -> str:
    """A value as ``field.Error`` prints it (Go's ``%v``/``%q``/``%#v``, by type)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, GoValue):
        return value.text
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "[]string{" + ", ".join(go_quote(v) for v in value) + "}"
    if isinstance(value, Mapping):
        return string_map(value)
    return repr(value)


class GoValue:
    """A value already rendered in Go syntax (``%#v`` of a struct)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def string_map(value: Mapping[str, Any] | None) -> str:
    """``%#v`` of a ``map[string]string`` (keys sorted, as fmt prints maps)."""
    if not value:
        return "map[string]string(nil)" if value is None else "map[string]string{}"
    items = ", ".join(f"{go_quote(k)}:{go_quote(str(v))}" for k, v in sorted(value.items()))
    return "map[string]string{" + items + "}"


def label_selector_text(selector: Mapping[str, Any]) -> str:
    """The protobuf ``String()`` of a ``*metav1.LabelSelector``: what upstream prints for a ``%v`` of one
    (``kubectl get validatingadmissionpolicybindings``, the disruption controller's events)."""
    exprs = "".join(
        f"LabelSelectorRequirement{{Key:{e.get('key', '')},Operator:{e.get('operator', '')},"
        f"Values:[{' '.join(str(v) for v in e.get('values') or [])}],}},"
        for e in selector.get("matchExpressions") or []
        if isinstance(e, Mapping)
    )
    labels = selector.get("matchLabels") or {}
    pairs = "".join(f"{k}: {labels[k]}," for k in sorted(labels))
    return (
        f"&LabelSelector{{MatchLabels:map[string]string{{{pairs}}},"
        f"MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}"
    )
