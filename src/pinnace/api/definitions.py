"""The Kubernetes v1.32 OpenAPI definitions: the one table behind the API.

The definitions ship in the ``kubernetes-validate`` package
(``kubernetes-json-schema/v1.32.0-local/_definitions.json``): JSON-schema
renderings of every type, with descriptions, ``x-kubernetes-group-version-kind``,
patch strategies and merge keys. This module loads them once and answers the
questions the rest of ``api`` asks: which definition describes a
group/version/kind, and what a ``$ref`` points to.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

import orjson

SCHEMA_VERSION_DIR = "v1.32.0-local"

#: One schema node (a JSON-schema dict from the definitions).
Schema = dict[str, Any]


def _schema_dir() -> Path:
    """Where the package keeps the v1.32 schemas, found without importing it.

    Importing ``kubernetes_validate`` runs its validator module, which pulls in
    ``jsonschema`` and its dependencies (~2.5 MB resident); only its data is used.
    """
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("kubernetes-validate is not installed", name="kubernetes_validate")
    return Path(spec.submodule_search_locations[0]) / "kubernetes-json-schema" / SCHEMA_VERSION_DIR


@functools.cache
def load_definitions() -> dict[str, Schema]:
    """Every definition by its name (``io.k8s.api.core.v1.Pod`` …)."""
    data = orjson.loads((_schema_dir() / "_definitions.json").read_bytes())
    defs: dict[str, Schema] = data["$defs"]
    return defs


@functools.cache
def gvk_index() -> dict[tuple[str, str, str], str]:
    """(group, version, kind) → the definition name that describes it."""
    out: dict[tuple[str, str, str], str] = {}
    for name, schema in load_definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            key = (gvk["group"], gvk["version"], gvk["kind"])
            # Prefer the definition that is the object itself over meta types that
            # list many GVKs (DeleteOptions, WatchEvent list every group).
            if key not in out or len(schema.get("x-kubernetes-group-version-kind") or []) == 1:
                out[key] = name
    return out


def definition_for(group: str, version: str, kind: str) -> Schema | None:
    """The schema of a group/version/kind, or None if it is not a built-in."""
    name = gvk_index().get((group, version, kind))
    return load_definitions()[name] if name else None


def ref_name(schema: Schema) -> str | None:
    """The definition name a ``$ref`` node points at, if it is one."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return ref.rsplit("/", 1)[-1]
    return None


def target_name(schema: Schema) -> str | None:
    """The definition a node stands for: its ``$ref``'s, or that of a ``$ref`` wrapped alone in ``allOf``."""
    name = ref_name(schema)
    if name is None:
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
            name = ref_name(all_of[0])
    return name


def resolve(schema: Schema) -> Schema:
    """Follow ``$ref`` (also one wrapped in ``allOf``) to the schema it names."""
    seen = 0
    while True:
        name = target_name(schema)
        if name is None:
            return schema
        schema = load_definitions()[name]
        seen += 1
        if seen > 32:  # defensive: the definitions have no ref cycles of this depth
            return schema


def property_schema(schema: Schema, field: str) -> Schema | None:
    """The resolved schema of one property of an object schema, or None."""
    props = resolve(schema).get("properties") or {}
    child = props.get(field)
    return resolve(child) if isinstance(child, dict) else None


def items_schema(schema: Schema) -> Schema | None:
    """The resolved schema of a list's items (or a map's values), or None."""
    s = resolve(schema)
    child = s.get("items")
    if not isinstance(child, dict):
        child = s.get("additionalProperties")
    return resolve(child) if isinstance(child, dict) else None
