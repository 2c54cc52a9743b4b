"""The shape of an object as server-side apply sees it: structs, maps, lists and their identity.

Server-side apply (structured-merge-diff upstream) needs, for every node of an
object, one answer: is it a *scalar*, a *struct* (named fields), a *map*
(arbitrary keys, e.g. labels), a *list* — and if a list, how its items are
identified: ``atomic`` (the whole list is one value), ``set`` (scalars,
identified by value) or ``map`` (objects identified by ``x-kubernetes-list-map-keys``).
Structs and maps may be ``atomic`` too (``x-kubernetes-map-type: atomic``, e.g.
a LabelSelector).

:func:`root_type` compiles that answer lazily from the schema that already
drives the rest of ``api``: the v1.32 definitions for built-in kinds (where a
list without ``x-kubernetes-list-type`` takes its identity from the strategic
merge patch strategy and merge key, as upstream's schema conversion does) and a
CRD's structural schema for custom resources (lists are atomic unless the
schema says otherwise). Nodes without a schema (``x-kubernetes-preserve-unknown-fields``,
free-form objects) are *deduced* from the value: objects are granular maps,
lists are atomic.

Path elements are kept in their FieldsV1 spelling (``f:name``,
``k:{"name":"web"}``, ``v:"a"``, ``i:0``) so that a path is a plain tuple of
strings, cheap to hash and to serialise.
"""

from __future__ import annotations

from typing import Any

import orjson

from pinnace.api import crd
from pinnace.api.definitions import Schema, definition_for, load_definitions, resolve
from pinnace.api.registry import ResourceInfo

__all__ = [
    "DEDUCED",
    "LIST",
    "MAP",
    "SCALAR",
    "STRUCT",
    "FieldType",
    "field_element",
    "item_element",
    "root_type",
]

SCALAR, STRUCT, MAP, LIST, DEDUCED = "scalar", "struct", "map", "list", "deduced"

#: Defaults of list-map key fields that the v1.32 schemas declare (``protocol`` of ports).
_KEY_DEFAULTS: dict[str, Any] = {"protocol": "TCP"}

_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


class FieldType:
    """One node of an object's type; children are compiled on first use."""

    __slots__ = (
        "_children",
        "_elem",
        "_props",
        "added_fields",
        "atomic",
        "builtin",
        "item",
        "keys",
        "kind",
        "list_type",
        "required",
        "scalar_map",
    )

    def __init__(self, kind: str, *, builtin: bool) -> None:
        self.kind = kind
        self.builtin = builtin
        self.atomic = False
        self.list_type = "atomic"
        self.keys: tuple[str, ...] = ()
        self.required: frozenset[str] = frozenset()
        self.item: FieldType | None = None
        self._props: dict[str, Any] = {}
        self._elem: Any = None  # schema node of map values / a struct's extra keys; DEDUCED_TYPE for free-form
        self._children: dict[str, FieldType | None] = {}
        #: What :mod:`pinnace.api.managedfields` derives per key from :meth:`child` for a create's ownership
        #: tree, kept with the type it is derived from (see ``managedfields._added_entry``).
        self.added_fields: dict[str, Any] = {}
        #: A granular map whose values are all scalars (labels, annotations, a ConfigMap's data): every key
        #: is a leaf, whatever its value.
        self.scalar_map = False

    def child(self, key: str) -> tuple[FieldType | None, bool]:
        """The type of a struct field or map value, and whether ``key`` is a declared (named) field.

        ``(None, False)``: a key the schema does not know (ignored for ownership).
        """
        if self.kind == DEDUCED:
            return DEDUCED_TYPE, False
        if key in self._children:
            return self._children[key], key in self._props
        node = self._props.get(key)
        if isinstance(node, dict):
            out: FieldType | None = compile_type(node, builtin=self.builtin)
        elif isinstance(self._elem, FieldType):
            out = self._elem
        elif isinstance(self._elem, dict):
            out = compile_type(self._elem, builtin=self.builtin)
        else:
            out = None
        if len(self._children) < 4096:
            self._children[key] = out
        return out, key in self._props

    def is_leaf_for(self, value: Any) -> bool:
        """Whether a value of this type is owned as a whole (scalar, atomic, or a deduced non-object)."""
        kind = self.kind
        if kind == SCALAR:
            return True
        if kind == DEDUCED:
            return not isinstance(value, dict)
        if kind == LIST:
            return self.list_type == "atomic" or not isinstance(value, list)
        return self.atomic or not isinstance(value, dict)

    def is_leaf_always(self) -> bool:
        """Whether :meth:`is_leaf_for` holds whatever the value: a scalar, an atomic list, an atomic struct or map."""
        kind = self.kind
        if kind == SCALAR:
            return True
        if kind == LIST:
            return self.list_type == "atomic"
        return kind != DEDUCED and self.atomic


DEDUCED_TYPE = FieldType(DEDUCED, builtin=False)
_SCALAR_TYPE = FieldType(SCALAR, builtin=True)

