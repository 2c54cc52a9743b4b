"""OpenAPI documents of the served API, built from the v1.32 definitions.

The definitions ship as JSON-schema (``type: [string, null]``, refs under
``#/$defs``, apiVersion/kind pinned by ``enum``); OpenAPI wants the upstream
shape back: single types, refs under ``#/definitions`` (v2) or
``#/components/schemas`` (v3), int-or-string and quantity as strings with a
format. Paths come from the resource table: one operation per verb, each with
``x-kubernetes-group-version-kind`` and the query parameters kubectl looks for
(``fieldValidation``, ``dryRun``, ``fieldManager``) — that is how kubectl
decides to validate on the server.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from pinnace import KUBERNETES_VERSION
from pinnace.api import crd_openapi
from pinnace.api.definitions import load_definitions
from pinnace.api.registry import ResourceInfo, ResourceRegistry

Obj = dict[str, Any]

V2_PREFIX = "#/definitions/"
V3_PREFIX = "#/components/schemas/"

_STRING_LIKE = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
}

#: v3 says what these are with ``oneOf`` and no ``type`` (as upstream), so ``kubectl explain`` names them
#: (``limits <map[string]Quantity>``, ``maxSurge <IntOrString>``) rather than calling them strings.
_ONE_OF_V3: dict[str, Obj] = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {
        "format": "int-or-string",
        "oneOf": [{"type": "integer"}, {"type": "string"}],
    },
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"oneOf": [{"type": "string"}, {"type": "number"}]},
}


def convert_schema(schema: Any, ref_prefix: str, *, v3: bool) -> Any:
    """One definition node in OpenAPI form."""
    if isinstance(schema, list):
        return [convert_schema(s, ref_prefix, v3=v3) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: Obj = {}
    for key, value in schema.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = ref_prefix + value.rsplit("/", 1)[-1]
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            out[key] = types[0] if types else "object"
        elif key in ("properties", "patternProperties") and isinstance(value, dict):
            out[key] = {k: convert_schema(v, ref_prefix, v3=v3) for k, v in value.items()}
        else:
            out[key] = convert_schema(value, ref_prefix, v3=v3)
    if v3 and "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out["allOf"] = [{"$ref": ref}]
    return out


def convert_definition(name: str, schema: Obj, ref_prefix: str, *, v3: bool) -> Obj:
    """A whole definition, with the JSON-schema-only additions removed."""
    if v3 and name in _ONE_OF_V3:
        return {"description": schema.get("description", ""), **_ONE_OF_V3[name]}
    if name in _STRING_LIKE:
        return {**_STRING_LIKE[name], "description": schema.get("description", "")}
    out: Obj = convert_schema(schema, ref_prefix, v3=v3)
    props = out.get("properties")
    if isinstance(props, dict) and schema.get("x-kubernetes-group-version-kind"):
        for field in ("apiVersion", "kind"):
            if isinstance(props.get(field), dict):
                props[field] = {k: v for k, v in props[field].items() if k != "enum"}
    return out


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref.rsplit("/", 1)[-1])
        for v in node.values():
            _refs(v, found)
    elif isinstance(node, list):
        for v in node:
            _refs(v, found)


def closure(names: Iterable[str]) -> list[str]:
    """The definitions ``names`` refer to, transitively (including themselves)."""
    defs = load_definitions()
    seen: set[str] = set()
    todo = [n for n in names if n in defs]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        found: set[str] = set()
        _refs(defs[name], found)
        todo.extend(n for n in found if n not in seen and n in defs)
    return sorted(seen)


_COMMON_META = (
    "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
)


def _param(name: str, where: str = "query", *, v3: bool, required: bool = False, type_: str = "string") -> Obj:
    p: Obj = {"name": name, "in": where, "description": _PARAM_DOCS.get(name, name)}
    if required:
        p["required"] = True
    if v3:
        p["schema"] = {"type": type_, "uniqueItems": True}
    else:
        p["type"] = type_
        p["uniqueItems"] = True
    return p


_PARAM_DOCS = {
    "fieldValidation": "fieldValidation instructs the server on how to handle objects in the request containing "
    "unknown or duplicate fields. Valid values are: Ignore, Warn, Strict.",
    "dryRun": "When present, indicates that modifications should not be persisted. Valid values are: All",
    "fieldManager": "fieldManager is a name associated with the actor or entity that is making these changes.",
    "force": 'Force is going to "force" Apply requests.',
    "pretty": "If 'true', then the output is pretty printed.",
    "name": "name of the object",
    "namespace": "object name and auth scope, such as for teams and projects",
}


def _operations(info: ResourceInfo, ref_prefix: str, *, v3: bool) -> dict[str, Obj]:
    """Path → path item for one resource."""
    gvk = {"group": info.group, "version": info.version, "kind": info.kind}
    base = f"/api/{info.version}" if not info.group else f"/apis/{info.group}/{info.version}"
    ns_part = "/namespaces/{namespace}" if info.namespaced else ""
    collection = f"{base}{ns_part}/{info.plural}"
    item = f"{collection}/{{name}}"
    obj_ref = {"$ref": ref_prefix + info.definition}
    list_ref = {"$ref": ref_prefix + info.definition + "List"}
    status_ref = {"$ref": ref_prefix + "io.k8s.apimachinery.pkg.apis.meta.v1.Status"}
    op_id = f"{info.kind}"
    write_params = [_param(n, v3=v3) for n in ("dryRun", "fieldManager", "fieldValidation")]

    def response(ref: Obj) -> Obj:
        if v3:
            return {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}}
        return {"200": {"description": "OK", "schema": ref}}

    def op(action: str, verb_id: str, params: list[Obj], ref: Obj, body: bool = False, patch: bool = False) -> Obj:
        o: Obj = {
            "operationId": f"{verb_id}{op_id}",
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
            "parameters": params,
            "responses": response(ref),
            "tags": [info.group or "core"],
        }
        if body:
            if v3:
                media = (
                    [
                        "application/json-patch+json",
                        "application/merge-patch+json",
                        "application/strategic-merge-patch+json",
                        "application/apply-patch+yaml",
                    ]
                    if patch
                    else ["application/json", "application/yaml"]
                )
                if patch and info.custom:  # no strategic merge for CRs: kubectl's apply then uses merge patch
                    media.remove("application/strategic-merge-patch+json")
                schema = {"$ref": ref_prefix + "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"} if patch else obj_ref
                o["requestBody"] = {"content": {m: {"schema": schema} for m in media}, "required": True}
            else:
                schema = {"$ref": ref_prefix + "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"} if patch else obj_ref
                o["parameters"] = [
                    *params,
                    {"name": "body", "in": "body", "required": True, "schema": schema},
                ]
        return o

    path_params = [_param("namespace", "path", v3=v3, required=True)] if info.namespaced else []
    item_params = [_param("name", "path", v3=v3, required=True), *path_params]
    coll: Obj = {"parameters": path_params}
    it: Obj = {"parameters": item_params}
    verbs = set(info.verbs)
    if "list" in verbs:
        coll["get"] = op("list", "list", [], list_ref)
    if "create" in verbs:
        coll["post"] = op("post", "create", write_params, obj_ref, body=True)
    if "deletecollection" in verbs:
        coll["delete"] = op("deletecollection", "deleteCollection", [], status_ref)
    if "get" in verbs:
        it["get"] = op("get", "read", [], obj_ref)
    if "update" in verbs:
        it["put"] = op("put", "replace", write_params, obj_ref, body=True)
    if "patch" in verbs:
        it["patch"] = op(
            "patch",
            "patch",
            [*write_params, _param("force", v3=v3, type_="boolean")],
            obj_ref,
            body=True,
            patch=True,
        )
    if "delete" in verbs:
        deleted_ref = obj_ref if info.returns_deleted_object else status_ref
        it["delete"] = op("delete", "delete", [_param("dryRun", v3=v3)], deleted_ref)
    paths = {collection: coll, item: it}
    for sub in info.subresources:
        if sub not in ("status", "scale"):
            continue
        sub_ref = {"$ref": ref_prefix + "io.k8s.api.autoscaling.v1.Scale"} if sub == "scale" else obj_ref
        sub_gvk = {"group": "autoscaling", "version": "v1", "kind": "Scale"} if sub == "scale" else gvk
        sub_item: Obj = {"parameters": item_params}
        for method, action, vid, body_kind in (
            ("get", "get", "read", None),
            ("put", "put", "replace", "obj"),
            ("patch", "patch", "patch", "patch"),
        ):
            o = op(
                action,
                f"{vid}{sub.title()}",
                write_params if body_kind else [],
                sub_ref,
                body=body_kind is not None,
                patch=body_kind == "patch",
            )
            o["x-kubernetes-group-version-kind"] = sub_gvk
            o["operationId"] = f"{vid}{op_id}{sub.title()}"
            sub_item[method] = o
        paths[f"{item}/{sub}"] = sub_item
    return paths


def _definition_names(infos: list[ResourceInfo], *, custom: bool = False) -> list[str]:
    defs = load_definitions()
    names = [*(_COMMON_META)]
    if custom:  # custom resources refer to ObjectMeta and ListMeta, and their scale to Scale
        names += [crd_openapi.OBJECT_META, crd_openapi.LIST_META, "io.k8s.api.autoscaling.v1.Scale"]
    for info in infos:
        names.append(info.definition)
        if info.definition + "List" in defs:
            names.append(info.definition + "List")
        if "scale" in info.subresources:
            names.append("io.k8s.api.autoscaling.v1.Scale")
    return closure(names)


def group_version_v3(registry: ResourceRegistry, group: str, version: str) -> Obj:
    """The OpenAPI v3 document of one group-version."""
    infos = registry.in_group_version(group, version)
    defs = load_definitions()
    paths: Obj = {}
    for info in infos:
        if info.definition:
            paths.update(_operations(info, V3_PREFIX, v3=True))
    custom = [i for i in infos if i.custom]
    schemas = {
        n: convert_definition(n, defs[n], V3_PREFIX, v3=True)
        for n in _definition_names([i for i in infos if i.definition and not i.custom], custom=bool(custom))
    }
    for info in custom:
        schemas.update(crd_openapi.definitions(info, V3_PREFIX, v3=True))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def v3_path_of(group: str, version: str) -> str:
    """The key of a group-version in the v3 index (``api/v1``, ``apis/apps/v1``)."""
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def swagger_v2(registry: ResourceRegistry) -> Obj:
    """The OpenAPI v2 (swagger) document of everything served."""
    defs = load_definitions()
    infos = [i for i in registry.all() if i.definition]
    paths: Obj = {}
    for info in infos:
        paths.update(_operations(info, V2_PREFIX, v3=False))
    builtin = [i for i in infos if not i.custom]
    custom = [i for i in infos if i.custom]
    definitions = {
        n: convert_definition(n, defs[n], V2_PREFIX, v3=False) for n in _definition_names(builtin, custom=bool(custom))
    }
    for info in custom:
        definitions.update(crd_openapi.definitions(info, V2_PREFIX, v3=False))
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "definitions": definitions,
    }


def etag(body: bytes) -> str:
    """A strong validator for a document (its content hash)."""
    return hashlib.sha512(body).hexdigest()[:32].upper()
