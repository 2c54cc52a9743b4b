"""What decoding a request body into the Go types rejects: wrong JSON types, bad quantities, bad base64.

kube-apiserver decodes a built-in object with its JSON decoder (a fork of Go's
``encoding/json``) before anything else looks at it. A value of the wrong JSON
type is not a validation error with causes: the decode fails, and the request
gets a **400 BadRequest** — ``Deployment in version "v1" cannot be handled as a
Deployment: json: cannot unmarshal string into Go struct field
DeploymentSpec.spec.replicas of type int32``. The decoder reports only the
first problem: a type mismatch is remembered and decoding goes on (a later
mismatch is not reported), while a failing custom unmarshaler (a quantity, an
int-or-string) stops it at once and wins. The field is named by the innermost
Go struct and the dotted path of JSON names from the top, without list
indexes or map keys.

:func:`decode_error` reproduces that on the dict, with a walker compiled once
per definition from the v1.32 schemas. Unknown fields are not its concern
(:mod:`pinnace.api.typed`).
"""

from __future__ import annotations

from typing import Any

from pinnace.api import gobytes, gotime, quantity
from pinnace.api.definitions import Schema, load_definitions, target_name

_STRUCT, _MAP, _LIST, _STRING, _BYTES, _INT, _FLOAT, _BOOL, _QUANTITY, _INTSTR, _TIME, _ANY = range(12)
#: A CRD schema's ``items``, ``additionalProperties`` and ``dependencies`` values: a schema or an array of them, a
#: schema or a bool, a schema or an array of strings (Go types that unmarshal themselves).
_OR_ARRAY, _OR_BOOL, _OR_STRINGS = range(12, 15)
#: A metav1.MicroTime (``_TIME`` is a metav1.Time): parsed with its own layout.
_MICROTIME = 15
_APIEXT = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1."
_SCHEMA_PROPS = _APIEXT + "JSONSchemaProps"

_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}

#: Definitions whose Go types unmarshal themselves (the schema says little about them).
_SPECIAL = {
    "io.k8s.apimachinery.pkg.api.resource.Quantity": _QUANTITY,
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": _INTSTR,
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": _TIME,
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": _MICROTIME,
    "io.k8s.apimachinery.pkg.runtime.RawExtension": _ANY,
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1": _ANY,
    _APIEXT + "JSONSchemaPropsOrArray": _OR_ARRAY,
    _APIEXT + "JSONSchemaPropsOrBool": _OR_BOOL,
    _APIEXT + "JSONSchemaPropsOrStringArray": _OR_STRINGS,
}


class _Node:
    """One Go type: its kind, its name as reflect prints it, and what is inside."""

    __slots__ = ("elem", "go", "high", "kind", "low", "props", "struct")

    def __init__(self, kind: int, go: str) -> None:
        self.kind = kind
        self.go = go
        self.struct = ""  # a struct's bare name (the error context of its fields)
        self.props: dict[str, _Node] = {}
        self.elem: _Node | None = None
        self.low, self.high = _INT_RANGES.get(go, _INT_RANGES["int64"])


class _Abort(Exception):
    """A custom unmarshaler failed: decoding stops with this message."""


_compiled: dict[str, _Node] = {}


def _go_name(definition: str) -> str:
    """``io.k8s.api.apps.v1.DeploymentSpec`` → ``v1.DeploymentSpec`` (Go's package.Type)."""
    parts = definition.split(".")
    return f"{parts[-2]}.{parts[-1]}"


def _types(schema: Schema) -> set[str]:
    t = schema.get("type")
    if isinstance(t, list):
        return {x for x in t if x != "null"}
    return {t} if isinstance(t, str) else set()


