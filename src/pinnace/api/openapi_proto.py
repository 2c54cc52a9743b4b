"""The OpenAPI v2 document in gnostic's protobuf form (``openapi.v2.Document``), as kube-apiserver serves it.

kubectl asks ``/openapi/v2`` for
``application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` when a kind it
must validate is missing from the OpenAPI v3 documents it already fetched (a
CRD applied in the same file as its objects). The message types and field
numbers come from ``data/openapi_v2_proto.json``, extracted from the
descriptor embedded in kubectl by ``tools/extract_openapi_v2_proto.py``.

gnostic maps the JSON document onto its messages with a few rules, followed
here: keys become snake_case fields (``$ref`` is ``_ref``); ``x-`` keys become
``vendor_extension`` entries whose value is the extension's YAML text (JSON is
YAML); maps are repeated ``Named…`` messages (name, value) in document order;
values of free form (``default``, ``enum``, ``example``) are ``Any`` with YAML
text; and some places choose between messages by content (a parameter ``in:
body`` or not, ``$ref`` or inline, ``additionalProperties`` boolean or
schema, ``type`` a string or a list).
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
import struct
from typing import Any

import orjson

_ANY = "google.protobuf.Any"
#: Field: (number, kind, repeated, oneof).
_Field = tuple[int, str, bool, str]


@functools.cache
def _messages() -> dict[str, dict[str, _Field]]:
    text = importlib.resources.files("pinnace.api.data").joinpath("openapi_v2_proto.json").read_text()
    raw: dict[str, dict[str, list[Any]]] = json.loads(text)["messages"]
    return {name: {f: (v[0], v[1], bool(v[2]), v[3]) for f, v in fields.items()} for name, fields in raw.items()}


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


@functools.cache
def _snake(key: str) -> str:
    return "_ref" if key == "$ref" else _CAMEL.sub("_", key).lower()


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64: ten bytes of two's complement
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _delimited(number: int, payload: bytes) -> bytes:
    return _tag(number, 2) + _varint(len(payload)) + payload


def _yaml(value: Any) -> bytes:
    """An ``Any`` holding a JSON value as YAML text (gnostic's form for values of free form)."""
    text = orjson.dumps(value) + b"\n"
    return _delimited(2, text)


def _scalar(number: int, kind: str, value: Any) -> bytes:
    if kind == "string":
        return _delimited(number, str(value).encode())
    if kind == "bool":
        return _tag(number, 0) + (b"\x01" if value else b"\x00")
    if kind == "int":
        return _tag(number, 0) + _varint(int(value))
    if kind == "double":
        return _tag(number, 1) + struct.pack("<d", float(value))
    raise ValueError(f"no encoding for {kind}")


def encode(message: str, value: Any) -> bytes:
    """``value`` (the JSON form) as the gnostic message ``message``."""
    if message in ("Any", _ANY):
        return _yaml(value)
    choose = _CHOICES.get(message)
    if choose is not None:
        chosen: bytes = choose(value)
        return chosen
    fields = _messages()[message]
    if set(fields) == {"value"} and fields["value"][2]:  # TypeItem, StringArray: a value or a list of them
        number, kind, _, _ = fields["value"]
        return b"".join(_field(number, kind, item) for item in (value if isinstance(value, list) else [value]))
    if set(fields) == {"additional_properties"}:  # a map, as repeated Named… entries in document order
        number, named, _, _ = fields["additional_properties"]
        return b"".join(_entry(number, named, key, item) for key, item in value.items())
    if not isinstance(value, dict):
        raise ValueError(f"{message} must be an object, not {type(value).__name__}")
    out: list[tuple[int, bytes]] = []
    for key, item in value.items():
        if item is None:
            continue
        if key.startswith("x-") and "vendor_extension" in fields:
            number, named, _, _ = fields["vendor_extension"]
            out.append((number, _entry(number, named, key, item)))
            continue
        spec = fields.get(_snake(key))
        if spec is None:
            open_keys = _OPEN_KEYS.get(message)
            if open_keys is not None:  # Paths' "/…" keys, Responses' codes
                number = fields[open_keys][0]
                out.append((number, _entry(number, fields[open_keys][1], key, item)))
            continue  # else gnostic has no field for it: a protobuf client cannot see it either
        number, kind, repeated, _ = spec
        if repeated:
            out.extend(
                (number, _field(number, kind, element)) for element in (item if isinstance(item, list) else [item])
            )
        else:
            out.append((number, _field(number, kind, item)))
    out.sort(key=lambda pair: pair[0])  # Go's marshaller writes fields in number order (a stable sort)
    return b"".join(chunk for _, chunk in out)


def _entry(number: int, named_kind: str, name: str, value: Any) -> bytes:
    """One ``Named…`` entry (name=1, value=2) of a map, as field ``number`` of its parent."""
    value_number, value_kind, _, _ = _messages()[named_kind.removeprefix("message:")]["value"]
    return _delimited(number, _delimited(1, name.encode()) + _field(value_number, value_kind, value))


def _field(number: int, kind: str, value: Any) -> bytes:
    if kind.startswith("message:"):
        return _delimited(number, encode(kind.removeprefix("message:"), value))
    return _scalar(number, kind, value)


#: Messages whose other keys are entries of a repeated Named… field: Paths' ``/…`` keys, response codes.
_OPEN_KEYS = {"Paths": "path", "Responses": "response_code"}


def _reference_or(inline: str, number_inline: int, number_ref: int) -> Any:
    def choose(value: Any) -> bytes:
        if isinstance(value, dict) and "$ref" in value:
            return _delimited(number_ref, encode("JsonReference", value))
        return _delimited(number_inline, encode(inline, value))

    return choose


def _parameter(value: Any) -> bytes:
    where = value.get("in") if isinstance(value, dict) else None
    if where == "body":
        return _delimited(1, encode("BodyParameter", value))
    sub = {
        "header": (1, "HeaderParameterSubSchema"),
        "formData": (2, "FormDataParameterSubSchema"),
        "query": (3, "QueryParameterSubSchema"),
        "path": (4, "PathParameterSubSchema"),
    }.get(str(where))
    if sub is None:
        raise ValueError(f"a parameter with in={where!r} has no gnostic form")
    return _delimited(2, _delimited(sub[0], encode(sub[1], value)))


def _additional_properties(value: Any) -> bytes:
    if isinstance(value, bool):
        return _scalar(2, "bool", value)
    return _delimited(1, encode("Schema", value))


def _items(value: Any) -> bytes:
    return b"".join(_delimited(1, encode("Schema", item)) for item in (value if isinstance(value, list) else [value]))


def _schema_item(value: Any) -> bytes:
    if isinstance(value, dict) and value.get("type") == "file":
        return _delimited(2, encode("FileSchema", value))
    return _delimited(1, encode("Schema", value))


def _security_definition(value: Any) -> bytes:
    kind = value.get("type") if isinstance(value, dict) else None
    flow = value.get("flow") if isinstance(value, dict) else None
    choice = {
        ("basic", None): (1, "BasicAuthenticationSecurity"),
        ("apiKey", None): (2, "ApiKeySecurity"),
        ("oauth2", "implicit"): (3, "Oauth2ImplicitSecurity"),
        ("oauth2", "password"): (4, "Oauth2PasswordSecurity"),
        ("oauth2", "application"): (5, "Oauth2ApplicationSecurity"),
        ("oauth2", "accessCode"): (6, "Oauth2AccessCodeSecurity"),
    }.get((str(kind), flow if kind == "oauth2" else None))
    if choice is None:
        raise ValueError(f"a security definition of type {kind!r} has no gnostic form")
    return _delimited(choice[0], encode(choice[1], value))


_CHOICES = {
    "ParametersItem": _reference_or("Parameter", 1, 2),
    "ResponseValue": _reference_or("Response", 1, 2),
    "Parameter": _parameter,
    "AdditionalPropertiesItem": _additional_properties,
    "SchemaItem": _schema_item,
    "ItemsItem": _items,
    "SecurityDefinitionsItem": _security_definition,
}


def document(doc: dict[str, Any]) -> bytes:
    """The whole v2 document (swagger, info, paths, definitions, …) as ``openapi.v2.Document`` bytes."""
    return encode("Document", doc)
