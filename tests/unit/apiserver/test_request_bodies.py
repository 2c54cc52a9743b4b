"""Request bodies Pinnace could read but not store or answer are refused as clear 400s, never a 500 later."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api import errors
from pinnace.apiserver import negotiation
from pinnace.apiserver.negotiation import MAX_NESTING_DEPTH


def _nested(depth: int) -> Any:
    value: Any = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_nesting_is_counted_from_the_body_itself() -> None:
    negotiation.check_nesting(_nested(MAX_NESTING_DEPTH))
    with pytest.raises(errors.BadRequest, match="nested too deeply"):
        negotiation.check_nesting(_nested(MAX_NESTING_DEPTH + 1))


def test_a_json_body_with_few_brackets_is_not_walked() -> None:
    deep = _nested(MAX_NESTING_DEPTH + 1)
    negotiation.check_nesting(deep, b"{}")  # the bracket count rules it out: no walk at all
    with pytest.raises(errors.BadRequest):
        negotiation.check_nesting(deep, b"{" * (MAX_NESTING_DEPTH + 1))


def test_yaml_becomes_what_json_can_hold_as_upstream_converts_it() -> None:
    doc = negotiation.decode_yaml(b"data: !!binary aGVsbG8=\n2: two\n1.5: x\nyes: [1, {k: v}]\n")
    assert doc == {"data": "hello", "2": "two", "1.5": "x", "true": [1, {"k": "v"}]}
    # Integers beyond 64 bits: a float64 as Go's YAML reads them, or the text when no float holds them.
    big = negotiation.decode_yaml(b"a: 18446744073709551615\nb: 1" + b"0" * 30 + b"\nc: 1" + b"0" * 400 + b"\n")
    assert big == {"a": 2**64 - 1, "b": 1e30, "c": "1" + "0" * 400}


def test_yaml_plain_scalars_resolve_as_go_yaml_v2s() -> None:
    """go-yaml v2 reads y/Y/n/N as booleans (keys too) and a number with an exponent as a float even without a dot
    or an exponent sign; PyYAML's YAML 1.1 rules read them as strings. Quoted, they stay strings."""
    doc = negotiation.decode_yaml(b'a: y\nb: N\nc: "y"\nd: 1e3\ne: 1.5e3\nf: -2E-1\ng: yy\nh: 1e\ny: 1\n')
    assert doc == {"a": True, "b": False, "c": "y", "d": 1e3, "e": 1.5e3, "f": -0.2, "g": "yy", "h": "1e", "true": 1}


GO_YAML_SCALARS = [
    # Go's ParseInt with base 0, underscores dropped: prefixed, 0-led octal, signed.
    ("0o17", 15), ("0O17", 15), ("017", 15), ("0x1F", 31), ("0b101", 5), ("-0b101", -5), ("+12", 12), ("1_000", 1000),
    ("18446744073709551615", 2**64 - 1),  # beyond int64, an unsigned one
    ("08", 8),  # no octal, but go-yaml's float syntax: the float 8, a whole number
    ("3.0", 3), ("1.", 1), ("1e3", 1000), (".5", 0.5), ("+.5", 0.5), ("1.5", 1.5),
    # No base-60 numbers; no "value" tag; out of float64's range: strings.
    ("1:30", "1:30"), ("190:20:30", "190:20:30"), ("1:30.5", "1:30.5"), ("=", "="), ("<<", "<<"), ("1e400", "1e400"),
    ("0x", "0x"), ("12e", "12e"), ("._5", "._5"), ("2001-12-14", "2001-12-14"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), GO_YAML_SCALARS, ids=[case[0] for case in GO_YAML_SCALARS])
def test_yaml_numbers_and_odd_scalars_resolve_as_go_yaml_v2s(text: str, expected: Any) -> None:
    """What sigs.k8s.io/yaml makes of a plain scalar, then Go's JSON: ``a: 1:30`` and ``a: =`` are strings
    (PyYAML read the first as the int 90 and could not construct the second), ``replicas: 3.0`` is the integer 3
    (it was refused as 3.0 for an int32), ``0o17`` is 15 (it was a string)."""
    value = negotiation.decode_yaml(f"a: {text}\n".encode())["a"]
    assert (value, type(value)) == (expected, type(expected))


def test_a_merge_key_still_merges() -> None:
    doc = negotiation.decode_yaml(b"base: &b {k: 1}\nmerged:\n  <<: *b\n  j: 2\n")
    assert doc["merged"] == {"k": 1, "j": 2}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"null: x\n", r'unsupported map key of type: %!s\(<nil>\), key: <nil>, value: "x"$'),
        (b"a: !!set {x, y}\n", "unsupported value of type set"),
        (b"a: !!binary '%%%'\n", "failed to decode !!binary data"),
        (b"a: .nan\n", "json: unsupported value: NaN"),
        (b"a: [-.inf]\n", "json: unsupported value: -Inf"),
    ],
)
def test_yaml_json_cannot_hold_is_a_bad_request(body: bytes, message: str) -> None:
    with pytest.raises(errors.BadRequest, match=message):
        negotiation.decode_yaml(body)


def test_an_unreadable_patch_is_a_bad_request() -> None:
    with pytest.raises(errors.BadRequest, match="error decoding patch"):
        negotiation.decode_patch(b"{nope")
