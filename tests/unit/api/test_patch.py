"""JSON Patch and JSON Merge Patch, with kube-apiserver's status codes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pinnace.api import errors
from pinnace.api.patch import apply_json_patch, apply_merge_patch, create_merge_patch, json_equal

DOC: dict[str, Any] = {
    "metadata": {"name": "x", "labels": {"a": "1", "k/8s": "s", "t~n": "t"}},
    "spec": {"list": [1, 2, 3], "nested": {"v": True}},
}


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        (
            [{"op": "add", "path": "/metadata/labels/b", "value": "2"}],
            {**DOC, "metadata": {"name": "x", "labels": {"a": "1", "k/8s": "s", "t~n": "t", "b": "2"}}},
        ),
        (
            [{"op": "add", "path": "/spec/list/-", "value": 4}],
            {**DOC, "spec": {**DOC["spec"], "list": [1, 2, 3, 4]}},
        ),
        (
            [{"op": "add", "path": "/spec/list/0", "value": 0}],
            {**DOC, "spec": {**DOC["spec"], "list": [0, 1, 2, 3]}},
        ),
        (
            [{"op": "add", "path": "/spec/list/3", "value": 9}],
            {**DOC, "spec": {**DOC["spec"], "list": [1, 2, 3, 9]}},
        ),
        (
            [{"op": "add", "path": "/spec/list/-1", "value": 9}],
            {**DOC, "spec": {**DOC["spec"], "list": [1, 2, 3, 9]}},
        ),
        (
            [{"op": "remove", "path": "/metadata/labels/k~18s"}],
            {**DOC, "metadata": {"name": "x", "labels": {"a": "1", "t~n": "t"}}},
        ),
        (
            [{"op": "remove", "path": "/metadata/labels/t~0n"}],
            {**DOC, "metadata": {"name": "x", "labels": {"a": "1", "k/8s": "s"}}},
        ),
        ([{"op": "remove", "path": "/spec/list/1"}], {**DOC, "spec": {**DOC["spec"], "list": [1, 3]}}),
        (
            [{"op": "replace", "path": "/spec/list/0", "value": 7}],
            {**DOC, "spec": {**DOC["spec"], "list": [7, 2, 3]}},
        ),
        (
            [{"op": "replace", "path": "/spec/nested/new", "value": 1}],
            {**DOC, "spec": {**DOC["spec"], "nested": {"v": True, "new": 1}}},
        ),
        (
            [{"op": "move", "from": "/spec/nested", "path": "/spec/moved"}],
            {**DOC, "spec": {"list": [1, 2, 3], "moved": {"v": True}}},
        ),
        (
            [{"op": "copy", "from": "/spec/list/0", "path": "/spec/list/-"}],
            {**DOC, "spec": {**DOC["spec"], "list": [1, 2, 3, 1]}},
        ),
        (
            [
                {"op": "test", "path": "/spec/nested/v", "value": True},
                {"op": "remove", "path": "/spec/nested"},
            ],
            {**DOC, "spec": {"list": [1, 2, 3]}},
        ),
        ([{"op": "test", "path": "/spec/absent", "value": None}], DOC),
        ([{"op": "test", "path": "/spec/list", "value": [1.0, 2, 3]}], DOC),
        ([], DOC),
        (None, DOC),
    ],
)
def test_json_patch(ops: Any, expected: dict[str, Any]) -> None:
    before = copy.deepcopy(DOC)
    assert apply_json_patch(DOC, ops) == expected
    assert before == DOC  # input untouched


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "remove", "path": "/spec/absent"}],
        [{"op": "add", "path": "/nope/deeper", "value": 1}],
        [{"op": "replace", "path": "/spec/list/3", "value": 1}],
        [{"op": "add", "path": "/spec/list/5", "value": 1}],
        [{"op": "remove", "path": "/spec/list/-"}],
        [{"op": "test", "path": "/spec/nested/v", "value": 1}],
        [{"op": "test", "path": "/metadata/name", "value": "y"}],
        [{"op": "test", "path": "/spec/absent", "value": "x"}],
        [{"op": "move", "from": "/spec/absent", "path": "/spec/x"}],
        [{"op": "move", "from": "/spec", "path": "/spec/inner"}],
        [{"op": "copy", "from": "/spec/absent", "path": "/spec/x"}],
        [{"op": "frobnicate", "path": "/spec"}],
        [{"path": "/spec"}],
        [{"op": "add", "value": 1}],
        [None],
        [{"op": "replace", "path": "", "value": [1]}],
    ],
)
def test_json_patch_unprocessable(ops: Any) -> None:
    with pytest.raises(errors.Invalid) as exc:
        apply_json_patch(DOC, ops)
    assert exc.value.code == 422
    assert exc.value.message == "the server rejected our request due to an error in our request"
    assert exc.value.causes == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"op": "add"}, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
        ("x", "json: cannot unmarshal string into Go value of type jsonpatch.Patch"),
        (["x"], "json: cannot unmarshal string into Go value of type jsonpatch.Operation"),
        ([[1]], "json: cannot unmarshal array into Go value of type jsonpatch.Operation"),
    ],
)
def test_json_patch_malformed(body: Any, message: str) -> None:
    with pytest.raises(errors.BadRequest) as exc:
        apply_json_patch(DOC, body)
    assert exc.value.message == message


def test_json_patch_too_many_operations() -> None:
    ops = [{"op": "test", "path": "/metadata/name", "value": "x"}] * 10001
    with pytest.raises(errors.RequestEntityTooLarge) as exc:
        apply_json_patch(DOC, ops)
    assert exc.value.message == "The allowed maximum operations in a JSON patch is 10000, got 10001"


def test_json_patch_failure_is_atomic_and_value_not_aliased() -> None:
    value = {"deep": [1]}
    out = apply_json_patch(DOC, [{"op": "add", "path": "/spec/v", "value": value}])
    out["spec"]["v"]["deep"].append(2)
    assert value == {"deep": [1]}
    with pytest.raises(errors.Invalid):
        apply_json_patch(DOC, [{"op": "remove", "path": "/spec/list"}, {"op": "remove", "path": "/missing"}])
    assert DOC["spec"]["list"] == [1, 2, 3]


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        # RFC 7386 appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
        ({"a": "x"}, {"a": {"b": None, "c": 1}}, {"a": {"c": 1}}),
        ({}, {}, {}),
    ],
)
def test_merge_patch(target: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]) -> None:
    before = copy.deepcopy(target)
    assert apply_merge_patch(target, patch) == expected
    assert target == before


@pytest.mark.parametrize("patch", [None, [1], "x", 3])
def test_merge_patch_must_be_an_object(patch: Any) -> None:
    with pytest.raises(errors.BadRequest) as exc:
        apply_merge_patch({"a": 1}, patch)
    assert exc.value.message == "Invalid JSON Patch"


@pytest.mark.parametrize(
    ("original", "modified", "expected"),
    [
        ({"a": 1}, {"a": 1}, {}),
        ({"a": 1}, {"a": 2}, {"a": 2}),
        ({"a": 1, "b": 2}, {"b": 2}, {"a": None}),
        ({"a": {"x": 1, "y": 2}}, {"a": {"x": 1}}, {"a": {"y": None}}),
        ({"a": [1, 2]}, {"a": [2, 1]}, {"a": [2, 1]}),
        ({"a": True}, {"a": 1}, {"a": 1}),
        ({}, {"n": {}}, {"n": {}}),
        ({"a": {"x": 1}}, {"a": "s"}, {"a": "s"}),
    ],
)
def test_create_merge_patch(original: dict[str, Any], modified: dict[str, Any], expected: dict[str, Any]) -> None:
    patch = create_merge_patch(original, modified)
    assert patch == expected
    assert json_equal(apply_merge_patch(original, patch), modified)


def test_json_equal() -> None:
    assert json_equal({"a": [1, 2.0]}, {"a": [1.0, 2]})
    assert not json_equal(True, 1)
    assert not json_equal({"a": 1}, {"a": 1, "b": 2})
    assert not json_equal("1", 1)
