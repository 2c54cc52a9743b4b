"""Structural schemas of CustomResourceDefinitions: the check, pruning and defaulting.

A v1 CRD's ``openAPIV3Schema`` must be *structural*
(apiextensions-apiserver ``pkg/apiserver/schema``): every node says its
``type`` (but under ``x-kubernetes-int-or-string`` and
``x-kubernetes-preserve-unknown-fields``), ``properties`` and
``additionalProperties`` never meet, logical junctors (``allOf``, ``anyOf``,
``oneOf``, ``not``) only add value validations, and ``metadata`` may only
constrain ``name`` and ``generateName``. :func:`check_schema` lists every
offending path with upstream's wording.

On a custom resource the same schema drives :func:`prune` (fields the schema
does not know are dropped, unless ``x-kubernetes-preserve-unknown-fields``;
``apiVersion``, ``kind`` and ``metadata`` of the object and of embedded
resources are always kept) and :func:`apply_defaults` (``default`` values,
filled where a parent exists; ``null`` in a non-nullable field is defaulted or
dropped). Pure functions over plain dicts: no HTTP, no storage.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from pinnace.api import errors
from pinnace.api.errors import Cause
from pinnace.api.regex import RegexError, compile_pattern
from pinnace.api.schemacache import SchemaCache

Obj = dict[str, Any]
Schema = dict[str, Any]

#: Fields of ObjectMeta a custom resource keeps (pruning an embedded resource's metadata).
_OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)

_JUNCTORS = ("allOf", "anyOf", "oneOf")
_TYPES = ("object", "array", "string", "integer", "number", "boolean")
#: Keywords a node inside a junctor may not carry (structure belongs to the outer schema).
_NESTED_FORBIDDEN = (
    "type",
    "properties",
    "additionalProperties",
    "items",
    "default",
    "nullable",
    "description",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
)


def key_path(base: str, key: str) -> str:
    """``base[key]``, as upstream's ``field.Path.Key`` prints a map key."""
    return f"{base}[{key}]"


def _required(field: str, detail: str = "") -> Cause:
    return Cause(errors.CAUSE_REQUIRED, f"Required value: {detail}" if detail else "Required value", field)


def _invalid(field: str, value: Any, detail: str) -> Cause:
    shown = f'"{value}"' if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    return Cause(errors.CAUSE_INVALID, f"Invalid value: {shown}: {detail}", field)


def _forbidden(field: str, detail: str) -> Cause:
    return Cause(errors.CAUSE_FORBIDDEN, f"Forbidden: {detail}", field)


def _unsupported(field: str, value: Any, supported: list[str]) -> Cause:
    allowed = ", ".join(f'"{s}"' for s in supported)
    return Cause(errors.CAUSE_NOT_SUPPORTED, f'Unsupported value: "{value}": supported values: {allowed}', field)


# ---- the structural check ---------------------------------------------------------------------------


def check_schema(schema: Any, path: str) -> list[Cause]:
    """Every reason ``schema`` (a version's ``openAPIV3Schema``) is not a valid structural schema."""
    if not isinstance(schema, dict):
        return [_required(path, "schemas are required")]
    causes: list[Cause] = []
    _check_node(schema, path, "root", causes)
    return causes


def _schema_nodes(s: Any, path: str) -> Iterator[tuple[Schema, str]]:
    """Every schema node under ``s`` (itself included) with its field path, as the structural checks print it."""
    if not isinstance(s, dict):
        return
    yield s, path
    properties = s.get("properties")
    for key, child in properties.items() if isinstance(properties, dict) else ():
        yield from _schema_nodes(child, key_path(f"{path}.properties", key))
    yield from _schema_nodes(s.get("additionalProperties"), f"{path}.additionalProperties")
    yield from _schema_nodes(s.get("items"), f"{path}.items")
    for junctor in _JUNCTORS:
        branches = s.get(junctor)
        for i, branch in enumerate(branches if isinstance(branches, list) else ()):
            yield from _schema_nodes(branch, f"{path}.{junctor}[{i}]")
    yield from _schema_nodes(s.get("not"), f"{path}.not")


