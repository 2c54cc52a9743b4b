"""The simplest CEL rules, answered in Python: comparisons of ``self`` fields with literals, ``&&``, ``||``, ``!``.

Most ``x-kubernetes-validations`` rules are of that kind (``self.replicas >= 1
|| !self.highAvailability``, ``self.mode == 'auto'``, ``has(self.spec.x)``),
and for them a call into the CEL runtime costs more than the rule does: on
a busy API server it was the largest single step of a custom resource's
validation. :func:`native_program` compiles such a rule into a Python
function once; anything outside the subset (other identifiers, functions,
macros, arithmetic, ``in``, escapes, doubles, …) is not compiled, and the
runtime answers it.

Even a compiled rule answers only when every value it reads is of a plain
type the operation takes as is — integers (int64) with integers, strings
with strings, booleans with booleans (``==``/``!=``), booleans for ``!``,
``&&``, ``||`` and the result — and every field it selects exists in a map.
Anything else (a missing key, a double, a type CEL would compare by its
heterogeneous rules or refuse with an overload error) raises
:class:`Fallback`, and the caller asks the runtime, which gives CEL's own
answer or error. Since no operand can then be an error, evaluating all of
them (no short-circuit) gives CEL's result for ``&&`` and ``||``.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable
from typing import Any

__all__ = ["Fallback", "native_program"]

Program = Callable[[Any], Any]

_INT64 = (-(2**63), 2**63 - 1)
_TOKEN = re.compile(
    r"\s*(?:(?P<op>&&|\|\||==|!=|<=|>=|<|>|!|\(|\)|\.)|(?P<int>0|[1-9][0-9]*)(?![0-9A-Za-z_.])"
    r"|(?P<str>\"[^\"\\\n]*\"|'[^'\\\n]*')|(?P<ident>[A-Za-z_][A-Za-z0-9_]*))"
)
#: CEL's reserved words: not usable as plain field names (upstream escapes them).
_RESERVED = frozenset(
    {
        "as",
        "break",
        "const",
        "continue",
        "else",
        "false",
        "for",
        "function",
        "if",
        "import",
        "in",
        "let",
        "loop",
        "package",
        "namespace",
        "null",
        "return",
        "true",
        "var",
        "void",
        "while",
    }
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class Fallback(Exception):
    """The values are not plain enough for the native answer: ask the CEL runtime."""


class _Unsupported(Exception):
    """The expression is outside the native subset."""


def _tokens(expression: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos, end = 0, len(expression.rstrip())
    while pos < end:
        match = _TOKEN.match(expression, pos)
        if match is None or match.end() == pos:
            raise _Unsupported(expression[pos:])
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    """Recursive descent over CEL's precedence: ``||`` < ``&&`` < relations < ``!`` < primaries."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, kind: str, text: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (text is not None and token[1] != text):
            raise _Unsupported(str(token))
        self.i += 1
        return token[1]

    def expr(self) -> Program:
        parts = [self.conjunction()]
        while self.peek() == ("op", "||"):
            self.i += 1
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else _junction(parts, any)

    def conjunction(self) -> Program:
        parts = [self.relation()]
        while self.peek() == ("op", "&&"):
            self.i += 1
            parts.append(self.relation())
        return parts[0] if len(parts) == 1 else _junction(parts, all)

    def relation(self) -> Program:
        left = self.unary()
        token = self.peek()
        if token is None or token[0] != "op" or token[1] not in _COMPARE:
            return left
        self.i += 1
        right = self.unary()
        following = self.peek()
        if following is not None and following[0] == "op" and following[1] in _COMPARE:
            raise _Unsupported("chained relations")
        return _comparison(left, right, token[1])

    def unary(self) -> Program:
        if self.peek() == ("op", "!"):
            self.i += 1
            return _negation(self.unary())
        return self.primary()

    def primary(self) -> Program:
        token = self.peek()
        if token is None:
            raise _Unsupported("end of input")
        kind, text = token
        if kind == "int":
            self.i += 1
            value = int(text)
            if not _INT64[0] <= value <= _INT64[1]:
                raise _Unsupported(text)
            return lambda _: value
        if kind == "str":
            self.i += 1
            literal = text[1:-1]
            return lambda _: literal
        if token == ("op", "("):
            self.i += 1
            inner = self.expr()
            self.take("op", ")")
            return inner
        if token in (("ident", "true"), ("ident", "false")):
            self.i += 1
            flag = text == "true"
            return lambda _: flag
        if token == ("ident", "has"):
            self.i += 1
            self.take("op", "(")
            path = self.path()
            self.take("op", ")")
            if not path:
                raise _Unsupported("has(self)")
            return _presence(path)
        path = self.path()
        return _selection(path)

    def path(self) -> tuple[str, ...]:
        self.take("ident", "self")
        keys: list[str] = []
        while self.peek() == ("op", "."):
            self.i += 1
            name = self.take("ident")
            if name in _RESERVED or "__" in name:
                raise _Unsupported(name)
            keys.append(name)
        return tuple(keys)


def _select(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if type(value) is not dict or key not in value:
            raise Fallback
        value = value[key]
    return value


def _selection(path: tuple[str, ...]) -> Program:
    return lambda self: _select(self, path)


def _presence(path: tuple[str, ...]) -> Program:
    parent, last = path[:-1], path[-1]

    def has(self: Any) -> bool:
        value = _select(self, parent)
        if type(value) is not dict:
            raise Fallback
        return last in value

    return has


def _plain(value: Any) -> type:
    t = type(value)
    if t is int and not _INT64[0] <= value <= _INT64[1]:
        raise Fallback
    return t


def _comparison(left: Program, right: Program, op: str) -> Program:
    compare = _COMPARE[op]
    ordered = op not in ("==", "!=")

    def run(self: Any) -> bool:
        a, b = left(self), right(self)
        t = _plain(a)
        if t is not _plain(b) or not (t is int or t is str or (t is bool and not ordered)):
            raise Fallback
        return compare(a, b)

    return run


def _boolean(value: Any) -> bool:
    if type(value) is not bool:
        raise Fallback
    return value


def _negation(inner: Program) -> Program:
    return lambda self: not _boolean(inner(self))


def _junction(parts: list[Program], combine: Callable[[list[bool]], bool]) -> Program:
    return lambda self: combine([_boolean(part(self)) for part in parts])  # every operand: no error to absorb


@functools.lru_cache(maxsize=4096)
def native_program(expression: str) -> Program | None:
    """The rule as a Python function of ``self`` (raising :class:`Fallback` when the runtime must answer), or
    None if the expression is outside the native subset. Its result is a bool, or Fallback."""
    try:
        parser = _Parser(_tokens(expression))
        program = parser.expr()
        if parser.peek() is not None:
            raise _Unsupported("trailing input")
    except _Unsupported:
        return None
    return lambda self: _boolean(program(self))
