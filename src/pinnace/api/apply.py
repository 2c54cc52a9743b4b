"""Server-side apply: merge an applied configuration into the live object, with ownership.

:func:`apply` is upstream's fieldmanager Apply (structured-merge-diff's
``Updater.Apply``) on plain dicts:

1. the configuration is merged into the live object: scalars and atomic
   values are replaced, structs and maps merge key by key, lists merge item by
   item by their identity (``x-kubernetes-list-type`` map/set), keeping the
   live order for items the configuration does not reorder;
2. fields the applier owned before and no longer sets are removed, unless the
   configuration or another manager still owns them (a struct field is owned
   whenever one of its sub-fields is);
3. fields the apply adds or changes that another manager owns are conflicts:
   a 409 naming each field and manager, or, with ``force``, the applier takes
   them; removed fields leave every owner;
4. the applier owns exactly the fields of its configuration.

The kubectl upgrade path from client-side apply is kept: for the manager
``kubectl``, conflicts on fields still as the last-applied annotation says are
no conflicts, and that annotation follows the applied configuration.

Errors: 400 for a configuration of the wrong apiVersion/kind, one that sets
``managedFields`` or one naming fields the schema does not declare (whatever
``fieldValidation`` says, as upstream's typed conversion of the patch); 409
(reason Conflict, one ``FieldManagerConflict`` cause per field) for conflicts.
"""

from __future__ import annotations

from typing import Any

import orjson

from pinnace.api import errors
from pinnace.api.fieldtypes import DEDUCED, LIST, MAP, STRUCT, FieldType, item_element, root_type
from pinnace.api.managedfields import (
    Entry,
    Path,
    compare,
    decode_entries,
    encode_entries,
    field_set,
    path_string,
    scope,
    set_managed,
    track_create,
)
from pinnace.api.registry import ResourceInfo

__all__ = ["LAST_APPLIED", "apply", "check_config", "merge", "remove_paths"]

Obj = dict[str, Any]
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_MISSING: Any = object()


# ---- merging ------------------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """A copy of a configuration value without nulls (they set nothing)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def merge(live: Any, config: Any, t: FieldType) -> Any:
    """``config`` merged into ``live`` (neither is changed; untouched subtrees are shared with ``live``)."""
    if live is _MISSING or live is None:
        return _clean(config)
    if config is None:
        return None if t.is_leaf_for(live) else live
    if t.is_leaf_for(live) or t.is_leaf_for(config):
        return _clean(config)
    if t.kind == LIST:
        return _merge_list(live, config, t)
    out = dict(live)
    for key, v in config.items():
        ct, _ = t.child(key)
        merged = _clean(v) if ct is None else merge(live.get(key, _MISSING), v, ct)
        if merged is None:
            out.pop(key, None)
        else:
            out[key] = merged
    return out


def _keyed(items: list[Any], t: FieldType, tag: str) -> tuple[list[Any], dict[Any, Any]]:
    order: list[Any] = []
    by_key: dict[Any, Any] = {}
    for i, item in enumerate(items):
        pe: Any = item_element(item, t) or (tag, i)  # items without identity stay where they are
        if pe in by_key:
            continue
        by_key[pe] = item
        order.append(pe)
    return order, by_key


def _merge_list(live: list[Any], config: list[Any], t: FieldType) -> list[Any]:
    """Upstream's list merge: items in the config's order, live-only items kept near their neighbours."""
    item_t = t.item
    assert item_t is not None
    l_order, l_items = _keyed(live, t, "live")
    r_order, r_items = _keyed(config, t, "config")
    shared = [pe for pe in r_order if pe in l_items]
    si = 0
    done: set[Any] = set()
    out: list[Any] = []
    li = ri = 0
    while li < len(l_order) or ri < len(r_order):
        next_shared = shared[si] if si < len(shared) else None
        if li < len(l_order) and ri < len(r_order):
            pe = l_order[li]
            if pe == r_order[ri]:
                done.add(pe)
                out.append(merge(l_items[pe], r_items[pe], item_t))
                li += 1
                ri += 1
                si += 1
                continue
            if pe in r_items and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < len(l_order):
            pe = l_order[li]
            if pe not in r_items:
                out.append(l_items[pe])
                li += 1
                continue
            if pe in done:
                li += 1
                continue
        if ri < len(r_order):
            pe = r_order[ri]
            done.add(pe)
            out.append(merge(l_items.get(pe, _MISSING), r_items[pe], item_t))
            ri += 1
            if next_shared is not None and next_shared == pe:
                si += 1
    return [v for v in out if v is not None]


# ---- removing owned fields ----------------------------------------------------------------------


