"""Helpers for objects as JSON data (dicts, lists, strings, numbers, booleans, None)."""

from __future__ import annotations

import copy
from typing import Any

import orjson

__all__ = ["json_copy"]


def json_copy(value: Any) -> Any:
    """A deep copy of JSON data, several times faster than ``copy.deepcopy`` for it; what orjson cannot
    encode (a set, an int over 64 bits) goes through deepcopy."""
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError:
        return copy.deepcopy(value)