_CACHE: dict[tuple[int, bool], tuple[Schema, FieldType]] = {}


def _type_name(node: Schema) -> str:
    t = node.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None)
    return t if isinstance(t, str) else ""


def compile_type(node: Schema, *, builtin: bool) -> FieldType:
    """The FieldType of a schema node (cached per node: schemas are immutable once loaded)."""
    hit = _CACHE.get((id(node), builtin))
    if hit is not None and hit[0] is node:
        return hit[1]
    out = _compile(node, builtin)
    if len(_CACHE) > 50000:
        _CACHE.clear()
    _CACHE[(id(node), builtin)] = (node, out)
    return out


def _compile(raw: Schema, builtin: bool) -> FieldType:
    node = resolve(raw) if builtin else raw
    t = _type_name(node)
    if node.get("x-kubernetes-int-or-string") or (t and t not in ("object", "array")):
        return _SCALAR_TYPE
    if "oneOf" in node and not t:  # IntOrString in the definitions
        return _SCALAR_TYPE
    if t == "array" or "items" in node:
        out = FieldType(LIST, builtin=builtin)
        items = node.get("items")
        out.item = compile_type(items, builtin=builtin) if isinstance(items, dict) else DEDUCED_TYPE
        list_type = raw.get("x-kubernetes-list-type") or node.get("x-kubernetes-list-type")
        keys = raw.get("x-kubernetes-list-map-keys") or node.get("x-kubernetes-list-map-keys")
        if list_type is None and builtin:
            strategy = str(raw.get("x-kubernetes-patch-strategy") or "")
            merge_key = raw.get("x-kubernetes-patch-merge-key")
            if "merge" in strategy.split(","):
                list_type, keys = ("map", [merge_key]) if merge_key else ("set", None)
        if list_type == "map" and isinstance(keys, list) and keys:
            out.list_type, out.keys = "map", tuple(str(k) for k in keys)
        elif list_type == "set":
            out.list_type = "set"
        return out
    props = node.get("properties")
    extra = node.get("additionalProperties")
    preserve = bool(node.get("x-kubernetes-preserve-unknown-fields"))
    if isinstance(props, dict) and props:
        out = FieldType(STRUCT, builtin=builtin)
        out._props = props
        out._elem = extra if isinstance(extra, dict) else DEDUCED_TYPE if preserve or extra is True else None
        required = node.get("required")
        out.required = frozenset(required) if isinstance(required, list) else frozenset()
    elif isinstance(extra, dict):
        out = FieldType(MAP, builtin=builtin)
        out._elem = extra
        out.scalar_map = compile_type(extra, builtin=builtin) is _SCALAR_TYPE
    elif t == "object" and not preserve and not builtin and extra is None:
        out = FieldType(STRUCT, builtin=builtin)  # a CRD's empty object: only the keys it declares (none)
    else:
        return DEDUCED_TYPE
    map_type = raw.get("x-kubernetes-map-type") or node.get("x-kubernetes-map-type")
    out.atomic = map_type == "atomic"
    out.scalar_map = out.scalar_map and not out.atomic
    return out


def root_type(info: ResourceInfo) -> FieldType:
    """The type of a whole object of a resource (DEDUCED if the resource has no schema)."""
    cv = crd.custom_version(info)
    if cv is not None:
        root = compile_type(cv.schema, builtin=False)
        if root.kind != STRUCT:
            fresh = FieldType(STRUCT, builtin=False)
            fresh._elem = DEDUCED_TYPE
            root = fresh
        # metadata is always ObjectMeta, whatever the CRD's schema says of it
        if "metadata" not in root._children:
            root._children["metadata"] = compile_type(load_definitions()[_OBJECT_META], builtin=True)
            root._children["apiVersion"] = root._children["kind"] = _SCALAR_TYPE
            root._props = {**root._props, "metadata": {}, "apiVersion": {}, "kind": {}}
        return root
    schema = definition_for(info.group, info.version, info.kind)
    if schema is None:
        return DEDUCED_TYPE
    return compile_type(schema, builtin=True)


def field_element(name: str) -> str:
    """The path element of a struct field or map key."""
    return "f:" + name


def item_element(item: Any, t: FieldType) -> str | None:
    """The path element of a list item (``k:`` by its keys, ``v:`` by value), None if it has no identity."""
    if t.list_type == "map":
        if not isinstance(item, dict):
            return None
        key: dict[str, Any] = {}
        for name in t.keys:
            if name in item and item[name] is not None:
                key[name] = item[name]
            elif name in _KEY_DEFAULTS:
                key[name] = _KEY_DEFAULTS[name]
        if not key:
            return None
        return "k:" + orjson.dumps(key, option=orjson.OPT_SORT_KEYS).decode()
    if t.list_type == "set":
        if isinstance(item, (dict, list)):
            return None
        return "v:" + orjson.dumps(item).decode()
    return None
