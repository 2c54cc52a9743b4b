"""Unpadded base64url (RFC 4648 §5 without ``=``): JWS and JWK fields, key ids, list continue tokens.

Kept apart from the token and key modules so that users of the encoding alone (bootstrap-token signatures in the
controller manager, continue tokens) do not import ``cryptography`` (~7 MB of resident memory per process).
"""

from __future__ import annotations

import base64

__all__ = ["decode", "encode"]


def encode(data: bytes) -> str:
    """``data`` in unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode(text: str) -> bytes:
    """The bytes of unpadded (or padded) base64url ``text``; ``binascii.Error`` (a ``ValueError``) if it is not."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
