"""Strategic merge patch for built-in kinds, driven by the v1.32 OpenAPI definitions.

A port of ``k8s.io/apimachinery/pkg/util/strategicpatch`` (``StrategicMergeMapPatch``
with the server's options: parallel delete lists merged, unmatched nulls
ignored). Per field the schema says how to combine the live value and the patch
(``x-kubernetes-patch-strategy`` / ``x-kubernetes-patch-merge-key``):

- maps merge recursively; a ``null`` value deletes the key;
- lists with strategy ``merge`` and a merge key merge item by item: a patch
  item whose key matches a live item is merged into it, others are added,
  ``{"$patch": "delete", <key>: v}`` removes every live item with that key and
  ``{"$patch": "replace"}`` makes the rest of the patch list the whole list;
- lists of primitives with strategy ``merge`` merge as ordered sets;
- every other list (no strategy, ``replace``, or unknown fields) is replaced;
- ``{"$patch": "replace"}`` in a map replaces the map, ``{"$patch": "delete"}``
  empties it; ``$retainKeys: [...]`` drops live keys not listed;
  ``$setElementOrder/<f>: [...]`` fixes the order of list ``f``;
  ``$deleteFromPrimitiveList/<f>: [...]`` removes values from primitive list ``f``.

Element order follows upstream exactly (it is observable): items named in the
patch keep the patch's order, live-only items keep theirs, and the two are
interleaved by live position — so an item new to the list lands *before*
live-only items, as kube-apiserver does. Fields without a schema merge like a
JSON merge patch. Directives never leak into the result.

Errors: malformed directives → 400 ``BadRequest`` (upstream's text, e.g.
``invalid patch format of retainKeys``); lists of lists → 422 (``lists of lists
are not supported``). Where upstream answers a plain 500 for bad input (a list
item without its merge key, an unknown ``$patch`` value) we answer 400 with the
same message.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pinnace.api import errors
from pinnace.api.definitions import Schema, resolve
from pinnace.api.patch import UNPROCESSABLE_MESSAGE, clone

__all__ = ["apply_strategic_patch"]

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"

_ERR_RETAIN_KEYS = "invalid patch format of retainKeys"
_ERR_SET_ORDER = "invalid patch type of setElementOrder list"
_ERR_PRIMITIVE = "invalid patch format of primitive list"


class _Unprocessable(Exception):
    """A patch upstream answers with a 422 (its message is in the exception text)."""


def _go_fmt(value: Any) -> str:
    """Go's ``%v`` of a decoded JSON value (used in upstream's error messages)."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_fmt(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_fmt(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _no_merge_key(item: Any, key: str) -> errors.BadRequest:
    return errors.BadRequest(f"map: {_go_fmt(item)} does not contain declared merge key: {key}")


# --- schema lookups (cached: the definitions are loaded once and never change) -------------------

_Field = tuple[Schema | None, str, str]  # (resolved child schema, patch strategy, merge key)
_FIELD_CACHE: dict[tuple[int, str], tuple[Schema, _Field]] = {}
_ITEMS_CACHE: dict[int, tuple[Schema, Schema | None]] = {}
_NO_FIELD: _Field = (None, "", "")


def _strategy(raw: Any) -> str:
    """The merge strategy left once ``retainKeys`` is taken out (upstream's extractRetainKeys…)."""
    if not isinstance(raw, str) or not raw:
        return ""
    parts = [p for p in raw.split(",") if p != "retainKeys"]
    return parts[0] if parts else ""


def _field(schema: Schema | None, key: str) -> _Field:
    if schema is None:
        return _NO_FIELD
    hit = _FIELD_CACHE.get((id(schema), key))
    if hit is not None and hit[0] is schema:
        return hit[1]
    node: Any = None
    props = schema.get("properties")
    if isinstance(props, dict):
        node = props.get(key)
    if node is None and isinstance(schema.get("additionalProperties"), dict):
        node = schema["additionalProperties"]
    if not isinstance(node, dict):
        out: _Field = _NO_FIELD
    else:
        merge_key = node.get("x-kubernetes-patch-merge-key")
        out = (resolve(node), _strategy(node.get("x-kubernetes-patch-strategy")),
               merge_key if isinstance(merge_key, str) else "")  # fmt: skip
    if len(_FIELD_CACHE) > 20000:
        _FIELD_CACHE.clear()
    _FIELD_CACHE[(id(schema), key)] = (schema, out)
    return out


def _items(schema: Schema | None) -> Schema | None:
    if schema is None:
        return None
    hit = _ITEMS_CACHE.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    node = schema.get("items")
    out = resolve(node) if isinstance(node, dict) else None
    if len(_ITEMS_CACHE) > 5000:
        _ITEMS_CACHE.clear()
    _ITEMS_CACHE[id(schema)] = (schema, out)
    return out


# --- identity of list elements -------------------------------------------------------------------


