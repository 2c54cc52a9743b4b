"""Cron schedules: fields, names, steps, descriptors, time zones and the day-of-month/day-of-week rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pinnace.controllers.cronschedule import CronError, parse


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def nexts(spec: str, start: str, n: int = 3) -> list[str]:
    schedule = parse(spec)
    t: datetime | None = at(start)
    out = []
    for _ in range(n):
        assert t is not None
        t = schedule.next(t)
        assert t is not None
        out.append(t.astimezone(UTC).strftime("%Y-%m-%d %H:%M"))
    return out


def test_every_minute_and_steps() -> None:
    assert nexts("* * * * *", "2026-01-01T00:00:30") == ["2026-01-01 00:01", "2026-01-01 00:02", "2026-01-01 00:03"]
    assert nexts("*/15 * * * *", "2026-01-01T00:00:00") == ["2026-01-01 00:15", "2026-01-01 00:30", "2026-01-01 00:45"]
    assert nexts("5/20 1-2 * * *", "2026-01-01T00:00:00") == [
        "2026-01-01 01:05",
        "2026-01-01 01:25",
        "2026-01-01 01:45",
    ]
    assert nexts("0,30 9 * * *", "2026-01-01T09:00:00", 2) == ["2026-01-01 09:30", "2026-01-02 09:00"]


def test_names_and_descriptors() -> None:
    # 2026-01-01 is a Thursday.
    assert nexts("0 9 * * mon-fri", "2026-01-01T10:00:00", 2) == ["2026-01-02 09:00", "2026-01-05 09:00"]
    assert nexts("0 0 1 jan,jul *", "2026-01-02T00:00:00", 2) == ["2026-07-01 00:00", "2027-01-01 00:00"]
    assert nexts("@hourly", "2026-01-01T00:10:00", 1) == ["2026-01-01 01:00"]
    assert nexts("@daily", "2026-01-01T00:10:00", 1) == ["2026-01-02 00:00"]
    assert nexts("@weekly", "2026-01-01T00:00:00", 1) == ["2026-01-04 00:00"]
    assert nexts("@monthly", "2026-01-15T00:00:00", 1) == ["2026-02-01 00:00"]
    assert nexts("@yearly", "2026-01-15T00:00:00", 1) == ["2027-01-01 00:00"]
    assert parse("@every 90s").next(at("2026-01-01T00:00:00")) == at("2026-01-01T00:01:30")


def test_day_of_month_or_day_of_week() -> None:
    # Both restricted: either matches (the 13th, or any Friday).
    assert nexts("0 0 13 * fri", "2026-01-01T00:00:00", 3) == [
        "2026-01-02 00:00",
        "2026-01-09 00:00",
        "2026-01-13 00:00",
    ]
    # One is *: both must (so only the 13th).
    assert nexts("0 0 13 * *", "2026-01-01T00:00:00", 1) == ["2026-01-13 00:00"]
    assert nexts("0 0 29 2 *", "2026-01-01T00:00:00", 1) == ["2028-02-29 00:00"]


def test_time_zones() -> None:
    # 09:00 in New York is 14:00 UTC in winter, 13:00 UTC in summer.
    assert nexts("CRON_TZ=America/New_York 0 9 * * *", "2026-01-01T00:00:00", 1) == ["2026-01-01 14:00"]
    assert nexts("TZ=America/New_York 0 9 * * *", "2026-07-01T00:00:00", 1) == ["2026-07-01 13:00"]
    tokyo = parse("0 9 * * *").next(at("2026-01-01T00:00:00"), ZoneInfo("Asia/Tokyo"))
    assert tokyo is not None and tokyo.astimezone(UTC) == at("2026-01-02T00:00:00")


def test_never_firing_schedule() -> None:
    assert parse("0 0 30 2 *").next(at("2026-01-01T00:00:00")) is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
        ("60 * * * *", "end of range (60) above maximum (59): 60"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
        ("x * * * *", "failed to parse int from x"),
        ("@fortnightly", "unrecognized descriptor: @fortnightly"),
        ("CRON_TZ=Mars/Olympus * * * * *", "provided bad location Mars/Olympus"),
    ],
)
def test_errors(spec: str, message: str) -> None:
    with pytest.raises(
        CronError, match=message.replace("*", r"\*").replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")
    ):
        parse(spec)


def test_dst_gap_is_skipped_forward() -> None:
    # 2026-03-08 02:30 does not exist in New York; the next real 02:30 is the day after.
    schedule = parse("CRON_TZ=America/New_York 30 2 * * *")
    t = schedule.next(at("2026-03-08T05:00:00"))
    assert t is not None and t.astimezone(UTC) - at("2026-03-08T05:00:00") < timedelta(days=2)
