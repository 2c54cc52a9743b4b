"""JSON Patch (RFC 6902) and JSON Merge Patch (RFC 7386), with kube-apiserver's errors.

Both functions take the current object and the decoded patch body and return a
new object; neither input is ever mutated (the result shares nothing with them).

Errors follow ``k8s.io/apiserver/pkg/endpoints/handlers/patch.go``:

- a JSON patch body that does not decode as a list of operation objects →
  400 ``BadRequest`` with Go's decoding message;
- more than 10,000 operations → 413 ``RequestEntityTooLarge``;
- an operation that cannot be applied (missing path, failed ``test``, bad
  index, unknown op) → 422 ``Invalid`` with upstream's fixed message
  ``the server rejected our request due to an error in our request`` (upstream
  drops the json-patch text; ours is kept as the exception's ``__cause__``
  for logs);
- a merge patch body that is not a JSON object → 400 ``Invalid JSON Patch``.

Pointer and op semantics follow the json-patch library kube-apiserver links
(evanphx/json-patch v4): ``~1``/``~0`` escapes, ``-`` appends, negative array
indices count from the end, ``replace`` of a missing *object member* adds it,
and ``test`` of a missing member passes only against ``null``.
"""

from __future__ import annotations

from typing import Any

from pinnace.api import errors
from pinnace.api.jsondata import json_copy

__all__ = [
    "MAX_JSON_PATCH_OPERATIONS",
    "JSONPatchError",
    "apply_json_patch",
    "apply_merge_patch",
    "clone",
    "create_merge_patch",
    "go_json_type",
    "json_equal",
]

MAX_JSON_PATCH_OPERATIONS = 10000
UNPROCESSABLE_MESSAGE = "the server rejected our request due to an error in our request"


class JSONPatchError(Exception):
    """Why a JSON patch operation could not be applied (the text upstream's library gives)."""


def clone(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists, scalars): :func:`~pinnace.api.jsondata.json_copy` for
    containers, the value itself for scalars (immutable)."""
    return json_copy(value) if isinstance(value, (dict, list)) else value


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: numbers compare by value, but ``true`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(json_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)):
        return isinstance(b, (int, float)) and a == b
    return type(a) is type(b) and bool(a == b)


# --- JSON patch ----------------------------------------------------------------------------------


def go_json_type(value: Any) -> str:
    """The JSON type Go names in an unmarshal error: object, array, string, bool or number."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    return "number"


def _decode_operations(patch: Any) -> list[dict[str, Any] | None]:
    if patch is None:
        return []
    if not isinstance(patch, list):
        raise errors.BadRequest(f"json: cannot unmarshal {go_json_type(patch)} into Go value of type jsonpatch.Patch")
    for op in patch:
        if op is not None and not isinstance(op, dict):
            raise errors.BadRequest(
                f"json: cannot unmarshal {go_json_type(op)} into Go value of type jsonpatch.Operation"
            )
    return patch


def _pointer(path: Any, what: str = "path") -> list[str]:
    if not isinstance(path, str):
        raise JSONPatchError(f"operation missing {what} field")
    if path == "":
        return []
    if not path.startswith("/"):
        raise JSONPatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(key: str, size: int, *, for_add: bool) -> int:
    """An array index for ``key`` in a list of ``size`` items (add may address ``size``)."""
    text = key[1:] if key.startswith("-") else key
    if not text.isascii() or not text.isdigit():
        raise JSONPatchError(f"value was not a proper array index: '{key}'")
    idx = int(key)
    limit = size + 1 if for_add else size
    if idx < 0:
        idx += limit
    if not 0 <= idx < limit:
        raise JSONPatchError(f"Unable to access invalid index: {key}")
    return idx


def _parent(doc: Any, parts: list[str], op: str, path: str) -> Any:
    """The container holding the last pointer segment."""
    cur = doc
    for part in parts[:-1]:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list):
            try:
                cur = cur[_index(part, len(cur), for_add=False)]
            except JSONPatchError:
                raise JSONPatchError(f"{op} operation does not apply: doc is missing path: {path}") from None
        else:
            raise JSONPatchError(f"{op} operation does not apply: doc is missing path: {path}")
    if not isinstance(cur, (dict, list)):
        raise JSONPatchError(f"{op} operation does not apply: doc is missing path: {path}")
    return cur


_MISSING = object()


def _get(doc: Any, parts: list[str], op: str, path: str) -> Any:
    """The value at a pointer, or ``_MISSING`` for an absent object member."""
    if not parts:
        return doc
    parent = _parent(doc, parts, op, path)
    key = parts[-1]
    if isinstance(parent, dict):
        return parent.get(key, _MISSING)
    return parent[_index(key, len(parent), for_add=False)]


def _add(doc: Any, parts: list[str], value: Any, path: str, op: str = "add") -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts, op, path)
    key = parts[-1]
    if isinstance(parent, dict):
        parent[key] = value
    elif key == "-":
        parent.append(value)
    else:
        parent.insert(_index(key, len(parent), for_add=True), value)
    return doc


