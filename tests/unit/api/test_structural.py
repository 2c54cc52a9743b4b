"""Structural schemas: the check a CRD's schema must pass, pruning and defaulting of custom resources."""

from __future__ import annotations

import copy
import random
from typing import Any

import orjson
import pytest

from pinnace.api import structural

ROOT = "spec.versions[0].schema.openAPIV3Schema"


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


def _messages(schema: Any) -> list[str]:
    return [f"{c.field}: {c.message}" for c in structural.check_schema(schema, ROOT)]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (None, [f"{ROOT}: Required value: schemas are required"]),
        ({"properties": {}}, [f"{ROOT}.type: Required value: must not be empty at the root"]),
        ({"type": "string"}, [f'{ROOT}.type: Invalid value: "string": must be object at the root']),
        (
            _obj(spec={"properties": {"a": {"type": "string"}}}),
            [f"{ROOT}.properties[spec].type: Required value: must not be empty for specified object fields"],
        ),
        (
            _obj(list={"type": "array", "items": {"properties": {}}}),
            [f"{ROOT}.properties[list].items.type: Required value: must not be empty for specified array items"],
        ),
        (
            _obj(
                m={
                    "type": "object",
                    "properties": {"a": {"type": "string"}},
                    "additionalProperties": {"type": "string"},
                }
            ),
            [
                f"{ROOT}.properties[m].additionalProperties: Forbidden: "
                "additionalProperties and properties are mutual exclusive"
            ],
        ),
        (
            _obj(metadata={"type": "object", "properties": {"labels": {"type": "object"}}}),
            [
                f"{ROOT}.properties[metadata]: Forbidden: must not specify anything other than name and "
                "generateName, but metadata is implicitly specified"
            ],
        ),
        (
            _obj(x={"x-kubernetes-int-or-string": True, "type": "string"}),
            [
                f'{ROOT}.properties[x].type: Invalid value: "string": '
                "must be empty if x-kubernetes-int-or-string is true"
            ],
        ),
        (
            _obj(x={"type": "object", "x-kubernetes-preserve-unknown-fields": False}),
            [
                f"{ROOT}.properties[x].x-kubernetes-preserve-unknown-fields: Invalid value: false: "
                "must be true or undefined"
            ],
        ),
        (
            _obj(x={"type": "string", "anyOf": [{"type": "integer"}]}),
            [f"{ROOT}.properties[x].anyOf[0].type: Forbidden: must be empty to be structural"],
        ),
        (
            _obj(x={"type": "array", "items": {"type": "object"}, "x-kubernetes-list-type": "map"}),
            [
                f"{ROOT}.properties[x].x-kubernetes-list-map-keys: Required value: "
                "must not be empty if x-kubernetes-list-type is map"
            ],
        ),
        (
            _obj(x={"type": "object", "x-kubernetes-embedded-resource": True}),
            [
                f"{ROOT}.properties[x].properties: Required value: must not be empty if "
                "x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields"
            ],
        ),
        (_obj(x={"$ref": "#/definitions/y"}), None),
    ],
)
def test_non_structural_schemas_are_refused_at_their_path(schema: Any, expected: list[str] | None) -> None:
    got = _messages(schema)
    if expected is None:
        assert any("$ref" in m for m in got)
    else:
        assert got == expected


