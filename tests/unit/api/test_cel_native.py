"""The native answers to simple CEL rules are the CEL runtime's answers (differential tests against it)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from pinnace.api import cel
from pinnace.api.cel_native import Fallback, native_program


def _runtime(expression: str, value: Any) -> Any:
    """What the CEL runtime answers (a value, or the error message)."""
    result = cel.compile_expression(expression).eval(data={"self": value})
    if result.type().name() == "ERROR":
        return ("error", str(result.plain_value()))
    return result.plain_value()


FIELDS = ["a", "b", "n", "s", "flag"]
VALUES: list[Any] = [0, 1, 5, -3, 2**63, 1.0, 2.5, "", "a", "b", "ab", True, False, None, {}, {"x": 1}, [1]]
LITERALS = ["0", "1", "5", "'a'", '"b"', "''", "true", "false"]


def _operand(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.5:
        return "self." + rng.choice(FIELDS)
    if roll < 0.6:
        return "self.m." + rng.choice(FIELDS)
    return rng.choice(LITERALS)


def _expression(rng: random.Random, depth: int = 0) -> str:
    roll = rng.random()
    if depth > 2 or roll < 0.35:
        return f"{_operand(rng)} {rng.choice(['==', '!=', '<', '<=', '>', '>='])} {_operand(rng)}"
    if roll < 0.45:
        return f"has(self.{rng.choice(['m.', ''])}{rng.choice(FIELDS)})"
    if roll < 0.55:
        return "!" + _expression(rng, depth + 1)
    if roll < 0.65:
        return "self." + rng.choice(FIELDS)
    joined = f" {rng.choice(['&&', '||'])} ".join(_expression(rng, depth + 1) for _ in range(rng.randrange(2, 4)))
    return f"({joined})" if rng.random() < 0.5 else joined


def _value(rng: random.Random, nested: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in FIELDS:
        if rng.random() < 0.85:
            out[key] = rng.choice(VALUES)
    if nested and rng.random() < 0.7:
        out["m"] = _value(rng, nested=False) if rng.random() < 0.9 else rng.choice(VALUES)
    return out


def test_native_answers_are_the_runtimes_on_random_rules_and_values() -> None:
    rng = random.Random(4321)
    answered = fallbacks = 0
    for _ in range(1500):
        expression = _expression(rng)
        program = native_program(expression)
        assert program is not None, expression
        for _ in range(15):
            value = _value(rng)
            try:
                got = program(value)
            except Fallback:
                fallbacks += 1
                continue
            answered += 1
            assert type(got) is bool
            assert got == _runtime(expression, value), (expression, value)
    assert answered > 3000 and fallbacks > 3000  # both paths are exercised


@pytest.mark.parametrize(
    "expression",
    [
        "self.x.size() > 1",
        "self.a + 1 > 2",
        "oldSelf == self",
        "self.a in [1]",
        "1 < 2 < 3",
        "self.n == 1.5",
        "self.n == 1u",
        "self.n == -1",
        "self.s == 'a\\'b'",
        "self.s == r'a'",
        "self.namespace == 'x'",
        "self.a__dot__b == 1",
        "has(self)",
        "self.a ? true : false",
        "self.n == 01",
        "self.n == 99999999999999999999",
        "self.a == null",
        "",
    ],
)
def test_what_the_subset_leaves_to_the_runtime(expression: str) -> None:
    assert native_program(expression) is None


def test_evaluate_answers_from_either_path_alike() -> None:
    rule = "self.replicas >= 1 || !self.highAvailability"
    assert cel.evaluate(rule, {"replicas": 0, "highAvailability": True}) is False  # native
    assert cel.evaluate(rule, {"replicas": 1.5, "highAvailability": True}) is True  # a double: the runtime
    with pytest.raises(cel.EvaluationError, match="replicas"):
        cel.evaluate(rule, {"highAvailability": True})  # a missing field: the runtime's error
