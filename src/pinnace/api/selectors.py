"""Label selectors: upstream's string syntax, the API object form, and matching.

String syntax (``k8s.io/apimachinery/pkg/labels/selector.go``)::

    selector    := requirement ("," requirement)*
    requirement := KEY [("=" | "==" | "!=") VALUE]     exact match (empty VALUE allowed)
                 | KEY ("in" | "notin") "(" VALUES ")"   set match ("()" means the empty value)
                 | KEY | "!" KEY                          exists / does not exist
                 | KEY (">" | "<") INTEGER                numeric comparison

Whitespace between tokens is ignored. Keys must be qualified names, values
valid label values; a parse error raises :class:`~pinnace.api.errors.BadRequest`
worded as upstream (``unable to parse requirement: …``, ``found ',', expected: …``).

A parsed :class:`LabelSelector` is immutable, sorted by key (stable, as
upstream), prints in canonical form with ``str()``, and matches a label map
with :meth:`LabelSelector.matches`. :func:`from_label_selector` converts the
``metav1.LabelSelector`` object form (matchLabels + matchExpressions).
Field selectors live in :mod:`pinnace.api.field_selectors` and are re-exported here.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pinnace.api import errors
from pinnace.api.field_selectors import FieldRequirement, FieldSelector, parse_field_selector
from pinnace.api.gofmt import go_quote
from pinnace.api.names import is_qualified_name, is_valid_label_value

__all__ = [
    "EVERYTHING",
    "NOTHING",
    "FieldRequirement",
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "from_label_selector",
    "parse_field_selector",
    "parse_label_selector",
]

# Operators, spelled as upstream's selection.Operator values.
IN = "in"
NOT_IN = "notin"
EQUALS = "="
DOUBLE_EQUALS = "=="
NOT_EQUALS = "!="
EXISTS = "exists"
DOES_NOT_EXIST = "!"
GREATER_THAN = "gt"
LESS_THAN = "lt"

_BINARY_OPERATORS = ", ".join([IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN])


class _SelectorError(Exception):
    """A requirement that upstream's NewRequirement / parser rejects."""


