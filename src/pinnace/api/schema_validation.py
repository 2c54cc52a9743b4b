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
def _pattern(p: str) -> re.Pattern[str] | None:
    try:
        return re.compile(p)
    except re.error:
        return None


# ---- the walk --------------------------------------------------------------------------------------------


def validate(obj: Any, schema: Schema, path: str = "") -> list[Cause]:
    """Every way ``obj`` breaks ``schema`` (the root's apiVersion, kind and metadata are not checked here)."""
    causes: list[Cause] = []
    _object(obj, schema, path, causes, root=True)
    return causes


def _value(value: Any, s: Schema, path: str, causes: list[Cause]) -> None:
    name = path or "."
    if value is None:
        if s.get("nullable"):
            return
        if s.get("x-kubernetes-int-or-string"):
            causes.append(_type_invalid(path, "null", f'{name} in body must be of type integer,string: "null"'))
            return
        type_ = s.get("type")
        if type_:
            causes.append(_type_invalid(path, "null", f'{name} in body must be of type {type_}: "null"'))
        return
    actual = json_type(value)
    if s.get("x-kubernetes-int-or-string"):
        if actual not in ("integer", "string"):
            causes.append(_type_invalid(path, actual, f'{name} in body must be of type integer,string: "{actual}"'))
            return
    else:
        type_ = s.get("type")
        ok = not type_ or type_ == actual or (type_ == "number" and actual == "integer")
        if not ok:
            causes.append(_type_invalid(path, actual, f'{name} in body must be of type {type_}: "{actual}"'))
            return
    before = len(causes)
    if isinstance(value, str):
        _string(value, s, path, name, causes)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _number(value, s, path, name, causes)
    elif isinstance(value, list):
        _array(value, s, path, name, causes)
    elif isinstance(value, dict):
        _object(value, s, path, causes, root=False)
    enum = s.get("enum")
    if isinstance(enum, list) and value not in enum:
        allowed = [e if isinstance(e, str) else orjson.dumps(e).decode() for e in enum]
        causes.append(
            Cause(
                errors.CAUSE_NOT_SUPPORTED,
                f"Unsupported value: {go_value(value)}: supported values: " + ", ".join(f'"{a}"' for a in allowed),
                path,
            )
        )
    if len(causes) == before and ("allOf" in s or "anyOf" in s or "oneOf" in s or "not" in s):
        _junctors(value, s, path, name, causes)


def _string(value: str, s: Schema, path: str, name: str, causes: list[Cause]) -> None:
    length = len(value)
    max_len = s.get("maxLength")
    if isinstance(max_len, int) and length > max_len:
        causes.append(Cause(errors.CAUSE_TOO_LONG, f"Too long: may not be more than {max_len} bytes", path))
    min_len = s.get("minLength")
    if isinstance(min_len, int) and length < min_len:
        causes.append(_invalid(path, value, f"{name} in body should be at least {min_len} chars long"))
    pattern = s.get("pattern")
    if isinstance(pattern, str):
        compiled = _pattern(pattern)
        if compiled is not None and not compiled.search(value):
            causes.append(_invalid(path, value, f"{name} in body should match '{pattern}'"))
    fmt = s.get("format")
    if isinstance(fmt, str) and fmt and not format_ok(fmt, value):
        causes.append(_type_invalid(path, value, f"{name} in body must be of type {fmt}: {go_value(value)}"))


def _number(value: float, s: Schema, path: str, name: str, causes: list[Cause]) -> None:
    maximum = s.get("maximum")
    if isinstance(maximum, (int, float)):
        if s.get("exclusiveMaximum") and value >= maximum:
            causes.append(_invalid(path, value, f"{name} in body should be less than {_num(maximum)}"))
        elif value > maximum:
            causes.append(_invalid(path, value, f"{name} in body should be less than or equal to {_num(maximum)}"))
    minimum = s.get("minimum")
    if isinstance(minimum, (int, float)):
        if s.get("exclusiveMinimum") and value <= minimum:
            causes.append(_invalid(path, value, f"{name} in body should be greater than {_num(minimum)}"))
        elif value < minimum:
            causes.append(_invalid(path, value, f"{name} in body should be greater than or equal to {_num(minimum)}"))
    multiple = s.get("multipleOf")
    if isinstance(multiple, (int, float)) and multiple > 0:
        quotient = value / multiple
        if not math.isclose(quotient, round(quotient), rel_tol=0, abs_tol=1e-9):
            causes.append(_invalid(path, value, f"{name} in body should be a multiple of {_num(multiple)}"))


