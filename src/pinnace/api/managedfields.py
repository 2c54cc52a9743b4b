"""Field ownership: the fields a write sets or changes, and Update tracking in ``metadata.managedFields``.

Every write records who owns which fields (upstream's fieldmanager on
structured-merge-diff). A set of fields is a Python set of *paths*, each a
tuple of FieldsV1 path elements; the wire codec (:func:`encode_fields` /
:func:`decode_fields`, :class:`Entry`, :func:`decode_entries` /
:func:`encode_entries`) lives in :mod:`pinnace.api.fieldsv1` and is
re-exported here.

- :func:`field_set` — the fields a value sets (what an applier owns);
- :func:`compare` — added, modified and removed fields between two objects;
- :func:`track_update` — the Update operation of create/update/patch: the
  writer takes what it added or changed (from everyone, no conflicts), and
  removed fields leave every owner. On the stored managedFields (the common
  case) only the entries owning a changed or removed field are edited; the
  rest are kept as stored, with the same result as decoding and re-encoding all.

Server-owned metadata (name, uid, resourceVersion, …) and the half of the
object a subresource does not write (``status`` for the main resource,
everything else for ``/status``) are never owned. A client may replace
``managedFields`` on update; ``[]`` or ``[{}]`` resets it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from pinnace.api import errors, gozero
from pinnace.api.fieldsv1 import (
    Entry,
    Path,
    decode_entries,
    decode_fields,
    edit_fields,
    edit_trie,
    encode_entries,
    encode_fields,
    entry_object,
    entry_order,
    is_canonical,
    is_reset,
    owns,
    path_string,
    sort_key,
)
from pinnace.api.fieldtypes import DEDUCED, LIST, SCALAR, FieldType, item_element, root_type
from pinnace.api.registry import ResourceInfo

__all__ = [
    "Entry",
    "Path",
    "compare",
    "decode_entries",
    "decode_fields",
    "encode_entries",
    "encode_fields",
    "field_set",
    "is_reset",
    "manager_from_user_agent",
    "path_string",
    "scope",
    "set_managed",
    "track_create",
    "track_update",
    "validate_manager",
]

Obj = dict[str, Any]

_MISSING: Any = object()

#: Metadata only the server writes: never owned (upstream's stripMeta set).
_STRIPPED: frozenset[Path] = frozenset(
    {("f:apiVersion",), ("f:kind",), ("f:metadata",)}
    | {
        ("f:metadata", "f:" + f)
        for f in (
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        )
    }
)

MAX_MANAGER_LENGTH = 128
#: Update managers an object keeps apart (upstream's DefaultMaxUpdateManagers); older ones are merged, per
#: apiVersion, into one entry of :data:`ANCIENT_CHANGES`.
MAX_UPDATE_MANAGERS = 10
ANCIENT_CHANGES = "ancient-changes"


# ---- sets of fields ---------------------------------------------------------------------------


def field_set(value: Any, t: FieldType) -> set[Path]:
    """Every leaf field and list/map item ``value`` mentions (upstream ToFieldSet)."""
    out: set[Path] = set()
    _to_set(value, t, (), out)
    return out


def _to_set(value: Any, t: FieldType, path: Path, out: set[Path]) -> None:
    if t.is_leaf_for(value):
        if path:
            out.add(path)
        return
    if t.kind == LIST:
        item_t = t.item
        assert item_t is not None
        for item in value:
            pe = item_element(item, t)
            if pe is None:
                continue
            p = (*path, pe)
            _to_set(item, item_t, p, out)
            out.add(p)
        return
    for key, v in value.items():
        ct, declared = t.child(key)
        if ct is None:
            continue
        p = (*path, "f:" + key)
        _to_set(v, ct, p, out)
        if not declared or v is None or (isinstance(v, dict) and not v):
            out.add(p)


@dataclass(slots=True)
class Comparison:
    """The fields a change added, modified and removed."""

    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)


def compare(old: Any, new: Any, t: FieldType) -> Comparison:
    """What changed from ``old`` to ``new`` (upstream's Compare of typed values).

    A node new in ``new`` is added, and a member of its own unless the old Go value had it already
    (:func:`_member_on_add`); inside a new node every node is a member.
    """
    c = Comparison()
    if type(old) is not type(new) or old != new:  # equal values of one type change nothing (as in _cmp's loops)
        _cmp(old, new, t, (), c, True)
    return c


def _empty(v: Any) -> bool:
    return v is None or ((isinstance(v, (dict, list))) and not v)


def _member_on_add(parent: FieldType, key: str, ct: FieldType, declared: bool) -> bool:
    """Whether a field new beside its (old) parent's other fields is a member of its own ("." in FieldsV1).

    Upstream's compare makes every map or list node that its old side lacked a member. A built-in kind's old
    side is its Go value as encoded: a required field is there even when nil (``containers: null``), so it is
    no member; a struct that is no pointer is always there (at least ``{}``), so it is compared rather than
    added (a stored object has it, and a create compares with :func:`gozero.zero_value`); everything else
    (an optional list, map or pointer struct such as ``livenessProbe``) is a member when it appears.
    """
    return not (ct.builtin and declared and key in parent.required)


def _cmp(old: Any, new: Any, t: FieldType, path: Path, c: Comparison, member: bool) -> None:
    if old is _MISSING:
        _add_all(new, t, path, c.added, member)
        return
    if new is _MISSING:
        _remove_all(old, t, path, c.removed)
        return
    if t.is_leaf_for(old) or t.is_leaf_for(new) or (_empty(old) and _empty(new)):
        if old != new or type(old) is not type(new):
            c.modified.add(path)
        return
    if type(old) is not type(new) and old == new:  # (the caller skips values equal and of one type)
        return
    if t.kind == LIST:
        item_t = t.item
        assert item_t is not None
        old_items = _index(old, t)
        new_items = _index(new, t)
        for pe, item in new_items.items():
            was = old_items.get(pe, _MISSING)
            if type(was) is not type(item) or was != item:  # an equal item changes nothing: skip the call
                _cmp(was, item, item_t, (*path, pe), c, True)
        for pe, item in old_items.items():
            if pe not in new_items:
                _remove_all(item, item_t, (*path, pe), c.removed)
        return
    for key, v in new.items():
        was = old.get(key, _MISSING)
        if type(was) is type(v) and was == v:  # an equal field changes nothing: skip the call
            continue
        ct, declared = t.child(key)
        if ct is not None:
            _cmp(was, v, ct, (*path, "f:" + key), c, _member_on_add(t, key, ct, declared))
    for key, v in old.items():
        if key not in new:
            ct, _ = t.child(key)
            if ct is not None:
                _remove_all(v, ct, (*path, "f:" + key), c.removed)


def _index(items: list[Any], t: FieldType) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        pe = item_element(item, t)
        if pe is not None and pe not in out:
            out[pe] = item
    return out


def _add_all(value: Any, t: FieldType, path: Path, out: set[Path], member: bool) -> None:
    if t.is_leaf_for(value) or _empty(value):
        out.add(path)
        return
    if member:
        out.add(path)
    if t.kind == LIST:
        item_t = t.item
        assert item_t is not None
        for pe, item in _index(value, t).items():
            _add_all(item, item_t, (*path, pe), out, True)
        return
    for key, v in value.items():  # inside a new node the old side has nothing: every node is a member
        ct, _ = t.child(key)
        if ct is not None:
            _add_all(v, ct, (*path, "f:" + key), out, True)


def _remove_all(value: Any, t: FieldType, path: Path, out: set[Path]) -> None:
    out.add(path)
    if t.is_leaf_for(value) or _empty(value):
        return
    if t.kind == LIST:
        item_t = t.item
        assert item_t is not None
        for pe, item in _index(value, t).items():
            _remove_all(item, item_t, (*path, pe), out)
        return
    for key, v in value.items():
        ct, _ = t.child(key)
        if ct is not None:
            _remove_all(v, ct, (*path, "f:" + key), out)


def scope(paths: set[Path], info: ResourceInfo, subresource: str | None) -> set[Path]:
    """The paths a writer can own: no server metadata; ``status`` only through /status, and only there."""
    out = paths - _STRIPPED
    if subresource == "status":
        return {p for p in out if p[0] == "f:status"}
    if info.has_status:
        return {p for p in out if p[0] != "f:status"}
    return out


# ---- the Update operation -----------------------------------------------------------------------


def _client_entries(new_meta: Obj, old_meta: Obj, subresource: str | None) -> list[Entry] | None:
    """The ownership an Update brings along, or None: it starts from the live object's (upstream decodeLiveOrNew)."""
    if subresource is None:
        raw = new_meta.get("managedFields")
        if is_reset(raw):
            return []
        if raw is not None and raw != old_meta.get("managedFields"):
            decoded = decode_entries(raw)
            if decoded:
                return decoded
    return None


def track_update(
    info: ResourceInfo, old: Obj, new: Obj, manager: str, *, subresource: str | None = None, now: str
) -> None:
    """Record an Update by ``manager`` in ``new``'s managedFields (in place), as upstream's fieldmanager does."""
    new_meta = new.setdefault("metadata", {})
    old_meta = old.get("metadata") or {}
    entries = _client_entries(new_meta, old_meta, subresource)
    t = root_type(info)
    diff = compare(old, new, t)
    changed = scope(diff.added | diff.modified, info, subresource)
    removed = scope(diff.removed, info, subresource)
    if entries is None:
        live = old_meta.get("managedFields")
        if not changed and not removed:
            if live is not None:
                new_meta["managedFields"] = live
            else:
                new_meta.pop("managedFields", None)
            return
        me = Entry(manager, "Update", info.api_version, set(), time=now, subresource=subresource or "")
        stored = _update_stored(live or [], changed, removed, me)
        if stored is not None:
            set_managed(new_meta, stored)
            return
        entries = decode_entries(live or []) or []
    apply_update(entries, changed, removed, manager, info.api_version, subresource, now)
    set_managed(new_meta, encode_entries(entries))


def _update_stored(raw: Any, changed: set[Path], removed: set[Path], me: Entry) -> list[Obj] | None:
    """:func:`apply_update` then :func:`encode_entries` on stored entries, for the updater ``me`` (its time: now).

    Most updates change a few fields that one or two managers own: every other
    entry is kept as stored (the same dict), and the updater's own entry only
    gets a new time when it owns every changed field already. None if some
    entry is not canonical (:func:`~pinnace.api.fieldsv1.is_canonical`): the
    slow path normalises such entries, or drops ownership that is invalid.
    """
    if not isinstance(raw, list):
        return None
    out: list[Obj] = []
    found = False
    taken: Obj | None = None  # the edit of every other entry: it loses the changed and the removed fields
    for item in raw:
        if not is_canonical(item):
            return None
        fields = item["fieldsV1"]
        if (
            not found
            and item["manager"] == me.manager
            and item["operation"] == "Update"
            and item["apiVersion"] == me.api_version
            and item.get("subresource", "") == me.subresource
        ):
            found = True
            if any(owns(fields, p) for p in removed) or not all(owns(fields, p) for p in changed):
                fields = edit_fields(fields, edit_trie(removed, changed))
            if fields:
                out.append(entry_object(me, fields) if changed else {**item, "fieldsV1": fields})
        elif any(owns(fields, p) for p in changed) or any(owns(fields, p) for p in removed):
            if taken is None:
                taken = edit_trie(changed | removed)
            fields = edit_fields(fields, taken)
            if fields:
                out.append({**item, "fieldsV1": fields})
        else:
            out.append(item)
    if not found and changed:
        out.append(entry_object(me, encode_fields(changed)))
    out.sort(key=entry_order)
    return out


def apply_update(
    entries: list[Entry],
    changed: set[Path],
    removed: set[Path],
    manager: str,
    api_version: str,
    subresource: str | None,
    now: str,
) -> None:
    """Give ``changed`` to the updater (taking it from everyone else) and drop ``removed`` from all (in place)."""
    me = Entry(manager, "Update", api_version, set(), subresource=subresource or "")
    mine = next((e for e in entries if e.identity == me.identity), None)
    for e in entries:
        if e is not mine:
            e.fields -= changed
            e.fields -= removed
    if mine is None:
        if not changed:
            return
        me.fields = set(changed)
        me.time = now
        entries.append(me)
        return
    mine.fields -= removed
    if changed:
        mine.fields |= changed
        mine.time = now


def carry_over(old: Obj, new: Obj) -> None:
    """For a write recorded for nobody: keep the live managedFields unless the write resets them (in place)."""
    new_meta = new.setdefault("metadata", {})
    raw = new_meta.get("managedFields")
    if raw is None:
        old_raw = (old.get("metadata") or {}).get("managedFields")
        if old_raw is not None:
            new_meta["managedFields"] = old_raw
    elif is_reset(raw):
        del new_meta["managedFields"]


def set_managed(meta: Obj, encoded: list[Obj]) -> None:
    """Write the entries a write left (:func:`cap_update_managers` applied) as ``meta``'s managedFields."""
    if encoded:
        meta["managedFields"] = cap_update_managers(encoded)
    else:
        meta.pop("managedFields", None)


def cap_update_managers(encoded: list[Obj]) -> list[Obj]:
    """Upstream's cap on Update managers: past :data:`MAX_UPDATE_MANAGERS`, the oldest are merged into one
    :data:`ANCIENT_CHANGES` entry per apiVersion (owning the union of their fields, timed as the newest merged),
    oldest first (by time, then by who they are), until the cap holds. Without it an object that many
    managers write (a controller per node, say) grows an entry for each, for ever.

    Where upstream, meeting the bucket after an older lone manager of its version, deletes the bucket and
    with it what it owned, the lone manager is merged into the bucket instead.
    """
    if sum(1 for item in encoded if item.get("operation") == "Update") <= MAX_UPDATE_MANAGERS:
        return encoded
    entries = decode_entries(encoded)
    if entries is None:
        return encoded
    updaters = sorted((e for e in entries if e.operation == "Update"), key=_age_order)
    buckets = {e.api_version: e for e in updaters if e.manager == ANCIENT_CHANGES and not e.subresource}
    first_of_version: dict[str, Entry] = {}
    count = len(updaters)
    for e in updaters:
        if count <= MAX_UPDATE_MANAGERS:
            break
        first = first_of_version.get(e.api_version)
        if first is None:
            first_of_version[e.api_version] = e
            continue
        bucket = buckets.get(e.api_version)
        if bucket is None:  # the first of the version becomes the bucket
            first.manager, first.subresource = ANCIENT_CHANGES, ""
            bucket = buckets[e.api_version] = first
        merged, into = (first, bucket) if e is bucket else (e, bucket)
        into.fields |= merged.fields
        if merged is e:
            into.time = e.time
        entries = [x for x in entries if x is not merged]  # by identity: Entry compares by value
        count -= 1
        if merged is first:
            first_of_version[e.api_version] = bucket
    return encode_entries(entries)


def _age_order(e: Entry) -> tuple[str, bytes]:
    """Oldest first; at the same second, by the manager's identifier (upstream's JSON of who it is)."""
    who: Obj = {"manager": e.manager, "operation": e.operation, "apiVersion": e.api_version}
    if e.subresource:
        who["subresource"] = e.subresource
    return (e.time or "", orjson.dumps(who))


_STRIPPED_META = frozenset(p[1][2:] for p in _STRIPPED if len(p) == 2)


def _owned_whole(value: Any, t: FieldType) -> bool:
    """Whether a value is owned as one field (no FieldsV1 children): empty, scalar, atomic or mistyped."""
    if not value:
        return True
    kind = t.kind
    if kind == SCALAR:
        return True
    if kind == LIST:
        return t.list_type == "atomic" or not isinstance(value, list)
    if kind == DEDUCED:
        return not isinstance(value, dict)
    return t.atomic or not isinstance(value, dict)


def _added_tree(value: Any, t: FieldType, member: bool) -> Obj | None:
    """The FieldsV1 of a value new in its parent (None: nothing in it is owned) — compare() from nothing, encoded.

    This runs on every create over the whole object, so a struct's fields are looked up in a table made once per
    type (:func:`_added_entry`), a field whose type makes it a leaf is written without a call, and the tree is
    built in order (sorted keys give FieldsV1 order) rather than built and then sorted.
    """
    if _owned_whole(value, t):
        return {}
    if t.scalar_map:  # every key a leaf (labels, annotations, data): no type to look up per key
        out: Obj = {".": {}} if member else {}
        for key in sorted(value) if len(value) > 1 else value:
            out["f:" + key] = {}
        return out
    if t.kind == LIST:
        item_t = t.item
        assert item_t is not None
        children: dict[str, Obj] = {}
        for item in value:
            pe = item_element(item, t)
            if pe is not None and pe not in children:
                sub = {} if _owned_whole(item, item_t) else _added_tree(item, item_t, True)
                if sub is not None:
                    children[pe] = sub
        if not children:
            return {} if member else None
        out = {".": {}} if member else {}
        # Every key of one list has the same kind (one of "k:"/"v:"/"i:"), so plain string order is FieldsV1
        # order; one key needs no sorting at all.
        for key in sorted(children) if len(children) > 1 else children:
            out[key] = children[key]
        return out
    entries = t.added_fields
    out = {".": {}} if member else {}
    for key in sorted(value) if len(value) > 1 else value:
        entry = entries.get(key)
        if entry is None:
            entry = _added_entry(t, key)
        if entry is _UNOWNED:
            continue
        element, ct, leaf = entry
        if leaf:
            out[element] = {}
        else:  # inside a new node the old side has nothing: every node is a member
            sub = _added_tree(value[key], ct, True)
            if sub is not None:
                out[element] = sub
    if len(out) == (1 if member else 0):  # nothing but the "." of a member
        return {} if member else None
    return out


#: The table entry of a key the schema does not know (not owned).
_UNOWNED: Any = ()


def _added_entry(t: FieldType, key: str) -> tuple[str, FieldType, bool]:
    """What :func:`_added_tree` needs of a struct field or map key of ``t``, derived from :meth:`FieldType.child`
    once and kept in ``t.added_fields`` (up to as many keys as ``child`` keeps): its path element, its type, and
    whether any value of it is owned whole (a scalar, an atomic list, map or struct)."""
    ct, _ = t.child(key)
    if ct is None:
        entry: Any = _UNOWNED
    else:
        entry = ("f:" + key, ct, ct.is_leaf_always())
    if t.kind != DEDUCED and len(t.added_fields) < 4096:
        t.added_fields[key] = entry
    return entry  # type: ignore[no-any-return]


def _created_parts(info: ResourceInfo, obj: Obj) -> Iterator[tuple[str, Any, FieldType, bool]]:
    """The top-level fields of a new object its creator may own, as (key, value, type, member when added): all
    but server metadata (and the status, when it has a subresource of its own)."""
    t = root_type(info)
    for key, v in obj.items():
        if key in ("apiVersion", "kind") or (key == "status" and info.has_status):
            continue
        ct, declared = t.child(key)
        if ct is None:
            continue
        if key == "metadata" and isinstance(v, dict):
            v = {k: x for k, x in v.items() if k not in _STRIPPED_META}
            if v:
                yield key, v, ct, False
        else:
            yield key, v, ct, _member_on_add(t, key, ct, declared)


def _created_fields(info: ResourceInfo, obj: Obj) -> Obj:
    """The FieldsV1 an object's creator owns: every field it has but server metadata (and status), and, of a
    built-in kind, but what its Go zero value has as well (upstream compares a create with the zero object, so a
    Namespace's empty ``spec: {}`` or an Event's ``reportingComponent: ""`` is nobody's)."""
    zero = gozero.zero_value(info.definition) if info.definition and not info.custom else {}
    children: dict[str, Obj] = {}
    for key, v, ct, member in _created_parts(info, obj):
        sub = _added_from_zero(v, zero.get(key, _MISSING), ct, member)
        if sub is not None:
            children["f:" + key] = sub
    return {key: children[key] for key in sorted(children, key=sort_key)}


def _added_from_zero(value: Any, zero: Any, t: FieldType, member: bool) -> Obj | None:
    """The FieldsV1 a creator owns of one field, compared with what the kind's zero value has there (``zero``,
    as Go writes it; ``_MISSING`` if nothing): nothing if equal; in a struct both have (not an atomic one, a
    leaf), what differs, the struct itself no member as it was there; otherwise all of it (:func:`_added_tree`,
    a member if ``member``)."""
    if zero is _MISSING:
        return _added_tree(value, t, member)
    if value == zero:
        return None
    if not (isinstance(value, dict) and isinstance(zero, dict)) or t.is_leaf_for(value):
        return _added_tree(value, t, member)
    out: Obj = {}
    for key in sorted(value):
        ct, declared = t.child(key)
        if ct is not None:
            sub = _added_from_zero(value[key], zero.get(key, _MISSING), ct, _member_on_add(t, key, ct, declared))
            if sub is not None:
                out["f:" + key] = sub
    return out or None


def track_create(info: ResourceInfo, obj: Obj, manager: str, *, now: str) -> None:
    """Record the creation of ``obj`` by ``manager`` (in place): it owns every field it set."""
    meta = obj.setdefault("metadata", {})
    raw = meta.get("managedFields")
    if raw is None or is_reset(raw):
        fields = _created_fields(info, obj)
        if fields:
            meta["managedFields"] = [
                {
                    "manager": manager,
                    "operation": "Update",
                    "apiVersion": info.api_version,
                    "time": now,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": fields,
                }
            ]
        else:
            meta.pop("managedFields", None)
        return
    entries = decode_entries(raw) or []  # a creator may bring ownership along (as upstream allows)
    created = _created_fields(info, obj)
    added = decode_fields(created)
    apply_update(entries, added, set(), manager, info.api_version, None, now)
    identity = (manager, "Update", "", info.api_version)
    mine = next((e for e in entries if e.identity == identity), None)
    # It owns what it created, unless it brought more along: then that tree is its FieldsV1, made already.
    set_managed(meta, encode_entries(entries, (mine, created) if mine is not None and mine.fields == added else None))


# ---- managers -----------------------------------------------------------------------------------


def manager_from_user_agent(user_agent: str | None) -> str:
    """The manager of a write that names none: the User-Agent's product (``kubectl/v1.32`` → ``kubectl``)."""
    head = (user_agent or "").split("/", 1)[0]
    if not head.isprintable():  # (a per-character pass only for the rare agent that needs it)
        head = "".join(ch for ch in head if ch.isprintable())
    return head[:MAX_MANAGER_LENGTH]


def validate_manager(manager: str | None, options_kind: str, *, apply: bool = False, force: bool = False) -> None:
    """Check ``fieldManager`` (and ``force``) of a write's options: upstream's 422 on ``<Kind>Options``."""
    causes: list[errors.Cause] = []
    if options_kind == "PatchOptions":
        if not apply and force:
            causes.append(
                errors.Cause(errors.CAUSE_FORBIDDEN, "Forbidden: may not be specified for non-apply patch", "force")
            )
        if apply and not manager:
            causes.append(
                errors.Cause(errors.CAUSE_REQUIRED, "Required value: is required for apply patch", "fieldManager")
            )
    value = manager or ""
    if len(value.encode()) > MAX_MANAGER_LENGTH:
        causes.append(errors.too_long("fieldManager", MAX_MANAGER_LENGTH))
    for i, ch in enumerate(value):
        if not ch.isprintable():
            shown = orjson.dumps(value).decode()
            causes.append(
                errors.Cause(errors.CAUSE_INVALID, f"Invalid value: {shown}: invalid characters at {i}", "fieldManager")
            )
            break
    if causes:
        raise errors.invalid(options_kind, "", causes, group="meta.k8s.io")
