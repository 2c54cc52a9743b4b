"""YAML request bodies read as upstream reads them: plain scalars resolved by go-yaml v2's rules.

kube-apiserver turns a YAML body into JSON with sigs.k8s.io/yaml, whose go-yaml
v2 does not follow PyYAML's YAML 1.1 resolution in a few places users meet:

- no base-60 numbers: ``1:30`` is the string "1:30" (PyYAML: the int 90);
- integers as Go's ``strconv.ParseInt(s, 0, 64)`` reads them, underscores
  dropped first: ``0o17``, ``017``, ``0x1F``, ``0b101``, ``+12``; beyond int64
  an unsigned one, else a float; ``08`` (no octal) is the float 8;
- a float is what matches go-yaml's float syntax (``1e3`` and ``1.`` too);
  one out of float64's range stays a string;
- ``=`` is a string (PyYAML: the ``value`` tag, which it cannot construct), and
  so is ``<<`` where it is not a merge key;
- timestamps stay strings (go-yaml keeps them so when decoding into
  ``interface{}``); ``y``/``Y``/``n``/``N`` are booleans, as ``yes``/``on``.

The JSON it becomes is then read as Go reads JSON written from a float64: a
whole number prints without a decimal point, so ``replicas: 3.0`` is the
integer 3 (:func:`json_number`).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any

import yaml

from pinnace.api.gofmt import go_float

__all__ = ["LOADER", "go_number", "json_number", "scalar_key"]

_FLOAT = "tag:yaml.org,2002:float"
_MERGE = "tag:yaml.org,2002:merge"
#: A plain scalar starting like a number: resolved by :func:`go_number` (a number, or the text itself).
_NUMBER = "tag:pinnace.dev,2026:go-number"
_NUMBER_START = "-+0123456789."
#: go-yaml's ``yamlStyleFloat``.
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
#: What Go's ParseInt and ParseUint accept with base 0 (underscores removed already): sign, then a prefixed
#: hexadecimal, octal or binary number, a 0-led octal one, or a decimal one.
_GO_INT = re.compile(r"([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_BASES = {"x": 16, "o": 8, "b": 2}
_INT64_MIN, _INT64_MAX, _UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


def _go_int(plain: str) -> int | None:
    """``plain`` as ParseInt (then ParseUint, which takes no sign) with base 0 reads it; None if neither does."""
    match = _GO_INT.fullmatch(plain)
    if match is None:
        return None
    sign, digits = match.groups()
    base = _BASES.get(digits[1:2].lower()) if len(digits) > 1 else None
    if base is not None:
        value = int(digits[2:], base)
    elif digits.startswith("0") and len(digits) > 1:
        value = int(digits[1:], 8)
    else:
        value = int(digits)
    if sign == "-":
        value = -value
    if _INT64_MIN <= value <= _INT64_MAX or (not sign and value <= _UINT64_MAX):
        return value
    return None


def json_number(value: float) -> int | float:
    """A float64 as it reads after Go writes it to JSON: a whole number (below 2^63) has no decimal point."""
    if value.is_integer() and abs(value) <= _INT64_MAX:
        return int(value)
    return value


def go_number(text: str) -> int | float | str:
    """A plain scalar that starts like a number (a digit, a sign or a dot), as go-yaml v2 resolves it."""
    if text.startswith("."):
        plain = text  # go-yaml parses these as floats as they are
        if not re.fullmatch(r"\.[0-9]+(?:[eE][-+]?[0-9]+)?", plain):
            return text
    else:
        plain = text.replace("_", "")
        integer = _go_int(plain)
        if integer is not None:
            return integer
        if not _YAML_STYLE_FLOAT.fullmatch(plain):
            return text
    number = float(plain)
    return text if math.isinf(number) else number


def scalar_key(node: yaml.ScalarNode) -> tuple[str, Any, str]:
    """A map key composed by :data:`LOADER`, as go-yaml's strict decode compares keys: its Go type, its value,
    and how Go's ``%#v`` shows it. ``y`` and ``Y`` are one key (the bool true); ``1`` and ``"1"`` are two."""
    text = str(node.value)
    if node.tag == _NUMBER:
        value = go_number(text)
        if isinstance(value, str):
            return "string", value, f'"{value}"'
        return type(value).__name__, value, str(value) if isinstance(value, int) else go_float(value)
    if node.tag == "tag:yaml.org,2002:bool":
        truth = LOADER.bool_values[text.lower()]
        return "bool", truth, "true" if truth else "false"
    if node.tag == "tag:yaml.org,2002:null":
        return "nil", None, "<nil>"
    if node.tag == _FLOAT:
        return "float", text, text  # .inf or .nan (NaN is no key twice in Go either; close enough)
    return "string", text, f'"{text}"'


def _construct_number(loader: Any, node: Any) -> int | float | str:
    return go_number(str(loader.construct_scalar(node)))


def _construct_merge_value(loader: Any, node: Any) -> str:
    """``<<`` where no merge is done (a value, not a key): the text, as go-yaml decodes it into ``interface{}``."""
    return str(loader.construct_scalar(node))


def _binary_as_text(loader: Any, node: Any) -> str:
    """``!!binary``: the bytes it encodes, as text (invalid UTF-8 replaced, as Go's JSON encoder does)."""
    raw = loader.construct_scalar(node)
    try:
        return base64.b64decode("".join(str(raw).split()), validate=True).decode(errors="replace")
    except (binascii.Error, ValueError):
        raise yaml.constructor.ConstructorError(None, None, "failed to decode !!binary data", node.start_mark) from None


def _loader() -> Any:
    """A fast safe loader (libyaml's parser where installed) with go-yaml v2's resolution of plain scalars."""
    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc]
        bool_values = {**base.bool_values, "y": True, "n": False}

    dropped = {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:int", _FLOAT, "tag:yaml.org,2002:value"}
    Loader.yaml_implicit_resolvers = {
        ch: [r for r in resolvers if r[0] not in dropped] for ch, resolvers in base.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^[yYnN]$"), list("yYnN"))
    special = re.compile(r"^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
    Loader.add_implicit_resolver(_FLOAT, special, list("-+."))  # before the numbers: ".inf" is no number
    Loader.add_implicit_resolver(_NUMBER, re.compile(r"^[-+0-9.]"), list(_NUMBER_START))
    Loader.add_constructor(_NUMBER, _construct_number)
    Loader.add_constructor(_MERGE, _construct_merge_value)
    Loader.add_constructor("tag:yaml.org,2002:binary", _binary_as_text)
    return Loader


#: The loader for request bodies.
LOADER: Any = _loader()
