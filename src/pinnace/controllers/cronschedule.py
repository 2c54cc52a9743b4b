"""Cron schedules as the CronJob controller reads them (robfig/cron's standard parser, which upstream uses).

:func:`parse` takes the five fields — minute, hour, day of month, month, day
of week — with ``*``, ``?``, lists, ranges, steps (``*/15``, ``1-30/5``,
``5/10``), month and weekday names (``jan``, ``mon-fri``), the descriptors
``@yearly``/``@annually``/``@monthly``/``@weekly``/``@daily``/``@midnight``/
``@hourly`` and ``@every <duration>``, and an optional ``CRON_TZ=<zone>`` or
``TZ=<zone>`` prefix. :meth:`Schedule.next` gives the first activation
strictly after a time, in the schedule's zone (or the one the caller gives,
as ``spec.timeZone`` does). As in robfig/cron, when both day fields are
restricted a day matches if either does; if either is ``*`` both must.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["CronError", "Schedule", "parse"]

_MONTHS = {
    m: i + 1 for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
#: How far ahead :meth:`Schedule.next` looks before deciding a schedule never fires (robfig: five years).
_HORIZON_YEARS = 5


class CronError(ValueError):
    """The schedule cannot be parsed; the message says why (as robfig/cron words it)."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]


_FIELDS = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day of month", 1, 31, {}),
    _Field("month", 1, 12, _MONTHS),
    _Field("day of week", 0, 6, _DAYS),
)


def _value(text: str, field: _Field) -> int:
    lowered = text.lower()
    if lowered in field.names:
        return field.names[lowered]
    if not text.isdigit():
        raise CronError(f"failed to parse int from {text}: strconv.Atoi: parsing {text!r}: invalid syntax")
    return int(text)


def _parse_field(text: str, field: _Field) -> tuple[frozenset[int], bool]:
    """The values a field allows, and whether it was ``*``/``?`` (robfig's star bit)."""
    values: set[int] = set()
    star = False
    for part in text.split(","):
        range_text, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"step of range should be a positive number: {part}")
            step = int(step_text)
        if range_text in ("*", "?"):
            low, high = field.low, field.high
            star = star or not step_text
        else:
            first, dash, last = range_text.partition("-")
            low = _value(first, field)
            high = _value(last, field) if dash else (field.high if step_text else low)
        if low < field.low:
            raise CronError(f"beginning of range ({low}) below minimum ({field.low}): {part}")
        if high > field.high:
            raise CronError(f"end of range ({high}) above maximum ({field.high}): {part}")
        if low > high:
            raise CronError(f"beginning of range ({low}) beyond end of range ({high}): {part}")
        values.update(range(low, high + 1, step))
    return frozenset(values), star


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: allowed values per field, or a fixed interval (``@every``)."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    day_star: bool
    weekday_star: bool
    location: tzinfo | None = None
    every: timedelta | None = None

    def _day_matches(self, t: datetime) -> bool:
        dom = t.day in self.days
        dow = (t.isoweekday() % 7) in self.weekdays
        if self.day_star or self.weekday_star:
            return dom and dow
        return dom or dow

    def next(self, after: datetime, location: tzinfo | None = None) -> datetime | None:
        """The first activation strictly after ``after`` (an aware time), or None if there is none within 5 years."""
        if self.every is not None:
            base = after.replace(microsecond=0)
            return base + self.every
        zone = location or self.location or UTC
        local = after.astimezone(zone).replace(second=0, microsecond=0, tzinfo=None) + timedelta(minutes=1)
        limit = local.year + _HORIZON_YEARS
        while local.year <= limit:
            if local.month not in self.months:
                local = datetime(local.year + (local.month == 12), local.month % 12 + 1, 1)
                continue
            if not self._day_matches(local):
                local = datetime(local.year, local.month, local.day) + timedelta(days=1)
                continue
            if local.hour not in self.hours:
                local = local.replace(minute=0) + timedelta(hours=1)
                continue
            if local.minute not in self.minutes:
                local += timedelta(minutes=1)
                continue
            return local.replace(tzinfo=zone)
        return None


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def _duration(text: str) -> timedelta:
    """A Go duration (``1h30m``, ``90s``)."""
    pos, seconds = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise CronError(f"failed to parse duration @every {text}: time: invalid duration {text!r}")
    # robfig rounds @every down to whole seconds, at least one.
    return timedelta(seconds=max(1, int(seconds)))


def parse(spec: str) -> Schedule:
    """Parse a schedule; :class:`CronError` if it is not one."""
    text = spec.strip()
    location: tzinfo | None = None
    if text.startswith(("TZ=", "CRON_TZ=")):
        prefix, _, text = text.partition(" ")
        zone = prefix.partition("=")[2]
        try:
            location = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise CronError(f"provided bad location {zone}: unknown time zone {zone}") from None
        text = text.strip()
    if text.startswith("@"):
        if text.startswith("@every "):
            return Schedule(
                frozenset(),
                frozenset(),
                frozenset(),
                frozenset(),
                frozenset(),
                False,
                False,
                location,
                every=_duration(text[len("@every ") :].strip()),
            )
        if text not in _DESCRIPTORS:
            raise CronError(f"unrecognized descriptor: {text}")
        text = _DESCRIPTORS[text]
    fields = text.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    parsed = [_parse_field(f, definition) for f, definition in zip(fields, _FIELDS, strict=True)]
    (minutes, _), (hours, _), (days, day_star), (months, _), (weekdays, weekday_star) = parsed
    return Schedule(minutes, hours, days, months, weekdays, day_star, weekday_star, location)
