"""What decoding into the typed Go structs does to an object, done on the dict.

kube-apiserver decodes every request body into its Go types and encodes the
result again. Three things follow from that, and clients see all of them:

* fields the type does not have are dropped — and reported, per the request's
  ``fieldValidation`` (``Strict``: 400 ``strict decoding error: unknown field
  "spec.foo"``; ``Warn``, the default: a ``Warning`` header; ``Ignore``);
* ``omitempty`` maps and lists that are empty (or null) vanish: removing the
  last label leaves no ``labels: {}`` behind;
* ``kind``, ``apiVersion`` and ``metadata`` come first, ``status`` last.

The schema is the v1.32 definition of the kind. A node with ``properties``
is a struct (unknown keys are unknown fields); one with
``additionalProperties`` is a map; one with neither (RawExtension, FieldsV1,
JSON) keeps anything. Custom resources have no definition here: only their
``metadata`` (an ObjectMeta) is normalised.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from pinnace.api import errors, gobytes, gotime, quantity
from pinnace.api.definitions import Schema, load_definitions, resolve, target_name

Obj = dict[str, Any]

_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

#: ``fieldValidation`` values (query parameter of create, update and patch).
STRICT, WARN, IGNORE = "Strict", "Warn", "Ignore"


def field_validation(value: str | None) -> str:
    """The request's ``fieldValidation`` directive (default Warn), or 400 for an unknown one."""
    if value in (None, ""):
        return WARN
    if value not in (STRICT, WARN, IGNORE):
        raise errors.BadRequest(
            f'fieldValidation: Unsupported value: "{value}": supported values: "Ignore", "Strict", "Warn"'
        )
    return value


#: The object the current request's decode check found normal (see :func:`mark_normal`), if any.
_proven_normal: ContextVar[Obj | None] = ContextVar("pinnace_proven_normal", default=None)


def mark_normal(obj: Obj) -> None:
    """Record that the decode check of the current request left ``obj`` *normal*, so that a create of this very
    object need not walk it again: for a built-in kind, a round trip changes nothing below its top level (no
    unknown key, nothing an encode omits); for a custom resource, its schema's pruning and defaulting are done.

    The create and update paths ask (:func:`take_normal`) right where they start (an update: once its mutation
    has made the object); whatever may change the object in between (admission) must make them forget the proof
    (``AdmissionRequest.mutated``).
    """
    _proven_normal.set(obj)


def take_normal(obj: Obj) -> bool:
    """Whether ``obj`` is the object the current request's decode check found normal (the record is spent)."""
    proven = _proven_normal.get()
    if proven is None:
        return False
    _proven_normal.set(None)
    return proven is obj


def normalize(obj: Obj, schema: Schema | None, *, proven: bool = False) -> list[str]:
    """Make ``obj`` (in place) what a decode/encode round trip yields; the unknown field paths.

    ``proven``: the caller knows ``obj`` is normal below its top level (its decode check found it so and
    nothing but our own defaulting, which writes only normal values, changed it since): only the top-level
    order is fixed, without a walk.
    """
    if proven:
        _order_top_level(obj)
        return []
    unknown: list[str] = []
    if schema is not None:
        _walk(obj, resolve(schema), "", unknown, prune=True)
    else:
        meta = obj.get("metadata")
        if type(meta) is dict:
            _walk_node(meta, _object_meta(), ("metadata",), unknown, True)
    _order_top_level(obj)
    return unknown


def _object_meta() -> _Node:
    """ObjectMeta, compiled (a custom resource's metadata is normalised on every write)."""
    global _OBJECT_META_NODE
    if _OBJECT_META_NODE is None:
        _OBJECT_META_NODE = _compile(load_definitions()[_OBJECT_META])
    return _OBJECT_META_NODE


def unknown_fields(obj: Obj, schema: Schema | None) -> list[str]:
    """The paths of fields the kind does not have (``obj`` left untouched)."""
    unknown: list[str] = []
    if schema is not None:
        _walk(obj, resolve(schema), "", unknown, prune=False)
    return unknown


