"""Options decoded from URL query parameters, as upstream's parameter codec decodes them."""

from __future__ import annotations

__all__ = ["query_bool"]


def query_bool(value: str | None) -> bool:
    """A boolean query parameter as upstream decodes one into its options (``Convert_Slice_string_To_bool``):
    absent, ``0`` and ``false`` (any case) are false; any other value, the empty one included, is true."""
    return value is not None and value != "0" and value.lower() != "false"
