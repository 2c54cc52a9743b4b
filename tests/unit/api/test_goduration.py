"""Go's duration syntax, as ``time.ParseDuration`` reads it."""

from __future__ import annotations

import pytest

from pinnace.api.goduration import parse_go_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("-0", 0.0),
        ("5s", 5.0),
        ("1m30s", 90.0),
        ("24h0m0s", 86400.0),
        ("1.5h", 5400.0),
        ("-2m", -120.0),
        ("+3s", 3.0),
        ("500ms", 0.5),
        ("1ms1us1ns", 0.001001001),
        ("2µs", 2e-6),
        ("2μs", 2e-6),
        (".5s", 0.5),
        ("1.s", 1.0),
    ],
)
def test_what_go_parses(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "-", "5", "1d", "1 h", "h", "1h2", "s1", "1.2.3s", " 1s"])
def test_what_go_refuses_says_so_as_go_does(text: str) -> None:
    with pytest.raises(ValueError, match=r'^time: invalid duration "'):
        parse_go_duration(text)


def test_a_caller_may_take_more_units() -> None:
    assert parse_go_duration("2d3h", {"d": 86400.0}) == 2 * 86400 + 3 * 3600
    assert parse_go_duration("1ms", {"d": 86400.0}) == 0.001  # Go's longer units still win