def check_unknown_fields(
    obj: Obj, schema: Schema | None, directive: str, context: str = "", *, patched: bool = False
) -> list[str]:
    """Apply ``fieldValidation``: 400 under Strict, else the warnings to send (none under Ignore).

    ``context`` starts the Strict error's message (upstream's ``ConfigMap in
    version "v1" cannot be handled as a ConfigMap: `` for a create or update).
    The fields come in the body's order, or sorted for a ``patched`` object
    (upstream decodes a patch's result from sorted keys, or sorts what it found).
    """
    if directive == IGNORE:
        return []
    found = unknown_fields(obj, schema)
    if not found:
        return []
    if patched:
        found.sort()
    messages = [f'unknown field "{path}"' for path in found]
    if directive == STRICT:
        raise errors.BadRequest(context + "strict decoding error: " + ", ".join(messages))
    return messages


class _Node:
    """A schema compiled for walking: struct properties, map values or list items, resolved once."""

    __slots__ = ("is_struct", "items", "props", "required", "scalar", "values")

    def __init__(self) -> None:
        self.props: dict[str, _Node] | None = None
        self.required: frozenset[str] = frozenset()
        self.values: _Node | None = None
        self.items: _Node | None = None
        self.is_struct = False
        #: A scalar its Go type writes in a form of its own (TIME, MICRO, QUANTITY, BYTES: see :func:`written`).
        self.scalar = 0


#: Compiled nodes by the identity of their (resolved, never mutated) definition.
_compiled: dict[int, _Node] = {}
_OBJECT_META_NODE: _Node | None = None


def _compile(schema: Schema) -> _Node:
    scalar = _SCALAR_DEFINITIONS.get(target_name(schema) or "", 0) or (BYTES if schema.get("format") == "byte" else 0)
    if scalar:  # (Time and MicroTime resolve to the same schema: told apart by name; one node for each)
        return _scalar_nodes.setdefault(scalar, _scalar_node(scalar))
    schema = resolve(schema)
    node = _compiled.get(id(schema))
    if node is not None:
        return node
    node = _compiled[id(schema)] = _Node()  # registered first: the definitions are recursive
    props = schema.get("properties")
    if isinstance(props, dict):
        node.is_struct = True
        node.required = frozenset(schema.get("required") or ())
        node.props = {key: _compile(child) for key, child in props.items() if isinstance(child, dict)}
        return node
    items = schema.get("items")
    if isinstance(items, dict):
        node.items = _compile(items)
    values = schema.get("additionalProperties")
    if isinstance(values, dict):
        node.values = _compile(values)
    elif node.items is None:
        # Free-form (RawExtension, JSON, FieldsV1, an empty struct such as a CRD's ``subresources.status``):
        # a struct or raw JSON in Go, so an empty ``{}`` is kept, not omitted.
        node.is_struct = True
    return node


#: Scalars whose Go types write them in a form of their own: metav1.Time, metav1.MicroTime, resource.Quantity,
#: []byte (a ``format: byte`` string).
TIME, MICRO, QUANTITY, BYTES = 1, 2, 3, 4
_SCALAR_DEFINITIONS = {
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": TIME,
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": MICRO,
    "io.k8s.apimachinery.pkg.api.resource.Quantity": QUANTITY,
}
_scalar_nodes: dict[int, _Node] = {}
#: What :func:`written` gives for a value its type's decoder refuses.
UNREADABLE = object()


def _scalar_node(scalar: int) -> _Node:
    node = _Node()
    node.scalar = scalar
    return node


def written(value: Any, scalar: int) -> Any:
    """``value`` as a decode/encode round trip through its Go type writes it: a time in UTC at its layout's
    precision (None for the zero time, encoded as null), a quantity in canonical form (a null in a map: "0"),
    bytes as base64 on one line; :data:`UNREADABLE` if the decoder refuses it (the decode check answers for that;
    a write that skipped the check keeps what it wrote). A null stays null but for a quantity."""
    if value is None:
        return "0" if scalar == QUANTITY else None
    try:
        if scalar == QUANTITY:
            return str(quantity.from_json(value))
        if scalar == BYTES:
            data = gobytes.written(value)
            return UNREADABLE if data is None else data
        return gotime.canonical(value, scalar == MICRO) if type(value) is str else UNREADABLE
    except ValueError:  # GoTimeError, QuantityError
        return UNREADABLE


