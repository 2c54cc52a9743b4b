"""Columns for custom resources from a CRD version's ``additionalPrinterColumns``.

Mirrors apiextensions-apiserver's ``tableconvertor``: a NAME column first, then
one column per printer column, each cell found by a JSONPath evaluated with
missing keys allowed. A version without printer columns gets the logical
default ``Age`` (type ``date`` over ``.metadata.creationTimestamp``). ``date``
cells are humanized ages (as upstream), ``string`` cells print the first
result as text (maps and lists as compact JSON), other types convert or give
``None`` (JSON null) when the value does not fit.

The JSONPath subset: ``.a.b``, ``['a.b']``, ``[0]``, ``[-1]``, ``[*]``, ``.*``,
``[start:end]`` and filters ``[?(@.x.y == "v")]`` with ``== != < > <= >=`` or
bare existence ``[?(@.x)]``. Recursive descent (``..``) and unions are not
supported; such a column is treated as an invalid path, and — as upstream — the
columns stop before the first invalid one.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pinnace.api.gofmt import go_float
from pinnace.api.printers._common import Column, Obj, age_col, name_col, name_of, parse_time, since

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_IDENT = re.compile(r"[A-Za-z0-9_\-$]+")
_FILTER = re.compile(
    r"^@((?:\.[A-Za-z0-9_\-$]+|\[\s*'[^']*'\s*\]|\[\s*\"[^\"]*\"\s*\])*)\s*"
    r"(?:(==|!=|<=|>=|<|>)\s*(.+?))?\s*$"
)

# One step: ("field", name) | ("index", n) | ("slice", (start, end)) | ("all", None)
#           | ("filter", (path, op, literal))
Step = tuple[str, Any]


def _parse_literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError as exc:
        raise ValueError(f"unrecognized filter literal {text!r}") from exc


def parse_jsonpath(path: str) -> list[Step]:
    """Compile a printer-column JSONPath (``.spec.x[?(@.type=="Ready")].status``) into steps."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if not text.startswith("."):
        raise ValueError(f"JSONPath {path!r} must start with '.'")
    steps: list[Step] = []
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch == ".":
            if text.startswith("..", pos):
                raise ValueError("recursive descent is not supported")
            pos += 1
            if pos >= len(text):
                if steps:
                    raise ValueError(f"JSONPath {path!r} ends with '.'")
                break  # "." alone: the whole object
            if text[pos] == "*":
                steps.append(("all", None))
                pos += 1
                continue
            mt = _IDENT.match(text, pos)
            if mt is None:
                raise ValueError(f"bad field name at {pos} in {path!r}")
            steps.append(("field", mt.group(0)))
            pos = mt.end()
        elif ch == "[":
            end = _bracket_end(text, pos)
            inner = text[pos + 1 : end].strip()
            pos = end + 1
            steps.append(_parse_bracket(inner, path))
        else:
            raise ValueError(f"unexpected {ch!r} at {pos} in {path!r}")
    return steps


def _bracket_end(text: str, start: int) -> int:
    depth, quote = 0, ""
    for k in range(start, len(text)):
        c = text[k]
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return k
    raise ValueError(f"unterminated '[' in {text!r}")


def _parse_bracket(inner: str, path: str) -> Step:
    if inner == "*":
        return ("all", None)
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        return ("field", inner[1:-1])
    if inner.startswith("?(") and inner.endswith(")"):
        mt = _FILTER.match(inner[2:-1].strip())
        if mt is None:
            raise ValueError(f"unsupported filter [{inner}] in {path!r}")
        sub = _parse_sub(mt.group(1), path)
        literal = _parse_literal(mt.group(3)) if mt.group(2) else None
        return ("filter", (sub, mt.group(2), literal))
    if ":" in inner:
        parts = inner.split(":")
        if len(parts) != 2:
            raise ValueError(f"unsupported slice [{inner}] in {path!r}")
        start = int(parts[0]) if parts[0].strip() else None
        stop = int(parts[1]) if parts[1].strip() else None
        return ("slice", (start, stop))
    try:
        return ("index", int(inner))
    except ValueError as exc:
        raise ValueError(f"unsupported subscript [{inner}] in {path!r}") from exc


def _parse_sub(rel: str, path: str) -> list[Step]:
    steps: list[Step] = []
    pos = 0
    while pos < len(rel):
        if rel[pos] == ".":
            mt = _IDENT.match(rel, pos + 1)
            if mt is None:
                raise ValueError(f"bad filter path in {path!r}")
            steps.append(("field", mt.group(0)))
            pos = mt.end()
        else:
            end = _bracket_end(rel, pos)
            steps.append(_parse_bracket(rel[pos + 1 : end].strip(), path))
            pos = end + 1
    return steps


