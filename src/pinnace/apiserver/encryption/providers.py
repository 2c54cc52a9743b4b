"""The encryption providers of an EncryptionConfiguration, and the transformer that chains them.

Each provider turns a stored value into ciphertext and back, in upstream's
wire format, so a store written by kube-apiserver reads here and the other way
round:

* ``identity``: the value itself, unprefixed.
* ``aescbc``: ``k8s:enc:aescbc:v1:<key>:`` + 16-byte IV + AES-CBC(PKCS#7).
* ``aesgcm``: ``k8s:enc:aesgcm:v1:<key>:`` + 12-byte nonce + AES-GCM sealed
  data, authenticated with the storage key (so a value copied to another key
  does not decrypt).
* ``secretbox``: ``k8s:enc:secretbox:v1:<key>:`` + 24-byte nonce +
  XSalsa20-Poly1305 (NaCl secretbox).

A :class:`Transformer` is the ordered list of (provider, key) pairs of one
resource entry: the first writes, any of them reads (by the value's prefix;
unprefixed data only through ``identity``). A read made with anything but the
first pair is *stale*: the value should be rewritten with the current key,
which is what re-encryption does.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "AESCBCKey",
    "AESGCMKey",
    "DecryptError",
    "Identity",
    "Provider",
    "SecretboxKey",
    "Transformer",
]


class DecryptError(Exception):
    """A stored value that no configured provider can read (wrong key, corrupt data, key removed)."""


class Provider(Protocol):
    """One way of writing values: a provider with one of its keys."""

    @property
    def prefix(self) -> bytes:
        """The value prefix this provider writes and reads (empty for identity)."""
        ...

    def encrypt(self, plaintext: bytes, context: bytes) -> bytes:
        """The stored form of ``plaintext`` (``context``: the storage key, authenticated where the mode can)."""
        ...

    def decrypt(self, stored: bytes, context: bytes) -> bytes:
        """The plaintext of a value written with this provider (:class:`DecryptError` if it does not open)."""
        ...


class Identity:
    """No encryption: values are stored as they are (and unprefixed values read through it)."""

    prefix = b""

    def encrypt(self, plaintext: bytes, context: bytes) -> bytes:
        """``plaintext`` itself."""
        return plaintext

    def decrypt(self, stored: bytes, context: bytes) -> bytes:
        """``stored`` itself, unless it is someone's ciphertext (upstream refuses that too)."""
        if stored.startswith(b"k8s:enc:"):
            raise DecryptError("identity transformer tried to read encrypted data")
        return stored


@functools.lru_cache(maxsize=64)
def _aesgcm(secret: bytes) -> AESGCM:
    return AESGCM(secret)


@functools.lru_cache(maxsize=64)
def _secretbox(secret: bytes) -> Any:
    from nacl.secret import SecretBox  # imported when a secretbox key is used: pinnace up starts without it

    return SecretBox(secret)


#: A secretbox value's nonce (24 bytes) and authenticator (16 bytes).
_SECRETBOX_OVERHEAD = 24 + 16


def _prefix(provider: str, name: str) -> bytes:
    return f"k8s:enc:{provider}:v1:{name}:".encode()


@dataclass(frozen=True, slots=True)
class AESCBCKey:
    """aescbc with one key (16, 24 or 32 bytes): AES-CBC, random IV, PKCS#7 padding, as upstream."""

    name: str
    secret: bytes

    @property
    def prefix(self) -> bytes:
        """``k8s:enc:aescbc:v1:<name>:``."""
        return _prefix("aescbc", self.name)

    def encrypt(self, plaintext: bytes, context: bytes) -> bytes:
        """Prefix + IV + ciphertext."""
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        padded = padder.update(plaintext) + padder.finalize()
        encryptor = Cipher(algorithms.AES(self.secret), modes.CBC(iv)).encryptor()
        return self.prefix + iv + encryptor.update(padded) + encryptor.finalize()

    def decrypt(self, stored: bytes, context: bytes) -> bytes:
        """The plaintext, or DecryptError for a wrong key or damaged value."""
        body = stored[len(self.prefix) :]
        if len(body) < 32 or len(body) % 16:
            raise DecryptError("the stored data is not a whole number of AES blocks")
        decryptor = Cipher(algorithms.AES(self.secret), modes.CBC(body[:16])).decryptor()
        padded = decryptor.update(body[16:]) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise DecryptError("invalid PKCS7 data (the key does not match the data)") from None


