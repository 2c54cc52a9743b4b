"""Each provider round-trips in upstream's format; the transformer writes with the first and reads with any."""

from __future__ import annotations

import os

import pytest
from tests.unit.apiserver.encryption.sealed import OTHER_SECRET, WRITER_SECRET, aescbc_sealed

from pinnace.apiserver.encryption.providers import (
    AESCBCKey,
    AESGCMKey,
    DecryptError,
    Identity,
    Provider,
    SecretboxKey,
    Transformer,
)

CTX = b"/registry/core/secrets/default/s"
PLAINTEXT = b'{"kind":"Secret","data":{"password":"aHVudGVyMg=="}}'


@pytest.mark.parametrize(
    ("provider", "prefix"),
    [
        (AESCBCKey("k1", os.urandom(32)), b"k8s:enc:aescbc:v1:k1:"),
        (AESCBCKey("k16", os.urandom(16)), b"k8s:enc:aescbc:v1:k16:"),
        (AESGCMKey("k1", os.urandom(32)), b"k8s:enc:aesgcm:v1:k1:"),
        (AESGCMKey("k24", os.urandom(24)), b"k8s:enc:aesgcm:v1:k24:"),
        (SecretboxKey("k1", os.urandom(32)), b"k8s:enc:secretbox:v1:k1:"),
    ],
)
def test_round_trip_in_upstream_format(provider: Provider, prefix: bytes) -> None:
    stored = provider.encrypt(PLAINTEXT, CTX)
    assert stored.startswith(prefix)
    assert PLAINTEXT not in stored and b"aHVudGVyMg" not in stored
    assert provider.decrypt(stored, CTX) == PLAINTEXT
    # a random IV/nonce: the same plaintext never gives the same bytes twice
    assert provider.encrypt(PLAINTEXT, CTX) != stored


def test_aescbc_layout_is_iv_then_whole_blocks() -> None:
    key = AESCBCKey("k", os.urandom(32))
    body = key.encrypt(b"x" * 16, CTX)[len(key.prefix) :]
    assert len(body) == 16 + 32  # IV + 16 bytes padded to two blocks (PKCS#7 adds a full block)


def test_aesgcm_authenticates_the_storage_key() -> None:
    key = AESGCMKey("k", os.urandom(32))
    stored = key.encrypt(PLAINTEXT, CTX)
    with pytest.raises(DecryptError, match="authentication failed"):
        key.decrypt(stored, b"/registry/core/secrets/default/other")


@pytest.mark.parametrize("cls", [AESGCMKey, SecretboxKey])
def test_a_wrong_key_does_not_decrypt(cls: type[AESGCMKey]) -> None:
    stored = cls("k", os.urandom(32)).encrypt(PLAINTEXT, CTX)
    with pytest.raises(DecryptError):
        cls("k", os.urandom(32)).decrypt(stored, CTX)


def test_a_wrong_aescbc_key_does_not_decrypt() -> None:
    # unauthenticated: a wrong key fails on its padding, which with a random IV holds ~1 time in 256 (sealed.py)
    stored = aescbc_sealed("k", WRITER_SECRET, PLAINTEXT)
    assert AESCBCKey("k", WRITER_SECRET).decrypt(stored, CTX) == PLAINTEXT
    with pytest.raises(DecryptError, match="invalid PKCS7 data"):
        AESCBCKey("k", OTHER_SECRET).decrypt(stored, CTX)


def test_identity_stores_as_is_and_refuses_ciphertext() -> None:
    assert Identity().encrypt(PLAINTEXT, CTX) == PLAINTEXT
    with pytest.raises(DecryptError, match="encrypted data"):
        Identity().decrypt(b"k8s:enc:aescbc:v1:k:xxxx", CTX)


def test_rotation_order_first_writes_all_read_and_old_reads_are_stale() -> None:
    old, new = AESCBCKey("key1", os.urandom(32)), AESCBCKey("key2", os.urandom(32))
    before = Transformer([old, Identity()])
    written_before = before.write(PLAINTEXT, CTX)
    assert written_before.startswith(b"k8s:enc:aescbc:v1:key1:")
    assert before.read(written_before, CTX) == (PLAINTEXT, False)

    after = Transformer([new, old, Identity()])
    assert after.read(written_before, CTX) == (PLAINTEXT, True)  # readable, but due for re-encryption
    written_after = after.write(PLAINTEXT, CTX)
    assert written_after.startswith(b"k8s:enc:aescbc:v1:key2:")
    assert after.read(written_after, CTX) == (PLAINTEXT, False)
    assert after.read(PLAINTEXT, CTX) == (PLAINTEXT, True)  # plaintext from before encryption was on

    removed = Transformer([new])
    with pytest.raises(DecryptError, match="no matching prefix"):
        removed.read(written_before, CTX)
    with pytest.raises(DecryptError, match="identity provider is not configured"):
        removed.read(PLAINTEXT, CTX)


def test_providers_of_different_kinds_mix() -> None:
    gcm, box = AESGCMKey("a", os.urandom(16)), SecretboxKey("b", os.urandom(32))
    by_box = Transformer([box]).write(PLAINTEXT, CTX)
    both = Transformer([gcm, box])
    assert both.read(by_box, CTX) == (PLAINTEXT, True)
    assert both.read(both.write(PLAINTEXT, CTX), CTX) == (PLAINTEXT, False)


def test_identity_first_writes_plaintext_and_reads_old_ciphertext() -> None:
    key = AESCBCKey("k", os.urandom(32))
    stored = Transformer([key]).write(PLAINTEXT, CTX)
    decrypting = Transformer([Identity(), key])  # the way out of encryption
    assert decrypting.write(PLAINTEXT, CTX) == PLAINTEXT
    assert decrypting.read(stored, CTX) == (PLAINTEXT, True)
    assert decrypting.read(PLAINTEXT, CTX) == (PLAINTEXT, False)