def _array(value: list[Any], s: Schema, path: str, name: str, causes: list[Cause]) -> None:
    n = len(value)
    max_items = s.get("maxItems")
    if isinstance(max_items, int) and n > max_items:
        causes.append(Cause(_TOO_MANY, f"Too many: {n}: must have at most {max_items} items", path))
    min_items = s.get("minItems")
    if isinstance(min_items, int) and n < min_items:
        causes.append(_invalid(path, n, f"{name} in body should have at least {min_items} items"))
    items = s.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            _value(item, items, f"{path}[{i}]", causes)
    list_type = s.get("x-kubernetes-list-type")
    if list_type == "set":
        seen: list[Any] = []
        for i, item in enumerate(value):
            if item in seen:
                causes.append(Cause(errors.CAUSE_DUPLICATE, f"Duplicate value: {go_value(item)}", f"{path}[{i}]"))
            else:
                seen.append(item)
    elif list_type == "map":
        keys = [k for k in s.get("x-kubernetes-list-map-keys") or [] if isinstance(k, str)]
        seen_keys: set[bytes] = set()
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            key_values = {k: item.get(k) for k in keys if k in item}
            encoded = orjson.dumps(key_values, option=orjson.OPT_SORT_KEYS)
            if encoded in seen_keys:
                shown = (
                    "map[string]interface {}{" + ", ".join(f'"{k}":{go_value(v)}' for k, v in key_values.items()) + "}"
                )
                causes.append(Cause(errors.CAUSE_DUPLICATE, f"Duplicate value: {shown}", f"{path}[{i}]"))
            else:
                seen_keys.add(encoded)


def _object(value: Any, s: Schema, path: str, causes: list[Cause], *, root: bool) -> None:
    if not isinstance(value, dict):
        return
    embedded = root or s.get("x-kubernetes-embedded-resource") is True
    name = path or "."
    n = len(value)
    max_props = s.get("maxProperties")
    if isinstance(max_props, int) and n > max_props:
        causes.append(Cause(_TOO_MANY, f"Too many: {n}: must have at most {max_props} items", path))
    min_props = s.get("minProperties")
    if isinstance(min_props, int) and n < min_props:
        causes.append(_invalid(path, n, f"{name} in body should have at least {min_props} properties"))
    for req in s.get("required") or ():
        if req not in value and not (root and req in ("apiVersion", "kind", "metadata")):
            causes.append(Cause(errors.CAUSE_REQUIRED, "Required value", f"{path}.{req}" if path else req))
    if embedded and not root:
        for key in ("apiVersion", "kind"):
            if not value.get(key):
                causes.append(Cause(errors.CAUSE_REQUIRED, "Required value: must not be empty", f"{path}.{key}"))
    props = s.get("properties")
    addl = s.get("additionalProperties")
    for key, item in value.items():
        if embedded and key in ("apiVersion", "kind", "metadata"):
            if key != "metadata" and item is not None and not isinstance(item, str):
                causes.append(
                    _type_invalid(f"{path}.{key}" if path else key, json_type(item), "must be of type string")
                )
            if root or key != "metadata":
                continue
        child: Any = None
        if isinstance(props, dict):
            child = props.get(key)
        if child is None and isinstance(addl, dict):
            child = addl
        if isinstance(child, dict):
            _value(item, child, f"{path}.{key}" if path else key, causes)


def _junctors(value: Any, s: Schema, path: str, name: str, causes: list[Cause]) -> None:
    for branch in s.get("allOf") or ():
        if isinstance(branch, dict):
            _value(value, branch, path, causes)
    any_of = [b for b in s.get("anyOf") or () if isinstance(b, dict)]
    if any_of and not any(not _branch_errors(value, b, path) for b in any_of):
        causes.append(_invalid(path, value, f"{name} in body must be of type {_branch_types(any_of)}"))
    one_of = [b for b in s.get("oneOf") or () if isinstance(b, dict)]
    if one_of:
        matching = sum(1 for b in one_of if not _branch_errors(value, b, path))
        if matching != 1:
            causes.append(_invalid(path, value, f"{name} in body must validate one and only one schema (oneOf)"))
    not_ = s.get("not")
    if isinstance(not_, dict) and not _branch_errors(value, not_, path):
        causes.append(_invalid(path, value, f"{name} in body should not be valid against schema"))


def _branch_errors(value: Any, s: Schema, path: str) -> list[Cause]:
    out: list[Cause] = []
    _value(value, s, path, out)
    return out


def _branch_types(branches: list[Schema]) -> str:
    types = [str(b.get("type")) for b in branches if b.get("type")]
    return ",".join(types) if types else "anyOf"