def _trie(paths: set[Path]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in paths:
        node = root
        for pe in path[:-1]:
            nxt = node.get(pe)
            if nxt is True:
                break
            node = node.setdefault(pe, {})
        else:
            node[path[-1]] = True
    return root


def remove_paths(value: Any, paths: set[Path], t: FieldType) -> Any:
    """``value`` without the fields and items at ``paths`` (copied where changed)."""
    return _remove(value, _trie(paths), t) if paths else value


def _remove(value: Any, trie: dict[str, Any], t: FieldType) -> Any:
    if t.kind == LIST and isinstance(value, list):
        item_t = t.item
        assert item_t is not None
        out_list: list[Any] = []
        for item in value:
            pe = item_element(item, t)
            node = trie.get(pe) if pe is not None else None
            if node is True:
                continue
            out_list.append(item if node is None else _remove(item, node, item_t))
        return out_list
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for key in value:
        node = trie.get("f:" + key)
        if node is None:
            continue
        if node is True:
            del out[key]
            continue
        ct, _ = t.child(key)
        if ct is not None:
            out[key] = _remove(value[key], node, ct)
    return out


def named_closure(paths: set[Path], t: FieldType) -> set[Path]:
    """``paths`` plus every struct field above them (upstream EnsureNamedFieldsAreMembers)."""
    out = set(paths)
    for path in paths:
        cur: FieldType | None = t
        for i, pe in enumerate(path[:-1]):
            if cur is None:
                break
            if pe.startswith("f:"):
                parent = cur
                cur, declared = parent.child(pe[2:])
                if declared and parent.kind == STRUCT:
                    out.add(path[: i + 1])
            else:
                cur = cur.item if cur.kind == LIST else None
    return out


# ---- conflicts ----------------------------------------------------------------------------------


def _sorted_paths(paths: set[Path]) -> list[Path]:
    """Paths in upstream's iteration order: at each level the members first, then the children's."""
    out: list[Path] = []

    def walk(prefix: Path, group: list[Path]) -> None:
        depth = len(prefix)
        members = sorted(p for p in group if len(p) == depth + 1)
        out.extend(members)
        children: dict[str, list[Path]] = {}
        for p in group:
            if len(p) > depth + 1:
                children.setdefault(p[depth], []).append(p)
        for pe in sorted(children, key=lambda x: ({"f": 0, "k": 1, "v": 2, "i": 3}.get(x[:1], 4), x)):
            walk((*prefix, pe), children[pe])

    walk((), list(paths))
    return out


def conflict_error(conflicts: list[tuple[Entry, set[Path]]]) -> errors.Conflict:
    """Upstream's 409 for an apply that conflicts with other managers."""
    conflicts = sorted(conflicts, key=lambda c: c[0].describe())
    causes: list[errors.Cause] = []
    lines: list[str] = []
    for entry, paths in conflicts:
        who = entry.describe()
        lines.append(f"conflicts with {who}:")
        for p in _sorted_paths(paths):
            causes.append(errors.Cause("FieldManagerConflict", f"conflict with {who}", path_string(p)))
            lines.append(f"- {path_string(p)}")
    if len(causes) == 1:
        message = f"Apply failed with 1 conflict: {causes[0].message}: {causes[0].field}"
    else:
        message = f"Apply failed with {len(causes)} conflicts: " + "\n".join(lines)
    return errors.Conflict(message, causes=causes)


# ---- apply --------------------------------------------------------------------------------------


def check_config(info: ResourceInfo, config: Any) -> Obj:
    """The applied configuration, or 400 for one that cannot be applied to this resource."""
    if not isinstance(config, dict):
        raise errors.BadRequest("error decoding YAML: the apply patch must be a YAML or JSON object")
    version = config.get("apiVersion") or ""
    if version != info.api_version:
        raise errors.BadRequest(
            f"Incorrect version specified in apply patch. Specified patch version: {version}, "
            f"expected: {info.api_version}"
        )
    kind = config.get("kind")
    if kind != info.kind:
        raise errors.BadRequest(f"the kind in the data ({kind or ''}) does not match the expected kind ({info.kind})")
    meta = config.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise errors.BadRequest("metadata must be an object")
    if isinstance(meta, dict) and meta.get("managedFields") is not None:
        raise errors.BadRequest("metadata.managedFields must be nil")
    undeclared = sorted(path_string(p) for p in _undeclared(config, root_type(info), ()))
    if undeclared:
        # Upstream's typed conversion of the patch, whatever fieldValidation says (a 500 there; a 400 here).
        meta = meta if isinstance(meta, dict) else {}
        where = f"{meta.get('namespace') or ''}/{meta.get('name') or ''}; {info.group}/{info.version}, Kind={info.kind}"
        found = [f"{p}: field not declared in schema" for p in undeclared]
        detail = found[0] if len(found) == 1 else "\n".join(["errors:", *(f"  {f}" for f in found)])
        raise errors.BadRequest(f"failed to create typed patch object ({where}): {detail}")
    return config


#: Keys an embedded resource (``x-kubernetes-embedded-resource``) has without declaring them.
_EMBEDDED_KEYS = frozenset({"apiVersion", "kind", "metadata"})


def _undeclared(value: Any, t: FieldType, path: Path) -> list[Path]:
    """The paths in an apply configuration that its kind's schema does not declare."""
    if t.kind == DEDUCED:
        return []
    out: list[Path] = []
    if t.kind == LIST and isinstance(value, list) and t.item is not None:
        for i, item in enumerate(value):
            out += _undeclared(item, t.item, (*path, item_element(item, t) or f"i:{i}"))
    elif t.kind in (STRUCT, MAP) and isinstance(value, dict):
        for key, v in value.items():
            ct, _ = t.child(key)
            if ct is not None:
                out += _undeclared(v, ct, (*path, "f:" + key))
            elif t.builtin or key not in _EMBEDDED_KEYS:
                out.append((*path, "f:" + key))
    return out


def _last_applied_allowed(info: ResourceInfo, live: Obj, t: FieldType) -> set[Path]:
    """Fields client-side apply last set that still hold its values (no conflict for ``kubectl``)."""
    raw = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not raw:
        return set()
    try:
        last = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return set()
    if not isinstance(last, dict) or last.get("apiVersion") != info.api_version:
        return set()
    diff = compare(last, live, t)
    return field_set(last, t) - diff.modified - diff.added - diff.removed


def _sync_last_applied(merged: Obj, config: Obj) -> Obj:
    """Keep kubectl's last-applied annotation equal to what kubectl last applied server-side."""
    cfg = _clean(config)
    annotations = dict((cfg.get("metadata") or {}).get("annotations") or {})
    annotations.pop(LAST_APPLIED, None)
    if "metadata" in cfg:
        cfg["metadata"] = dict(cfg["metadata"])
        if annotations:
            cfg["metadata"]["annotations"] = annotations
        else:
            cfg["metadata"].pop("annotations", None)
    meta = dict(merged.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), LAST_APPLIED: orjson.dumps(cfg).decode() + "\n"}
    return {**merged, "metadata": meta}


