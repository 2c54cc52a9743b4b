"""FieldsV1 sets and ``metadata.managedFields`` entries: the wire codec of field ownership.

A set of fields is a Python set of *paths*, each a tuple of FieldsV1 path
elements (``"f:name"``, ``"k:{...}"``, ``"v:..."``, ``"i:N"``; see
:mod:`pinnace.api.fieldtypes`). On the wire (upstream's FieldsV1, from
structured-merge-diff) the set is a tree: ``{"f:spec": {"f:replicas": {}}}``,
where ``{}`` is a leaf member and a ``"."`` key marks an inner node that is
itself a member.

- :func:`encode_fields` / :func:`decode_fields` — a path set to FieldsV1 and back;
- :func:`decode_entries` / :func:`encode_entries` — ``managedFields`` as
  :class:`Entry` objects and back, sorted as upstream (Apply first, then by time);
- :func:`path_string` — a path as conflicts print it;
- :func:`is_canonical`, :func:`owns`, :func:`edit_fields` — stored entries
  read and edited as they are, without decoding: an Update keeps the entries
  it does not touch and edits the few it does (see ``managedfields.track_update``).

The ownership logic itself (compare, Update tracking) lives in
:mod:`pinnace.api.managedfields`, which re-exports these names.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "Entry",
    "Path",
    "decode_entries",
    "decode_fields",
    "edit_fields",
    "edit_trie",
    "encode_entries",
    "encode_fields",
    "entry_object",
    "entry_order",
    "is_canonical",
    "is_reset",
    "owns",
    "path_string",
    "sort_key",
]

Obj = dict[str, Any]
Path = tuple[str, ...]


# ---- FieldsV1 -----------------------------------------------------------------------------------

_RANK = {"f": 0, "k": 1, "v": 2, "i": 3}


def sort_key(pe: str) -> tuple[int, str]:
    """The order of path elements in FieldsV1 (upstream PathElement.Less): fields, keys, values, indexes (by
    number)."""
    if pe[:2] == "i:" and pe[2:].isdigit():
        return (3, pe[2:].zfill(20))
    return (_RANK.get(pe[:1], 4), pe)


def encode_fields(paths: set[Path]) -> Obj:
    """A set of paths in the FieldsV1 wire form (children sorted, ``"."`` first)."""
    root: dict[str, Any] = {}
    for path in paths:
        if not path:
            continue
        node = root
        for pe in path:
            node = node.setdefault(pe, {})
        node["."] = True
    return _finish(root)


def _finish(node: dict[str, Any]) -> Obj:
    out: Obj = {}
    if node.get(".") is True and len(node) > 1:
        out["."] = {}
    for key in _in_order(node):
        child = node[key]
        out[key] = {} if len(child) == 1 and "." in child else _finish(child)
    return out


def _in_order(node: dict[str, Any]) -> list[str]:
    """The path elements of a node in :func:`sort_key` order, by a plain string sort (a ConfigMap may hold 100,000
    keys): every element starts ``f:``, ``i:``, ``k:`` or ``v:``, so only the indexes are out of place there."""
    keys = sorted(k for k in node if k != ".")
    lo, hi = bisect.bisect_left(keys, "i:"), bisect.bisect_left(keys, "i;")
    if lo == hi:
        return keys
    return keys[:lo] + keys[hi:] + sorted(keys[lo:hi], key=sort_key)


def decode_fields(fields: Any, prefix: Path = ()) -> set[Path]:
    """The set of paths a FieldsV1 value names (ValueError if it is not one)."""
    out: set[Path] = set()
    _decode(fields, prefix, out)
    return out


def _decode(fields: Any, prefix: Path, out: set[Path]) -> None:
    if not isinstance(fields, dict):
        raise ValueError("FieldsV1 must be an object")
    for key, child in fields.items():
        if key == ".":
            if prefix:
                out.add(prefix)
            continue
        if key[:2] not in ("f:", "k:", "v:", "i:") or not isinstance(child, dict):
            raise ValueError(f"invalid FieldsV1 key {key!r}")
        p = (*prefix, key)
        if child:
            _decode(child, p, out)
        else:
            out.add(p)


def path_string(path: Path) -> str:
    """A path as upstream prints it in conflicts: ``.spec.containers[name="web"].image``."""
    parts: list[str] = []
    for pe in path:
        tag, body = pe[:1], pe[2:]
        if tag == "f":
            parts.append("." + body)
        elif tag == "k":
            try:
                key = orjson.loads(body)
                parts.append("[" + ",".join(f"{k}={orjson.dumps(v).decode()}" for k, v in key.items()) + "]")
            except (orjson.JSONDecodeError, AttributeError):
                parts.append(f"[{body}]")
        elif tag == "v":
            parts.append(f"[={body}]")
        else:
            parts.append(f"[{body}]")
    return "".join(parts)


# ---- managedFields entries --------------------------------------------------------------------


@dataclass(slots=True)
class Entry:
    """One ``managedFields`` entry: a manager, how it wrote (Apply/Update), and the fields it owns."""

    manager: str
    operation: str
    api_version: str
    fields: set[Path]
    time: str | None = None
    subresource: str = ""

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """Who this entry is: appliers are one manager whatever apiVersion they used; updaters are per version."""
        version = self.api_version if self.operation == "Update" else ""
        return (self.manager, self.operation, self.subresource, version)

    def describe(self) -> str:
        """The manager as upstream names it in a conflict: ``"name" using apps/v1``."""
        out = orjson.dumps(self.manager).decode()
        if self.subresource:
            out += f' with subresource "{self.subresource}"'
        if self.operation == "Update":
            out += f" using {self.api_version}"
        return out


def is_reset(raw: Any) -> bool:
    """Whether a written ``managedFields`` asks to clear ownership (``[]`` or ``[{}]``)."""
    return isinstance(raw, list) and (not raw or (len(raw) == 1 and raw[0] == {}))


def decode_entries(raw: Any) -> list[Entry] | None:
    """The entries of a ``managedFields`` value, or None if it is not a valid one."""
    if not isinstance(raw, list):
        return None
    out: list[Entry] = []
    for item in raw:
        if not isinstance(item, dict):
            return None
        op = item.get("operation")
        if op not in ("Apply", "Update") or item.get("fieldsType", "FieldsV1") != "FieldsV1":
            return None
        try:
            fields = decode_fields(item.get("fieldsV1") or {})
        except ValueError:
            return None
        t = item.get("time")
        out.append(
            Entry(
                manager=str(item.get("manager") or ""),
                operation=str(op),
                api_version=str(item.get("apiVersion") or ""),
                fields=fields,
                time=t if isinstance(t, str) else None,
                subresource=str(item.get("subresource") or ""),
            )
        )
    return out


def encode_entries(entries: list[Entry], encoded: tuple[Entry, Obj] | None = None) -> list[Obj]:
    """``managedFields`` as upstream writes it: non-empty entries, Apply first, then oldest first.

    ``encoded``: an entry whose FieldsV1 the caller has already (it is not encoded again)."""
    kept = [e for e in entries if e.fields]
    kept.sort(key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource))
    return [
        entry_object(e, encoded[1] if encoded is not None and e is encoded[0] else encode_fields(e.fields))
        for e in kept
    ]


def entry_object(e: Entry, fields_v1: Obj) -> Obj:
    """One ``managedFields`` item as :func:`encode_entries` writes it, with its FieldsV1 already encoded."""
    entry: Obj = {"manager": e.manager, "operation": e.operation, "apiVersion": e.api_version}
    if e.time:
        entry["time"] = e.time
    entry["fieldsType"] = "FieldsV1"
    entry["fieldsV1"] = fields_v1
    if e.subresource:
        entry["subresource"] = e.subresource
    return entry


def entry_order(item: Obj) -> tuple[str, str, str, str, str]:
    """The sort key of an item :func:`encode_entries` wrote: Apply before Update, then oldest first."""
    return (item["operation"], item.get("time", ""), item["manager"], item["apiVersion"], item.get("subresource", ""))


# ---- raw entries, as stored ---------------------------------------------------------------------

_PREFIXES = ("f:", "k:", "v:", "i:")


def is_canonical(item: Any) -> bool:
    """Whether a stored ``managedFields`` item is exactly what :func:`encode_entries` makes of it (==).

    Such an item can be kept as it is by a write that does not touch its fields;
    anything else (missing or extra keys, an empty FieldsV1, a ``"."`` that
    encoding would drop) must go through :func:`decode_entries`.
    """
    if type(item) is not dict:
        return False
    size = 5
    for optional in ("time", "subresource"):
        value = item.get(optional)
        if value is not None:
            if type(value) is not str or not value:
                return False
            size += 1
    fields = item.get("fieldsV1")
    return (
        len(item) == size
        and type(item.get("manager")) is str
        and type(item.get("apiVersion")) is str
        and item.get("operation") in ("Apply", "Update")
        and item.get("fieldsType") == "FieldsV1"
        and type(fields) is dict
        and bool(fields)
        and "." not in fields
        and _canonical_fields(fields)
    )


#: Verdicts of _canonical_tree by the tree's JSON: stored entries repeat (an object's creator entry over all its
#: updates, the same shape over objects of a kind), and serialising in C costs a fraction of the walk in Python.
#: The JSON decides the verdict: it spells every key, and with these options only a plain dict is written as an
#: object (dict subclasses, dataclasses and the like raise instead).
_VERDICTS: dict[bytes, bool] = {}
_VERDICTS_BYTES = 4 << 20
_VERDICT_JSON = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
_verdicts_size = 0


def _canonical_fields(fields: Obj) -> bool:
    global _verdicts_size
    try:
        key = orjson.dumps(fields, option=_VERDICT_JSON)
    except orjson.JSONEncodeError:
        return False  # not plain JSON data: not what encoding writes (the plain path decides what to make of it)
    verdict = _VERDICTS.get(key)
    if verdict is None:
        verdict = _canonical_tree(fields)
        if _verdicts_size + len(key) > _VERDICTS_BYTES:
            _VERDICTS.clear()
            _verdicts_size = 0
        _VERDICTS[key] = verdict
        _verdicts_size += len(key)
    return verdict


def _canonical_tree(node: Obj) -> bool:
    for key, child in node.items():
        if type(child) is not dict:
            return False
        if key == ".":
            if child or len(node) == 1:
                return False
        elif not key.startswith(_PREFIXES) or (child and not _canonical_tree(child)):
            return False
    return True


def owns(fields_v1: Obj, path: Path) -> bool:
    """Whether a canonical FieldsV1 (:func:`is_canonical`) has ``path`` as a member."""
    node: Any = fields_v1
    for pe in path:
        node = node.get(pe)
        if node is None:
            return False
    return not node or "." in node


def edit_trie(removed: Iterable[Path], added: Iterable[Path] = ()) -> Obj:
    """Paths as a tree of edits for :func:`edit_fields`: ``"."`` is True where a node becomes a member, False
    where it stops being one (an added path wins over the same path removed)."""
    trie: Obj = {}
    for member, paths in ((False, removed), (True, added)):
        for path in paths:
            node = trie
            for pe in path:
                node = node.setdefault(pe, {})
            node["."] = member
    return trie


def edit_fields(fields_v1: Obj, trie: Obj) -> Obj:
    """``encode_fields((decode_fields(fields_v1) - removed) | added)`` for a canonical FieldsV1 and
    ``trie = edit_trie(removed, added)``, without decoding: only the nodes along edited paths are copied, the
    rest is shared with ``fields_v1``. ``{}`` if no member is left."""
    return _edit(fields_v1, trie, False) or {}


def _edit(node: Obj | None, trie: Obj, member: bool) -> Obj | None:
    """The edited copy of ``node`` (None: absent), itself a member or not; None if nothing in it is a member."""
    children: Obj = {k: v for k, v in node.items() if k != "."} if node else {}
    inserted = False
    for pe, sub in trie.items():
        if pe == ".":
            member = sub
            continue
        child = children.get(pe)
        if child is None:
            if not _adds(sub):
                continue  # nothing to remove below a node the set does not have
            inserted = True
        edited = _edit(child, sub, child is not None and (not child or "." in child))
        if edited is not None:
            children[pe] = edited
        elif child is not None:
            del children[pe]
    if not children:
        return {} if member else None
    keys: Iterable[str] = sorted(children, key=sort_key) if inserted else children
    out: Obj = {".": {}} if member else {}
    for key in keys:
        out[key] = children[key]
    return out


def _adds(trie: Obj) -> bool:
    return any(sub if pe == "." else _adds(sub) for pe, sub in trie.items())
