"""x-kubernetes-validations: CEL rules compiled from a schema and run on objects (and their old selves)."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api import cel

SPEC_PATH = "spec.versions[0].schema.openAPIV3Schema"


def _tree(rules: list[dict[str, Any]], **props: Any) -> cel.RuleTree:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "x-kubernetes-validations": rules,
                "properties": props or {"x": {"type": "integer"}},
            }
        },
    }
    tree, causes = cel.compile_rules(schema, SPEC_PATH)
    assert causes == []
    assert tree is not None
    return tree


def _run(rules: list[dict[str, Any]], spec: Any, old: Any = None) -> list[str]:
    tree = _tree(rules)
    causes = tree.validate({"spec": spec}, {"spec": old} if old is not None else None, has_old=old is not None)
    return [f"{c.field}: {c.message}" for c in causes]


@pytest.mark.parametrize(
    ("rule", "spec", "ok"),
    [
        ("self.replicas <= self.maxReplicas", {"replicas": 3, "maxReplicas": 5}, True),
        ("self.replicas <= self.maxReplicas", {"replicas": 7, "maxReplicas": 5}, False),
        ("has(self.a) || !has(self.b)", {"b": 1}, False),
        ("has(self.a) || !has(self.b)", {"a": 1, "b": 1}, True),
        ("size(self.items) <= 2", {"items": [1, 2, 3]}, False),
        ("self.items.all(i, i > 0)", {"items": [1, 2]}, True),
        ("self.items.exists(i, i == 3)", {"items": [1, 2]}, False),
        ("self.items.exists_one(i, i == 2)", {"items": [1, 2]}, True),
        ("self.name.startsWith('web-') && self.name.matches('^[a-z-]+$')", {"name": "web-app"}, True),
        ("self.name.lowerAscii() == self.name", {"name": "Web"}, False),
        ("self.m.all(k, self.m[k] > 0)", {"m": {"a": 1, "b": 0}}, False),
        ("self.x > 1.5", {"x": 2}, True),
    ],
)
def test_rules(rule: str, spec: dict[str, Any], ok: bool) -> None:
    got = _run([{"rule": rule}], spec)
    assert got == ([] if ok else [f'spec: Invalid value: "object": failed rule: {rule}'])


def test_message_reason_and_field_path() -> None:
    assert _run([{"rule": "self.x > 0", "message": "x must be positive"}], {"x": 0}) == [
        'spec: Invalid value: "object": x must be positive'
    ]
    assert _run([{"rule": "self.x > 0", "messageExpression": "'x is ' + string(self.x)"}], {"x": -1}) == [
        'spec: Invalid value: "object": x is -1'
    ]
    assert _run(
        [{"rule": "self.x > 0", "reason": "FieldValueForbidden", "fieldPath": ".x", "message": "no"}], {"x": 0}
    ) == ["spec.x: Forbidden: no"]


def test_transition_rules_run_only_on_update() -> None:
    rules = [{"rule": "self.x >= oldSelf.x", "message": "x may not decrease"}]
    assert _run(rules, {"x": 1}) == []
    assert _run(rules, {"x": 1}, old={"x": 2}) == ['spec: Invalid value: "object": x may not decrease']
    assert _run(rules, {"x": 3}, old={"x": 2}) == []
    assert _run([{"rule": "self == oldSelf", "message": "immutable"}], {"x": 1}, old={"x": 2}) == [
        'spec: Invalid value: "object": immutable'
    ]


def test_evaluation_errors_are_reported() -> None:
    got = _run([{"rule": "self.missing > 0"}], {"x": 1})
    assert len(got) == 1
    assert got[0].startswith('spec: Invalid value: "object": ')
    assert got[0].endswith("evaluating rule: self.missing > 0")


def test_rules_on_nested_nodes_and_list_items() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "ports": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {
                            "type": "object",
                            "x-kubernetes-validations": [{"rule": "self.port < 1024 || self.name != 'http'"}],
                            "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                        },
                    },
                    "name": {
                        "type": "string",
                        "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "immutable"}],
                    },
                },
            }
        },
    }
    tree, causes = cel.compile_rules(schema, SPEC_PATH)
    assert causes == [] and tree is not None
    obj = {"spec": {"ports": [{"name": "a", "port": 8080}, {"name": "http", "port": 8080}], "name": "n2"}}
    got = [f"{c.field}: {c.message}" for c in tree.validate(obj, {"spec": {"name": "n1"}}, has_old=True)]
    assert got == [
        "spec.ports[1]: Invalid value: \"object\": failed rule: self.port < 1024 || self.name != 'http'",
        'spec.name: Invalid value: "string": immutable',
    ]


def test_rules_that_do_not_compile_are_reported_on_the_crd() -> None:
    schema = {
        "type": "object",
        "x-kubernetes-validations": [{"rule": "self.foo("}, {"rule": "self.a", "reason": "Nope"}],
    }
    tree, causes = cel.compile_rules(schema, SPEC_PATH)
    assert [c.field for c in causes] == [
        f"{SPEC_PATH}.x-kubernetes-validations[0].rule",
        f"{SPEC_PATH}.x-kubernetes-validations[1].reason",
    ]
    assert "compilation failed: ERROR: <input>:1:" in causes[0].message
    assert "Syntax error" in causes[0].message
    assert tree is None


@pytest.mark.parametrize(
    ("rule", "fields"),
    [
        ("self.replicas >= 1 || !self.highAvailability", ("replicas", "highAvailability")),
        ("has(self.x) && self.y.z == 1", ("x", "y")),
        ("oldSelf.x == self.x", ("x",)),
        ('self.name.startsWith("a")', ("name",)),
        ("self == oldSelf", None),
        ("self.size() > 1", None),
        ("size(self) > 0", None),
        ('self.all(k, k != "")', None),
        ('self["a"] == 1', None),
        ("self.?x.orValue(1) == 1", None),
        ("a.self.b == 1", None),
    ],
)
def test_fields_a_rule_reads_from_self(rule: str, fields: tuple[str, ...] | None) -> None:
    """Only plain ``self.<field>`` uses narrow what a rule is handed; any other use of ``self`` needs all of it."""
    assert cel.self_fields(rule) == fields


@pytest.mark.parametrize(
    "rule",
    [
        "self.x > 1",
        "has(self.missing)",
        "self.missing == 1",
        "self.size() == 3",
        "self.all(k, k != 'z')",
        "self.y.startsWith('b')",
    ],
)
def test_a_narrowed_self_gives_the_same_verdicts_and_errors(rule: str) -> None:
    """The rule sees every field it names (and misses the same ones): results and error messages are unchanged."""
    spec = {"x": 2, "y": "bee", "z": [1, 2]}
    tree = _tree([{"rule": rule}], x={"type": "integer"}, y={"type": "string"}, z={"type": "array"})
    got = [f"{c.field}: {c.message}" for c in tree.validate({"spec": spec})]
    want: list[str] = []
    try:
        if cel.evaluate(rule, spec) is not True:
            want = [f'spec: Invalid value: "object": failed rule: {rule}']
    except cel.EvaluationError as exc:
        want = [f'spec: Invalid value: "object": {exc} evaluating rule: {rule}']
    assert got == want
