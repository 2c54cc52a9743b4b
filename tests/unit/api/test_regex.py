"""User patterns run on RE2, as upstream's Go regexp: linear time, RE2 syntax, Go's wording for a bad one."""

from __future__ import annotations

import time

import pytest

from pinnace.api import crd
from pinnace.api.regex import RegexError, compile_pattern


def test_a_backtracking_pattern_answers_at_once() -> None:
    evil = compile_pattern(r"^(a+)+$")  # Python's re needs minutes for 30 characters of this
    started = time.perf_counter()
    assert not evil.search("a" * 100_000 + "b")
    assert evil.search("a" * 100_000)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        (r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "my-name", True),
        (r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "My-Name", False),
        ("b", "abc", True),  # unanchored, as Go's MatchString
        (r"^\d+\.\d+$", "1.32", True),
        ("é+", "xééy", True),
        ("", "anything", True),
    ],
)
def test_search_is_gos_match_string(pattern: str, text: str, matches: bool) -> None:
    assert compile_pattern(pattern).search(text) is matches


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"(a)\1", r"error parsing regexp: invalid escape sequence: `\1`"),
        ("(abc", "error parsing regexp: missing closing ): `(abc`"),
        ("[abc", "error parsing regexp: missing closing ]: `[abc`"),
        ("(?<=a)b", "error parsing regexp: invalid or unsupported Perl syntax: `(?<=`"),
        ("[z-a]", "error parsing regexp: invalid character class range: `z-a`"),
        ("a**", "error parsing regexp: invalid nested repetition operator: `**`"),
    ],
)
def test_a_pattern_go_refuses_is_refused_in_gos_words(pattern: str, message: str) -> None:
    with pytest.raises(RegexError) as info:
        compile_pattern(pattern)
    assert str(info.value) == message


def _crd(pattern: str) -> dict[str, object]:
    schema = {"type": "object", "properties": {"spec": {"type": "string", "pattern": pattern}}}
    return {
        "metadata": {"name": "things.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "things", "kind": "Thing"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}],
        },
    }


def test_a_crd_may_keep_a_pattern_it_already_had_but_not_gain_one() -> None:
    def pattern_causes(new: dict[str, object], old: dict[str, object] | None = None) -> list[str]:
        return [c.field for c in crd.validate_crd(new, old) if c.field.endswith(".pattern")]

    field = "spec.versions[0].schema.openAPIV3Schema.properties[spec].pattern"
    assert pattern_causes(_crd("(?=x)")) == [field]
    assert pattern_causes(_crd("(?=x)"), _crd("(?=x)")) == []  # stored before the check: updates still go
    assert pattern_causes(_crd("(?!x)"), _crd("(?=x)")) == [field]


def test_remembered_answers_are_the_same_answers() -> None:
    version = compile_pattern(r"^[0-9]+\.[0-9]+(\.[0-9]+)?$")
    for _ in range(2):  # the second round is answered from memory
        assert [version.search(t) for t in ("1.32", "1.32.0", "v1.32", "1.32.0.1")] == [True, True, False, False]
    long_text = "a" * 10_000 + "b"  # too long to remember: asked every time, in linear time
    assert not compile_pattern(r"^(a+)+$").search(long_text)
    assert not compile_pattern(r"^(a+)+$").search(long_text)
