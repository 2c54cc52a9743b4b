"""CEL for admission: the expressions of matchConditions and ValidatingAdmissionPolicies.

Upstream compiles these with cel-go in the admission environment: ``object``,
``oldObject``, ``request`` (the AdmissionRequest), and for policies
``params``, ``namespaceObject`` and ``variables``; a missing value is ``null``.
Here the same language runs on ``cel-expr-python`` (as the CRD rules in
:mod:`pinnace.api.cel`), with the strings extension Kubernetes enables.
Programs are compiled once per expression text and cached. The module sits
in ``api`` so that validation can compile a policy's expressions when the
policy is written, as upstream refuses one that does not compile. The
``authorizer`` variable is not offered (expressions that use it fail to
compile, so a policy that needs it is refused, not silently wrong).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from pinnace.api.cel import CompileError, EvaluationError

__all__ = ["VARIABLES", "CompileError", "EvaluationError", "compile_expression", "conditions_hold", "evaluate"]

#: The variables every admission expression may use (null when absent for the request).
VARIABLES = ("object", "oldObject", "request", "params", "namespaceObject", "variables")


@functools.cache
def _env() -> Any:
    # Loaded with the first expression compiled (see pinnace.api.cel._env).
    from cel_expr_python import cel
    from cel_expr_python.ext import ext_strings

    return cel.NewEnv(variables={v: cel.Type.DYN for v in VARIABLES}, extensions=[ext_strings.ExtStrings()])


@functools.lru_cache(maxsize=4096)
def compile_expression(expression: str) -> Any:
    """The compiled program of an expression (:class:`CompileError` with cel's message if it is not valid)."""
    try:
        return _env().compile(expression)
    except RuntimeError as exc:
        message = re.sub(r"^INVALID_ARGUMENT: |\s*\[INVALID_ARGUMENT\]\s*$", "", str(exc))
        raise CompileError(message) from None


def evaluate(expression: str, activation: dict[str, Any]) -> Any:
    """The value of an expression over ``activation`` (the variables by name), or :class:`EvaluationError`."""
    program = compile_expression(expression)
    try:
        result = program.eval(data={v: activation.get(v) for v in VARIABLES})
    except RuntimeError as exc:
        raise EvaluationError(str(exc)) from None
    if result.type().name() == "ERROR":
        raise EvaluationError(str(result.plain_value()))
    return result.plain_value()


def conditions_hold(conditions: tuple[tuple[str, str], ...], activation: dict[str, Any]) -> bool:
    """Whether every (name, expression) match condition is true; EvaluationError names the one that failed."""
    for name, expression in conditions:
        try:
            result = evaluate(expression, activation)
        except EvaluationError as exc:
            raise EvaluationError(f"matchCondition '{name}' failed to evaluate: {exc}") from None
        if result is not True:
            return False
    return True
