"""Values printed as Go prints them in upstream's error messages."""

from __future__ import annotations

from pinnace.api.gofmt import GoValue, go_quote, go_value, string_map


def test_go_quote() -> None:
    assert go_quote('a"b\\c\n') == '"a\\"b\\\\c\\n"'
    assert go_quote("\x01\u200b") == '"\\x01\\u200b"'


def test_go_value_by_type() -> None:
    assert go_value(None) == "null"
    assert go_value(True) == "true"
    assert go_value(3) == "3"
    assert go_value("x") == '"x"'
    assert go_value(["a", "b"]) == '[]string{"a", "b"}'
    assert go_value({"b": "2", "a": "1"}) == 'map[string]string{"a":"1", "b":"2"}'
    assert go_value(GoValue("v1.Thing{}")) == "v1.Thing{}"
    assert string_map(None) == "map[string]string(nil)" and string_map({}) == "map[string]string{}"
