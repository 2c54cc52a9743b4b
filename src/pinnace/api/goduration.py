"""Go's duration syntax (``time.ParseDuration``): ``1m30s``, ``500ms``, ``-1.5h``, ``0``.

Annotations, kubeadm's token TTLs and plugin flags carry durations the way Go
writes them; this is the one parser for all of them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

__all__ = ["GO_UNITS", "go_duration", "parse_go_duration"]

#: Go's units, in seconds (``µs`` and ``μs`` both, as Go).
GO_UNITS: Mapping[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


@functools.cache
def _component(units: tuple[str, ...]) -> re.Pattern[str]:
    """One ``number unit`` part; longer units first, so ``ms`` is not read as ``m``."""
    names = "|".join(re.escape(u) for u in sorted(units, key=len, reverse=True))
    return re.compile(rf"(\d+(?:\.\d*)?|\.\d+)({names})")


def parse_go_duration(text: str, extra_units: Mapping[str, float] | None = None) -> float:
    """Seconds in the Go duration ``text``; ValueError with Go's message if it is not one.

    ``extra_units``: units a caller takes besides Go's (a plugin's ``d`` for days)."""
    units = {**GO_UNITS, **extra_units} if extra_units else GO_UNITS
    if text in ("0", "+0", "-0"):
        return 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    body = text[1:] if text[:1] in ("-", "+") else text
    pattern = _component(tuple(units))
    pos, total = 0, 0.0
    while pos < len(body):
        match = pattern.match(body, pos)
        if match is None:
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(match.group(1)) * units[match.group(2)]
        pos = match.end()
    if not body:
        raise ValueError(f'time: invalid duration "{text}"')
    return sign * total


def go_duration(nanos: int) -> str:
    """A duration in nanoseconds as Go's ``time.Duration.String()`` ("1h0m0s", "1.5s", "250ms")."""
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    u = abs(nanos)
    if u < 1_000_000_000:
        for unit, digits in (("ns", 0), ("µs", 3), ("ms", 6)):
            if u < 10 ** (digits + 3):
                return sign + _decimal(u, digits) + unit
    seconds, fraction = divmod(u, 1_000_000_000)
    text = _decimal(seconds % 60 * 1_000_000_000 + fraction, 9) + "s"
    minutes = seconds // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        if minutes >= 60:
            text = f"{minutes // 60}h{text}"
    return sign + text


def _decimal(value: int, digits: int) -> str:
    """``value / 10**digits`` without trailing zeros ("1.5", "30")."""
    whole, fraction = divmod(value, 10**digits)
    if not fraction:
        return str(whole)
    return f"{whole}." + f"{fraction:0{digits}d}".rstrip("0")