def apply(
    info: ResourceInfo,
    live: Obj | None,
    config: Obj,
    manager: str,
    *,
    force: bool = False,
    subresource: str | None = None,
    now: str,
) -> Obj:
    """The object after ``manager`` applies ``config`` to ``live`` (None: create), managedFields included.

    Raises the 409 of :func:`conflict_error` unless ``force``. Neither input is changed.
    """
    check_config(info, config)
    t = root_type(info)
    base: Obj = live if live is not None else {}
    live_meta = base.get("metadata") or {}
    entries = decode_entries(live_meta.get("managedFields") or []) or []
    if live is not None and not entries:
        # An object nobody tracked yet: everything in it belongs to "before-first-apply".
        seed: Obj = {k: v for k, v in live.items() if k != "metadata"}
        seed["metadata"] = {k: v for k, v in live_meta.items() if k != "managedFields"}
        track_create(info, seed, "before-first-apply", now=now)
        entries = decode_entries(seed["metadata"].get("managedFields") or []) or []
    me = Entry(manager, "Apply", info.api_version, set(), subresource=subresource or "")
    mine = next((e for e in entries if e.identity == me.identity), None)
    others = [e for e in entries if e is not mine]
    config_set = scope(field_set(config, t), info, subresource)

    merged: Obj = merge(base, config, t)
    if mine is not None and mine.fields:
        keep: set[Path] = set(config_set)
        for e in others:
            keep |= e.fields
        gone = named_closure(mine.fields, t) - named_closure(keep, t)
        merged = remove_paths(merged, gone, t)

    diff = compare(base, merged, t)
    changed = scope(diff.added | diff.modified, info, subresource)
    removed = scope(diff.removed, info, subresource)
    conflicts = [(e, e.fields & changed) for e in others if e.fields & changed]
    if conflicts and not force:
        allowed = _last_applied_allowed(info, base, t) if manager == "kubectl" and live is not None else set()
        left = [(e, paths - allowed) for e, paths in conflicts if paths - allowed]
        if left:
            raise conflict_error(left)
    for e in others:
        e.fields -= changed
        e.fields -= removed
    object_changed = bool(changed or removed)
    if mine is None:
        mine = me
        entries.append(mine)
    if object_changed or mine.fields != config_set or mine.time is None:
        mine.time = now
    mine.fields = config_set
    mine.api_version = info.api_version

    if manager == "kubectl" and LAST_APPLIED in (live_meta.get("annotations") or {}):
        merged = _sync_last_applied(merged, config)
    meta = dict(merged.get("metadata") or {})
    set_managed(meta, encode_entries(entries))
    merged["metadata"] = meta
    return merged
