"""Validating a custom resource against its structural schema (kube-openapi's validator, as CRDs use it).

:func:`validate` walks the object and the schema together and reports every
violated field, not just the first: type, nullable, enum, pattern, format
(the formats upstream checks), minimum/maximum and their exclusive forms,
multipleOf, min/maxLength, min/maxItems, min/maxProperties, required,
``x-kubernetes-int-or-string``, ``x-kubernetes-embedded-resource`` and the
uniqueness of ``x-kubernetes-list-type: set`` items and ``map`` keys. Messages
are upstream's: ``spec.replicas: Invalid value: "string": spec.replicas in
body must be of type integer: "string"``.

The object is expected pruned and defaulted already (see
:mod:`pinnace.api.structural`); ``metadata`` is ObjectMeta's to validate.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import math
import re
import uuid
from datetime import date, datetime
from typing import Any

import orjson

from pinnace.api import errors
from pinnace.api.errors import Cause
from pinnace.api.regex import Regex, RegexError, compile_pattern
from pinnace.api.schemacache import SchemaCache

Schema = dict[str, Any]

#: Upstream's ``field.ErrorTypeTooMany``.
_TOO_MANY = "FieldValueTooMany"


def json_type(value: Any) -> str:
    """The JSON type name of a value, as the validator reports it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def go_value(value: Any) -> str:
    """A bad value as upstream's field errors print it."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    return orjson.dumps(value).decode()


def _num(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _type_invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause(errors.CAUSE_TYPE_INVALID, f"Invalid value: {go_value(value)}: {detail}", path)


def _invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause(errors.CAUSE_INVALID, f"Invalid value: {go_value(value)}: {detail}", path)


# ---- formats (kube-openapi's strfmt registry, the ones apiextensions keeps) --------------------------

_HOSTNAME = re.compile(
    r"^(?=.{1,255}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$|^([0-9A-Fa-f]{2}[:-]){7}[0-9A-Fa-f]{2}$")
_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.I)
_UUID_V = {
    "uuid3": re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-3[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I),
    "uuid4": re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.I),
    "uuid5": re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.I),
}
_DURATION = re.compile(r"^(-?\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d|w))+$")
_BSON = re.compile(r"^[0-9a-fA-F]{24}$")
_HEXCOLOR = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_RGBCOLOR = re.compile(r"^rgb\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$")


def _is_datetime(v: str) -> bool:
    if not _DATETIME.match(v):
        return False
    try:
        datetime.fromisoformat(v.replace("z", "Z").replace("Z", "+00:00").replace("t", "T"))
    except ValueError:
        return False
    return True


def _is_date(v: str) -> bool:
    try:
        date.fromisoformat(v)
    except ValueError:
        return False
    return len(v) == 10


def _is_ip(v: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(v).version == version
    except ValueError:
        return False


def _is_cidr(v: str) -> bool:
    try:
        ipaddress.ip_network(v, strict=False)
    except ValueError:
        return False
    return "/" in v


def _is_byte(v: str) -> bool:
    try:
        base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _is_uuid(v: str) -> bool:
    if not _UUID.match(v):
        return False
    try:
        uuid.UUID(v)
    except ValueError:
        return False
    return True


_FORMATS: dict[str, Any] = {
    "bsonobjectid": _BSON.match,
    "email": _EMAIL.match,
    "hostname": lambda v: len(v) <= 255 and _HOSTNAME.match(v),
    "ipv4": lambda v: _is_ip(v, 4),
    "ipv6": lambda v: _is_ip(v, 6),
    "cidr": _is_cidr,
    "mac": _MAC.match,
    "uuid": _is_uuid,
    "uuid3": _UUID_V["uuid3"].match,
    "uuid4": _UUID_V["uuid4"].match,
    "uuid5": _UUID_V["uuid5"].match,
    "hexcolor": _HEXCOLOR.match,
    "rgbcolor": _RGBCOLOR.match,
    "byte": _is_byte,
    "date": _is_date,
    "date-time": _is_datetime,
    "datetime": _is_datetime,
    "duration": _DURATION.match,
}


def format_ok(fmt: str, value: str) -> bool:
    """Whether a string satisfies a format (unknown formats always do, as upstream)."""
    check = _FORMATS.get(fmt)
    return check is None or bool(check(value))


@functools.lru_cache(maxsize=1024)
def _pattern(p: str) -> Regex | None:
    """The schema's pattern compiled as upstream's Go (RE2: linear time); None if it does not compile (the CRD's
    own validation refuses such a pattern)."""
    try:
        return compile_pattern(p)
    except RegexError:
        return None


# ---- the walk, compiled ----------------------------------------------------------------------------------
#
# A schema is compiled once into a tree of :class:`_Node`s that hold only the checks it names, so the walk
# over an object does no schema lookups. Field paths are built only for errors: on the way down a child's
# path is the pair (parent path, key or index), resolved to a string by :func:`_path` when a check fails.

Path = Any  # str, or (parent Path, str key | int index)


def _path(path: Path) -> str:
    if type(path) is str:
        return path
    parent, key = path
    base = _path(parent)
    if type(key) is int:
        return f"{base}[{key}]"
    return f"{base}.{key}" if base else str(key)


def _in_body(where: Path, value: Any, detail: str, *, type_error: bool = False) -> Cause:
    """An Invalid (or type-invalid) cause at ``where``, worded "<path> in body <detail>" as upstream's."""
    path = _path(where)
    return (_type_invalid if type_error else _invalid)(path, value, f"{path or '.'} in body {detail}")


