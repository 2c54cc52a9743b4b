"""json_copy: the cache's deep copy of cached objects (an orjson round trip, deepcopy for the rest)."""

from __future__ import annotations

from typing import Any

from pinnace.runtime.cache.cache import json_copy


def test_a_copy_shares_nothing_with_the_original() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "a", "labels": {"x": "1"}, "ownerReferences": [{"uid": "u", "controller": True}]},
        "spec": {"n": 2**62, "f": 0.1, "none": None, "list": [1, "2", [3.5]], "empty": {}},
    }
    copied = json_copy(obj)
    assert copied == obj
    copied["metadata"]["labels"]["x"] = "2"
    copied["metadata"]["ownerReferences"][0]["uid"] = "v"
    copied["spec"]["list"][2].append(4)
    assert obj["metadata"]["labels"] == {"x": "1"}
    assert obj["metadata"]["ownerReferences"][0]["uid"] == "u"
    assert obj["spec"]["list"] == [1, "2", [3.5]]


def test_a_list_of_objects_is_copied_in_one_go() -> None:
    objs = [{"metadata": {"name": str(i)}} for i in range(3)]
    copies = json_copy(objs)
    copies[0]["metadata"]["name"] = "x"
    assert objs[0]["metadata"]["name"] == "0" and copies[1:] == objs[1:]


def test_what_json_cannot_hold_is_still_deep_copied() -> None:
    obj: dict[str, Any] = {"big": 2**70, "tags": {"a", "b"}, 1: "int key"}
    copied = json_copy(obj)
    assert copied == obj
    copied["tags"].add("c")
    assert obj["tags"] == {"a", "b"}
