"""Compiled schemas are built once per schema dict and found again by identity."""

from __future__ import annotations

from typing import Any

from pinnace.api.schemacache import SchemaCache


def test_one_build_per_schema_dict_by_identity_not_equality() -> None:
    built: list[dict[str, Any]] = []
    cache: SchemaCache[int] = SchemaCache(lambda s: built.append(s) or len(built))
    a, b = {"type": "object"}, {"type": "object"}
    assert cache(a) == 1 and cache(a) == 1
    assert cache(b) == 2  # an equal but distinct dict is compiled on its own
    assert built == [a, b]


def test_the_cache_starts_again_past_its_limit() -> None:
    cache: SchemaCache[str] = SchemaCache(lambda s: str(s["n"]), limit=2)
    schemas = [{"n": i} for i in range(3)]
    assert [cache(s) for s in schemas] == ["0", "1", "2"]
    assert len(cache._entries) == 1  # cleared when the third came, which alone is kept
    assert cache(schemas[0]) == "0"