def patterns(schema: Any) -> set[str]:
    """Every ``pattern`` a schema holds."""
    return {n["pattern"] for n, _ in _schema_nodes(schema, "") if isinstance(n.get("pattern"), str)}


def check_patterns(schema: Any, path: str, *, stored: frozenset[str] | set[str] = frozenset()) -> list[Cause]:
    """Every ``pattern`` that Go's regexp (RE2) would not compile, as upstream refuses it; one the stored CRD
    already had (``stored``) may stay, so that a CRD written before this check can still be updated."""
    causes: list[Cause] = []
    for node, where in _schema_nodes(schema, path):
        pattern = node.get("pattern")
        if not isinstance(pattern, str) or not pattern or pattern in stored:
            continue
        try:
            compile_pattern(pattern)
        except RegexError as exc:
            causes.append(
                _invalid(f"{where}.pattern", pattern, f"must be a valid regular expression, but isn't: {exc}")
            )
    return causes


def _check_node(s: Schema, path: str, level: str, causes: list[Cause]) -> None:
    """One node and everything below it (``level``: root, field or item)."""
    type_ = s.get("type", "")
    int_or_string = s.get("x-kubernetes-int-or-string") is True
    preserve = s.get("x-kubernetes-preserve-unknown-fields")
    embedded = s.get("x-kubernetes-embedded-resource") is True
    if "$ref" in s:
        causes.append(_forbidden(f"{path}.$ref", "$ref is not supported"))
    if type_ and type_ not in _TYPES:
        causes.append(_unsupported(f"{path}.type", type_, list(_TYPES)))
    if preserve is not None and preserve is not True:
        causes.append(_invalid(f"{path}.x-kubernetes-preserve-unknown-fields", preserve, "must be true or undefined"))
    if int_or_string and type_:
        causes.append(_invalid(f"{path}.type", type_, "must be empty if x-kubernetes-int-or-string is true"))
    if embedded and type_ != "object":
        if not type_:
            causes.append(_required(f"{path}.type", "must be object if x-kubernetes-embedded-resource is true"))
        else:
            causes.append(_invalid(f"{path}.type", type_, "must be object if x-kubernetes-embedded-resource is true"))
    elif not type_ and not int_or_string and not (preserve is True and level != "root"):
        detail = {
            "root": "must not be empty at the root",
            "item": "must not be empty for specified array items",
        }.get(level, "must not be empty for specified object fields")
        causes.append(_required(f"{path}.type", detail))
    if level == "root" and type_ and type_ != "object":
        causes.append(_invalid(f"{path}.type", type_, "must be object at the root"))
    props = s.get("properties")
    addl = s.get("additionalProperties")
    if props is not None and addl not in (None, False):
        causes.append(
            _forbidden(f"{path}.additionalProperties", "additionalProperties and properties are mutual exclusive")
        )
    if embedded and addl not in (None, False):
        causes.append(
            _forbidden(f"{path}.additionalProperties", "must not be used if x-kubernetes-embedded-resource is set")
        )
    if embedded and preserve is not True and not props:
        causes.append(
            _required(
                f"{path}.properties",
                "must not be empty if x-kubernetes-embedded-resource is true without "
                "x-kubernetes-preserve-unknown-fields",
            )
        )
    if s.get("uniqueItems") is True:
        causes.append(
            _forbidden(
                f"{path}.uniqueItems",
                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
            )
        )
    if props is not None and not isinstance(props, dict):
        causes.append(_invalid(f"{path}.properties", "", "must be an object"))
        props = None
    if props and type_ and type_ != "object":
        causes.append(_invalid(f"{path}.type", type_, "must be object if properties are specified"))
    for key, child in (props or {}).items():
        child_path = key_path(f"{path}.properties", key)
        if not isinstance(child, dict):
            causes.append(_invalid(child_path, "", "must be a schema object"))
            continue
        if level in ("root", "embedded") and key in ("apiVersion", "kind") and child.get("type", "") != "string":
            causes.append(_invalid(f"{child_path}.type", child.get("type", ""), "must be string"))
        if level in ("root", "embedded") and key == "metadata":
            _check_metadata(child, child_path, root=level == "root", causes=causes)
            continue
        _check_node(
            child, child_path, "embedded" if child.get("x-kubernetes-embedded-resource") is True else "field", causes
        )
    if isinstance(addl, dict):
        _check_node(addl, f"{path}.additionalProperties", "field", causes)
    items = s.get("items")
    if isinstance(items, list):
        causes.append(_forbidden(f"{path}.items", "items must be a schema object and not an array"))
    elif isinstance(items, dict):
        _check_node(
            items,
            f"{path}.items",
            "embedded" if items.get("x-kubernetes-embedded-resource") is True else "item",
            causes,
        )
    elif type_ == "array":
        causes.append(_required(f"{path}.items", "must be specified"))
    _check_list_type(s, path, causes)
    for junctor in _JUNCTORS:
        branches = s.get(junctor)
        if isinstance(branches, list):
            for i, branch in enumerate(branches):
                if isinstance(branch, dict):
                    # int-or-string may spell its two types out: anyOf [{type: integer}, {type: string}]
                    ok_types = ("integer", "string") if int_or_string and junctor == "anyOf" else ()
                    _check_nested(branch, f"{path}.{junctor}[{i}]", causes, ok_types)
    if isinstance(s.get("not"), dict):
        _check_nested(s["not"], f"{path}.not", causes)
    default = s.get("default")
    if default is not None and level == "root":
        causes.append(_forbidden(f"{path}.default", "must not be set at the root"))