@dataclass(frozen=True, slots=True)
class AESGCMKey:
    """aesgcm with one key (16, 24 or 32 bytes): random 12-byte nonce, the storage key as associated data."""

    name: str
    secret: bytes

    @property
    def prefix(self) -> bytes:
        """``k8s:enc:aesgcm:v1:<name>:``."""
        return _prefix("aesgcm", self.name)

    def encrypt(self, plaintext: bytes, context: bytes) -> bytes:
        """Prefix + nonce + sealed data."""
        nonce = os.urandom(12)
        return self.prefix + nonce + _aesgcm(self.secret).encrypt(nonce, plaintext, context)

    def decrypt(self, stored: bytes, context: bytes) -> bytes:
        """The plaintext, or DecryptError if the key, the data or its storage key do not match."""
        body = stored[len(self.prefix) :]
        if len(body) < 12 + 16:
            raise DecryptError("the stored data was shorter than the required size")
        try:
            return _aesgcm(self.secret).decrypt(body[:12], body[12:], context)
        except Exception:  # cryptography's InvalidTag
            raise DecryptError("cipher: message authentication failed") from None


@dataclass(frozen=True, slots=True)
class SecretboxKey:
    """secretbox with one 32-byte key: XSalsa20-Poly1305 with a random 24-byte nonce."""

    name: str
    secret: bytes

    @property
    def prefix(self) -> bytes:
        """``k8s:enc:secretbox:v1:<name>:``."""
        return _prefix("secretbox", self.name)

    def encrypt(self, plaintext: bytes, context: bytes) -> bytes:
        """Prefix + nonce + sealed box."""
        return self.prefix + bytes(_secretbox(self.secret).encrypt(plaintext))

    def decrypt(self, stored: bytes, context: bytes) -> bytes:
        """The plaintext, or DecryptError if the box does not open with this key."""
        from nacl.exceptions import CryptoError

        body = stored[len(self.prefix) :]
        if len(body) < _SECRETBOX_OVERHEAD:
            raise DecryptError("the stored data was shorter than the required size")
        try:
            return bytes(_secretbox(self.secret).decrypt(body))
        except CryptoError:
            raise DecryptError("output array was not large enough for encryption") from None


class Transformer:
    """The providers of one resource entry: the first writes, every one reads its own values."""

    def __init__(self, providers: list[Provider]) -> None:
        if not providers:
            raise ValueError("a transformer needs at least one provider")
        self.providers = providers
        self.writer = providers[0]
        self._identity_reads = any(isinstance(p, Identity) for p in providers)

    def write(self, plaintext: bytes, context: bytes) -> bytes:
        """``plaintext`` as the first provider stores it."""
        return self.writer.encrypt(plaintext, context)

    def read(self, stored: bytes, context: bytes) -> tuple[bytes, bool]:
        """The plaintext of a stored value and whether it is stale (not written by the first provider)."""
        errors: list[str] = []
        for provider in self.providers:
            if provider.prefix and stored.startswith(provider.prefix):
                try:
                    return provider.decrypt(stored, context), provider is not self.writer
                except DecryptError as exc:
                    errors.append(str(exc))
        if errors:
            raise DecryptError("; ".join(errors))
        if self._identity_reads and not stored.startswith(b"k8s:enc:"):
            return stored, not isinstance(self.writer, Identity)
        if stored.startswith(b"k8s:enc:"):
            raise DecryptError("no matching prefix found (the key that wrote this value is not configured)")
        raise DecryptError("the value is not encrypted and the identity provider is not configured")
