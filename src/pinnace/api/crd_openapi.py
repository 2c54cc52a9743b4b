"""OpenAPI definitions of custom resources, as kube-apiserver publishes them for a CRD version.

Each served version gets two definitions, named after the reversed group
(``com.example.stable.v1.CronTab`` and ``…CronTabList``): the version's
structural schema with ``apiVersion``, ``kind`` and ``metadata`` (a reference
to ObjectMeta) filled in and ``x-kubernetes-group-version-kind`` set — which
is how ``kubectl explain`` finds the kind — and the list around it. The v2
(swagger) form drops what swagger cannot say (``nullable``, ``anyOf``…).
"""

from __future__ import annotations

import copy
from typing import Any

from pinnace.api.crd import custom_version
from pinnace.api.registry import ResourceInfo

Obj = dict[str, Any]

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"

_API_VERSION_DOC = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
    "recognized schemas to the latest internal value, and may reject unrecognized values. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"
)
_KIND_DOC = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this from "
    "the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)
_METADATA_DOC = (
    "Standard object's metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
_LIST_METADATA_DOC = (
    "Standard list metadata. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)
#: Keywords swagger 2.0 does not have.
_V2_DROP = ("nullable", "anyOf", "oneOf", "not", "x-kubernetes-validations")


def _ref(prefix: str, name: str, *, v3: bool, description: str = "") -> Obj:
    ref = {"$ref": prefix + name}
    if not v3:
        return {**({"description": description} if description else {}), **ref}
    out: Obj = {"allOf": [ref]}
    if description:
        out["description"] = description
    return out


def _strip_v2(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_v2(v) for k, v in node.items() if k not in _V2_DROP}
    if isinstance(node, list):
        return [_strip_v2(v) for v in node]
    return node


def definitions(info: ResourceInfo, ref_prefix: str, *, v3: bool) -> dict[str, Obj]:
    """The definitions of one served CRD version: the kind and its list."""
    cv = custom_version(info)
    if cv is None:
        return {}
    schema: Obj = copy.deepcopy(cv.schema)
    if not v3:
        schema = _strip_v2(schema)
    props: Obj = dict(schema.get("properties") or {})
    meta_schema = props.get("metadata")
    props["apiVersion"] = {"description": _API_VERSION_DOC, "type": "string"}
    props["kind"] = {"description": _KIND_DOC, "type": "string"}
    props["metadata"] = _ref(ref_prefix, OBJECT_META, v3=v3, description=_METADATA_DOC)
    if isinstance(meta_schema, dict) and meta_schema.get("properties"):
        props["metadata"]["properties"] = meta_schema["properties"]
    schema["properties"] = {k: props[k] for k in sorted(props)}
    schema["type"] = "object"
    gvk = [{"group": info.group, "kind": info.kind, "version": info.version}]
    schema["x-kubernetes-group-version-kind"] = gvk
    list_kind = info.kind + "List"
    list_schema: Obj = {
        "description": f"{list_kind} is a list of {info.kind}",
        "properties": {
            "apiVersion": {"description": _API_VERSION_DOC, "type": "string"},
            "items": {
                "description": f"List of {info.plural}. More info: "
                "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md",
                "items": {"$ref": ref_prefix + info.definition},
                "type": "array",
            },
            "kind": {"description": _KIND_DOC, "type": "string"},
            "metadata": _ref(ref_prefix, LIST_META, v3=v3, description=_LIST_METADATA_DOC),
        },
        "required": ["items"],
        "type": "object",
        "x-kubernetes-group-version-kind": [{"group": info.group, "kind": list_kind, "version": info.version}],
    }
    return {info.definition: schema, info.definition + "List": list_schema}
