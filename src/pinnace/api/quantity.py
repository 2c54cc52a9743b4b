"""Resource quantities (``k8s.io/apimachinery/pkg/api/resource``): parsing, comparing, printing.

``resources.requests`` and ``limits``, PVC sizes and ephemeral storage are
quantities: a number with an optional SI (``m``, ``k``, ``M`` …), binary
(``Ki``, ``Mi`` …) or exponent (``e3``) suffix. :func:`parse` reads one as
upstream's ``ParseQuantity`` does — with its error messages, which reach users
verbatim as decode errors — and keeps the exact value (a ``Fraction``, rounded
up to nano units as upstream rounds). ``str()`` gives upstream's canonical
form (``1.5`` → ``1500m``, ``1024Mi`` → ``1Gi``), which validation messages
print.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

#: Upstream's ``splitREString``, quoted in the "wrong format" error.
SPLIT_RE = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"

ERR_FORMAT_WRONG = f"quantities must match the regular expression '{SPLIT_RE}'"
ERR_NUMERIC = "unable to parse numeric part of quantity"
ERR_SUFFIX = "unable to parse quantity's suffix"
#: Pinnace's own refusal (upstream would try to hold the number, digit by digit): ``1e9999999999`` and the like.
ERR_TOO_LARGE = "quantity is too large: its exponent is out of range"
#: The largest quantity taken is under 10**MAX_DECIMAL_ORDER (upstream's own limit, int64 units, is ~9.2e18).
MAX_DECIMAL_ORDER = 1000

DECIMAL_SI, BINARY_SI, DECIMAL_EXPONENT = "DecimalSI", "BinarySI", "DecimalExponent"

_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}
_BINARY_SUFFIX = {v // 10: k for k, v in _BINARY.items()}
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DIGITS = frozenset("0123456789")
_NANO = Fraction(1, 10**9)
_EXPONENT_RE = re.compile(r"[eE][-+]?[0-9]+")


class QuantityError(ValueError):
    """A string that is not a quantity; ``str()`` is upstream's message."""


@dataclass(frozen=True, slots=True)
class Quantity:
    """A parsed quantity: its exact value, the format it prints in, and the input if already canonical."""

    value: Fraction
    format: str = DECIMAL_SI
    original: str | None = None

    def __str__(self) -> str:
        return self.original if self.original is not None else canonical(self.value, self.format)

    def __lt__(self, other: Quantity) -> bool:
        return self.value < other.value

    def __le__(self, other: Quantity) -> bool:
        return self.value <= other.value


def _split(text: str) -> tuple[bool, str, str, str, str]:
    """upstream ``parseQuantityString``: (positive, value, num, denom, suffix)."""
    positive, pos, end = True, 0, len(text)
    if pos < end and text[0] in "+-":
        positive = text[0] == "+"
        pos += 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, "0", "0", "", ""
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    num = text[start:pos] or "0"
    if pos >= end:
        return positive, text, num, "", ""
    denom = ""
    if text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[start:pos]
        if pos >= end:
            return positive, text, num, denom, ""
    value = text[:pos]
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise QuantityError(ERR_FORMAT_WRONG)
    return positive, value, num, denom, text[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, str]:
    """(base, exponent, format) of a suffix, or the suffix error."""
    if suffix in _DECIMAL:
        return 10, _DECIMAL[suffix], DECIMAL_SI
    if suffix in _BINARY:
        return 2, _BINARY[suffix], BINARY_SI
    if len(suffix) > 1 and _EXPONENT_RE.fullmatch(suffix):
        return 10, int(suffix[1:]), DECIMAL_EXPONENT
    raise QuantityError(ERR_SUFFIX)