def _check_nested(s: Schema, path: str, causes: list[Cause], ok_types: tuple[str, ...] = ()) -> None:
    """Inside a junctor: value validations only."""
    for key in _NESTED_FORBIDDEN:
        if key == "type" and s.get("type") in ok_types:
            continue
        if key in s:
            if key in ("properties", "additionalProperties", "items"):
                continue  # checked below, recursively
            causes.append(_forbidden(f"{path}.{key}", "must be empty to be structural"))
    for key, child in (s.get("properties") or {}).items():
        if isinstance(child, dict):
            _check_nested(child, key_path(f"{path}.properties", key), causes)
    if isinstance(s.get("items"), dict):
        _check_nested(s["items"], f"{path}.items", causes)
    for junctor in _JUNCTORS:
        for i, branch in enumerate(s.get(junctor) or []):
            if isinstance(branch, dict):
                _check_nested(branch, f"{path}.{junctor}[{i}]", causes)


def _check_metadata(s: Schema, path: str, *, root: bool, causes: list[Cause]) -> None:
    type_ = s.get("type", "")
    if type_ != "object":
        causes.append(_invalid(f"{path}.type", type_, "must be object"))
    if not root:
        return
    allowed = {"type", "properties", "description"}
    props = s.get("properties") or {}
    extra = [k for k in s if k not in allowed]
    if extra or any(k not in ("name", "generateName") for k in props):
        causes.append(
            _forbidden(
                path,
                "must not specify anything other than name and generateName, but metadata is implicitly specified",
            )
        )
    for key, child in props.items():
        if key in ("name", "generateName") and isinstance(child, dict):
            _check_node(child, key_path(f"{path}.properties", key), "field", causes)


