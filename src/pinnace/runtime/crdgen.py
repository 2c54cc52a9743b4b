"""Generate CustomResourceDefinitions from typed models (controller-gen's job, for pydantic).

:func:`crd_for` takes the :class:`~pinnace.runtime.typed.CustomResource`
classes of one kind (one per version) and returns the
``apiextensions.k8s.io/v1`` CRD: names, scope, one entry per version with its
**structural** OpenAPI v3 schema, printer columns and subresources, exactly
one storage version. :func:`structural_schema` does the schema conversion
from pydantic's JSON Schema:

- ``$ref``/``$defs`` are inlined (a recursive model is refused: a structural
  schema cannot describe it);
- ``X | None`` becomes ``nullable: true``; ``int | str`` becomes
  ``x-kubernetes-int-or-string``; ``Any`` becomes
  ``x-kubernetes-preserve-unknown-fields``; ``dict[str, X]`` becomes
  ``additionalProperties``; ``Literal``/``Enum`` become ``enum``;
- constraints (``ge``/``le``/``gt``/``lt``, ``multiple_of``, lengths,
  ``pattern``), ``description`` and ``default`` carry over; pydantic's
  ``title`` is dropped;
- ``json_schema_extra`` passes Kubernetes keys through (for example
  ``{"x-kubernetes-validations": [{"rule": "self.min <= self.max"}]}``).

:func:`write_crds` writes one YAML file per CRD, the ``pinnace builder
generate`` step.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from pinnace.client.rest import ResourceRef
from pinnace.runtime.typed import CRDInfo, CustomResource

__all__ = ["CRDS", "SchemaError", "crd_for", "group_by_kind", "structural_schema", "write_crds"]

Obj = dict[str, Any]

#: Where CustomResourceDefinitions are served.
CRDS = ResourceRef("apiextensions.k8s.io", "v1", "customresourcedefinitions", namespaced=False)

#: JSON Schema keywords that mean the same in a CRD schema.
_KEPT = (
    "type",
    "format",
    "description",
    "default",
    "enum",
    "maximum",
    "minimum",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "multipleOf",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
)


class SchemaError(ValueError):
    """A model that no structural schema can describe."""


def structural_schema(model: type[CustomResource]) -> Obj:
    """The openAPIV3Schema of a typed custom resource."""
    source = model.model_json_schema(mode="serialization", by_alias=True)
    defs: Mapping[str, Obj] = source.get("$defs") or {}
    converted = _convert(source, defs, path=model.__name__, seen=())
    props = dict(converted.get("properties") or {})
    props.pop("metadata", None)
    schema: Obj = {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            **props,
        },
    }
    required = [r for r in converted.get("required") or [] if r != "metadata"]
    if required:
        schema["required"] = required
    if model.crd.validations:
        schema["x-kubernetes-validations"] = [dict(v) for v in model.crd.validations]
    return schema


def _convert(node: Obj, defs: Mapping[str, Obj], *, path: str, seen: tuple[str, ...]) -> Obj:
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in seen:
            raise SchemaError(f"{path}: {name} refers to itself; a structural schema cannot be recursive")
        merged = {**defs[name], **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, defs, path=path, seen=(*seen, name))
    options = node.get("anyOf") or node.get("oneOf")
    if isinstance(options, list):
        return _convert_union(node, options, defs, path=path, seen=seen)
    if "allOf" in node and len(node["allOf"]) == 1:
        merged = {**node["allOf"][0], **{k: v for k, v in node.items() if k != "allOf"}}
        return _convert(merged, defs, path=path, seen=seen)
    out: Obj = {k: copy.deepcopy(node[k]) for k in _KEPT if k in node}
    if "const" in node:
        out["enum"] = [node["const"]]
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            out[key] = copy.deepcopy(value)
    type_ = node.get("type")
    if type_ is None and "enum" in out:
        out["type"] = _json_type(out["enum"][0])
    if type_ == "object" or "properties" in node:
        out["type"] = "object"
        props = node.get("properties")
        if isinstance(props, dict):
            out["properties"] = {k: _convert(v, defs, path=f"{path}.{k}", seen=seen) for k, v in props.items()}
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            out["additionalProperties"] = _convert(extra, defs, path=f"{path}[*]", seen=seen)
        elif extra is True or (not isinstance(props, dict) and extra is None):
            out["x-kubernetes-preserve-unknown-fields"] = True
    elif type_ == "array":
        items = node.get("items")
        out["items"] = (
            _convert(items, defs, path=f"{path}[]", seen=seen)
            if isinstance(items, dict)
            else {"x-kubernetes-preserve-unknown-fields": True}
        )
    elif type_ is None and "enum" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True  # Any: anything goes
    if "default" in out and out["default"] is None:
        del out["default"]  # "no value" is the absence of a default, not a null one
    return out


def _convert_union(node: Obj, options: list[Obj], defs: Mapping[str, Obj], *, path: str, seen: tuple[str, ...]) -> Obj:
    non_null = [o for o in options if o.get("type") != "null"]
    nullable = len(non_null) < len(options)
    rest = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
    types = sorted(str(o.get("type")) for o in non_null)
    if len(non_null) == 1:
        out = _convert({**non_null[0], **rest}, defs, path=path, seen=seen)
    elif types == ["integer", "string"]:
        out = {k: copy.deepcopy(rest[k]) for k in ("description", "default") if rest.get(k) is not None}
        out["x-kubernetes-int-or-string"] = True
    else:
        raise SchemaError(
            f"{path}: a union of {', '.join(types)} has no structural schema "
            "(use one type, int | str, or Any for free-form data)"
        )
    if nullable:
        out["nullable"] = True
    return out


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def _version_entry(model: type[CustomResource]) -> Obj:
    info = model.crd
    entry: Obj = {
        "name": info.version,
        "served": info.served,
        "storage": info.storage,
        "schema": {"openAPIV3Schema": structural_schema(model)},
    }
    subresources: Obj = {}
    if info.status_subresource:
        subresources["status"] = {}
    if info.scale is not None:
        scale: Obj = {
            "specReplicasPath": info.scale.spec_replicas_path,
            "statusReplicasPath": info.scale.status_replicas_path,
        }
        if info.scale.label_selector_path:
            scale["labelSelectorPath"] = info.scale.label_selector_path
        subresources["scale"] = scale
    if subresources:
        entry["subresources"] = subresources
    if info.printer_columns:
        entry["additionalPrinterColumns"] = [_column(c) for c in info.printer_columns]
    return entry


def _column(column: Any) -> Obj:
    out: Obj = {"name": column.name, "type": column.type, "jsonPath": column.json_path}
    if column.description:
        out["description"] = column.description
    if column.priority:
        out["priority"] = column.priority
    if column.format:
        out["format"] = column.format
    return out


def crd_for(*models: type[CustomResource]) -> Obj:
    """The CRD of one kind from its typed models (one per version, exactly one with ``storage=True``)."""
    if not models:
        raise ValueError("crd_for needs at least one model")
    first: CRDInfo = models[0].crd
    for m in models[1:]:
        if (m.crd.group, m.crd.kind) != (first.group, first.kind):
            raise ValueError(f"{m.__name__} is {m.crd.group}/{m.crd.kind}, not {first.group}/{first.kind}")
    storage = [m.__name__ for m in models if m.crd.storage]
    if len(storage) != 1:
        raise ValueError(f"exactly one version must be the storage version; got {storage or 'none'}")
    versions = [_version_entry(m) for m in models]
    names: Obj = {
        "plural": first.plural_name,
        "singular": first.singular_name,
        "kind": first.kind,
        "listKind": f"{first.kind}List",
    }
    if first.short_names:
        names["shortNames"] = list(first.short_names)
    if first.categories:
        names["categories"] = list(first.categories)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{first.plural_name}.{first.group}"},
        "spec": {"group": first.group, "names": names, "scope": first.scope, "versions": versions},
    }


def group_by_kind(models: Iterable[type[CustomResource]]) -> list[list[type[CustomResource]]]:
    """Models grouped per (group, kind), in first-seen order."""
    groups: dict[tuple[str, str], list[type[CustomResource]]] = {}
    for m in models:
        groups.setdefault((m.crd.group, m.crd.kind), []).append(m)
    return list(groups.values())


def write_crds(models: Iterable[type[CustomResource]], directory: Path) -> list[Path]:
    """Write ``<group>_<plural>.yaml`` per kind into ``directory``; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind_models in group_by_kind(models):
        crd = crd_for(*kind_models)
        path = directory / f"{crd['spec']['group']}_{crd['spec']['names']['plural']}.yaml"
        path.write_text(yaml.safe_dump(crd, sort_keys=False))
        written.append(path)
    return written