@functools.lru_cache(maxsize=2048)
def parse(text: str) -> Quantity:
    """A quantity from its string form (``ParseQuantity``); QuantityError with upstream's message if it is none."""
    if not text:
        raise QuantityError(ERR_FORMAT_WRONG)
    positive, value, num, denom, suffix = _split(text)
    base, exponent, fmt = _interpret(suffix)
    try:
        magnitude = Fraction(value.lstrip("+-") or "0")
    except ValueError:
        raise QuantityError(ERR_NUMERIC) from None
    if base == 10:  # an exponent may be any size (1e-9999999999): never compute 10**exponent for one out of range
        if not magnitude:
            exponent = 0
        else:
            order = _decimal_order(num, denom) + exponent  # magnitude * 10**exponent < 10**order
            if order > MAX_DECIMAL_ORDER:
                raise QuantityError(ERR_TOO_LARGE)
            if order <= -9:  # under a nano: rounded up to one, as below
                return Quantity(_NANO if positive else -_NANO, fmt)
    magnitude = magnitude * (Fraction(2) ** exponent if base == 2 else Fraction(10) ** exponent)
    if magnitude and magnitude.denominator != 1 and (magnitude / _NANO).denominator != 1:
        nanos = -(-magnitude.numerator * 10**9 // magnitude.denominator)  # rounded up, away from zero
        magnitude = Fraction(nanos, 10**9)
    if fmt == BINARY_SI and magnitude == 0:
        fmt = DECIMAL_SI
    amount = magnitude if positive else -magnitude
    return Quantity(amount, fmt, text if _is_canonical_input(fmt, exponent, num, denom) else None)


def number_text(value: float) -> str:
    """A JSON number as Go's decoder hands it on (``1e+21`` → ``1e21``): what a Quantity's unmarshaler parses."""
    if isinstance(value, float):
        return repr(value).replace("e+", "e")
    return str(value)


def from_json(value: Any) -> Quantity:
    """The Quantity a JSON value decodes to (Quantity.UnmarshalJSON: a string, trimmed, or a number); QuantityError
    with upstream's message if it is none."""
    if isinstance(value, str):
        return parse(value.strip())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise QuantityError(ERR_FORMAT_WRONG)
    return parse(number_text(value))


def _decimal_order(num: str, denom: str) -> int:
    """The n with ``num.denom < 10**n`` (the value is nonzero), n as small as the digits allow."""
    if num.strip("0"):
        return len(num)
    return -(len(denom) - len(denom.lstrip("0")))


def _is_canonical_input(fmt: str, exponent: int, num: str, denom: str) -> bool:
    """Whether upstream's fast path keeps the input string as the quantity's string form."""
    if fmt == BINARY_SI:
        if exponent < 0 or denom:
            return False
        digits = int(num + denom)
        return exponent % 10 == 0 and digits & 0x07 != 0 and len(num) + exponent * 3 // 10 < 15
    scale = exponent - len(denom)
    if len(num) + len(denom) > 18 or scale < -9:
        return False
    shifted = num + denom
    return scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"


@functools.lru_cache(maxsize=2048)
def canonical(value: Fraction, fmt: str = DECIMAL_SI) -> str:
    """Upstream's ``Quantity.String()`` of a value in a format (remembered: every write of an object with
    resources asks again for the same few)."""
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    magnitude = -value if value < 0 else value
    if fmt == BINARY_SI and (magnitude < 1024 or magnitude.denominator != 1):
        fmt = DECIMAL_SI
    if fmt == BINARY_SI:
        number, power = magnitude.numerator, 0
        while number % 1024 == 0:
            number //= 1024
            power += 1
        return f"{sign}{number}{_BINARY_SUFFIX[power] if power else ''}"
    nanos = magnitude * 10**9
    number, exponent = int(nanos), -9
    while number % 10 == 0:
        number //= 10
        exponent += 1
    shift = exponent % 3
    number *= 10**shift
    exponent -= shift
    if fmt == DECIMAL_SI and exponent in _DECIMAL_SUFFIX:
        return f"{sign}{number}{_DECIMAL_SUFFIX[exponent]}"
    return f"{sign}{number}e{exponent}" if exponent else f"{sign}{number}"
