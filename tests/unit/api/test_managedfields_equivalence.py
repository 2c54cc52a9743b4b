"""Update tracking's fast paths give exactly what the plain algorithm gives, on thousands of random histories.

``managedfields.track_update`` keeps stored managedFields entries an update does
not touch as they are, edits the FieldsV1 trees of those it touches without
decoding them, and ``compare`` skips equal subtrees. The oracle here is the
plain algorithm those replace: decode every entry, diff the two objects node by
node, give the changed fields to the updater and take them (and the removed
ones) from everyone, re-encode every entry. Each random history builds an
object of one of a few kinds through a create, applies and updates by several
managers (main resource and subresources); every update is tracked both ways
and the results must be equal (==), as must ``compare``'s three sets. Some
histories store managedFields the server would not write itself (unsorted,
redundant ``"."``, empty or invalid entries, extra keys) or let the client
replace them, which the fast path must hand to the plain one.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from pinnace.api import apply, crd, errors, fieldsv1, gozero, managedfields
from pinnace.api.fieldtypes import LIST, FieldType, root_type
from pinnace.api.managedfields import _add_all, _cmp, _empty, _index, _member_on_add, _remove_all
from pinnace.api.registry import ResourceInfo, builtin_registry

Obj = dict[str, Any]
Path = tuple[str, ...]
REGISTRY = builtin_registry()
_MISSING: Any = object()


def _builtin(group: str, plural: str) -> ResourceInfo:
    info = REGISTRY.get(group, "v1", plural)
    assert info is not None
    return info


def _widgets() -> ResourceInfo:
    """A CRD with a status subresource, a list-map, a set, an atomic list and a free-form (deduced) field."""
    item = {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}
    spec = {
        "type": "object",
        "properties": {
            "size": {"type": "integer"},
            "color": {"type": "string"},
            "ports": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": item,
            },
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "args": {"type": "array", "items": {"type": "string"}},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    status = {"type": "object", "properties": {"configMap": {"type": "string"}, "ready": {"type": "integer"}}}
    obj: Obj = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.eq.example.com"},
        "spec": {
            "group": "eq.example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec, "status": status}}},
                }
            ],
        },
    }
    crd.set_defaults(obj)
    return crd.resource_infos(obj)[0]


DEPLOYMENTS = _builtin("apps", "deployments")
CONFIGMAPS = _builtin("", "configmaps")
WIDGETS = _widgets()


# ---- the oracle: the plain algorithm ------------------------------------------------------------


def plain_compare(old: Any, new: Any, t: FieldType) -> tuple[set[Path], set[Path], set[Path]]:
    """(added, modified, removed): every node visited, equal subtrees found by descending into them."""
    added: set[Path] = set()
    modified: set[Path] = set()
    removed: set[Path] = set()

    def walk(o: Any, n: Any, t: FieldType, path: Path, member: bool) -> None:
        if o is _MISSING or n is _MISSING:
            if o is _MISSING:
                _add_all(n, t, path, added, member)
            else:
                _remove_all(o, t, path, removed)
        elif t.is_leaf_for(o) or t.is_leaf_for(n) or (_empty(o) and _empty(n)):
            if o != n or type(o) is not type(n):
                modified.add(path)
        elif o != n and t.kind == LIST:
            assert t.item is not None
            olds, news = _index(o, t), _index(n, t)
            for pe in news:
                walk(olds.get(pe, _MISSING), news[pe], t.item, (*path, pe), True)
            for pe in olds.keys() - news.keys():
                _remove_all(olds[pe], t.item, (*path, pe), removed)
        elif o != n:
            for key in n:
                ct, declared = t.child(key)
                if ct is not None:
                    walk(o.get(key, _MISSING), n[key], ct, (*path, "f:" + key), _member_on_add(t, key, ct, declared))
            for key in o.keys() - n.keys():
                ct, _ = t.child(key)
                if ct is not None:
                    _remove_all(o[key], ct, (*path, "f:" + key), removed)

    walk(old, new, t, (), True)
    return added, modified, removed


def plain_track_update(info: ResourceInfo, old: Obj, new: Obj, manager: str, sub: str | None, now: str) -> None:
    """Update tracking without fast paths: every entry decoded, changed, encoded again."""
    new_meta = new.setdefault("metadata", {})
    old_meta = old.get("metadata") or {}
    raw = new_meta.get("managedFields")
    entries: list[fieldsv1.Entry] | None = None
    if sub is None and fieldsv1.is_reset(raw):
        entries = []
    elif sub is None and raw is not None and raw != old_meta.get("managedFields"):
        entries = fieldsv1.decode_entries(raw) or None
    from_live = entries is None
    if entries is None:
        entries = fieldsv1.decode_entries(old_meta.get("managedFields") or []) or []
    added, modified, gone = plain_compare(old, new, root_type(info))
    changed = managedfields.scope(added | modified, info, sub)
    removed = managedfields.scope(gone, info, sub)
    if from_live and not changed and not removed:
        new_meta.pop("managedFields", None)
        if "managedFields" in old_meta:
            new_meta["managedFields"] = old_meta["managedFields"]
        return
    managedfields.apply_update(entries, changed, removed, manager, info.api_version, sub, now)
    encoded = fieldsv1.encode_entries(entries)
    new_meta.pop("managedFields", None)
    if encoded:
        new_meta["managedFields"] = encoded


# ---- random objects -----------------------------------------------------------------------------

NAMES = ["web", "side", "log", "init"]
LABELS = ["app", "tier", "team", "x"]
SCALARS: list[Any] = ["a", "b", "", 0, 1, 1.0, 2, True, False, None]


def _labels(r: random.Random) -> Obj:
    return {k: r.choice(["web", "db", "x"]) for k in r.sample(LABELS, r.randint(0, 3))}


def _container(r: random.Random, name: str) -> Obj:
    c: Obj = {"name": name, "image": r.choice(["nginx", "busybox", "redis:7"])}
    if r.random() < 0.6:
        c["ports"] = [
            {"containerPort": p, **({"protocol": r.choice(["TCP", "UDP"])} if r.random() < 0.5 else {})}
            for p in r.sample([80, 443, 8080], r.randint(1, 2))
        ]
    if r.random() < 0.6:
        c["env"] = [{"name": n, "value": r.choice(["1", "2"])} for n in r.sample(["A", "B", "C"], r.randint(0, 3))]
    if r.random() < 0.4:
        c["args"] = r.sample(["-v", "--x", "run"], r.randint(0, 2))
    if r.random() < 0.5:
        c["resources"] = {"limits": {k: r.choice(["1", "500m"]) for k in r.sample(["cpu", "memory"], r.randint(0, 2))}}
    return c


def deployment(r: random.Random) -> Obj:
    spec: Obj = {
        "selector": {"matchLabels": _labels(r)},
        "template": {
            "metadata": {"labels": _labels(r)},
            "spec": {"containers": [_container(r, n) for n in r.sample(NAMES, r.randint(1, 3))]},
        },
    }
    if r.random() < 0.7:
        spec["replicas"] = r.choice([1, 2, 3])
    if r.random() < 0.3:
        spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": r.choice([1, "25%"])}}
    obj: Obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(r), "spec": spec}
    if r.random() < 0.5:
        obj["status"] = {
            "replicas": r.randint(0, 3),
            "conditions": [{"type": t, "status": r.choice(["True", "False"])} for t in r.sample(["A", "P"], 2)],
        }
    return obj


def configmap(r: random.Random) -> Obj:
    data = {k: r.choice(["1", "2", ""]) for k in r.sample(["a", "b", "c", "d", "e"], r.randint(0, 5))}
    obj: Obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(r), "data": data}
    if r.random() < 0.3:
        obj["binaryData"] = {"bin": "AAE="}
    return obj


def widget(r: random.Random) -> Obj:
    spec: Obj = {"size": r.choice([1, 2, 2.0]), "color": r.choice(["red", "blue"])}
    if r.random() < 0.7:
        spec["ports"] = [{"name": n, "port": r.choice([80, 81])} for n in r.sample(NAMES, r.randint(0, 3))]
    if r.random() < 0.5:
        spec["tags"] = r.sample(["a", "b", "c"], r.randint(0, 3))
    if r.random() < 0.4:
        spec["args"] = r.sample(["x", "y"], r.randint(0, 2))
    if r.random() < 0.5:
        spec["extra"] = {"k": {"n": r.choice(SCALARS)}, "list": [1, 2]} if r.random() < 0.5 else {}
    if r.random() < 0.4:
        spec["labels"] = _labels(r)
    obj: Obj = {"apiVersion": "eq.example.com/v1", "kind": "Widget", "metadata": _meta(r), "spec": spec}
    if r.random() < 0.5:
        obj["status"] = {"configMap": r.choice(["cm", "cm2"]), "ready": r.randint(0, 2)}
    return obj


def _meta(r: random.Random) -> Obj:
    meta: Obj = {"name": "obj", "namespace": "default"}
    if r.random() < 0.6:
        meta["labels"] = _labels(r)
    if r.random() < 0.3:
        meta["annotations"] = {"note": r.choice(["a", "b"])}
    if r.random() < 0.2:
        meta["finalizers"] = r.sample(["f1", "f2"], r.randint(1, 2))
    return meta


KINDS = {"deployments": (DEPLOYMENTS, deployment), "configmaps": (CONFIGMAPS, configmap), "widgets": (WIDGETS, widget)}
KEYS = ["name", "image", "value", "replicas", "size", "color", "ports", "tags", "labels", "data", "a", "new", "ready"]


def _nodes(value: Any, out: list[Any]) -> None:
    if isinstance(value, (dict, list)):
        out.append(value)
        for child in value.values() if isinstance(value, dict) else value:
            _nodes(child, out)


def mutate(r: random.Random, obj: Obj, make: Any) -> None:
    """A few random edits (in place): values, types, keys and list items added, removed, replaced or reordered.

    ``metadata.managedFields`` is left as it is (a client replacing it is a case of its own).
    """
    managed = obj.setdefault("metadata", {}).pop("managedFields", None)
    for _ in range(r.choice([0, 1, 1, 2, 3])):
        roll = r.random()
        if roll < 0.15:  # a whole part replaced by another random object's
            part = r.choice(["spec", "metadata", "status", "data"])
            fresh = make(r)
            if part in fresh:
                obj[part] = fresh[part]
            continue
        nodes: list[Any] = []
        _nodes(obj, nodes)
        node = r.choice(nodes[1:])
        if isinstance(node, list):
            if node and roll < 0.4:
                node.pop(r.randrange(len(node)))
            elif node and roll < 0.6:
                node.append(copy.deepcopy(r.choice(node)))  # a duplicate item
            elif node and roll < 0.7:
                node.reverse()
            else:
                node.insert(r.randint(0, len(node)), r.choice([*SCALARS, {"name": r.choice(NAMES)}]))
        elif node and roll < 0.45:
            del node[r.choice(list(node))]
        elif node and roll < 0.7:
            key = r.choice(list(node))
            old = node[key]
            node[key] = float(old) if type(old) is int else r.choice([*SCALARS, {}, [], {"name": "web"}])
        else:
            node[r.choice(KEYS)] = r.choice([*SCALARS, {}, [], {"x": 1}, [{"name": "web", "port": 80}]])
    if not isinstance(obj.get("metadata"), dict):
        obj["metadata"] = {}
    if managed is not None:
        obj["metadata"]["managedFields"] = managed


# ---- managedFields the server would not write ---------------------------------------------------


def odd_entries(r: random.Random, raw: list[Obj]) -> list[Any]:
    """A copy of stored managedFields with one irregularity: non-canonical, or invalid (decoding drops all)."""
    out: list[Any] = copy.deepcopy(raw)
    if not out:
        return out
    i = r.randrange(len(out))
    e = out[i]
    roll = r.randrange(11)
    if not isinstance(e, dict) or not isinstance(e.get("fieldsV1"), dict) or not e["fieldsV1"]:
        roll = 8  # an odd entry stored earlier: make it invalid
    if roll == 0:  # keys and FieldsV1 children in another order (still canonical)
        out[i] = dict(reversed(list(e.items())))
        out[i]["fieldsV1"] = dict(reversed(list(e["fieldsV1"].items())))
    elif roll == 1:  # a leaf member spelled {".": {}}
        _first_leaf(e["fieldsV1"])
    elif roll == 2:
        e["fieldsV1"]["."] = {}
    elif roll == 3:
        e.pop("fieldsType", None)
    elif roll == 4:
        e["time"] = ""
    elif roll == 5:
        e["fieldsV1"] = {}
    elif roll == 6:
        e["extra"] = 1
    elif roll == 7:
        e["manager"] = None
    elif roll == 8:
        out[i] = {"operation": "Patch"}  # invalid: the whole managedFields is dropped
    elif roll == 9:
        out.append(r.choice([{}, "x", {"manager": "m", "operation": "Update", "fieldsV1": {"bad": {}}}]))
    else:
        e["apiVersion"] = "v0"  # another version's entry of the same manager
    return out


def _first_leaf(node: Obj) -> None:
    for key, child in node.items():
        if key == ".":
            continue
        if child:
            _first_leaf(child)
        else:
            node[key] = {".": {}}
        return


# ---- the histories --------------------------------------------------------------------------------

MANAGERS = ["kubectl", "ctrl", "ops", "kubectl-client-side-apply"]


def _step_update(r: random.Random, info: ResourceInfo, live: Obj, make: Any, now: str) -> Obj:
    """One random update of ``live``, tracked both ways (they must agree); the result."""
    sub = r.choice([None, None, "status"] if info.has_status else [None])
    if info is DEPLOYMENTS and r.random() < 0.1:
        sub = "scale"
    manager = r.choice(MANAGERS)
    old = copy.deepcopy(live)
    if r.random() < 0.25:
        old["metadata"]["managedFields"] = odd_entries(r, old["metadata"].get("managedFields") or [])
    new = copy.deepcopy(old)
    if r.random() < 0.1:
        new = {**make(r), "metadata": copy.deepcopy(old["metadata"])}
    else:
        mutate(r, new, make)
    roll = r.random()
    if roll < 0.05:
        new["metadata"]["managedFields"] = r.choice([[], [{}]])
    elif roll < 0.1:
        new["metadata"]["managedFields"] = odd_entries(r, copy.deepcopy(new["metadata"].get("managedFields") or []))
    elif roll < 0.15:
        new["metadata"].pop("managedFields", None)

    expected_new = copy.deepcopy(new)
    got_new = copy.deepcopy(new)
    t = root_type(info)
    plain = plain_compare(old, got_new, t)
    fast = managedfields.compare(old, got_new, t)
    assert (fast.added, fast.modified, fast.removed) == plain
    plain_track_update(info, old, expected_new, manager, sub, now)
    managedfields.track_update(info, old, got_new, manager, subresource=sub, now=now)
    assert got_new == expected_new, (manager, sub)
    assert old == copy.deepcopy(old)  # the live object is left alone
    return got_new


def _step_apply(r: random.Random, info: ResourceInfo, live: Obj, make: Any, now: str) -> Obj:
    config = make(r)
    config["metadata"] = {k: v for k, v in config["metadata"].items() if k != "finalizers"}
    sub = "status" if info.has_status and r.random() < 0.2 else None
    try:
        return apply.apply(info, live, config, r.choice(MANAGERS), force=True, subresource=sub, now=now)
    except (errors.StatusError, TypeError, AttributeError):
        # Random edits make objects validation would have refused (annotations a number, …); apply is here
        # only to leave Apply entries in the history, so such a live object just gets none.
        return live


def history(seed: int, steps: int = 8) -> int:
    """One random history; returns how many updates were tracked both ways."""
    r = random.Random(seed)
    info, make = KINDS[r.choice(list(KINDS))]
    live = make(r)
    managedfields.track_create(info, live, r.choice(MANAGERS), now="2024-01-01T00:00:00Z")
    updates = 0
    for i in range(steps):
        now = f"2024-01-01T00:00:{r.randint(i, i + 2):02d}Z"  # sometimes equal times: ties in the order
        if r.random() < 0.25:
            live = _step_apply(r, info, live, make, now)
        else:
            live = _step_update(r, info, live, make, now)
            updates += 1
    return updates


@pytest.mark.parametrize("chunk", range(8))
def test_fast_update_tracking_equals_the_plain_algorithm(chunk: int) -> None:
    updates = sum(history(chunk * 1000 + seed) for seed in range(200))
    assert updates > 1000  # ~9,500 random updates over the 8 chunks (~3,500 through the fast path)


def test_edit_fields_equals_decode_subtract_add_encode() -> None:
    r = random.Random(7)
    for seed in range(400):
        info, make = KINDS[r.choice(list(KINDS))]
        obj = make(random.Random(seed))
        paths = managedfields.field_set(obj, root_type(info))
        fields = fieldsv1.encode_fields(paths)
        pool = [*sorted(paths), ("f:spec", "f:new"), ("f:spec", "f:ports", 'k:{"name":"x"}', "f:port"), ("f:zz",)]
        removed = set(r.sample(pool, r.randint(0, min(len(pool), 6))))
        added = set(r.sample(pool, r.randint(0, min(len(pool), 6))))
        expected = fieldsv1.encode_fields((paths - removed) | added)
        got = fieldsv1.edit_fields(fields, fieldsv1.edit_trie(removed, added))
        assert got == expected
        assert list(key_order(got)) == list(key_order(expected))  # the same order as encoding, too
        assert fieldsv1.encode_fields(paths) == fields  # the input is shared, not changed


def key_order(node: Obj) -> list[Any]:
    """Every key of a FieldsV1 tree in document order."""
    out: list[Any] = []
    for key, child in node.items():
        out.append(key)
        out.append(key_order(child))
    return out


def test_is_canonical_is_what_encoding_writes() -> None:
    r = random.Random(3)
    for seed in range(300):
        info, make = KINDS[r.choice(list(KINDS))]
        live = make(random.Random(seed))
        managedfields.track_create(info, live, "m", now="T")
        raw = live["metadata"].get("managedFields") or []
        for item in odd_entries(r, raw):
            decoded = fieldsv1.decode_entries([item])
            normal = fieldsv1.encode_entries(decoded) if decoded else None
            assert fieldsv1.is_canonical(item) == fieldsv1.is_canonical(copy.deepcopy(item))  # remembered verdicts
            if fieldsv1.is_canonical(item):
                assert normal == [item]
            else:
                assert normal != [item]


def test_a_create_that_brings_managed_fields_equals_decode_update_encode() -> None:
    """track_create reuses the creator's tree when the creator owns just what it created; the result is what
    decoding, updating and encoding every entry gives (same entries, same key order)."""
    r = random.Random(11)
    for seed in range(300):
        info, make = KINDS[r.choice(list(KINDS))]
        obj = make(random.Random(seed))
        earlier = make(random.Random(seed + 1))
        managedfields.track_create(info, earlier, "other", now="2024-01-01T00:00:00Z")
        brought = copy.deepcopy(earlier["metadata"].get("managedFields") or [])
        if r.random() < 0.3:  # the creator itself was there before, owning a field it does not set now
            brought.append(
                {"manager": "m", "operation": "Update", "apiVersion": info.api_version, "time": "2024-01-01T00:00:00Z",
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {"f:gone": {}}}}}
            )  # fmt: skip
        obj["metadata"]["managedFields"] = copy.deepcopy(brought)
        plain = copy.deepcopy(obj)
        managedfields.track_create(info, obj, "m", now="2024-01-01T00:00:09Z")

        entries = fieldsv1.decode_entries(brought) or []
        del plain["metadata"]["managedFields"]
        created = fieldsv1.decode_fields(managedfields._created_fields(info, plain))
        managedfields.apply_update(entries, created, set(), "m", info.api_version, None, "2024-01-01T00:00:09Z")
        expected = fieldsv1.encode_entries(entries)
        got = obj["metadata"].get("managedFields") or []
        assert got == expected
        assert [key_order(e["fieldsV1"]) for e in got] == [key_order(e["fieldsV1"]) for e in expected]


def plain_created_fields(info: ResourceInfo, obj: Obj) -> Obj:
    """The FieldsV1 a creator owns by the plain algorithm: every path compare() adds or modifies from the kind's
    zero value (nothing, for a custom resource) to each part a creator may own, encoded."""
    zero = gozero.zero_value(info.definition) if info.definition and not info.custom else {}
    paths: set[Path] = set()
    for key, v, ct, member in managedfields._created_parts(info, obj):
        old = zero.get(key, managedfields._MISSING)
        if type(old) is type(v) and old == v:
            continue
        c = managedfields.Comparison()
        _cmp(old, v, ct, ("f:" + key,), c, member)
        paths |= c.added | c.modified
    return fieldsv1.encode_fields(paths)


def test_a_create_owns_what_the_plain_algorithm_finds_in_the_same_order() -> None:
    """The create walk (a table per type, leaves written without a call, the tree built in order) gives exactly
    the plain algorithm's FieldsV1, key order included, on random objects: mistyped values, empty and null
    fields, duplicate and keyless list items, unknown keys and free-form parts among them."""
    r = random.Random(5)
    for seed in range(1500):
        info, make = KINDS[r.choice(list(KINDS))]
        obj = make(random.Random(seed))
        for _ in range(r.randint(0, 3)):
            mutate(r, obj, make)
        obj["metadata"].pop("managedFields", None)
        expected = plain_created_fields(info, obj)
        got = managedfields._created_fields(info, copy.deepcopy(obj))
        assert got == expected, seed
        assert key_order(got) == key_order(expected), seed