def validate(obj: Any, schema: Schema, path: str = "") -> list[Cause]:
    """Every way ``obj`` breaks ``schema`` (the root's apiVersion, kind and metadata are not checked here)."""
    causes: list[Cause] = []
    compile_schema(schema).check_object(obj, path, causes, root=True)
    return causes


def compile_schema(schema: Schema) -> _Node:
    """The compiled form of ``schema`` (made once per schema dict, which must not change afterwards)."""
    return _compiled(schema)


def _child(s: Any) -> _Node | None:
    return _Node(s) if isinstance(s, dict) else None


def _accepted_types(s: Schema) -> frozenset[str] | None:
    if s.get("x-kubernetes-int-or-string"):
        return frozenset({"integer", "string"})
    type_ = s.get("type")
    if not type_:
        return None
    return frozenset({"number", "integer"}) if type_ == "number" else frozenset({type_})


class _Node:
    """One schema node: what a value there must satisfy, and the nodes below it."""

    __slots__ = (
        "accepted",
        "addl",
        "all_of",
        "any_of",
        "array_checks",
        "direct",
        "embedded",
        "enum",
        "has_junctors",
        "int_or_string",
        "items",
        "list_map_keys",
        "list_type",
        "not_",
        "nullable",
        "number_checks",
        "object_checks",
        "one_of",
        "props",
        "required",
        "schema",
        "string_checks",
        "trivial",
        "type_name",
    )

    def __init__(self, s: Schema) -> None:
        self.schema = s
        self.nullable = bool(s.get("nullable"))
        self.int_or_string = bool(s.get("x-kubernetes-int-or-string"))
        self.type_name = "integer,string" if self.int_or_string else str(s.get("type") or "")
        self.accepted = _accepted_types(s)
        enum = s.get("enum")
        self.enum = enum if isinstance(enum, list) else None
        self.string_checks = any(k in s for k in ("maxLength", "minLength", "pattern", "format"))
        self.number_checks = any(k in s for k in ("maximum", "minimum", "multipleOf"))
        self.array_checks = any(k in s for k in ("maxItems", "minItems"))
        self.items = _child(s.get("items"))
        list_type = s.get("x-kubernetes-list-type")
        self.list_type = list_type if list_type in ("set", "map") else None
        self.list_map_keys = [k for k in s.get("x-kubernetes-list-map-keys") or [] if isinstance(k, str)]
        self.embedded = s.get("x-kubernetes-embedded-resource") is True
        self.object_checks = any(k in s for k in ("maxProperties", "minProperties"))
        self.required = tuple(s.get("required") or ())
        props = s.get("properties")
        self.props = {k: _Node(v) for k, v in props.items() if isinstance(v, dict)} if isinstance(props, dict) else {}
        self.addl = _child(s.get("additionalProperties"))
        self.all_of = [_Node(b) for b in s.get("allOf") or () if isinstance(b, dict)]
        self.any_of = [_Node(b) for b in s.get("anyOf") or () if isinstance(b, dict)]
        self.one_of = [_Node(b) for b in s.get("oneOf") or () if isinstance(b, dict)]
        self.not_ = _child(s.get("not"))
        self.has_junctors = any(k in s for k in ("allOf", "anyOf", "oneOf", "not"))
        #: The Python types of the scalar values this node has nothing to say about (no call needed for them).
        self.trivial: frozenset[type] = frozenset()
        if self.enum is None and not self.has_junctors and self.accepted is not None:
            plain: set[type] = set()
            if "string" in self.accepted and not self.string_checks:
                plain.add(str)
            if "integer" in self.accepted and not self.number_checks:
                plain.add(int)
            if "boolean" in self.accepted:
                plain.add(bool)
            self.trivial = frozenset(plain)
        #: The container type whose checks :meth:`check` would only pass on (no enum, no junctors): a parent
        #: calls them directly for a value of that type.
        self.direct: type | None = None
        if self.enum is None and not self.has_junctors and self.accepted is not None:
            if "object" in self.accepted:
                self.direct = dict
            elif "array" in self.accepted:
                self.direct = list

    # -- any value -------------------------------------------------------------------------------------------
    def check(self, value: Any, path: Path, causes: list[Cause]) -> None:
        """Append to ``causes`` every way ``value`` (at ``path``) breaks this node."""
        t = type(value)
        if t is str:
            actual = "string"
        elif t is dict:
            actual = "object"
        elif t is int:
            actual = "integer"
        elif t is list:
            actual = "array"
        elif t is bool:
            actual = "boolean"
        elif t is float:
            actual = "integer" if value.is_integer() else "number"
        elif value is None:
            self._null(path, causes)
            return
        else:
            actual = json_type(value)
        if self.accepted is not None and actual not in self.accepted:
            p = _path(path)
            causes.append(_type_invalid(p, actual, f'{p or "."} in body must be of type {self.type_name}: "{actual}"'))
            return
        before = len(causes) if self.has_junctors else 0
        if t is dict:
            self.check_object(value, path, causes, root=False)
        elif t is str:
            if self.string_checks:
                _string(value, self.schema, path, causes)
        elif t is list:
            self._array(value, path, causes)
        elif self.number_checks and t is not bool and (t is int or t is float):
            _number(value, self.schema, path, causes)
        if self.enum is not None and value not in self.enum:
            _not_supported(value, self.enum, _path(path), causes)
        if self.has_junctors and len(causes) == before:
            self._junctors(value, _path(path), causes)

    def _null(self, path: Path, causes: list[Cause]) -> None:
        if self.nullable or not self.type_name:
            return
        p = _path(path)
        causes.append(_type_invalid(p, "null", f'{p or "."} in body must be of type {self.type_name}: "null"'))

    # -- arrays ----------------------------------------------------------------------------------------------
    def _array(self, value: list[Any], path: Path, causes: list[Cause]) -> None:
        if self.array_checks:
            _array_size(value, self.schema, path, causes)
        items = self.items
        if items is not None:
            trivial, direct = items.trivial, items.direct
            for i, item in enumerate(value):
                t = type(item)
                if t is direct and t is dict:
                    items.check_object(item, (path, i), causes, root=False)
                elif t not in trivial:
                    items.check(item, (path, i), causes)
        if self.list_type == "set":
            seen: list[Any] = []
            for i, item in enumerate(value):
                if item in seen:
                    causes.append(Cause(errors.CAUSE_DUPLICATE, f"Duplicate value: {go_value(item)}", _path((path, i))))
                else:
                    seen.append(item)
        elif self.list_type == "map":
            _unique_map_keys(value, self.list_map_keys, path, causes)

    # -- objects ---------------------------------------------------------------------------------------------
    def check_object(self, value: Any, path: Path, causes: list[Cause], *, root: bool) -> None:
        """The checks of an object node (the root's apiVersion, kind and metadata are not the schema's)."""
        if type(value) is not dict:
            return
        embedded = root or self.embedded
        if self.object_checks:
            _object_size(value, self.schema, path, causes)
        for req in self.required:
            if req not in value and not (root and req in ("apiVersion", "kind", "metadata")):
                causes.append(Cause(errors.CAUSE_REQUIRED, "Required value", _path((path, req))))
        if embedded and not root:
            for key in ("apiVersion", "kind"):
                if not value.get(key):
                    causes.append(Cause(errors.CAUSE_REQUIRED, "Required value: must not be empty", _path((path, key))))
        props, addl = self.props, self.addl
        for key, item in value.items():
            if embedded and key in ("apiVersion", "kind", "metadata"):
                if key != "metadata" and item is not None and not isinstance(item, str):
                    causes.append(_type_invalid(_path((path, key)), json_type(item), "must be of type string"))
                if root or key != "metadata":
                    continue
            child = props.get(key) or addl
            if child is None:
                continue
            t = type(item)
            if t is child.direct:  # an object or an array where one belongs: straight to its checks
                if t is dict:
                    child.check_object(item, (path, key), causes, root=False)
                else:
                    child._array(item, (path, key), causes)
            elif t not in child.trivial:
                child.check(item, (path, key), causes)

    # -- allOf, anyOf, oneOf, not ----------------------------------------------------------------------------
    def _junctors(self, value: Any, path: str, causes: list[Cause]) -> None:
        name = path or "."
        for branch in self.all_of:
            branch.check(value, path, causes)
        if self.any_of and not any(not _branch_errors(value, b, path) for b in self.any_of):
            types = [str(b.schema.get("type")) for b in self.any_of if b.schema.get("type")]
            shown = ",".join(types) if types else "anyOf"
            causes.append(_invalid(path, value, f"{name} in body must be of type {shown}"))
        if self.one_of:
            matching = sum(1 for b in self.one_of if not _branch_errors(value, b, path))
            if matching != 1:
                causes.append(_invalid(path, value, f"{name} in body must validate one and only one schema (oneOf)"))
        if self.not_ is not None and not _branch_errors(value, self.not_, path):
            causes.append(_invalid(path, value, f"{name} in body should not be valid against schema"))


