"""Duplicate fields in request bodies, worded as upstream's strict JSON and YAML decoders."""

from __future__ import annotations

import orjson
import pytest

from pinnace.api.duplicates import json_duplicates, yaml_duplicates


def dups(body: bytes) -> list[str]:
    return json_duplicates(body, orjson.loads(body))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"kind":"ConfigMap","data":{"a":"1","b":"2"}}', []),
        (b'{"kind":"ConfigMap","kind":"Secret"}', ['duplicate field "kind"']),
        (b'{"data":{"a":"1","a":"2"}}', ['duplicate field "data.a"']),
        # in document order; a repeated object is checked inside too; one message per path
        (
            b'{"metadata":{"labels":{"x":"1","x":"2","x":"3"}},"data":{"k":"x","k":"y"},"data":{"k":"z"}}',
            ['duplicate field "metadata.labels.x"', 'duplicate field "data.k"', 'duplicate field "data"'],
        ),
        (
            b'{"spec":{"containers":[{"name":"a"},{"name":"b","image":"x","image":"y"}]}}',
            ['duplicate field "spec.containers[1].image"'],
        ),
        # what the quick count cannot tell apart goes to the exact pass, which finds nothing here
        (b'{"a":"\\":\\":","b":{"c":"\\u0022:"}}', []),
        # keys written with spaces before the colon are still found
        (b'{\n  "a" : 1,\n  "a" : 2\n}', ['duplicate field "a"']),
        (b'{"a":\t1, "b" :{"c": 1, "c" :2}}', ['duplicate field "b.c"']),
        (b"[]", []),
    ],
)
def test_json_duplicates(body: bytes, expected: list[str]) -> None:
    assert dups(body) == expected


def test_a_string_value_that_looks_like_keys_is_no_duplicate() -> None:
    body = orjson.dumps({"data": {"script": 'echo {"a": 1, "a": 2}', "other": '":":'}})
    assert dups(body) == []


def test_yaml_duplicates_name_the_lines_as_yaml_v2() -> None:
    body = b"apiVersion: v1\nkind: ConfigMap\ndata:\n  a: '1'\n  a: '2'\nkind: Secret\nitems:\n- {x: 1, x: 2}\n"
    assert yaml_duplicates(body) == (
        "yaml: unmarshal errors:\n"
        '  line 5: key "a" already set in map\n'
        '  line 6: key "kind" already set in map\n'
        '  line 8: key "x" already set in map'
    )
    assert yaml_duplicates(b"apiVersion: v1\nkind: ConfigMap\n") is None
    # Keys are typed as go-yaml resolves them: an int and a string of the same text are two keys (one is kept in
    # JSON), two ints are one.
    assert yaml_duplicates(b'data:\n  1: x\n  "1": y\n  true: x\n  "true": y\n') is None
    assert yaml_duplicates(b"data:\n  1: x\n  1: y\n") == "yaml: unmarshal errors:\n  line 3: key 1 already set in map"
    assert yaml_duplicates(b"a: [unclosed\n") is None  # a syntax error is the decoder's to report


def test_yaml_keys_are_compared_by_the_value_go_yaml_resolves() -> None:
    """``y`` and ``Y`` are both the bool true, ``1`` and ``0x1`` both the int 1, ``1.5`` and ``1.50`` one float:
    one key each to go-yaml's strict decode (they were compared as written, and passed)."""
    body = b"data:\n  y: a\n  Y: b\n  1: p\n  0x1: q\n  1.5: u\n  1.50: v\n"
    assert yaml_duplicates(body) == (
        "yaml: unmarshal errors:\n"
        "  line 3: key true already set in map\n"
        "  line 5: key 1 already set in map\n"
        "  line 7: key 1.5 already set in map"
    )