def _check_list_type(s: Schema, path: str, causes: list[Cause]) -> None:
    list_type = s.get("x-kubernetes-list-type")
    map_keys = s.get("x-kubernetes-list-map-keys")
    if list_type is None:
        if map_keys is not None:
            causes.append(
                _forbidden(
                    f"{path}.x-kubernetes-list-map-keys",
                    'must be empty if x-kubernetes-list-type is not "map"',
                )
            )
        return
    if list_type not in ("atomic", "set", "map"):
        causes.append(_unsupported(f"{path}.x-kubernetes-list-type", list_type, ["atomic", "set", "map"]))
        return
    if s.get("type") != "array":
        causes.append(
            _invalid(f"{path}.type", s.get("type", ""), "must be array if x-kubernetes-list-type is specified")
        )
        return
    raw_items = s.get("items")
    items: Schema = raw_items if isinstance(raw_items, dict) else {}
    if list_type == "map":
        if not map_keys:
            causes.append(
                _required(f"{path}.x-kubernetes-list-map-keys", "must not be empty if x-kubernetes-list-type is map")
            )
        if items.get("type") != "object":
            causes.append(
                _invalid(
                    f"{path}.items.type",
                    items.get("type", ""),
                    "must be object if parent array's x-kubernetes-list-type is map",
                )
            )
            return
        props = items.get("properties") or {}
        required = set(items.get("required") or ())
        for i, key in enumerate(map_keys or []):
            prop = props.get(key)
            if not isinstance(prop, dict):
                causes.append(
                    _required(
                        f"{path}.items.properties[{key}]",
                        "entries for all x-kubernetes-list-map-keys must be present",
                    )
                )
            elif key not in required and "default" not in prop:
                causes.append(
                    _required(
                        f"{path}.x-kubernetes-list-map-keys[{i}]",
                        "must be required or have a default value",
                    )
                )
    elif map_keys is not None:
        causes.append(
            _forbidden(f"{path}.x-kubernetes-list-map-keys", 'must be empty if x-kubernetes-list-type is not "map"')
        )
    if list_type == "set" and items.get("type") == "object":
        causes.append(
            _invalid(
                f"{path}.items.type", "object", "must be a scalar type if parent array's x-kubernetes-list-type is set"
            )
        )


# ---- pruning and defaulting, compiled -------------------------------------------------------------------
#
# Both walk an object and its schema together, for every write of a custom resource. The schema is compiled
# once into a tree of :class:`_Shape`s holding just what the walks need (known properties, the
# additionalProperties node, the defaults to fill), so the walks do no schema lookups.


class _Shape:
    """One schema node as pruning and defaulting see it."""

    __slots__ = (
        "addl",
        "default",
        "embedded",
        "fill",
        "fills_null",
        "items",
        "keep_unknown",
        "nullable",
        "props",
    )

    def __init__(self, s: Schema) -> None:
        self.embedded = s.get("x-kubernetes-embedded-resource") is True
        self.nullable = bool(s.get("nullable"))
        props = s.get("properties")
        self.props = {k: _Shape(v) for k, v in props.items() if isinstance(v, dict)} if isinstance(props, dict) else {}
        addl = s.get("additionalProperties")
        self.addl = _Shape(addl) if isinstance(addl, dict) else None
        self.keep_unknown = addl is True or s.get("x-kubernetes-preserve-unknown-fields") is True
        items = s.get("items")
        self.items = _Shape(items) if isinstance(items, dict) else None
        #: (whether this node has a default, the default).
        self.default = _default_of(s)
        #: Whether a null where this schema applies takes its default: it has one and is not nullable. A null
        #: list item or map value that does not stays; a null property that does not goes, unless nullable.
        self.fills_null = self.default[0] and not self.nullable
        #: (key, default) of the properties with a default, in schema order: what an absent field becomes.
        self.fill = [
            (k, v["default"])
            for k, v in (props.items() if isinstance(props, dict) else ())
            if isinstance(v, dict) and "default" in v
        ]


def _default_of(s: Any) -> tuple[bool, Any]:
    """(whether the node has a default, the default)."""
    return (True, s["default"]) if isinstance(s, dict) and "default" in s else (False, None)


_shape: SchemaCache[_Shape] = SchemaCache(lambda schema: _Shape(schema))