def _compare(left: Any, op: str, right: Any) -> bool:
    if op == "==":
        return isinstance(left, bool) == isinstance(right, bool) and bool(left == right)
    if op == "!=":
        return not _compare(left, "==", right)
    if isinstance(left, bool) or isinstance(right, bool):
        return False
    if isinstance(left, int | float) and isinstance(right, int | float):
        pass
    elif not (isinstance(left, str) and isinstance(right, str)):
        return False
    if op == "<":
        return bool(left < right)
    if op == ">":
        return bool(left > right)
    if op == "<=":
        return bool(left <= right)
    return bool(left >= right)


def evaluate(steps: list[Step], root: Any) -> list[Any]:
    """All values the compiled path selects in ``root`` (missing keys select nothing)."""
    current = [root]
    for kind, arg in steps:
        nxt: list[Any] = []
        for value in current:
            if kind == "field":
                if isinstance(value, Mapping) and arg in value:
                    nxt.append(value[arg])
            elif kind == "index":
                if isinstance(value, list) and -len(value) <= arg < len(value):
                    nxt.append(value[arg])
            elif kind == "slice":
                if isinstance(value, list):
                    nxt.extend(value[arg[0] : arg[1]])
            elif kind == "all":
                if isinstance(value, list):
                    nxt.extend(value)
                elif isinstance(value, Mapping):
                    nxt.extend(value.values())
            else:  # filter
                sub, op, literal = arg
                items = value if isinstance(value, list) else list(value.values()) if isinstance(value, Mapping) else []
                for item in items:
                    found = evaluate(sub, item)
                    if op is None:
                        if found:
                            nxt.append(item)
                    elif found and _compare(found[0], op, literal):
                        nxt.append(item)
        current = nxt
    return current


def go_text(value: Any) -> str:
    """How Go's JSONPath ``PrintResults`` renders one value."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _cell(type_: str, value: Any, now: datetime) -> Any:
    if value is None:
        return None
    if type_ == "string":
        return go_text(value)
    if type_ == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and math.isfinite(value):
            return int(value)
        return None
    if type_ == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return None
    if type_ == "boolean":
        return value if isinstance(value, bool) else None
    if type_ == "date":
        if not isinstance(value, str):
            return None
        if value in ("", "null"):
            return "<unknown>"
        if not _RFC3339.match(value):
            return "<invalid>"
        return since(parse_time(value), now)
    return None


@dataclass(frozen=True, slots=True)
class CustomColumns:
    """Compiled printer columns of one CRD version: definitions and cell paths."""

    columns: list[Column]
    paths: list[tuple[str, list[Step]]]

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        """The cells of one custom resource: its name, then one per printer column."""
        out: list[Any] = [name_of(obj)]
        for type_, steps in self.paths:
            found = evaluate(steps, obj)
            out.append(_cell(type_, found[0], now) if found else None)
        return out


_DEFAULT_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp", "description": None}


def compile_custom_columns(additional_printer_columns: list[dict[str, Any]] | None) -> CustomColumns:
    """Compile a version's ``additionalPrinterColumns`` (empty → the default Age column)."""
    specs = list(additional_printer_columns or [])
    if not specs:
        specs = [dict(_DEFAULT_AGE, description=age_col()["description"])]
    columns = [name_col()]
    paths: list[tuple[str, list[Step]]] = []
    for spec in specs:
        json_path = str(spec.get("jsonPath") or "")
        try:
            steps = parse_jsonpath(json_path)
        except ValueError:
            break  # upstream keeps the columns before the first unparsable path
        type_ = str(spec.get("type") or "")
        desc = spec.get("description") or f"Custom resource definition column (in JSONPath format): {json_path}"
        columns.append(
            {
                "name": str(spec.get("name") or ""),
                "type": type_,
                "format": str(spec.get("format") or ""),
                "description": desc,
                "priority": int(spec.get("priority") or 0),
            }
        )
        paths.append((type_, steps))
    return CustomColumns(columns, paths)


def custom_resource_columns(additional_printer_columns: list[dict[str, Any]] | None) -> list[Column]:
    """The Table column definitions for a CRD version's printer columns."""
    return compile_custom_columns(additional_printer_columns).columns


def custom_resource_row_cells(
    additional_printer_columns: list[dict[str, Any]] | None, obj: Obj, now: datetime
) -> list[Any]:
    """The cells of one custom resource under a CRD version's printer columns."""
    return compile_custom_columns(additional_printer_columns).cells(obj, now)