def _definition(name: str) -> _Node:
    node = _compiled.get(name)
    if node is not None:
        return node
    special = _SPECIAL.get(name)
    if special is not None:
        node = _compiled[name] = _Node(special, "string" if special in (_TIME, _MICROTIME) else _go_name(name))
        return node
    node = _compiled[name] = _Node(_STRUCT, _go_name(name))  # registered first: definitions are recursive
    schema = load_definitions()[name]
    props = schema.get("properties")
    if isinstance(props, dict):
        node.struct = name.rsplit(".", 1)[-1]
        node.props = {k: _compile(v) for k, v in props.items() if isinstance(v, dict)}
    else:
        compiled = _compile({k: v for k, v in schema.items() if k != "$ref"})
        node.kind, node.go, node.elem, node.props = compiled.kind, compiled.go, compiled.elem, compiled.props
    return node


def _compile(schema: Schema) -> _Node:
    name = target_name(schema)
    if name is not None:
        return _definition(name)
    types = _types(schema)
    if "array" in types and isinstance(schema.get("items"), dict):
        elem = _compile(schema["items"])
        node = _Node(_LIST, "[]" + elem.go)
        node.elem = elem
        return node
    if "object" in types or "properties" in schema or "additionalProperties" in schema:
        values = schema.get("additionalProperties")
        if isinstance(values, dict):
            elem = _compile(values)
            node = _Node(_MAP, "map[string]" + elem.go)
            node.elem = elem
            return node
        return _Node(_ANY, "")
    fmt = schema.get("format")
    if types == {"string"}:
        return _Node(_BYTES, "[]uint8") if fmt == "byte" else _Node(_STRING, "string")
    if types == {"integer"}:
        return _Node(_INT, fmt if fmt in _INT_RANGES else "int64")
    if types == {"number"}:
        return _Node(_FLOAT, "float64")
    if types == {"boolean"}:
        return _Node(_BOOL, "bool")
    return _Node(_ANY, "")