def prune(obj: Obj, schema: Schema) -> list[str]:
    """Drop (in place) the fields ``schema`` does not specify; the dropped paths, for unknown-field reports.

    The object's own ``apiVersion``, ``kind`` and ``metadata`` stay (metadata is
    ObjectMeta's business, not the schema's).
    """
    dropped: list[str] = []
    _prune_object(obj, _shape(schema), None, dropped, root=True)
    return dropped


#: Where a walk is: None at the top, else (parent, key) with a string key or an int index (rendered only if needed).
_Where = tuple[Any, Any] | None


def _render(where: _Where, key: str) -> str:
    steps: list[Any] = [key]
    while where is not None:
        where, step = where
        steps.append(step)
    out = ""
    for step in reversed(steps):
        if type(step) is int:
            out += f"[{step}]"
        else:
            out = f"{out}.{step}" if out else step
    return out


def _prune_object(value: Obj, s: _Shape, where: _Where, dropped: list[str], *, root: bool) -> None:
    # Hot path (every write of a custom resource): paths are links, rendered only for a dropped field.
    embedded = root or s.embedded
    props, addl, keep_unknown = s.props, s.addl, s.keep_unknown
    doomed: list[str] | None = None
    for key, item in value.items():
        if embedded and key in ("apiVersion", "kind", "metadata"):
            if key == "metadata" and not root and isinstance(item, dict):
                for mkey in [k for k in item if k not in _OBJECT_META_FIELDS]:
                    dropped.append(_render((where, "metadata"), mkey))
                    del item[mkey]
            continue
        child = props.get(key) or addl
        if child is None:
            if not keep_unknown:
                dropped.append(_render(where, key))
                doomed = [key] if doomed is None else [*doomed, key]
            continue
        if type(item) is dict:  # scalars have nothing to prune
            _prune_object(item, child, (where, key), dropped, root=False)
        elif type(item) is list and child.items is not None:
            _prune_list(item, child.items, (where, key), dropped)
    if doomed is not None:
        for key in doomed:
            del value[key]


def _prune_list(value: list[Any], items: _Shape, where: _Where, dropped: list[str]) -> None:
    for i, item in enumerate(value):
        if type(item) is dict:
            _prune_object(item, items, (where, i), dropped, root=False)
        elif type(item) is list and items.items is not None:
            _prune_list(item, items.items, (where, i), dropped)


def apply_defaults(obj: Any, schema: Schema) -> None:
    """Fill (in place) the ``default`` of every absent field whose parent exists, at any depth.

    A ``null`` in a field that is not ``nullable`` takes the default, or goes
    if there is none (upstream's defaulting and null pruning).
    """
    _default(obj, _shape(schema))


def defaults_needed(obj: Any, schema: Schema) -> bool:
    """Whether :func:`apply_defaults` would change ``obj``: an absent field with a default, or a null it
    replaces or drops, at any depth it walks. A read-only walk, so that an object served as stored (most are:
    they were defaulted when written) need not be copied to be defaulted."""
    return _needs_defaults(obj, _shape(schema))


def _needs_defaults(obj: Any, s: _Shape) -> bool:
    """:func:`_default`'s decisions, made without acting on them."""
    if type(obj) is dict:
        for key, _ in s.fill:
            if key not in obj:
                return True
        props, addl = s.props, s.addl
        for key, value in obj.items():
            child = props.get(key)
            if child is None:
                if addl is None:
                    continue
                child = addl
                if value is None:
                    if child.fills_null:
                        return True
                    continue
            elif value is None:
                if not child.nullable:
                    return True  # it takes the default, or goes
                continue
            if (type(value) is dict or type(value) is list) and _needs_defaults(value, child):
                return True
    elif type(obj) is list and s.items is not None:
        items = s.items
        for item in obj:
            if item is None:
                if items.fills_null:
                    return True
            elif (type(item) is dict or type(item) is list) and _needs_defaults(item, items):
                return True
    return False


def _copy(default: Any) -> Any:
    """A default to place in an object: its own copy, unless it is immutable (a scalar)."""
    return default if default is None or type(default) in (str, int, float, bool) else copy.deepcopy(default)


