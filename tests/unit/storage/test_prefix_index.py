"""``PrefixIndex``: the watchers an event goes to, by key prefix."""

from __future__ import annotations

from pinnace.storage.prefix_index import PrefixIndex


def test_an_item_matches_every_key_under_its_prefix_whatever_the_prefix_looks_like() -> None:
    index: PrefixIndex[str] = PrefixIndex()
    prefixes = ["/registry/core/configmaps/", "/registry/core/configmaps/ns1/", "/registry/core/con", "", "/", "x/"]
    for prefix in prefixes:
        index.add(prefix, f"watch {prefix!r}")
    for key in ["/registry/core/configmaps/ns1/a", "/registry/core/configmaps/ns2/b", "/registry/apps/d/x", "x/y"]:
        assert sorted(index.matching(key)) == sorted(f"watch {p!r}" for p in prefixes if key.startswith(p)), key


def test_items_under_one_prefix_are_all_found_and_a_discarded_one_no_more() -> None:
    index: PrefixIndex[int] = PrefixIndex()
    for item in (1, 2, 3):
        index.add("/registry/core/pods/", item)
    index.add("/registry/core/po", 4)
    index.discard("/registry/core/pods/", 2)
    index.discard("/registry/core/po", 4)
    index.discard("/registry/core/pods/", 99)  # not there: nothing happens
    assert sorted(index.matching("/registry/core/pods/ns/p")) == [1, 3]
    index.discard("/registry/core/pods/", 1)
    index.discard("/registry/core/pods/", 3)
    assert list(index.matching("/registry/core/pods/ns/p")) == []
