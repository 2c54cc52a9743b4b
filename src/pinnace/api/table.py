"""Table output: what ``kubectl get`` receives instead of objects.

When a client sends ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``,
kube-apiserver answers a ``meta.k8s.io/v1`` ``Table``: column definitions (the
ones with ``priority: 0`` are what ``kubectl get`` shows, all of them with
``-o wide``), and one row of cells per object. The server always computes the
wide cells; kubectl hides columns by priority.

Three convertors exist upstream, and so here:

* built-in kinds with a printer (``pinnace.api.printers``, after
  ``pkg/printers/internalversion/printers.go``) — Pod, Service, Deployment …;
* every other built-in kind (Role, ClusterRole, LimitRange, CRDs …) gets the
  *default* convertor of ``k8s.io/apiserver/pkg/registry/rest/table.go``:
  NAME and ``Created At`` (type ``date``, the RFC3339 timestamp as the cell);
* custom resources get their CRD version's ``additionalPrinterColumns``
  (``pinnace.api.printers.custom``), with NAME and a default ``Age`` column.

Each row carries, per ``includeObject``, a ``PartialObjectMetadata``
(default), the whole object, or nothing. Ages are computed against an
injectable ``now`` so the functions stay pure.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from pinnace.api import errors
from pinnace.api.gofmt import go_quote
from pinnace.api.printers import PRINTERS, Printer
from pinnace.api.printers._common import Column, Obj, RowFn, doc, rfc3339
from pinnace.api.printers.custom import (
    CustomColumns,
    compile_custom_columns,
    custom_resource_columns,
    custom_resource_row_cells,
)

__all__ = [
    "CustomColumns",
    "build_table",
    "compile_custom_columns",
    "custom_resource_columns",
    "custom_resource_row_cells",
    "has_printer",
    "table_columns",
    "table_row_cells",
]

_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

#: ``includeObject`` spellings: the wire values plus the kind name used in our API.
_INCLUDE_METADATA = frozenset({"Metadata", "PartialObjectMetadata", ""})
_INCLUDE_OBJECT = "Object"
_INCLUDE_NONE = "None"


def _default_columns() -> list[Column]:
    return [
        {
            "name": "Name",
            "type": "string",
            "format": "name",
            "description": doc(_META, "name"),
            "priority": 0,
        },
        {
            "name": "Created At",
            "type": "date",
            "format": "",
            "description": doc(_META, "creationTimestamp"),
            "priority": 0,
        },
    ]


def _default_row(obj: Obj, now: datetime) -> list[Any]:
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name = meta.get("name")
    return [name if isinstance(name, str) else "", rfc3339(meta.get("creationTimestamp"))]


_DEFAULT = Printer(_default_columns, _default_row)


def _printer(group: str, kind: str) -> Printer:
    return PRINTERS.get((group, kind), _DEFAULT)


def has_printer(group: str, kind: str) -> bool:
    """Whether ``group``/``kind`` has its own printer (else: the default convertor)."""
    return (group, kind) in PRINTERS


@functools.cache
def _columns(group: str, kind: str) -> tuple[Column, ...]:
    return tuple(_printer(group, kind).columns())


def table_columns(group: str, kind: str) -> list[dict[str, Any]]:
    """The column definitions upstream uses for a built-in kind (fresh copies)."""
    return [dict(c) for c in _columns(group, kind)]


def table_row_cells(group: str, kind: str, obj: dict[str, Any], now: datetime) -> list[Any]:
    """The cells of one object's row, all columns (wide) included, as upstream computes them."""
    return _printer(group, kind).row(obj, _aware(now))


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def _list_metadata(list_meta: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if list_meta:
        for key in ("resourceVersion", "continue", "remainingItemCount"):
            value = list_meta.get(key)
            if value is not None and value != "":
                out[key] = value
    return out


def build_table(
    group: str,
    kind: str,
    objects: list[dict[str, Any]],
    *,
    include_object: str = "PartialObjectMetadata",
    list_meta: dict[str, Any] | None = None,
    now: datetime | None = None,
    printer_columns: list[dict[str, Any]] | None = None,
    no_headers: bool = False,
) -> dict[str, Any]:
    """The whole ``meta.k8s.io/v1`` Table for ``objects`` of one kind.

    ``include_object`` is the request's ``includeObject``: ``Metadata`` (also
    spelled ``PartialObjectMetadata``, the default), ``Object`` or ``None``
    (the row then has no ``object`` key). ``list_meta`` supplies
    ``resourceVersion``/``continue``/``remainingItemCount``. ``printer_columns``
    set (even to ``[]``) means a custom resource printed by its CRD's
    ``additionalPrinterColumns``. ``no_headers`` (``TableOptions.noHeaders``)
    leaves out the column definitions. Rows follow ``objects`` except where
    upstream sorts (FlowSchemas by matching precedence, then name).
    Row objects share the input dicts; serialize before mutating them.
    """
    when = _aware(now) if now is not None else datetime.now(UTC)
    if include_object in _INCLUDE_METADATA:
        mode = 0
    elif include_object == _INCLUDE_OBJECT:
        mode = 1
    elif include_object == _INCLUDE_NONE:
        mode = 2
    elif objects:  # upstream refuses the value only when it has a row to apply it to
        raise errors.BadRequest(f"unrecognized includeObject value: {go_quote(include_object)}")
    else:
        mode = 2

    conditions_fn = None
    row_fn: RowFn
    if printer_columns is not None:
        compiled = compile_custom_columns(printer_columns)
        columns: list[Column] = [dict(c) for c in compiled.columns]
        row_fn = compiled.cells
    else:
        printer = _printer(group, kind)
        columns = table_columns(group, kind)
        row_fn = printer.row
        conditions_fn = printer.conditions
        if printer.sort_key is not None:
            objects = sorted(objects, key=printer.sort_key)

    rows: list[dict[str, Any]] = []
    append = rows.append
    for obj in objects:
        row: dict[str, Any] = {"cells": row_fn(obj, when)}
        if conditions_fn is not None:
            conds = conditions_fn(obj)
            if conds:
                row["conditions"] = conds
        if mode == 0:
            meta = obj.get("metadata")
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": meta if isinstance(meta, dict) else {},
            }
        elif mode == 1:
            row["object"] = obj
        append(row)

    table: dict[str, Any] = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": _list_metadata(list_meta),
    }
    if not no_headers:
        table["columnDefinitions"] = columns
    table["rows"] = rows
    return table
