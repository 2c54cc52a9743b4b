"""Decode Kubernetes protobuf request bodies into the dicts a JSON body gives.

kubectl's typed clients (``kubectl create namespace|deployment|…``, ``auth
can-i``, ``create token``, drain's evictions) send
``application/vnd.kubernetes.protobuf``: the magic ``k8s\\x00``, then a
``runtime.Unknown`` envelope (typeMeta=1 {apiVersion=1, kind=2}, raw=2,
contentEncoding=3, contentType=4) whose ``raw`` is the object, a message of
the type apiVersion/kind names. The server answers JSON, which those clients
accept, so only decoding is needed.

The field numbers come from ``data/protobuf_v1_32.json``, extracted from the
descriptors embedded in kubectl v1.32 by ``tools/extract_protobuf_schema.py``
(its docstring describes the table). Decoding follows the JSON conventions of
the Go types: ``meta.v1.Time`` → RFC 3339, ``Quantity`` → its string,
``IntOrString`` → int or string, ``RawExtension``/``FieldsV1`` → the JSON they
hold, ``bytes`` → base64, map entries → objects, slice wrappers (``Verbs``,
``ExtraValue``) → lists, embedded structs → inlined. Go's marshaller writes
non-pointer fields even when zero, so those zeros ("", 0, false, {}, unset
times) are dropped as JSON's ``omitempty`` would; pointer fields are written
only when set, so their zeros are kept (``replicas: 0``, ``emptyDir: {}``).

Errors: bad magic, truncated or malformed data → ``BadRequest``; a type the
table does not know, or an envelope with a content encoding → ``UnsupportedMediaType``.
"""

from __future__ import annotations

import base64
import functools
import importlib.resources
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from pinnace.api import errors
from pinnace.api.goduration import go_duration

__all__ = ["MAGIC", "MEDIA_TYPE", "decode_k8s_protobuf", "decode_message", "known_messages", "message_rows"]

#: The media type kubectl sends protobuf bodies as.
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
#: The four bytes that start every Kubernetes protobuf body.
MAGIC = b"k8s\x00"

_SCHEMA_FILE = "protobuf_v1_32.json"
_META_V1 = "k8s.io.apimachinery.pkg.apis.meta.v1"
_UNIX_ZERO_OF_GO = -62135596800  # Go's zero time.Time, 0001-01-01T00:00:00Z
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Kind codes (the table spells them as strings; see the module docstring there).
_STRING, _BYTES, _BOOL, _INT, _UINT, _SINT = range(6)
_FIXED32, _FIXED64, _SFIXED32, _SFIXED64, _FLOAT, _DOUBLE = range(6, 12)
_MESSAGE, _MAP, _LIST, _TIME, _MICROTIME, _DURATION, _QUANTITY, _INTSTR, _JSON = range(12, 21)

_SIMPLE_KINDS = {
    "string": _STRING,
    "bytes": _BYTES,
    "bool": _BOOL,
    "int": _INT,
    "uint": _UINT,
    "sint": _SINT,
    "fixed32": _FIXED32,
    "fixed64": _FIXED64,
    "sfixed32": _SFIXED32,
    "sfixed64": _SFIXED64,
    "float": _FLOAT,
    "double": _DOUBLE,
    "time": _TIME,
    "microtime": _MICROTIME,
    "duration": _DURATION,
    "quantity": _QUANTITY,
    "intstr": _INTSTR,
    "json": _JSON,
}
_VARINT_KINDS = frozenset((_BOOL, _INT, _UINT, _SINT))
_FIXED_FORMATS = {_FIXED32: "<I", _SFIXED32: "<i", _FLOAT: "<f", _FIXED64: "<Q", _SFIXED64: "<q", _DOUBLE: "<d"}
_WIRE_OF = {_FIXED32: 5, _SFIXED32: 5, _FLOAT: 5, _FIXED64: 1, _SFIXED64: 1, _DOUBLE: 1}