def json_kind(value: Any) -> str:
    """How Go's decoder names the JSON value it could not store."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    return "object"


#: Whether a quantity string that parses is in canonical form, by the string: resource lists repeat the same few
#: ("250m", "256Mi") on every write of a pod or workload. Forgotten all at once past its size.
_CANONICAL_QUANTITIES: dict[str, bool] = {}
_CANONICAL_QUANTITIES_KEPT = 4096

#: A struct field path as links (parent, key), None at the top: rendered only for an error.
_Where = tuple[Any, str] | None


class _Walk:
    __slots__ = ("omitted", "saved", "unknown")

    def __init__(self) -> None:
        self.saved: str | None = None
        #: Whether a key the Go types do not have was seen (its path is left to typed.unknown_fields).
        self.unknown = False
        #: Whether a struct field held something an encode could omit (null, or an empty list, map or free-form
        #: value) or write otherwise (a time not in UTC at its layout's precision, a quantity not in canonical
        #: form, base64 not on one line): then the object is not as a decode/encode round trip leaves it.
        #: Conservative: ``required`` fields (which keep their empties) count too.
        self.omitted = False

    @staticmethod
    def type_error(what: str, go: str, struct: str, where: _Where) -> str:
        keys: list[str] = []
        while where is not None:
            where, key = where
            keys.append(key)
        path = ".".join(reversed(keys))
        return f"json: cannot unmarshal {what} into Go struct field {struct}.{path} of type {go}"

    def save(self, what: str, go: str, struct: str, where: _Where) -> None:
        if self.saved is None:
            self.saved = self.type_error(what, go, struct, where)

    def struct(self, value: dict[str, Any], node: _Node, where: _Where) -> None:
        """Check the fields of a JSON object decoded into a Go struct."""
        props, inner = node.props, node.struct
        for key, item in value.items():
            child = props.get(key)
            if child is None:
                self.unknown = True
                continue
            if item is None:
                self.omitted = True
                continue
            ck, t = child.kind, type(item)
            # the common cases, without a call (or with the direct one, for a nested struct)
            if ck == _STRING:
                if t is str:
                    continue
            elif ck == _STRUCT:
                if t is dict:  # an empty struct is kept: no omitempty on Go structs
                    self.struct(item, child, (where, key))
                    continue
            elif ck == _ANY:
                if not item and (t is dict or t is list):
                    self.omitted = True
                continue
            elif ck == _LIST:
                if t is list:
                    if not item:
                        self.omitted = True
                    self.items(item, child, inner, (where, key))
                    continue
            elif ck == _MAP:
                if t is dict:
                    if not item:
                        self.omitted = True
                    self.entries(item, child, inner, (where, key))
                    continue
            elif (
                (ck == _INT and t is int and child.low <= item <= child.high)
                or (ck == _BOOL and t is bool)
                or (ck == _INTSTR and t is str)
            ):
                continue
            if not item and (t is dict or t is list):
                self.omitted = True
            self.value(item, child, inner, (where, key))

    def items(self, value: list[Any], node: _Node, struct: str, where: _Where) -> None:
        """Check the items of a JSON array decoded into a Go slice."""
        elem = node.elem
        assert elem is not None
        if elem.kind == _STRUCT:  # a list of structs: straight to their fields
            for item in value:
                if type(item) is dict:
                    self.struct(item, elem, where)
                elif item is not None:
                    self.value(item, elem, struct, where)
            return
        scalar = str if elem.kind == _STRING else None
        for item in value:
            if item is not None and type(item) is not scalar:
                self.value(item, elem, struct, where)

    def entries(self, value: dict[str, Any], node: _Node, struct: str, where: _Where) -> None:
        """Check the values of a JSON object decoded into a Go map."""
        elem = node.elem
        assert elem is not None
        if elem.kind == _QUANTITY:  # resource lists: straight to the quantities
            for item in value.values():
                if item is not None:
                    self.quantity(item)
                else:
                    self.omitted = True  # Go decodes null as a zero Quantity: normalising writes "0"
            return
        scalar = str if elem.kind == _STRING else None
        for item in value.values():
            if item is not None and type(item) is not scalar:
                self.value(item, elem, struct, where)

    def value(self, value: Any, node: _Node, struct: str, where: _Where) -> None:
        """Check ``value`` against ``node``; ``where``: the struct field path to it, as (parent, key) links."""
        kind = node.kind
        if kind == _STRUCT:
            if not isinstance(value, dict):
                self.save(json_kind(value), node.go, struct, where)
                return
            self.struct(value, node, where)
        elif kind == _STRING:
            if not isinstance(item := value, str):
                self.save(json_kind(item), node.go, struct, where)
        elif kind == _INT:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.save(json_kind(value), node.go, struct, where)
                return
            if isinstance(value, float) or not node.low <= value <= node.high:
                self.save("number " + quantity.number_text(value), node.go, struct, where)
        elif kind == _LIST:
            if not isinstance(value, list):
                self.save(json_kind(value), node.go, struct, where)
                return
            self.items(value, node, struct, where)
        elif kind == _MAP:
            if not isinstance(value, dict):
                self.save(json_kind(value), node.go, struct, where)
                return
            self.entries(value, node, struct, where)
        elif kind == _BOOL:
            if not isinstance(value, bool):
                self.save(json_kind(value), node.go, struct, where)
        elif kind == _FLOAT:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.save(json_kind(value), node.go, struct, where)
        elif kind == _QUANTITY:
            self.quantity(value)
        elif kind == _INTSTR:
            if isinstance(value, str):
                return
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _Abort(self.type_error(json_kind(value), "int32", struct, where))
            if isinstance(value, float) or not -(2**31) <= value < 2**31:
                raise _Abort(self.type_error("number " + quantity.number_text(value), "int32", struct, where))
        elif kind == _BYTES:
            if isinstance(value, list):
                self.omitted = True  # Go also takes an array of byte values; it writes them as base64
            elif not isinstance(value, str):
                self.save(json_kind(value), node.go, struct, where)
            elif (problem := gobytes.decode_error(value)) is not None:
                if self.saved is None:
                    self.saved = problem
            elif not gobytes.is_written_form(value):
                self.omitted = True
        elif kind in (_TIME, _MICROTIME):
            self.time(value, kind == _MICROTIME, struct, where)
        elif kind in (_OR_ARRAY, _OR_BOOL, _OR_STRINGS):
            self.schema_or(value, kind)

    def schema_or(self, value: Any, kind: int) -> None:
        """A CRD schema's schema-or-something value, as its Go type's own unmarshaler reads it: an object is a
        JSONSchemaProps decoded on its own (its first error stops the whole decode); an array holds schemas
        (``items``) or strings (``dependencies``); a bool is allowed only for ``additionalProperties``."""
        if isinstance(value, dict):
            self.nested(value)
        elif isinstance(value, list) and kind != _OR_BOOL:
            for item in value:
                if kind == _OR_ARRAY and isinstance(item, dict):
                    self.nested(item)
                elif item is not None and not (kind == _OR_STRINGS and isinstance(item, str)):
                    go = "v1.JSONSchemaProps" if kind == _OR_ARRAY else "string"
                    raise _Abort(f"json: cannot unmarshal {json_kind(item)} into Go value of type {go}")
        elif kind == _OR_BOOL and not isinstance(value, bool):
            raise _Abort("boolean or JSON schema expected")

    def nested(self, value: dict[str, Any]) -> None:
        """A JSONSchemaProps decoded by a json.Unmarshal of its own: its error is the whole decode's."""
        walk = _Walk()
        walk.struct(value, _definition(_SCHEMA_PROPS), None)
        self.unknown = self.unknown or walk.unknown
        self.omitted = self.omitted or walk.omitted
        if walk.saved is not None:
            raise _Abort(walk.saved)

    def time(self, value: Any, micro: bool, struct: str, where: _Where) -> None:
        """A Time or MicroTime: its unmarshaler takes a JSON string that ``time.Parse`` reads, or fails at once."""
        if not isinstance(value, str):
            raise _Abort(self.type_error(json_kind(value), "string", struct, where))
        try:
            if gotime.canonical(value, micro) != value:
                self.omitted = True
        except gotime.GoTimeError as exc:
            raise _Abort(str(exc)) from None

    def quantity(self, value: Any) -> None:
        """A Quantity: its unmarshaler takes a string or a number it parses, or fails at once. It is written back
        in canonical form (``1000m`` → ``1``, ``0.5Gi`` → ``512Mi``), always as a string."""
        if type(value) is str:
            canonical = _CANONICAL_QUANTITIES.get(value)
            if canonical is not None:
                if not canonical:
                    self.omitted = True
                return
        try:
            canonical = str(quantity.from_json(value)) == value
        except quantity.QuantityError as exc:
            raise _Abort(str(exc)) from None
        if not canonical:
            self.omitted = True
        if type(value) is str:
            if len(_CANONICAL_QUANTITIES) >= _CANONICAL_QUANTITIES_KEPT:
                _CANONICAL_QUANTITIES.clear()
            _CANONICAL_QUANTITIES[value] = canonical


def decode_error(obj: dict[str, Any], definition: str) -> str | None:
    """The message the Go decoder fails with on ``obj`` as the named definition, or None if it decodes."""
    return decode_check(obj, definition)[0]


def decode_check(obj: dict[str, Any], definition: str) -> tuple[str | None, bool, bool]:
    """``decode_error``; whether ``obj`` has keys the Go types do not (so an unknown-field pass is needed);
    and whether it is *normal*: it decodes, and a decode/encode round trip would leave it as it is (no unknown
    key, no null or empty value an encode omits: :func:`pinnace.api.typed.normalize` would change nothing
    below the top level)."""
    walk = _Walk()
    try:
        walk.value(obj, _definition(definition), "", None)
    except _Abort as exc:
        return str(exc), walk.unknown, False
    saved = walk.saved
    return saved, walk.unknown, saved is None and not walk.unknown and not walk.omitted
