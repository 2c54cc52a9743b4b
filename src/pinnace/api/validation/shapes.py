"""Reading a decoded object's values defensively: a value of the wrong JSON type reads as empty.

Validators see what clients sent. Decoding refuses most wrong types first,
but a validator must never raise (a 500 is the worst answer), so each reads
through these instead of indexing blindly.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def as_dict(value: Any) -> Obj:
    """The value if it is an object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """The value if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def as_dicts(value: Any) -> list[Obj]:
    """The items of a list as objects, for reading only: an item that is not one reads as empty (indexes keep their
    place, so field paths stay right); a value that is not a list reads as no items."""
    if type(value) is list:
        for item in value:
            if type(item) is not dict:
                break
        else:
            return value  # the usual list of objects: itself, no copy
    return [v if isinstance(v, dict) else {} for v in value] if isinstance(value, list) else []


def as_str(value: Any) -> str:
    """The value if it is a string, else ``""``."""
    return value if isinstance(value, str) else ""


def as_int(value: Any) -> int | None:
    """The value if it is an integer (not a boolean), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