_compiled: SchemaCache[_Node] = SchemaCache(lambda schema: _Node(schema))


def _branch_errors(value: Any, node: _Node, path: str) -> list[Cause]:
    out: list[Cause] = []
    node.check(value, path, out)
    return out


def _not_supported(value: Any, enum: list[Any], path: str, causes: list[Cause]) -> None:
    allowed = [e if isinstance(e, str) else orjson.dumps(e).decode() for e in enum]
    causes.append(
        Cause(
            errors.CAUSE_NOT_SUPPORTED,
            f"Unsupported value: {go_value(value)}: supported values: " + ", ".join(f'"{a}"' for a in allowed),
            path,
        )
    )


def _string(value: str, s: Schema, where: Path, causes: list[Cause]) -> None:
    length = len(value)
    max_len = s.get("maxLength")
    if isinstance(max_len, int) and length > max_len:
        causes.append(errors.too_long(_path(where), max_len))
    min_len = s.get("minLength")
    if isinstance(min_len, int) and length < min_len:
        causes.append(_in_body(where, value, f"should be at least {min_len} chars long"))
    pattern = s.get("pattern")
    if isinstance(pattern, str):
        compiled = _pattern(pattern)
        if compiled is not None and not compiled.search(value):
            causes.append(_in_body(where, value, f"should match '{pattern}'"))
    fmt = s.get("format")
    if isinstance(fmt, str) and fmt and not format_ok(fmt, value):
        causes.append(_in_body(where, value, f"must be of type {fmt}: {go_value(value)}", type_error=True))


