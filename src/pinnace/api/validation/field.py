"""Field errors worded as upstream's ``k8s.io/apimachinery/pkg/util/validation/field``.

Each helper returns one :class:`~pinnace.api.errors.Cause`; the bad value is
printed the way ``field.Error`` prints it: strings quoted (Go's ``%q``),
numbers and booleans bare, and Go values (maps, slices, label selectors,
int-or-strings) in Go's ``%#v`` syntax, since that is what users see from a
kube-apiserver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pinnace.api import errors
from pinnace.api.errors import Cause
from pinnace.api.gofmt import GoValue as GoValue
from pinnace.api.gofmt import go_quote
from pinnace.api.gofmt import go_value as go_value
from pinnace.api.gofmt import string_map as string_map

#: A kind's semantic checks: the (defaulted) object and, on update, the stored one; every problem found.
Validator = Callable[[dict[str, Any], "dict[str, Any] | None"], list[Cause]]

#: upstream ``validation.FieldImmutableErrorMsg``.
IMMUTABLE = "field is immutable"
NEGATIVE = "must be greater than or equal to 0"


def go_slice(type_name: str, values: Any) -> GoValue:
    """``%#v`` of a slice of a string type (``[]string{"a"}``, ``[]core.ResourceQuotaScope(nil)``)."""
    if not isinstance(values, list):
        return GoValue(f"[]{type_name}(nil)")
    return GoValue(f"[]{type_name}{{" + ", ".join(go_quote(str(v)) for v in values) + "}")


def label_selector(selector: Mapping[str, Any] | None) -> GoValue:
    """``%#v`` of a ``v1.LabelSelector`` (how immutable-selector errors print it)."""
    selector = selector or {}
    labels = selector.get("matchLabels")
    exprs = selector.get("matchExpressions")
    if exprs:
        rendered = ", ".join(
            "v1.LabelSelectorRequirement{Key:"
            + go_quote(str(e.get("key") or ""))
            + ", Operator:"
            + go_quote(str(e.get("operator") or ""))
            + ", Values:"
            + go_slice("string", e.get("values")).text
            + "}"
            for e in exprs
            if isinstance(e, Mapping)
        )
        expr_text = "[]v1.LabelSelectorRequirement{" + rendered + "}"
    else:
        expr_text = "[]v1.LabelSelectorRequirement(nil)"
    labels_text = string_map(labels if labels else None)
    return GoValue(f"v1.LabelSelector{{MatchLabels:{labels_text}, MatchExpressions:{expr_text}}}")


def int_or_string(value: Any) -> GoValue:
    """``%#v`` of an ``intstr.IntOrString``."""
    if isinstance(value, str):
        return GoValue(f"intstr.IntOrString{{Type:1, IntVal:0, StrVal:{go_quote(value)}}}")
    number = value if isinstance(value, int) and not isinstance(value, bool) else 0
    return GoValue(f'intstr.IntOrString{{Type:0, IntVal:{number}, StrVal:""}}')


def invalid(path: str, value: Any, detail: str) -> Cause:
    """``field.Invalid``."""
    return Cause(errors.CAUSE_INVALID, f"Invalid value: {go_value(value)}: {detail}", path)


def required(path: str, detail: str = "") -> Cause:
    """``field.Required``."""
    return Cause(errors.CAUSE_REQUIRED, f"Required value: {detail}" if detail else "Required value", path)


def duplicate(path: str, value: Any) -> Cause:
    """``field.Duplicate``."""
    return Cause(errors.CAUSE_DUPLICATE, f"Duplicate value: {go_value(value)}", path)


def not_found(path: str, value: Any) -> Cause:
    """``field.NotFound``."""
    return Cause(errors.CAUSE_NOT_FOUND, f"Not found: {go_value(value)}", path)


def forbidden(path: str, detail: str) -> Cause:
    """``field.Forbidden``."""
    return Cause(errors.CAUSE_FORBIDDEN, f"Forbidden: {detail}", path)


def not_supported(path: str, value: Any, supported: Iterable[str]) -> Cause:
    """``field.NotSupported`` (the supported values in the order given)."""
    listed = ", ".join(go_quote(s) for s in supported)
    return Cause(errors.CAUSE_NOT_SUPPORTED, f"Unsupported value: {go_value(value)}: supported values: {listed}", path)


def nonnegative(path: str, value: Any) -> list[Cause]:
    """``ValidateNonnegativeField`` for an optional integer."""
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return [invalid(path, value, NEGATIVE)]
    return []


PERCENT = (
    "a valid percent string must be a numeric string followed by an ending '%' "
    "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
)


def int_or_percent(path: str, value: Any) -> list[Cause]:
    """``ValidatePositiveIntOrPercent`` of an IntOrString: a non-negative integer or ``[0-9]+%``."""
    if isinstance(value, str):
        digits = value[:-1]
        if not (value.endswith("%") and digits.isascii() and digits.isdigit()):
            return [invalid(path, int_or_string(value), PERCENT)]
        return []
    return nonnegative(path, value)


def semantic_equal(a: Any, b: Any) -> bool:
    """upstream's ``Semantic.DeepEqual``: like ``==``, but empty and missing maps and lists are the same."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        keys = set(a) | set(b)
        return all(semantic_equal(a.get(k), b.get(k)) for k in keys)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(semantic_equal(x, y) for x, y in zip(a, b, strict=True))
    if a in (None, {}, []) and b in (None, {}, []):
        return True
    return bool(a == b)


def immutable(path: str, new: Any, old: Any, shown: Any = None) -> list[Cause]:
    """``ValidateImmutableField``: Invalid (``field is immutable``) if the value changed."""
    if semantic_equal(new, old):
        return []
    return [invalid(path, new if shown is None else shown, IMMUTABLE)]
