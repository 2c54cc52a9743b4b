"""Go's ``[]byte`` in JSON (Secret ``data``, ConfigMap ``binaryData``, a CSR's ``request``): standard base64.

The decoder (``base64.StdEncoding``) wants the padding, skips line breaks
(``\r``, ``\n``) wherever they are, and ignores the unused low bits of the last
character; the encoder writes the bytes again without any of that. So a value
pasted from ``base64`` (which wraps its lines) is taken, and comes back on one
line. :func:`decode_error` is the decoder's refusal, :func:`written` what the
encoder writes.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

__all__ = ["decode_error", "is_written_form", "written"]

_B64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def decode_error(text: str) -> str | None:
    """Go's ``base64.StdEncoding.Decode`` error for a string (``illegal base64 data at input byte N``), or None."""
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    else:
        return None
    src = text.encode("utf-8", "surrogatepass")
    si, n = 0, len(src)
    while si < n:
        j = 0
        while j < 4:
            if si == n:
                if j == 0:
                    return None
                return f"illegal base64 data at input byte {si - j}"
            ch = src[si]
            si += 1
            if ch in _B64:
                j += 1
                continue
            if ch in (10, 13):
                continue
            if ch != 61:  # '='
                return f"illegal base64 data at input byte {si - 1}"
            if j in (0, 1):
                return f"illegal base64 data at input byte {si - 1}"
            if j == 2:
                while si < n and src[si] in (10, 13):
                    si += 1
                if si == n:
                    return f"illegal base64 data at input byte {n}"
                if src[si] != 61:
                    return f"illegal base64 data at input byte {si - 1}"
                si += 1
            while si < n and src[si] in (10, 13):
                si += 1
            if si < n:
                return f"illegal base64 data at input byte {si}"
            return None
    return None


def is_written_form(text: str) -> bool:
    """Whether decoding and encoding valid base64 ``text`` gives it back: no line breaks, no unused bits set."""
    if "\n" in text or "\r" in text:
        return False
    padding = len(text) - len(text.rstrip("="))
    if not padding:
        return True
    last = _ALPHABET.find(text[-padding - 1])
    return last & (0x0F if padding == 2 else 0x03) == 0


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def written(value: Any) -> str | None:
    """The base64 a decode/encode round trip writes for a JSON value decoded into ``[]byte`` (a base64 string,
    or an array of byte values, which Go's decoder also takes); None if the decoder refuses it."""
    if type(value) is str:
        if decode_error(value) is not None:
            return None
        if is_written_form(value):
            return value
        return base64.b64encode(base64.b64decode(value.replace("\r", "").replace("\n", ""))).decode()
    if type(value) is list and all(type(b) is int and 0 <= b <= 255 for b in value):
        return base64.b64encode(bytes(value)).decode()
    return None