#: A parsed kind: (code, argument) — the message name, (key, value) kinds of a
#: map, or the element kind of a list; None for scalars and special types.
Kind = tuple[int, Any]


class _Malformed(Exception):
    """Internal: the bytes are not a valid encoding (reported as 400)."""


class _Field:
    """One field of a message: its JSON name, kind and Go shape."""

    __slots__ = ("arg", "code", "inline", "name", "pointer", "repeated")

    def __init__(self, name: str, kind: Kind, flags: int) -> None:
        self.name = name
        self.code, self.arg = kind
        self.repeated = bool(flags & 1)
        self.pointer = bool(flags & 2)
        self.inline = bool(flags & 4)


@functools.cache
def _table() -> dict[str, list[list[Any]]]:
    """The message table, loaded once on first use."""
    path = importlib.resources.files("pinnace.api") / "data" / _SCHEMA_FILE
    messages: dict[str, list[list[Any]]] = orjson.loads(path.read_bytes())["messages"]
    return messages


@functools.cache
def _parse_kind(kind: str) -> Kind:
    if kind in _SIMPLE_KINDS:
        return (_SIMPLE_KINDS[kind], None)
    head, _, rest = kind.partition(":")
    if head == "message":
        return (_MESSAGE, rest)
    if head == "list":
        return (_LIST, _parse_kind(rest))
    if head == "map":
        key, _, value = rest.partition(":")
        return (_MAP, (_parse_kind(key), _parse_kind(value)))
    raise ValueError(f"unknown kind {kind!r} in {_SCHEMA_FILE}")


@functools.cache
def _fields(message: str) -> dict[int, _Field]:
    """The compiled fields of a message by number (cached per message)."""
    rows = _table().get(message)
    if rows is None:
        raise errors.UnsupportedMediaType(f"no protobuf schema for message {message!r}")
    return {number: _Field(name, _parse_kind(kind), flags) for number, name, kind, flags in rows}


def message_rows(message: str) -> list[list[Any]] | None:
    """A message's table rows ``[number, json name, kind, flags]`` (None if the table lacks it): what the Go
    struct of the type looks like, for code that must know which fields are pointers."""
    return _table().get(message)


def known_messages() -> frozenset[str]:
    """Every message name the table describes (``k8s.io.api.core.v1.Pod`` …)."""
    return frozenset(_table())


def decode_message(data: bytes, message: str) -> dict[str, Any]:
    """Decode one protobuf-encoded message of a named type into its JSON-shaped dict.

    ``message`` is the full proto name (``k8s.io.api.apps.v1.Deployment``; a
    leading dot is allowed). Raises ``BadRequest`` for malformed data and
    ``UnsupportedMediaType`` for a message the table does not know.
    """
    fields = _fields(message.lstrip("."))
    try:
        return _message(data, 0, len(data), fields)
    except _Malformed as exc:
        raise errors.BadRequest(f"unable to decode protobuf {message.lstrip('.')}: {exc}") from None
    except (IndexError, struct.error, RecursionError):
        raise errors.BadRequest(f"unable to decode protobuf {message.lstrip('.')}: truncated data") from None


def decode_k8s_protobuf(body: bytes) -> dict[str, Any]:
    """Decode a ``k8s\\x00``-prefixed ``runtime.Unknown`` envelope into an object dict.

    The result has ``apiVersion`` and ``kind`` from the envelope's TypeMeta
    (the encoded object itself does not carry them), then the object's fields.
    """
    if not body.startswith(MAGIC):
        raise errors.BadRequest(
            f"the body of the request is not a Kubernetes protobuf object: it must start with {MAGIC!r}"
        )
    try:
        envelope = _envelope(body, len(MAGIC), len(body))
    except (_Malformed, IndexError) as exc:
        raise errors.BadRequest(f"unable to decode protobuf envelope (runtime.Unknown): {exc or 'truncated'}") from None
    api_version, kind, raw, encoding, content_type = envelope
    if encoding:
        raise errors.UnsupportedMediaType(f"protobuf content encoding {encoding!r} is not supported")
    if content_type not in ("", MEDIA_TYPE):
        raise errors.UnsupportedMediaType(f"protobuf envelope holds unsupported content type {content_type!r}")
    if not kind or not api_version:
        raise errors.BadRequest("Object 'Kind' is missing in the protobuf envelope's typeMeta")
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    obj.update(decode_message(raw, _message_for(api_version, kind)))
    return obj


