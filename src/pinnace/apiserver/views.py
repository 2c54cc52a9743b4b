"""The shapes an object can be answered in: itself, a Table row, or its metadata only."""

from __future__ import annotations

from typing import Any

from pinnace.api import crd
from pinnace.api.registry import ResourceInfo
from pinnace.api.table import build_table
from pinnace.apiserver.negotiation import Output, Wanted

Obj = dict[str, Any]


def object_view(
    obj: Obj, info: ResourceInfo, wanted: Wanted, query: Any, printed_as: tuple[str, str] | None = None
) -> Any:
    """One object in the wanted shape (object, Table or PartialObjectMetadata).

    ``printed_as`` is the (group, kind) whose printer makes the Table row when ``obj`` is not
    of ``info``'s kind: a subresource's view (a Deployment's ``autoscaling`` Scale).
    """
    if wanted.output is Output.TABLE:
        group, kind = printed_as or (info.group, info.kind)
        return build_table(
            group,
            kind,
            [obj],
            include_object=query.get("includeObject") or "PartialObjectMetadata",
            list_meta={"resourceVersion": obj["metadata"].get("resourceVersion", "")},
            printer_columns=crd.printer_columns(info),
        )
    if wanted.output is Output.PARTIAL:
        return partial_metadata(obj, wanted.meta_version)
    return obj


def partial_metadata(obj: Obj, meta_version: str = "v1") -> Obj:
    """The PartialObjectMetadata view of an object."""
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": f"meta.k8s.io/{meta_version}",
        "metadata": obj.get("metadata") or {},
    }
