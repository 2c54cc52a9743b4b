"""Label and field selectors: upstream syntax, canonical form, matching and errors."""

from __future__ import annotations

import pytest

from pinnace.api import errors
from pinnace.api.selectors import (
    EVERYTHING,
    NOTHING,
    from_label_selector,
    parse_field_selector,
    parse_label_selector,
)

LABELS = {"app": "web", "tier": "front", "n": "5", "empty": ""}


@pytest.mark.parametrize(
    ("text", "canonical", "matches"),
    [
        ("", "", True),
        ("app=web", "app=web", True),
        ("app==web", "app==web", True),
        ("app!=web", "app!=web", False),
        ("app=db", "app=db", False),
        ("missing!=x", "missing!=x", True),
        ("app in (web,db)", "app in (db,web)", True),
        ("app notin (web)", "app notin (web)", False),
        ("missing notin (x)", "missing notin (x)", True),
        ("missing in (x)", "missing in (x)", False),
        ("app", "app", True),
        ("!app", "!app", False),
        ("!missing", "!missing", True),
        ("  tier = front ,  app  ", "app,tier=front", True),
        ("empty=", "empty=", True),
        ("empty in ()", "empty in ()", True),
        ("app in (web,)", "app in (,web)", True),
        ("n>4", "n>4", True),
        ("n<5", "n<5", False),
        ("app>4", "app>4", False),
        ("in=web", "in=web", False),
        ("example.com/role in (a, b), tier", "example.com/role in (a,b),tier", False),
    ],
)
def test_parse_and_match(text: str, canonical: str, matches: bool) -> None:
    sel = parse_label_selector(text)
    assert str(sel) == canonical
    assert sel.matches(LABELS) is matches
    assert str(parse_label_selector(str(sel))) == canonical  # canonical form round-trips


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a in (", "unable to parse requirement: found '', expected: ',', ')' or identifier"),
        ("a in x", "unable to parse requirement: found 'x' expected: '('"),
        ("a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        (",a", "found ',', expected: !, identifier, or 'end of string'"),
        ("a,", "found '', expected: identifier after ','"),
        ("a=b=c", "found '=', expected: ',' or 'end of string'"),
        ("a (", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"),
        ("!=a", "found '!=', expected: !, identifier, or 'end of string'"),
        ("!!a", "unable to parse requirement: found '!', expected: identifier"),
        (
            "a=b_",
            'unable to parse requirement: values[0]: Invalid value: "b_": a valid label must be '
            "an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
            "and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
            "regex used for validation is "
            "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        ),
        (
            "a>b",
            'unable to parse requirement: values[0]: Invalid value: "b": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(errors.BadRequest) as exc:
        parse_label_selector(text)
    assert exc.value.message == message
    assert exc.value.code == 400


def test_bad_key_is_reported_like_upstream() -> None:
    with pytest.raises(errors.BadRequest) as exc:
        parse_label_selector("A_=b")
    assert exc.value.message.startswith('unable to parse requirement: <nil>: Invalid value: "A_": name part must')


def test_empty_and_nothing() -> None:
    assert parse_label_selector(None) is EVERYTHING
    assert EVERYTHING.empty and EVERYTHING.matches({}) and EVERYTHING.matches(None)
    assert not NOTHING.empty and not NOTHING.matches({})
    assert not parse_label_selector("a").empty


def test_exact_value() -> None:
    assert parse_label_selector("a=1,b in (2)").exact_value("b") == "2"
    assert parse_label_selector("a!=1").exact_value("a") is None


@pytest.mark.parametrize(
    ("obj", "canonical", "matches"),
    [
        ({}, "", True),
        ({"matchLabels": {"tier": "front", "app": "web"}}, "app=web,tier=front", True),
        (
            {"matchExpressions": [{"key": "app", "operator": "In", "values": ["db", "web"]}]},
            "app in (db,web)",
            True,
        ),
        (
            {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]},
            "app notin (web)",
            False,
        ),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, "app", True),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, "!app", False),
        (
            {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]},
            "app=web,!x",
            True,
        ),
    ],
)
def test_from_label_selector(obj: dict[str, object], canonical: str, matches: bool) -> None:
    sel = from_label_selector(obj)
    assert str(sel) == canonical
    assert sel.matches(LABELS) is matches


def test_from_label_selector_none_selects_nothing() -> None:
    assert from_label_selector(None).matches(LABELS) is False


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "Foo"}]},
            '"Foo" is not a valid label selector operator',
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
            "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            'values: Invalid value: []string{"x"}: values set must be empty for exists and does not exist',
        ),
    ],
)
def test_from_label_selector_errors(obj: dict[str, object], message: str) -> None:
    with pytest.raises(errors.BadRequest) as exc:
        from_label_selector(obj)
    assert exc.value.message == message


# --- field selectors -----------------------------------------------------------------------------

FIELDS = {"metadata.name": "web", "status.phase": "Running", "spec.nodeName": ""}


@pytest.mark.parametrize(
    ("text", "canonical", "matches"),
    [
        ("", "", True),
        ("metadata.name=web", "metadata.name=web", True),
        ("metadata.name==web", "metadata.name=web", True),
        ("status.phase!=Running", "status.phase!=Running", False),
        ("status.phase=Running,metadata.name=web", "metadata.name=web,status.phase=Running", True),
        ("spec.nodeName=", "spec.nodeName=", True),
        ("missing=", "missing=", True),
        ("missing!=", "missing!=", False),
        (r"metadata.name=a\,b\=c\\d", r"metadata.name=a\,b\=c\\d", False),
        ("a=b,,", "a=b", False),
    ],
)
def test_field_selector(text: str, canonical: str, matches: bool) -> None:
    sel = parse_field_selector(text)
    assert str(sel) == canonical
    assert sel.matches(FIELDS) is matches
    assert str(parse_field_selector(str(sel))) == canonical


def test_field_selector_unescapes_values() -> None:
    sel = parse_field_selector(r"metadata.name=a\,b\=c\\d")
    assert [(r.field, r.operator, r.value) for r in sel.requirements] == [("metadata.name", "=", "a,b=c\\d")]
    assert sel.matches({"metadata.name": "a,b=c\\d"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        (r"a=b\x", "invalid field selector: invalid escape sequence: \\x"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
        ("a=b=c", "invalid field selector: unescaped character in value: ="),
    ],
)
def test_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(errors.BadRequest) as exc:
        parse_field_selector(text)
    assert exc.value.message == message


def test_field_selector_requirements_and_fast_path() -> None:
    sel = parse_field_selector("spec.nodeName!=,metadata.name=web")
    assert [r.field for r in sel.requirements] == ["metadata.name", "spec.nodeName"]
    assert sel.exact_value("metadata.name") == "web"
    assert sel.exact_value("spec.nodeName") is None
    assert str(sel.rename({"spec.nodeName": "x"})) == "metadata.name=web,x!="
