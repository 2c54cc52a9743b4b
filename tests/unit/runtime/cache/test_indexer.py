"""The indexer: keys, the namespace index, user indexes kept right across updates and replaces."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.runtime.cache.indexer import NAMESPACE_INDEX, Indexer, object_key


def pod(name: str, namespace: str | None = "default", node: str | None = None, **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if namespace:
        meta["namespace"] = namespace
    return {"metadata": meta, "spec": {"nodeName": node} if node else {}}


def by_node(obj: dict[str, Any]) -> list[str]:
    node = (obj.get("spec") or {}).get("nodeName")
    return [node] if node else []


def test_object_key() -> None:
    assert object_key(pod("a", "ns")) == "ns/a"
    assert object_key(pod("node-1", None)) == "node-1"


def test_add_get_delete_and_the_namespace_index() -> None:
    idx = Indexer()
    idx.add(pod("a", "x"))
    idx.add(pod("b", "x"))
    idx.add(pod("c", "y"))
    assert idx.get("x/a") is not None and len(idx) == 3
    assert [o["metadata"]["name"] for o in idx.by_index(NAMESPACE_INDEX, "x")] == ["a", "b"]
    idx.delete(pod("a", "x"))
    assert "x/a" not in idx
    assert idx.index_keys(NAMESPACE_INDEX, "x") == ["x/b"]
    idx.delete_key("x/b")
    assert "x" not in idx.index_values(NAMESPACE_INDEX)


def test_user_index_follows_updates() -> None:
    idx = Indexer({"node": by_node})
    idx.add(pod("a", node="n1"))
    idx.add(pod("b", node="n1"))
    idx.update(pod("a", node="n2"))
    assert idx.index_keys("node", "n1") == ["default/b"]
    assert idx.index_keys("node", "n2") == ["default/a"]
    assert [o["metadata"]["name"] for o in idx.matching("node", pod("z", node="n1"))] == ["b"]


def test_an_index_added_later_covers_stored_objects() -> None:
    idx = Indexer()
    idx.add(pod("a", node="n1"))
    idx.add_indexers({"node": by_node})
    assert idx.index_keys("node", "n1") == ["default/a"]
    with pytest.raises(ValueError):
        idx.add_indexers({"node": by_node})


def test_replace_rebuilds_everything() -> None:
    idx = Indexer({"node": by_node})
    idx.add(pod("a", node="n1"))
    idx.replace([pod("b", node="n2"), pod("c", "other", node="n2")])
    assert sorted(idx.list_keys()) == ["default/b", "other/c"]
    assert idx.index_keys("node", "n1") == []
    assert idx.index_keys("node", "n2") == ["default/b", "other/c"]
    assert len(idx.objects()) == 2


def test_unknown_index_is_an_error() -> None:
    with pytest.raises(KeyError):
        Indexer().by_index("nope", "x")