def _walk(value: Any, schema: Schema, path: str, unknown: list[str], *, prune: bool) -> None:
    """Record (and with ``prune``, drop) unknown fields below ``value``; with ``prune``, drop omitted empties."""
    _walk_node(value, _compile(schema), (path,) if path else None, unknown, prune)


#: Where a walk is: None at the top, else (parent, key) with a string key or an int index (rendered only if needed).
_Where = tuple[Any, ...] | None


def _render(where: _Where) -> str:
    parts: list[str] = []
    while where is not None:
        if len(where) == 1:
            parts.append(where[0])
            break
        where, step = where
        parts.append(f"[{step}]" if type(step) is int else step)
    out = ""
    for part in reversed(parts):
        out = out + part if part.startswith("[") or not out else f"{out}.{part}"
    return out


def _walk_node(value: Any, node: _Node, where: _Where, unknown: list[str], prune: bool) -> None:
    # Hot path (every write walks its object): exact type checks, no call per scalar, paths rendered only when used.
    kind = type(value)
    if kind is list:
        inner = node.items
        if inner is not None:
            for i, v in enumerate(value):
                tv = type(v)
                if tv is dict or tv is list:
                    _walk_node(v, inner, (where, i), unknown, prune)
        return
    if kind is not dict:
        return
    props = node.props
    if props is None:
        inner = node.values
        if inner is not None:  # a map: every value has the same schema
            scalar = inner.scalar
            if scalar:  # a ResourceList, Secret data
                if prune:
                    for k, v in value.items():
                        if (now := written(v, scalar)) != v and now is not UNREADABLE:
                            value[k] = now
                return
            for k, v in value.items():
                tv = type(v)
                if tv is dict or tv is list:
                    _walk_node(v, inner, (where, k), unknown, prune)
        return  # else free-form (RawExtension, FieldsV1, JSON): anything goes
    doomed: list[str] | None = None
    for key, item in value.items():
        child = props.get(key)
        if child is None:
            unknown.append(_render((where, key)))
            if prune:
                doomed = [key] if doomed is None else [*doomed, key]
            continue
        ti = type(item)
        if child.scalar and item is not None:
            if prune:
                now = written(item, child.scalar)
                if now is UNREADABLE or now == item:
                    continue
                if (now is None or now == "") and key not in node.required:  # (a zero time, no bytes: omitempty)
                    doomed = [key] if doomed is None else [*doomed, key]
                else:
                    value[key] = now
        elif ti is dict or ti is list:
            if item:
                _walk_node(item, child, (where, key), unknown, prune)
            elif prune and key not in node.required and (ti is list or not child.is_struct):
                doomed = [key] if doomed is None else [*doomed, key]  # Go's omitempty: empty maps and slices go
        elif item is None and prune and key not in node.required:
            doomed = [key] if doomed is None else [*doomed, key]
    if doomed is not None:
        for key in doomed:
            del value[key]


_HEAD = ["kind", "apiVersion", "metadata"]


def _order_top_level(obj: Obj) -> None:
    """kind, apiVersion, metadata first and status last, as Go's struct order writes them."""
    keys = list(obj)
    if keys[:3] == _HEAD and ("status" not in obj or keys[-1] == "status"):
        return  # the usual case: already in order
    items: Obj = {}
    for k in _HEAD:  # (a loop, not a comprehension: this runs on almost every write)
        if k in obj:
            items[k] = obj[k]
    items.update(obj)  # the others keep their order after the head (the head's keys keep their new places)
    if "status" in items:
        items["status"] = items.pop("status")
    if keys != list(items):
        obj.clear()
        obj.update(items)