def _ident(value: Any) -> Any:
    """A hashable identity for a scalar that keeps ``true`` apart from ``1``."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, (int, float)):
        return ("n", value)
    if isinstance(value, (str, type(None))):
        return ("s", value)
    return ("o", repr(value))


def _item_ident(item: Any, merge_key: str) -> Any:
    """Identity of a list element: its merge key's value for maps, itself for scalars."""
    if merge_key:
        if not isinstance(item, dict) or merge_key not in item:
            raise _no_merge_key(item, merge_key)
        return _ident(item[merge_key])
    return _ident(item)


def _positions(items: Iterable[Any], merge_key: str) -> dict[Any, int]:
    out: dict[Any, int] = {}
    for i, item in enumerate(items):
        out.setdefault(_item_ident(item, merge_key), i)
    return out


def _element_kind(*lists: list[Any]) -> str:
    """ "map", "scalar" or "" (no elements); lists of lists are refused as upstream does."""
    kind = ""
    for values in lists:
        for v in values:
            if isinstance(v, list):
                raise _Unprocessable("lists of lists are not supported")
            this = "map" if isinstance(v, dict) else "scalar"
            if kind and kind != this:
                raise errors.BadRequest(f"list element types are not identical: {_go_fmt(list(lists))}")
            kind = this
    return kind