@dataclass(frozen=True, slots=True)
class Requirement:
    """One ``key op values`` term of a label selector."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label map satisfies this requirement (upstream ``Requirement.Matches``)."""
        op = self.operator
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if op in (NOT_IN, NOT_EQUALS):
            return self.key not in labels or labels[self.key] not in self.values
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        if op in (GREATER_THAN, LESS_THAN):
            if self.key not in labels or len(self.values) != 1:
                return False
            have, want = _parse_int(labels[self.key]), _parse_int(self.values[0])
            if have is None or want is None:
                return False
            return have > want if op == GREATER_THAN else have < want
        return False

    def __str__(self) -> str:
        op = self.operator
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        if op == EXISTS:
            return self.key
        values = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        if op in (IN, NOT_IN):
            return f"{self.key} {op} ({values})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(op, op)
        return f"{self.key}{symbol}{values}"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A conjunction of requirements; ``nothing`` selectors match no object at all."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    @property
    def empty(self) -> bool:
        """True when the selector matches everything (no requirements)."""
        return not self.requirements and not self.nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with these labels is selected."""
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def exact_value(self, key: str) -> str | None:
        """The value ``key`` must equal (``key=v`` or ``key in (v)``), if the selector pins one."""
        for r in self.requirements:
            if r.key == key and r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1:
                return r.values[0]
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(nothing=True)


def _parse_int(value: str) -> int | None:
    text = value[1:] if value[:1] in "+-" else value
    if not text.isascii() or not text.isdigit():
        return None
    number = int(value)
    return number if -(2**63) <= number < 2**63 else None


def _field_invalid(path: str, value: Any, detail: str) -> str:
    """Upstream ``field.Error.Error()``: ``path: Invalid value: "v": detail``."""
    shown = go_quote(value) if isinstance(value, str) else _go_list(value)
    return f"{path}: Invalid value: {shown}: {detail}"


def _go_list(values: Any) -> str:
    return "[]string{" + ", ".join(go_quote(str(v)) for v in values) + "}"


def _new_requirement(key: str, op: str, values: list[str]) -> Requirement:
    """Upstream ``NewRequirement``: validate key, operator arity and values."""
    errs: list[str] = []
    key_errs = is_qualified_name(key)
    if key_errs:
        errs.append(_field_invalid("key", key, "; ".join(key_errs)))
    if op in (IN, NOT_IN):
        if not values:
            errs.append(_field_invalid("values", values, "for 'in', 'notin' operators, values set can't be empty"))
    elif op in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
        if len(values) != 1:
            errs.append(_field_invalid("values", values, "exact-match compatibility requires one single value"))
    elif op in (EXISTS, DOES_NOT_EXIST):
        if values:
            errs.append(_field_invalid("values", values, "values set must be empty for exists and does not exist"))
    elif op in (GREATER_THAN, LESS_THAN):
        if len(values) != 1:
            errs.append(_field_invalid("values", values, "for 'Gt', 'Lt' operators, exactly one value is required"))
        for i, v in enumerate(values):
            if _parse_int(v) is None:
                errs.append(_field_invalid(f"values[{i}]", v, "for 'Gt', 'Lt' operators, the value must be an integer"))
    else:
        errs.append(
            f'operator: Unsupported value: {go_quote(op)}: supported values: "in", "notin", "=", '
            '"==", "!=", "gt", "lt", "exists", "!"'
        )
    for i, v in enumerate(values):
        msgs = is_valid_label_value(v)
        if msgs:
            errs.append(_field_invalid(f"values[{i}]", v, "; ".join(msgs)))
    if errs:
        raise _SelectorError(errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]")
    return Requirement(key, op, tuple(values))


# --- lexer ---------------------------------------------------------------------------------------

(
    _T_ERROR,
    _T_EOS,
    _T_CLOSE,
    _T_COMMA,
    _T_NOT,
    _T_DEQ,
    _T_EQ,
    _T_GT,
    _T_ID,
    _T_IN,
    _T_LT,
    _T_NE,
    _T_NOTIN,
    _T_OPEN,
) = range(14)
_SYMBOLS = {
    "!": _T_NOT, "!=": _T_NE, "(": _T_OPEN, ")": _T_CLOSE, ",": _T_COMMA,
    "=": _T_EQ, "==": _T_DEQ, ">": _T_GT, "<": _T_LT,
}  # fmt: skip
_KEYWORDS = {"in": _T_IN, "notin": _T_NOTIN}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")


def _lex(text: str) -> list[tuple[int, str]]:
    """All tokens of a selector string, ending with end-of-string (upstream ``Lexer``)."""
    tokens: list[tuple[int, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _WHITESPACE:
            i += 1
        if i >= n or text[i] == "\x00":
            tokens.append((_T_EOS, ""))
            return tokens
        if text[i] in _SPECIAL:
            buffer, last, last_end = "", (_T_ERROR, ""), i
            j = i
            while j < n and text[j] in _SPECIAL:
                buffer += text[j]
                if buffer in _SYMBOLS:
                    last, last_end = (_SYMBOLS[buffer], buffer), j + 1
                elif last[0] != _T_ERROR:
                    break
                j += 1
            if last[0] == _T_ERROR:
                tokens.append((_T_ERROR, f"error expected: keyword found '{buffer}'"))
                i = j
            else:
                tokens.append(last)
                i = last_end
            continue
        j = i
        while j < n and text[j] not in _SPECIAL and text[j] not in _WHITESPACE and text[j] != "\x00":
            j += 1
        word = text[i:j]
        tokens.append((_KEYWORDS.get(word, _T_ID), word))
        i = j


class _Parser:
    """Upstream's recursive-descent label selector parser, error messages included."""

    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def _look(self, values: bool) -> tuple[int, str]:
        tok, lit = self.tokens[self.pos]
        if values and tok in (_T_IN, _T_NOTIN):
            tok = _T_ID
        return tok, lit

    def _take(self, values: bool) -> tuple[int, str]:
        out = self._look(values)
        if self.pos < len(self.tokens) - 1:
            self.pos += 1
        return out

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self._look(True)
            if tok in (_T_ID, _T_NOT):
                try:
                    reqs.append(self._requirement())
                except _SelectorError as exc:
                    raise _SelectorError(f"unable to parse requirement: {exc}") from None
                tok, lit = self._take(True)
                if tok == _T_EOS:
                    return reqs
                if tok == _T_COMMA:
                    tok2, lit2 = self._look(True)
                    if tok2 not in (_T_ID, _T_NOT):
                        raise _SelectorError(f"found '{lit2}', expected: identifier after ','")
                    continue
                raise _SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            if tok == _T_EOS:
                return reqs
            raise _SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def _requirement(self) -> Requirement:
        op = ""
        tok, lit = self._take(True)
        if tok == _T_NOT:
            op = DOES_NOT_EXIST
            tok, lit = self._take(True)
        if tok != _T_ID:
            raise _SelectorError(f"found '{lit}', expected: identifier")
        key_errs = is_qualified_name(lit)
        if key_errs:
            raise _SelectorError(_field_invalid("<nil>", lit, "; ".join(key_errs)))
        if self._look(True)[0] in (_T_EOS, _T_COMMA):
            return _new_requirement(lit, op or EXISTS, [])
        if op == DOES_NOT_EXIST:
            return _new_requirement(lit, op, [])
        key = lit
        tok, lit = self._take(False)
        op = {
            _T_IN: IN, _T_NOTIN: NOT_IN, _T_EQ: EQUALS, _T_DEQ: DOUBLE_EQUALS,
            _T_NE: NOT_EQUALS, _T_GT: GREATER_THAN, _T_LT: LESS_THAN,
        }.get(tok, "")  # fmt: skip
        if not op:
            raise _SelectorError(f"found '{lit}', expected: {_BINARY_OPERATORS}")
        values = self._set_values() if op in (IN, NOT_IN) else self._exact_value()
        return _new_requirement(key, op, values)

    def _set_values(self) -> list[str]:
        tok, lit = self._take(True)
        if tok != _T_OPEN:
            raise _SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self._look(True)
        if tok in (_T_ID, _T_COMMA):
            values = self._identifiers()
            if self._take(True)[0] != _T_CLOSE:
                raise _SelectorError(f"found '{lit}', expected: ')'")
            return sorted(values)
        if tok == _T_CLOSE:
            self._take(True)
            return [""]
        raise _SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def _identifiers(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self._take(True)
            if tok == _T_ID:
                values.add(lit)
                tok2, lit2 = self._look(True)
                if tok2 == _T_COMMA:
                    continue
                if tok2 == _T_CLOSE:
                    return values
                raise _SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _T_COMMA:
                if not values:
                    values.add("")
                tok2, _ = self._look(True)
                if tok2 == _T_CLOSE:
                    values.add("")
                    return values
                if tok2 == _T_COMMA:
                    self._take(True)
                    values.add("")
                continue
            raise _SelectorError(f"found '{lit}', expected: ',', or identifier")

    def _exact_value(self) -> list[str]:
        tok, _ = self._look(True)
        if tok in (_T_EOS, _T_COMMA):
            return [""]
        tok, lit = self._take(True)
        if tok == _T_ID:
            return [lit]
        raise _SelectorError(f"found '{lit}', expected: identifier")


@functools.lru_cache(maxsize=1024)
def _parse_cached(text: str) -> LabelSelector:
    reqs = _Parser(text).parse()
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse the ``labelSelector`` string form; malformed input raises ``BadRequest``.

    Results are cached: list and watch requests repeat the same few selectors.
    """
    if not text:
        return EVERYTHING
    try:
        return _parse_cached(text)
    except _SelectorError as exc:
        raise errors.BadRequest(str(exc)) from None


_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def from_label_selector(obj: Mapping[str, Any] | None) -> LabelSelector:
    """Convert a ``metav1.LabelSelector`` object (``LabelSelectorAsSelector``).

    None selects nothing; an empty selector selects everything. Bad keys,
    values or operators raise ``BadRequest`` with upstream's wording.
    """
    if obj is None:
        return NOTHING
    match_labels = obj.get("matchLabels") or {}
    expressions = obj.get("matchExpressions") or []
    if not match_labels and not expressions:
        return EVERYTHING
    reqs: list[Requirement] = []
    try:
        for key, value in match_labels.items():
            reqs.append(_new_requirement(str(key), EQUALS, [str(value)]))
        for expr in expressions:
            raw_op = expr.get("operator")
            op = _OPERATORS.get(raw_op) if isinstance(raw_op, str) else None
            if op is None:
                raise _SelectorError(f"{go_quote(str(raw_op or ''))} is not a valid label selector operator")
            values = [str(v) for v in expr.get("values") or []]
            reqs.append(_new_requirement(str(expr.get("key") or ""), op, values))
    except _SelectorError as exc:
        raise errors.BadRequest(str(exc)) from None
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))
