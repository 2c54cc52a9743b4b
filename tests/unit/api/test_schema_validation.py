"""Validating custom resources against their structural schema: each keyword, upstream's messages."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api import schema_validation


def _check(prop: dict[str, Any], value: Any) -> list[str]:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {"f": prop}}}}
    return [f"{c.field}: {c.message}" for c in schema_validation.validate({"spec": {"f": value}}, schema)]


@pytest.mark.parametrize(
    ("prop", "value", "expected"),
    [
        ({"type": "integer"}, "x", 'spec.f: Invalid value: "string": spec.f in body must be of type integer: "string"'),
        ({"type": "integer"}, 1.5, 'spec.f: Invalid value: "number": spec.f in body must be of type integer: "number"'),
        ({"type": "string"}, None, 'spec.f: Invalid value: "null": spec.f in body must be of type string: "null"'),
        (
            {"type": "boolean"},
            "true",
            'spec.f: Invalid value: "string": spec.f in body must be of type boolean: "string"',
        ),
        (
            {"type": "array", "items": {"type": "string"}},
            {},
            'spec.f: Invalid value: "object": spec.f in body must be of type array: "object"',
        ),
        ({"type": "string", "enum": ["a", "b"]}, "c", 'spec.f: Unsupported value: "c": supported values: "a", "b"'),
        (
            {"type": "string", "pattern": "^a+$"},
            "b",
            "spec.f: Invalid value: \"b\": spec.f in body should match '^a+$'",
        ),
        (
            {"type": "string", "format": "email"},
            "x",
            'spec.f: Invalid value: "x": spec.f in body must be of type email: "x"',
        ),
        (
            {"type": "string", "format": "date-time"},
            "2024-13-01T00:00:00Z",
            'spec.f: Invalid value: "2024-13-01T00:00:00Z": '
            'spec.f in body must be of type date-time: "2024-13-01T00:00:00Z"',
        ),
        (
            {"type": "string", "format": "ipv4"},
            "1.2.3",
            'spec.f: Invalid value: "1.2.3": spec.f in body must be of type ipv4: "1.2.3"',
        ),
        (
            {"type": "string", "format": "uuid"},
            "nope",
            'spec.f: Invalid value: "nope": spec.f in body must be of type uuid: "nope"',
        ),
        (
            {"type": "integer", "minimum": 1},
            0,
            "spec.f: Invalid value: 0: spec.f in body should be greater than or equal to 1",
        ),
        (
            {"type": "integer", "maximum": 5},
            6,
            "spec.f: Invalid value: 6: spec.f in body should be less than or equal to 5",
        ),
        (
            {"type": "integer", "minimum": 1, "exclusiveMinimum": True},
            1,
            "spec.f: Invalid value: 1: spec.f in body should be greater than 1",
        ),
        (
            {"type": "integer", "maximum": 5, "exclusiveMaximum": True},
            5,
            "spec.f: Invalid value: 5: spec.f in body should be less than 5",
        ),
        ({"type": "integer", "multipleOf": 3}, 4, "spec.f: Invalid value: 4: spec.f in body should be a multiple of 3"),
        ({"type": "string", "maxLength": 2}, "abc", "spec.f: Too long: may not be more than 2 bytes"),
        (
            {"type": "string", "minLength": 2},
            "a",
            'spec.f: Invalid value: "a": spec.f in body should be at least 2 chars long',
        ),
        (
            {"type": "array", "items": {"type": "integer"}, "maxItems": 1},
            [1, 2],
            "spec.f: Too many: 2: must have at most 1 items",
        ),
        (
            {"type": "array", "items": {"type": "integer"}, "minItems": 2},
            [1],
            "spec.f: Invalid value: 1: spec.f in body should have at least 2 items",
        ),
        ({"type": "object", "maxProperties": 1}, {"a": 1, "b": 2}, "spec.f: Too many: 2: must have at most 1 items"),
        (
            {"type": "object", "minProperties": 1},
            {},
            "spec.f: Invalid value: 0: spec.f in body should have at least 1 properties",
        ),
        (
            {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}},
            {},
            "spec.f.a: Required value",
        ),
        (
            {"x-kubernetes-int-or-string": True},
            True,
            'spec.f: Invalid value: "boolean": spec.f in body must be of type integer,string: "boolean"',
        ),
        (
            {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            ["a", "b", "a"],
            'spec.f[2]: Duplicate value: "a"',
        ),
        (
            {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "properties": {"name": {"type": "string"}, "v": {"type": "integer"}}},
            },
            [{"name": "a", "v": 1}, {"name": "a", "v": 2}],
            'spec.f[1]: Duplicate value: map[string]interface {}{"name":"a"}',
        ),
        (
            {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["port"],
                "items": {"type": "object", "properties": {"port": {"x-kubernetes-int-or-string": True}}},
            },
            [{"port": 80}, {"port": "80"}, {"port": 80}],  # 80 and "80" are different keys
            'spec.f[2]: Duplicate value: map[string]interface {}{"port":80}',
        ),
        (
            {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["port", "protocol"],
                "items": {
                    "type": "object",
                    "properties": {"port": {"type": "integer"}, "protocol": {"type": "string"}},
                },
            },
            [{"port": 80, "protocol": "TCP"}, {"port": 80, "protocol": "UDP"}, {"protocol": "UDP", "port": 80}],
            'spec.f[2]: Duplicate value: map[string]interface {}{"port":80, "protocol":"UDP"}',
        ),
        (
            {"type": "object", "x-kubernetes-embedded-resource": True, "x-kubernetes-preserve-unknown-fields": True},
            {"metadata": {}},
            None,
        ),
        (
            {"type": "array", "items": {"type": "integer", "minimum": 0}},
            [1, -1],
            "spec.f[1]: Invalid value: -1: spec.f[1] in body should be greater than or equal to 0",
        ),
    ],
)
def test_each_keyword(prop: dict[str, Any], value: Any, expected: str | None) -> None:
    got = _check(prop, value)
    if expected is None:  # the embedded resource: apiVersion and kind required
        assert got == [
            "spec.f.apiVersion: Required value: must not be empty",
            "spec.f.kind: Required value: must not be empty",
        ]
    else:
        assert got == [expected]


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ({"type": "integer"}, 3),
        ({"type": "number"}, 3),
        ({"type": "number"}, 3.5),
        ({"type": "integer"}, 3.0),
        ({"type": "string", "nullable": True}, None),
        ({"x-kubernetes-int-or-string": True}, "50%"),
        ({"x-kubernetes-int-or-string": True}, 5),
        ({"type": "string", "format": "date-time"}, "2024-01-01T00:00:00Z"),
        ({"type": "string", "format": "int32"}, "anything"),
        ({"type": "string", "format": "byte"}, "aGVsbG8="),
        ({"type": "string", "format": "cidr"}, "10.0.0.0/8"),
        ({"type": "string", "format": "hostname"}, "a.example.com"),
        ({"type": "object", "x-kubernetes-preserve-unknown-fields": True}, {"any": ["thing"]}),
    ],
)
def test_valid_values_pass(prop: dict[str, Any], value: Any) -> None:
    assert _check(prop, value) == []


def test_every_violation_is_listed() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["image"],
                "properties": {
                    "image": {"type": "string"},
                    "replicas": {"type": "integer", "minimum": 0},
                    "mode": {"type": "string", "enum": ["A", "B"]},
                },
            }
        },
    }
    causes = schema_validation.validate({"spec": {"replicas": -1, "mode": "C"}}, schema)
    assert [c.field for c in causes] == ["spec.image", "spec.replicas", "spec.mode"]
    assert [c.type for c in causes] == ["FieldValueRequired", "FieldValueInvalid", "FieldValueNotSupported"]