def _number(value: float, s: Schema, where: Path, causes: list[Cause]) -> None:
    maximum = s.get("maximum")
    if isinstance(maximum, (int, float)):
        if s.get("exclusiveMaximum") and value >= maximum:
            causes.append(_in_body(where, value, f"should be less than {_num(maximum)}"))
        elif value > maximum:
            causes.append(_in_body(where, value, f"should be less than or equal to {_num(maximum)}"))
    minimum = s.get("minimum")
    if isinstance(minimum, (int, float)):
        if s.get("exclusiveMinimum") and value <= minimum:
            causes.append(_in_body(where, value, f"should be greater than {_num(minimum)}"))
        elif value < minimum:
            causes.append(_in_body(where, value, f"should be greater than or equal to {_num(minimum)}"))
    multiple = s.get("multipleOf")
    if isinstance(multiple, (int, float)) and multiple > 0:
        quotient = value / multiple
        if not math.isclose(quotient, round(quotient), rel_tol=0, abs_tol=1e-9):
            causes.append(_in_body(where, value, f"should be a multiple of {_num(multiple)}"))


def _array_size(value: list[Any], s: Schema, where: Path, causes: list[Cause]) -> None:
    n = len(value)
    max_items = s.get("maxItems")
    if isinstance(max_items, int) and n > max_items:
        causes.append(Cause(_TOO_MANY, f"Too many: {n}: must have at most {max_items} items", _path(where)))
    min_items = s.get("minItems")
    if isinstance(min_items, int) and n < min_items:
        causes.append(_in_body(where, n, f"should have at least {min_items} items"))


def _unique_map_keys(value: list[Any], keys: list[str], path: Path, causes: list[Cause]) -> None:
    seen_keys: set[Any] = set()
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            continue
        if len(keys) == 1 and type(found := item.get(keys[0])) is str:
            encoded: Any = found  # the usual single string key: equal as JSON exactly when equal as str
        else:
            encoded = orjson.dumps({k: item.get(k) for k in keys if k in item}, option=orjson.OPT_SORT_KEYS)
        if encoded in seen_keys:
            key_values = {k: item.get(k) for k in keys if k in item}
            shown = "map[string]interface {}{" + ", ".join(f'"{k}":{go_value(v)}' for k, v in key_values.items()) + "}"
            causes.append(Cause(errors.CAUSE_DUPLICATE, f"Duplicate value: {shown}", _path((path, i))))
        else:
            seen_keys.add(encoded)


def _object_size(value: dict[str, Any], s: Schema, where: Path, causes: list[Cause]) -> None:
    n = len(value)
    max_props = s.get("maxProperties")
    if isinstance(max_props, int) and n > max_props:
        causes.append(Cause(_TOO_MANY, f"Too many: {n}: must have at most {max_props} items", _path(where)))
    min_props = s.get("minProperties")
    if isinstance(min_props, int) and n < min_props:
        causes.append(_in_body(where, n, f"should have at least {min_props} properties"))