@pytest.mark.parametrize(
    "schema",
    [
        _obj(spec=_obj(replicas={"type": "integer"}), status={"type": "object"}),
        _obj(x={"x-kubernetes-int-or-string": True}),
        _obj(x={"x-kubernetes-preserve-unknown-fields": True}),
        _obj(metadata={"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}}}),
        _obj(m={"type": "object", "additionalProperties": {"type": "string"}}),
        _obj(
            x={
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
            }
        ),
        _obj(x={"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}),
        _obj(
            e={"type": "object", "x-kubernetes-embedded-resource": True, "x-kubernetes-preserve-unknown-fields": True}
        ),
    ],
)
def test_structural_schemas_pass(schema: dict[str, Any]) -> None:
    assert _messages(schema) == []


SCHEMA = _obj(
    spec=_obj(
        replicas={"type": "integer", "default": 1},
        free={"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        labels={"type": "object", "additionalProperties": {"type": "string"}},
        items={"type": "array", "items": _obj(name={"type": "string"}, port={"type": "integer", "default": 80})},
        nested=_obj(deep={"type": "string", "default": "d"}),
        nullable={"type": "string", "nullable": True, "default": "n"},
        template={"type": "object", "x-kubernetes-embedded-resource": True, "properties": {"spec": {"type": "object"}}},
    ),
)


@pytest.mark.parametrize(
    ("obj", "pruned", "dropped"),
    [
        ({"spec": {"replicas": 2, "x": 1}}, {"spec": {"replicas": 2}}, ["spec.x"]),
        ({"spec": {"free": {"a": {"b": 1}}}}, {"spec": {"free": {"a": {"b": 1}}}}, []),
        ({"spec": {"labels": {"a": "b"}}}, {"spec": {"labels": {"a": "b"}}}, []),
        ({"spec": {"items": [{"name": "a", "x": 1}]}}, {"spec": {"items": [{"name": "a"}]}}, ["spec.items[0].x"]),
        ({"top": 1, "metadata": {"name": "n", "anything": 1}}, {"metadata": {"name": "n", "anything": 1}}, ["top"]),
        (
            {"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "junk": 1}, "x": 1}}},
            {"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}}},
            ["spec.template.metadata.junk", "spec.template.x"],
        ),
    ],
)
def test_pruning_drops_unknown_fields(obj: dict[str, Any], pruned: dict[str, Any], dropped: list[str]) -> None:
    assert structural.prune(obj, SCHEMA) == dropped
    assert obj == pruned


@pytest.mark.parametrize(
    ("obj", "defaulted"),
    [
        ({}, {}),
        ({"spec": {}}, {"spec": {"replicas": 1, "nullable": "n"}}),
        ({"spec": {"replicas": None}}, {"spec": {"replicas": 1, "nullable": "n"}}),
        ({"spec": {"nullable": None, "replicas": 3}}, {"spec": {"nullable": None, "replicas": 3}}),
        ({"spec": {"nested": {}, "replicas": 2}}, {"spec": {"nested": {"deep": "d"}, "replicas": 2, "nullable": "n"}}),
        (
            {"spec": {"items": [{"name": "a"}, {"port": 1}], "replicas": 1}},
            {"spec": {"items": [{"name": "a", "port": 80}, {"port": 1}], "replicas": 1, "nullable": "n"}},
        ),
        ({"spec": {"free": None, "replicas": 1}}, {"spec": {"replicas": 1, "nullable": "n"}}),
    ],
)
def test_defaults_fill_absent_fields_under_existing_parents(obj: dict[str, Any], defaulted: dict[str, Any]) -> None:
    structural.apply_defaults(obj, SCHEMA)
    assert obj == defaulted


def test_defaults_keep_key_order_and_default_inside_defaults() -> None:
    schema = _obj(
        spec=_obj(
            b={"type": "integer"},
            conf={"type": "object", "default": {}, "properties": {"level": {"type": "integer", "default": 3}}},
            a={"type": "string", "default": "x"},
            gone={"type": "string"},
            limits={"type": "object", "additionalProperties": {"type": "string", "default": "u"}},
        )
    )
    obj: dict[str, Any] = {"spec": {"gone": None, "b": 1, "conf": None, "limits": {"m": None, "n": "v"}}}
    structural.apply_defaults(obj, schema)
    assert obj == {"spec": {"b": 1, "conf": {"level": 3}, "limits": {"m": "u", "n": "v"}, "a": "x"}}
    assert list(obj["spec"]) == ["b", "conf", "limits", "a"]  # nulls replaced in place, absent fields appended
    absent: dict[str, Any] = {"spec": {}}
    structural.apply_defaults(absent, schema)
    assert absent == {"spec": {"conf": {"level": 3}, "a": "x"}}
    assert list(absent["spec"]) == ["conf", "a"]  # in schema order


FUSED_SCHEMA = {
    "type": "object",
    "properties": {
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "default": {},
            "properties": {
                "n": {"type": "integer", "default": 1},
                "s": {"type": "string"},
                "z": {"type": "string", "nullable": True, "default": "zz"},
                "conf": {
                    "type": "object",
                    "properties": {"level": {"type": "integer", "default": 3}, "x": {"type": "string"}},
                },
                "map": {
                    "type": "object",
                    "additionalProperties": {"type": "object", "properties": {"a": {"type": "integer", "default": 7}}},
                },
                "strs": {"type": "object", "additionalProperties": {"type": "string", "default": "u"}},
                "list": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "default": {"k": "d"},
                        "properties": {"k": {"type": "string"}, "v": {"type": "integer", "default": 0}},
                    },
                },
                "grid": {"type": "array", "items": {"type": "array", "items": {"type": "integer", "default": 5}}},
                "free": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {"p": {"type": "integer", "default": 2}},
                },
                "res": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {"spec": {"type": "object", "properties": {"r": {"type": "integer", "default": 9}}}},
                },
            },
        },
        "status": {"type": "object", "properties": {"phase": {"type": "string", "default": "New"}}},
    },
}


def _random_value(rng: random.Random, schema: dict[str, Any] | None, depth: int) -> Any:
    roll = rng.random()
    if roll < 0.12:
        return None
    if schema is None or depth > 4:
        return rng.choice([1, "x", {"junk": 1}, [1, None], {}])
    if schema.get("type") == "array":
        return [_random_value(rng, schema.get("items"), depth + 1) for _ in range(rng.randrange(4))]
    if schema.get("type") == "object":
        out: dict[str, Any] = {}
        keys = list(schema.get("properties") or {})
        if schema.get("x-kubernetes-embedded-resource"):
            keys += ["apiVersion", "kind", "metadata"]
        rng.shuffle(keys)
        for key in keys:
            if rng.random() < 0.6:
                sub = (schema.get("properties") or {}).get(key)
                out[key] = {"name": "n", "bogus": 1} if key == "metadata" else _random_value(rng, sub, depth + 1)
        if isinstance(schema.get("additionalProperties"), dict):
            for key in ("m1", "m2")[: rng.randrange(3)]:
                out[key] = _random_value(rng, schema["additionalProperties"], depth + 1)
        if rng.random() < 0.3:
            out["unknown"] = _random_value(rng, None, depth + 1)
        return out
    return rng.choice({"integer": [0, 4], "string": ["", "s"]}.get(str(schema.get("type")), [1]))


def test_prune_and_default_is_prune_then_defaults_in_one_walk() -> None:
    rng = random.Random(1234)
    for _ in range(3000):
        obj = _random_value(rng, FUSED_SCHEMA, 0)
        if not isinstance(obj, dict):
            continue
        obj.setdefault("apiVersion", "x/v1")
        sequential, fused = copy.deepcopy(obj), copy.deepcopy(obj)
        dropped = structural.prune(sequential, FUSED_SCHEMA)
        structural.apply_defaults(sequential, FUSED_SCHEMA)
        assert structural.prune_and_default(fused, FUSED_SCHEMA) == dropped
        assert orjson.dumps(fused) == orjson.dumps(sequential), obj  # the same values in the same key order


def test_defaults_needed_says_exactly_whether_defaulting_changes_the_object() -> None:
    rng = random.Random(4321)
    needed = 0
    for _ in range(3000):
        obj = _random_value(rng, FUSED_SCHEMA, 0)
        if rng.random() < 0.5:  # as most stored objects are: defaulted already
            structural.apply_defaults(obj, FUSED_SCHEMA)
        defaulted = copy.deepcopy(obj)
        structural.apply_defaults(defaulted, FUSED_SCHEMA)
        changes = orjson.dumps(defaulted) != orjson.dumps(obj)
        assert structural.defaults_needed(obj, FUSED_SCHEMA) == changes, obj
        needed += changes
    assert 500 < needed < 2500  # both answers were put to the test


def test_a_custom_resource_is_copied_to_be_served_only_when_it_lacks_a_default() -> None:
    """Served at its version, a stored custom resource that has every default is not copied whole: the cache's
    object is not changed, and a nested part is the cache's own (no mutation of the result reaches it either:
    callers treat served objects as read-only, as they do the built-ins' cached ones)."""
    from pinnace.api import crd

    definition = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.t.example.com"},
        "spec": {
            "group": "t.example.com",
            "scope": "Namespaced",
            "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget", "listKind": "GadgetList"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": FUSED_SCHEMA},
                }
            ],
        },
    }
    (info,) = crd.resource_infos(definition)
    full: dict[str, Any] = {"apiVersion": "t.example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}
    full["spec"] = {"n": 2, "z": None, "conf": {"level": 1}}
    full["status"] = {"phase": "Ready"}
    served = crd.to_version(info, full)
    assert served == full and served is not full
    assert served["spec"] is full["spec"]  # not copied: nothing to add
    lacking = copy.deepcopy(full)
    del lacking["spec"]["conf"]["level"]
    served = crd.to_version(info, lacking)
    assert served["spec"]["conf"] == {"level": 3}
    assert lacking["spec"]["conf"] == {}  # the stored object is left as it was
