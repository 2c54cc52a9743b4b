"""Field selectors: upstream's ``k8s.io/apimachinery/pkg/fields`` syntax and matching.

Syntax: comma-joined terms ``field=value``, ``field==value`` or ``field!=value``.
In values, ``\\,`` ``\\=`` and ``\\\\`` escape a comma, an equals sign and a
backslash; any other escape, or a bare ``,``/``=`` in a value, is an error.
Field names are taken verbatim (upstream neither trims nor validates them —
the server checks each against the kind's supported fields, see
:mod:`pinnace.api.fields`). Terms are sorted, as upstream sorts them, so
``str()`` is canonical.

Matching compares strings: a field missing from the map counts as "".
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from pinnace.api import errors

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "escape_value",
    "parse_field_selector",
    "unescape_value",
]

EQUALS = "="
NOT_EQUALS = "!="
_TERM_OPERATORS = ("!=", "==", "=")


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """One term: ``field`` must (``=``) or must not (``!=``) equal ``value``."""

    field: str
    operator: str
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Whether the object's field values satisfy the term."""
        equal = fields.get(self.field, "") == self.value
        return equal if self.operator == EQUALS else not equal

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{escape_value(self.value)}"


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """A conjunction of field terms; no terms selects everything."""

    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        """True when the selector matches everything."""
        return not self.requirements

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Whether an object with these field values is selected."""
        return all(r.matches(fields) for r in self.requirements)

    def exact_value(self, field: str) -> str | None:
        """The value ``field`` must equal, if a term pins it (``metadata.name=x`` fast paths)."""
        for r in self.requirements:
            if r.field == field and r.operator == EQUALS:
                return r.value
        return None

    def rename(self, mapping: Mapping[str, str]) -> FieldSelector:
        """The same selector with field labels renamed (upstream's label conversion)."""
        return FieldSelector(
            tuple(FieldRequirement(mapping.get(r.field, r.field), r.operator, r.value) for r in self.requirements)
        )

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = FieldSelector()


def escape_value(value: str) -> str:
    """Escape ``\\``, ``,`` and ``=`` in a value (upstream ``EscapeValue``)."""
    if not any(c in value for c in "\\,="):
        return value
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_value(value: str) -> str:
    """Undo :func:`escape_value`; bad escapes raise ``BadRequest`` worded as upstream."""
    if not any(c in value for c in "\\,="):
        return value
    out: list[str] = []
    in_slash = False
    for ch in value:
        if in_slash:
            if ch not in "\\,=":
                raise errors.BadRequest(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch in ",=":
            raise errors.BadRequest(f"invalid field selector: unescaped character in value: {ch}")
        else:
            out.append(ch)
    if in_slash:
        raise errors.BadRequest("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not backslash-escaped (escapes are kept)."""
    terms: list[str] = []
    start = 0
    in_slash = False
    for i, ch in enumerate(text):
        if in_slash:
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """(field, operator, raw value) at the first operator in the term."""
    for i in range(len(term)):
        for op in _TERM_OPERATORS:
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


@functools.lru_cache(maxsize=1024)
def _parse_cached(text: str) -> FieldSelector:
    reqs: list[FieldRequirement] = []
    for part in sorted(_split_terms(text)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise errors.BadRequest(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, raw = split
        reqs.append(FieldRequirement(field, NOT_EQUALS if op == "!=" else EQUALS, unescape_value(raw)))
    return FieldSelector(tuple(reqs))


def parse_field_selector(text: str | None) -> FieldSelector:
    """Parse the ``fieldSelector`` string form; malformed input raises ``BadRequest``."""
    if not text:
        return EVERYTHING
    return _parse_cached(text)
