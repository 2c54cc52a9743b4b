"""Quantities parse, compare and print as upstream's ``resource.Quantity``."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest

from pinnace.api import quantity

WRONG = quantity.ERR_FORMAT_WRONG


@pytest.mark.parametrize(
    ("text", "value", "printed"),
    [
        ("1", 1, "1"),
        ("0", 0, "0"),
        ("-", 0, "0"),
        ("1500m", Fraction(3, 2), "1500m"),
        ("1.5", Fraction(3, 2), "1500m"),
        ("0.5", Fraction(1, 2), "500m"),
        ("2000", 2000, "2k"),
        ("100M", 10**8, "100M"),
        ("1e3", 1000, "1e3"),
        ("1E3", 1000, "1E3"),
        ("1Ki", 1024, "1Ki"),
        ("1024Mi", 2**30, "1Gi"),
        ("1536Mi", 1536 * 2**20, "1536Mi"),
        ("0.5Gi", 2**29, "512Mi"),
        ("1.5Ki", 1536, "1536"),
        ("0.5Ki", 512, "512"),
        ("128974848", 128974848, "128974848"),
        ("129e6", 129 * 10**6, "129e6"),
        ("123Mi", 123 * 2**20, "123Mi"),
        ("0.1m", Fraction(1, 10**4), "100u"),
        ("0.0000000001", Fraction(1, 10**9), "1n"),
        ("-1", -1, "-1"),
        ("+1", 1, "+1"),
        ("1.0", 1, "1"),
        ("1.", 1, "1."),  # upstream keeps an input it deems canonical
        ("10Ei", 10 * 2**60, "10Ei"),
    ],
)
def test_parse_and_print(text: str, value: Fraction | int, printed: str) -> None:
    q = quantity.parse(text)
    assert q.value == value
    assert str(q) == printed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", WRONG),
        ("abc", WRONG),
        ("1Gb", WRONG),
        ("1.5.5", WRONG),
        ("1 Gi", WRONG),
        ("1kk", quantity.ERR_SUFFIX),
        ("1Ki2", quantity.ERR_SUFFIX),
        ("1e", quantity.ERR_SUFFIX),
    ],
)
def test_bad_quantities(text: str, message: str) -> None:
    with pytest.raises(quantity.QuantityError) as info:
        quantity.parse(text)
    assert str(info.value) == message


def test_the_regex_is_upstreams() -> None:
    assert WRONG == "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def test_compare() -> None:
    assert quantity.parse("500m") < quantity.parse("1")
    assert quantity.parse("1Gi") <= quantity.parse("1024Mi")
    assert not quantity.parse("2") <= quantity.parse("1999m")


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        ("1e-9999999999", "1e-9"),  # under a nano: rounded up to one, as upstream rounds
        ("-1e-9999999999", "-1e-9"),
        ("0e99999999999", "0"),
        ("0.000e99999999", "0"),
        ("9.99e999", "9990e996"),
    ],
)
def test_an_exponent_of_any_size_is_read_at_once(text: str, printed: str) -> None:
    started = time.perf_counter()
    assert str(quantity.parse(text)) == printed
    assert time.perf_counter() - started < 0.5  # 10**9999999999 would never finish


@pytest.mark.parametrize("text", ["1e9999999999", "1e1001", "-0.5e1002"])
def test_a_quantity_beyond_ten_to_the_thousand_is_refused(text: str) -> None:
    with pytest.raises(quantity.QuantityError, match="quantity is too large"):
        quantity.parse(text)