def _remove(doc: Any, parts: list[str], path: str, op: str = "remove") -> Any:
    if not parts:
        raise JSONPatchError(f"{op} operation does not apply: doc is missing path: {path}")
    parent = _parent(doc, parts, op, path)
    key = parts[-1]
    if isinstance(parent, dict):
        if key not in parent:
            raise JSONPatchError(f"{op} operation does not apply: doc is missing key: {path}")
        return parent.pop(key)
    return parent.pop(_index(key, len(parent), for_add=False))


def _apply_one(doc: Any, op: dict[str, Any] | None) -> Any:
    kind = op.get("op") if op else None
    if kind not in ("add", "remove", "replace", "move", "copy", "test"):
        raise JSONPatchError(f"Unexpected kind: {kind if isinstance(kind, str) else 'unknown'}")
    assert op is not None
    path = op.get("path")
    parts = _pointer(path)
    if kind == "add":
        if "value" not in op:
            raise JSONPatchError("add operation does not apply: missing value")
        return _add(doc, parts, clone(op["value"]), str(path))
    if kind == "remove":
        _remove(doc, parts, str(path))
        return doc
    if kind == "replace":
        if not parts:
            return clone(op.get("value"))
        parent = _parent(doc, parts, "replace", str(path))
        key = parts[-1]
        if isinstance(parent, dict):
            parent[key] = clone(op.get("value"))
        else:
            parent[_index(key, len(parent), for_add=False)] = clone(op.get("value"))
        return doc
    if kind == "test":
        current = _get(doc, parts, "test", str(path))
        expected = op.get("value")
        if current is _MISSING:
            if expected is None:
                return doc
        elif json_equal(current, expected):
            return doc
        raise JSONPatchError(f"testing value {path} failed: test failed")
    from_parts = _pointer(op.get("from"), "from")
    if kind == "move":
        if from_parts == parts:
            return doc
        if len(parts) > len(from_parts) and parts[: len(from_parts)] == from_parts:
            raise JSONPatchError(f"move operation does not apply: cannot move {op.get('from')} into itself")
        value = _remove(doc, from_parts, str(op.get("from")), "move")
        return _add(doc, parts, value, str(path), "move")
    value = _get(doc, from_parts, "copy", str(op.get("from")))
    if value is _MISSING:
        raise JSONPatchError(f"copy operation does not apply: doc is missing from path: {op.get('from')}")
    return _add(doc, parts, clone(value), str(path), "copy")


def apply_json_patch(obj: dict[str, Any], patch: Any, *, in_place: bool = False) -> dict[str, Any]:
    """Apply an RFC 6902 patch (the decoded body: a list of operations) to ``obj``.

    ``in_place``: ``obj`` is the caller's own copy, which it drops if the patch fails half-way; changed
    rather than copied first."""
    ops = _decode_operations(patch)
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise errors.RequestEntityTooLarge(
            f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}"
        )
    doc: Any = obj if in_place else clone(obj)
    try:
        for op in ops:
            doc = _apply_one(doc, op)
    except JSONPatchError as exc:
        raise errors.Invalid(UNPROCESSABLE_MESSAGE) from exc
    if not isinstance(doc, dict):
        raise errors.Invalid(UNPROCESSABLE_MESSAGE) from JSONPatchError("patched document is not an object")
    return doc


# --- JSON merge patch ----------------------------------------------------------------------------


def _pruned(value: Any) -> Any:
    """A copy without ``null`` object members, also inside lists (list items stay)."""
    if isinstance(value, dict):
        return {k: _pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 MergePatch on a value we own (``target`` may be mutated)."""
    if not isinstance(patch, dict):
        return _pruned(patch)
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            target[key] = _merge(target.get(key), value)
        else:
            target[key] = _pruned(value)
    return target


def apply_merge_patch(obj: dict[str, Any], patch: Any, *, in_place: bool = False) -> dict[str, Any]:
    """Apply an RFC 7386 merge patch: objects merge recursively, ``null`` deletes, the rest replaces.

    ``in_place``: ``obj`` is the caller's own copy, changed rather than copied first."""
    if not isinstance(patch, dict):
        raise errors.BadRequest("Invalid JSON Patch")
    result: dict[str, Any] = _merge(obj if in_place else clone(obj), patch)
    return result


def create_merge_patch(original: dict[str, Any], modified: dict[str, Any]) -> dict[str, Any]:
    """The merge patch that turns ``original`` into ``modified`` (removed keys become ``null``)."""
    out: dict[str, Any] = {}
    for key in original:
        if key not in modified:
            out[key] = None
    for key, new in modified.items():
        if key not in original:
            out[key] = clone(new)
            continue
        old = original[key]
        if isinstance(old, dict) and isinstance(new, dict):
            sub = create_merge_patch(old, new)
            if sub:
                out[key] = sub
        elif not json_equal(old, new):
            out[key] = clone(new)
    return out