def _envelope(buf: bytes, pos: int, end: int) -> tuple[str, str, bytes, str, str]:
    """The parts of a ``runtime.Unknown``: apiVersion, kind, raw, contentEncoding, contentType."""
    found = _scan(buf, pos, end)
    type_meta = found.get(1, b"")
    meta = _scan(type_meta, 0, len(type_meta)) if isinstance(type_meta, bytes) else {}

    def text(fields: dict[int, Any], number: int) -> str:
        value = fields.get(number, b"")
        if not isinstance(value, bytes):
            raise _Malformed(f"field {number} must be length-delimited")
        return value.decode("utf-8", "replace")

    raw = found.get(2, b"")
    if not isinstance(raw, bytes):
        raise _Malformed("raw must be length-delimited")
    return text(meta, 1), text(meta, 2), raw, text(found, 3), text(found, 4)


def _message_for(api_version: str, kind: str) -> str:
    """The proto message name of an apiVersion/kind, e.g. apps/v1 Deployment → k8s.io.api.apps.v1.Deployment."""
    group, _, version = api_version.rpartition("/")
    if group == "":
        package = f"k8s.io.api.core.{version}"
    elif group == "meta.k8s.io":
        package = f"k8s.io.apimachinery.pkg.apis.meta.{version}"
    elif group == "internal.apiserver.k8s.io":
        package = f"k8s.io.api.apiserverinternal.{version}"
    elif group == "metrics.k8s.io":
        package = f"k8s.io.metrics.pkg.apis.metrics.{version}"
    else:
        package = f"k8s.io.api.{group.split('.', 1)[0]}.{version}"
    table = _table()
    if "." not in kind:
        for candidate in (f"{package}.{kind}", f"{_META_V1}.{kind}"):  # DeleteOptions etc. exist in every group
            if candidate in table:
                return candidate
    raise errors.UnsupportedMediaType(f"no protobuf schema for {api_version}, Kind={kind}; send JSON instead")


# --- wire format -------------------------------------------------------------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Read a base-128 varint at ``pos``; return (value, position after it)."""
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    result = b & 0x7F
    shift = 7
    pos += 1
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise _Malformed("varint longer than 10 bytes")