def _default(obj: Any, s: _Shape) -> None:
    if type(obj) is dict:
        _default_fields(obj, s, None, walked=False)
    elif type(obj) is list and s.items is not None:
        items = s.items
        for i, item in enumerate(obj):
            if item is None and items.fills_null:
                obj[i] = _copy(items.default[1])
            elif type(item) is dict or type(item) is list:
                _default(item, items)


def _default_fields(obj: Obj, s: _Shape, skipped: list[str] | None, *, walked: bool) -> None:
    """One object's defaults and nulls, then its fields' (``walked``: the caller defaulted the fields it pruned,
    so only new defaults, replaced nulls and the ``skipped`` fields are walked here)."""
    filled: list[str] | None = None
    for key, default in s.fill:
        if key not in obj:
            obj[key] = _copy(default)
            if walked:
                filled = [key] if filled is None else [*filled, key]
    props, addl = s.props, s.addl
    nulls: list[str] | None = None
    for key, value in obj.items():  # (values may be replaced while iterating, keys stay)
        child = props.get(key)
        if child is None:
            if addl is None:
                continue
            child = addl
            if value is None:
                if child.fills_null:
                    obj[key] = _copy(child.default[1])
                continue
        elif value is None:  # a null in a field that is not nullable takes the default, or goes
            if child.nullable:
                continue
            if not child.fills_null:
                nulls = [key] if nulls is None else [*nulls, key]
                continue
            value = obj[key] = _copy(child.default[1])
        elif walked and not ((filled is not None and key in filled) or (skipped is not None and key in skipped)):
            continue  # pruned and defaulted by the walk that called
        if type(value) is dict or type(value) is list:
            _default(value, child)
    if nulls is not None:
        for key in nulls:
            del obj[key]


def prune_and_default(obj: Obj, schema: Schema) -> list[str]:
    """:func:`prune`, then :func:`apply_defaults`, in one walk (the same object, the same dropped paths).

    What decoding a custom resource does to it; one walk instead of two, since every write does it.
    """
    dropped: list[str] = []
    _prune_default_object(obj, _shape(schema), None, dropped, root=True)
    return dropped


def _prune_default_object(value: Obj, s: _Shape, where: _Where, dropped: list[str], *, root: bool) -> None:
    # _prune_object's walk, each child it walks pruned and defaulted below it; then this object's defaults.
    embedded = root or s.embedded
    props, addl, keep_unknown = s.props, s.addl, s.keep_unknown
    doomed: list[str] | None = None
    skipped: list[str] | None = None  # keys the pruning leaves alone (apiVersion, kind, metadata)
    for key, item in value.items():
        if embedded and key in ("apiVersion", "kind", "metadata"):
            if key == "metadata" and not root and isinstance(item, dict):
                for mkey in [k for k in item if k not in _OBJECT_META_FIELDS]:
                    dropped.append(_render((where, "metadata"), mkey))
                    del item[mkey]
            skipped = [key] if skipped is None else [*skipped, key]
            continue
        child = props.get(key) or addl
        if child is None:
            if not keep_unknown:
                dropped.append(_render(where, key))
                doomed = [key] if doomed is None else [*doomed, key]
            continue
        if type(item) is dict:
            _prune_default_object(item, child, (where, key), dropped, root=False)
        elif type(item) is list and child.items is not None:
            _prune_default_list(item, child, (where, key), dropped)
    if doomed is not None:
        for key in doomed:
            del value[key]
    _default_fields(value, s, skipped, walked=True)


def _prune_default_list(value: list[Any], s: _Shape, where: _Where, dropped: list[str]) -> None:
    items = s.items
    assert items is not None
    for i, item in enumerate(value):
        if type(item) is dict:
            _prune_default_object(item, items, (where, i), dropped, root=False)
        elif type(item) is list:
            if items.items is not None:
                _prune_default_list(item, items, (where, i), dropped)
        elif item is None and items.fills_null:
            value[i] = _copy(items.default[1])