def _ordered(
    patch_items: list[Any],
    server_only: list[Any],
    patch_order: list[Any],
    server_order: list[Any],
    merge_key: str,
) -> list[Any]:
    """Upstream normalizeElementOrder: sort each part by its order, then interleave by live order."""
    patch_pos = _positions(patch_order, merge_key)
    server_pos = _positions(server_order, merge_key)
    big = len(patch_order) + len(server_order) + 1
    right = sorted(patch_items, key=lambda it: patch_pos.get(_item_ident(it, merge_key), big))
    left = sorted(server_only, key=lambda it: server_pos.get(_item_ident(it, merge_key), big))
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if j >= len(right):
            out.append(left[i])
            i += 1
        elif i >= len(left):
            out.append(right[j])
            j += 1
        else:
            li = server_pos.get(_item_ident(left[i], merge_key), -1)
            ri = server_pos.get(_item_ident(right[j], merge_key), -1)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _partition(merged: list[Any], present_in: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    wanted = {_item_ident(x, merge_key) for x in present_in}
    inside: list[Any] = []
    outside: list[Any] = []
    for item in merged:
        (inside if _item_ident(item, merge_key) in wanted else outside).append(item)
    return inside, outside


# --- merging -------------------------------------------------------------------------------------


def _fresh(value: Any, schema: Schema | None) -> Any:
    """A patch value that has no live counterpart, stripped of nulls and directives."""
    if isinstance(value, dict):
        return _merge_map({}, value, schema)
    if isinstance(value, list):
        item_schema = _items(schema)
        out: list[Any] = []
        for item in value:
            if isinstance(item, dict):
                if _DIRECTIVE in item:
                    continue
                out.append(_merge_map({}, item, item_schema))
            else:
                out.append(clone(item))
        return out
    return value


def _merge_map(original: dict[str, Any], patch: dict[str, Any], schema: Schema | None) -> dict[str, Any]:
    """Merge ``patch`` into ``original`` (which we own and may mutate)."""
    directive = patch.get(_DIRECTIVE)
    if directive is not None:
        if directive == "replace":
            return _merge_map({}, {k: v for k, v in patch.items() if k != _DIRECTIVE}, schema)
        if directive == "delete":
            return {}
        raise errors.BadRequest(f"unknown patch type: {_go_fmt(directive)} in map: {_go_fmt(patch)}")

    if _RETAIN_KEYS in patch:
        retain = patch[_RETAIN_KEYS]
        if not isinstance(retain, list) or not all(isinstance(k, str) for k in retain):
            raise errors.BadRequest(_ERR_RETAIN_KEYS)
        keep = set(retain)
        for key in [k for k in original if k not in keep]:
            del original[key]

    handled: set[str] = set()
    for key, order in patch.items():
        if key.startswith(_SET_ORDER):
            field = key[len(_SET_ORDER) :]
            _apply_set_order(original, patch, field, order, schema)
            handled.add(field)

    deletions: list[tuple[str, Any]] = []
    for key, value in patch.items():
        if key.startswith("$"):
            if key.startswith(_DELETE_PRIMITIVE):
                deletions.append((key[len(_DELETE_PRIMITIVE) :], value))
            continue
        if key in handled:
            continue
        if value is None:
            original.pop(key, None)
            continue
        child, strategy, merge_key = _field(schema, key)
        live = original.get(key)
        if key not in original or live is None or _shape(live) != _shape(value):
            original[key] = _fresh(value, child)
        elif isinstance(value, dict):
            original[key] = _fresh(value, child) if strategy == "replace" else _merge_map(live, value, child)
        elif isinstance(value, list):
            original[key] = _merge_list(live, value, child, strategy, merge_key)
        else:
            original[key] = value

    for field, values in deletions:
        if not isinstance(values, list):
            raise errors.BadRequest(_ERR_PRIMITIVE)
        live = original.get(field)
        if not isinstance(live, list):
            continue
        child, strategy, merge_key = _field(schema, field)
        if strategy != "merge":
            original[field] = _fresh(values, child)  # upstream replaces a non-merge list with the delete list
            continue
        if _element_kind(live, values) == "map":
            raise errors.BadRequest(_ERR_PRIMITIVE)
        gone = {_ident(v) for v in values}
        original[field] = [v for v in live if _ident(v) not in gone]
    return original


def _shape(value: Any) -> str:
    return "map" if isinstance(value, dict) else "list" if isinstance(value, list) else "scalar"


def _merge_list(
    original: list[Any], patch: list[Any], schema: Schema | None, strategy: str, merge_key: str
) -> list[Any]:
    """Merge a patch list into a live list according to the field's strategy."""
    if strategy != "merge":
        return list(_fresh(patch, schema))
    if not original and not patch:
        return original
    kind = _element_kind(original, patch)
    if kind != "map":
        merged = list(original)
        seen = {_ident(v) for v in merged}
        for v in patch:
            if _ident(v) not in seen:
                seen.add(_ident(v))
                merged.append(v)
        inside, outside = _partition(merged, patch, "")
        return _ordered(inside, outside, patch, original, "")
    if not merge_key:
        raise errors.BadRequest("cannot merge lists without merge key")
    item_schema = _items(schema)

    # Special elements: {"$patch": "delete", key: v}, {"$patch": "replace"}.
    plain: list[dict[str, Any]] = []
    replace = False
    for item in patch:
        kind_ = item.get(_DIRECTIVE)
        if kind_ is None:
            plain.append(item)
        elif kind_ == "delete":
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            target = _ident(item[merge_key])
            original = [o for o in original if not (merge_key in o and _ident(o[merge_key]) == target)]
        elif kind_ == "replace":
            replace = True
        elif kind_ == "merge":
            raise errors.BadRequest("merging lists cannot yet be specified in the patch")
        else:
            raise errors.BadRequest(f"unknown patch type: {_go_fmt(kind_)} in map: {_go_fmt(item)}")
    if replace:
        return [_merge_map({}, item, item_schema) for item in plain]

    merged = list(original)
    index = {_ident(o[merge_key]): i for i, o in reversed(list(enumerate(merged))) if merge_key in o}
    for item in plain:
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
        ident = _ident(item[merge_key])
        at = index.get(ident)
        if at is None:
            index[ident] = len(merged)
            merged.append(_merge_map({}, item, item_schema))
        else:
            merged[at] = _merge_map(merged[at], item, item_schema)
    inside, outside = _partition(merged, plain, merge_key)
    return _ordered(inside, outside, plain, original, merge_key)


def _apply_set_order(
    original: dict[str, Any], patch: dict[str, Any], field: str, order: Any, schema: Schema | None
) -> None:
    """Merge list ``field`` and impose the ``$setElementOrder`` order (upstream mergePatchIntoOriginal)."""
    if not isinstance(order, list):
        raise errors.BadRequest(_ERR_SET_ORDER)
    live = original.get(field)
    found_live = isinstance(live, list)
    if field in original and live is not None and not found_live:
        raise errors.BadRequest(_ERR_SET_ORDER)
    patch_list = patch.get(field)
    found_patch = isinstance(patch_list, list)
    if field in patch and patch_list is not None and not found_patch:
        raise errors.BadRequest(_ERR_SET_ORDER)
    child, strategy, merge_key = _field(schema, field)
    if found_live and found_patch:
        merged = _merge_list(list(live), patch_list, child, strategy, merge_key)  # type: ignore[arg-type]
    elif found_patch:
        merged = list(_fresh(patch_list, child))
    elif found_live:
        merged = list(live)  # type: ignore[arg-type]
    else:
        return
    if merged and isinstance(merged[0], dict) and not merge_key:
        raise errors.BadRequest(_ERR_SET_ORDER)
    for item in order:
        if merge_key and not (isinstance(item, dict) and merge_key in item):
            raise _no_merge_key(item, merge_key)
    inside, outside = _partition(merged, order, merge_key)
    original[field] = _ordered(inside, outside, order, list(live) if found_live else [], merge_key)  # type: ignore[arg-type]


def apply_strategic_patch(original: dict[str, Any], patch: Any, schema: Schema | None) -> dict[str, Any]:
    """Apply a strategic merge patch to ``original`` per ``schema`` (the kind's definition).

    Neither input is mutated. ``schema`` comes from
    ``definitions.definition_for(group, version, kind)``; None merges the whole
    object like a JSON merge patch.
    """
    if not isinstance(patch, dict):
        raise errors.BadRequest(
            "json: cannot unmarshal "
            + ("array" if isinstance(patch, list) else "string" if isinstance(patch, str) else "number")
            + " into Go value of type map[string]interface {}"
        )
    try:
        return _merge_map(clone(original), patch, resolve(schema) if schema is not None else None)
    except _Unprocessable as exc:
        raise errors.Invalid(UNPROCESSABLE_MESSAGE) from exc
    except RecursionError:
        raise errors.BadRequest("patch is nested too deeply") from None