def _length(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """Read a length prefix; return (start, stop) of the bytes it covers, checked against ``end``."""
    size, pos = _varint(buf, pos)
    stop = pos + size
    if stop > end:
        raise _Malformed("truncated data: a length-delimited field runs past its message")
    return pos, stop


def _skip(buf: bytes, pos: int, end: int, wire: int) -> int:
    """The position after an unknown field's value (unknown fields are ignored, as upstream does)."""
    if wire == 0:
        return _varint(buf, pos)[1]
    if wire == 2:
        return _length(buf, pos, end)[1]
    if wire == 1:
        return pos + 8
    if wire == 5:
        return pos + 4
    raise _Malformed(f"unsupported wire type {wire}")


def _from_varint(value: int, code: int) -> int | bool:
    if code == _INT:
        return value - (1 << 64) if value >= 1 << 63 else value
    if code == _BOOL:
        return value != 0
    if code == _SINT:
        return (value >> 1) ^ -(value & 1)
    return value  # _UINT


def _message(buf: bytes, pos: int, end: int, fields: dict[int, _Field]) -> dict[str, Any]:
    """Decode the message in ``buf[pos:end]``."""
    out: dict[str, Any] = {}
    while pos < end:
        key, pos = _varint(buf, pos)
        wire = key & 7
        field = fields.get(key >> 3)
        if field is None:
            pos = _skip(buf, pos, end, wire)
            continue
        code = field.code
        value: Any
        if wire == 2:
            start, pos = _length(buf, pos, end)
            if field.repeated and (code in _VARINT_KINDS or code in _FIXED_FORMATS):
                out.setdefault(field.name, []).extend(_packed(buf, start, pos, code))
                continue
            value = _length_delimited(buf, start, pos, code, field.arg)
        elif wire == 0 and code in _VARINT_KINDS:
            raw, pos = _varint(buf, pos)
            value = _from_varint(raw, code)
        elif code in _FIXED_FORMATS and wire == _WIRE_OF[code]:
            value = struct.unpack_from(_FIXED_FORMATS[code], buf, pos)[0]
            pos += 4 if wire == 5 else 8
        else:
            raise _Malformed(f"field {field.name!r} has wire type {wire}, which does not fit its type")
        if field.repeated:
            out.setdefault(field.name, []).append(value)
        elif code == _MAP:
            out.setdefault(field.name, {})[value[0]] = value[1]
        elif field.inline:
            out.update(value)
        elif value is None or (not value and not field.pointer):
            out.pop(field.name, None)  # omitempty; a later zero overrides an earlier value
        else:
            out[field.name] = value
    if pos != end:
        raise _Malformed("truncated data: a field runs past its message")
    return out


def _packed(buf: bytes, pos: int, end: int, code: int) -> list[Any]:
    """The values of a packed repeated scalar field."""
    values: list[Any] = []
    if code in _VARINT_KINDS:
        while pos < end:
            raw, pos = _varint(buf, pos)
            values.append(_from_varint(raw, code))
    else:
        fmt = _FIXED_FORMATS[code]
        size = struct.calcsize(fmt)
        if (end - pos) % size:
            raise _Malformed("packed fixed-width field has a partial value")
        values.extend(v for (v,) in struct.iter_unpack(fmt, buf[pos:end]))
        pos = end
    if pos != end:
        raise _Malformed("truncated data in a packed field")
    return values


def _length_delimited(buf: bytes, pos: int, end: int, code: int, arg: Any) -> Any:
    """Decode a length-delimited value of a kind from ``buf[pos:end]``."""
    if code == _STRING:
        return buf[pos:end].decode("utf-8", "replace")
    if code == _MESSAGE:
        return _message(buf, pos, end, _fields(arg))
    if code == _BYTES:
        return base64.b64encode(buf[pos:end]).decode("ascii")
    if code == _MAP:
        return _map_entry(buf, pos, end, arg)
    if code == _QUANTITY:
        text = _string_field(buf, pos, end, 1)
        return text or "0"  # an empty Quantity is zero, which Go renders as "0"
    if code in (_TIME, _MICROTIME):
        return _time(buf, pos, end, micro=code == _MICROTIME)
    if code == _INTSTR:
        return _int_or_string(buf, pos, end)
    if code == _JSON:
        return _raw_json(buf, pos, end)
    if code == _DURATION:
        nanos = _varint_field(buf, pos, end, 1)
        return go_duration(nanos - (1 << 64) if nanos >= 1 << 63 else nanos)
    if code == _LIST:
        return _wrapped_list(buf, pos, end, arg)
    raise _Malformed("a scalar field is length-delimited")


def _zero(kind: Kind) -> Any:
    """The value of a map entry's absent key or value: the zero of its kind."""
    code, arg = kind
    if code in _VARINT_KINDS:
        return _from_varint(0, code)
    if code in _FIXED_FORMATS:
        return 0.0 if code in (_FLOAT, _DOUBLE) else 0
    return _length_delimited(b"", 0, 0, code, arg)


def _map_entry(buf: bytes, pos: int, end: int, kinds: tuple[Kind, Kind]) -> tuple[Any, Any]:
    """One ``XEntry`` of a map field (key=1, value=2) as a (key, value) pair."""
    found: list[Any] = [None, None]
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number not in (1, 2):
            pos = _skip(buf, pos, end, wire)
            continue
        code, arg = kinds[number - 1]
        if wire == 2:
            start, pos = _length(buf, pos, end)
            found[number - 1] = _length_delimited(buf, start, pos, code, arg)
        elif wire == 0 and code in _VARINT_KINDS:
            raw, pos = _varint(buf, pos)
            found[number - 1] = _from_varint(raw, code)
        else:
            raise _Malformed(f"map entry field {number} has an unexpected wire type {wire}")
    if pos != end:
        raise _Malformed("truncated map entry")
    key_value = found[0] if found[0] is not None else _zero(kinds[0])
    value = found[1] if found[1] is not None else _zero(kinds[1])
    return key_value, value


def _scan(buf: bytes, pos: int, end: int) -> dict[int, Any]:
    """The last value of each field of a small fixed message (varints as ints, others as bytes)."""
    out: dict[int, Any] = {}
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            out[number], pos = _varint(buf, pos)
        elif wire == 2:
            start, pos = _length(buf, pos, end)
            out[number] = buf[start:pos]
        else:
            pos = _skip(buf, pos, end, wire)
    if pos != end:
        raise _Malformed("truncated data")
    return out


def _string_field(buf: bytes, pos: int, end: int, number: int) -> str:
    value = _scan(buf, pos, end).get(number, b"")
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""


def _varint_field(buf: bytes, pos: int, end: int, number: int) -> int:
    value = _scan(buf, pos, end).get(number, 0)
    return value if isinstance(value, int) else 0


def _time(buf: bytes, pos: int, end: int, *, micro: bool) -> str | None:
    """``meta.v1.Time``/``MicroTime`` {seconds=1, nanos=2} as RFC 3339 UTC; None for the zero time."""
    found = _scan(buf, pos, end)
    seconds = found.get(1, 0)
    nanos = found.get(2, 0)
    if not isinstance(seconds, int) or not isinstance(nanos, int):
        raise _Malformed("time fields must be varints")
    seconds = seconds - (1 << 64) if seconds >= 1 << 63 else seconds
    nanos = nanos - (1 << 64) if nanos >= 1 << 63 else nanos
    if nanos == 0 and seconds in (0, _UNIX_ZERO_OF_GO):
        return None
    try:
        moment = _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        raise _Malformed(f"time {seconds}s is out of range") from None
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if micro:
        text += f".{nanos // 1000:06d}"
    return text + "Z"


def _int_or_string(buf: bytes, pos: int, end: int) -> int | str:
    """``intstr.IntOrString`` {type=1 (0 int, 1 string), intVal=2, strVal=3}."""
    found = _scan(buf, pos, end)
    if found.get(1, 0) == 1:
        text = found.get(3, b"")
        return text.decode("utf-8", "replace") if isinstance(text, bytes) else ""
    value = found.get(2, 0)
    if not isinstance(value, int):
        raise _Malformed("IntOrString intVal must be a varint")
    return value - (1 << 64) if value >= 1 << 63 else value


def _raw_json(buf: bytes, pos: int, end: int) -> Any:
    """``runtime.RawExtension``/``meta.v1.FieldsV1`` {raw=1}: the JSON value its bytes hold."""
    raw = _scan(buf, pos, end).get(1, b"")
    if not isinstance(raw, bytes) or not raw:
        return None
    if raw.startswith(MAGIC):
        return decode_k8s_protobuf(raw)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _Malformed(f"embedded raw object is not JSON: {exc}") from None


def _wrapped_list(buf: bytes, pos: int, end: int, element: Kind) -> list[Any]:
    """A message wrapping a Go slice (``Verbs``, ``ExtraValue``: repeated items=1) as a plain list."""
    items: list[Any] = _message(buf, pos, end, {1: _Field("items", element, 1)}).get("items", [])
    return items
