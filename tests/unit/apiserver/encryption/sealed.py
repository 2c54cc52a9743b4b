"""aescbc values sealed with a fixed IV, so a wrong-key read has one known outcome.

AES-CBC carries no authentication: a wrong key decrypts to random bytes, and
about one time in 256 those happen to end in valid PKCS#7 padding, so the read
"succeeds" with garbage (upstream's aescbc behaves the same; that is why it
recommends aesgcm or KMS). A test that seals with a random IV and expects the
wrong key to fail is therefore flaky. These helpers seal with fixed keys and a
fixed IV, checked once to give invalid padding under the wrong key.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

#: The key a value was written with, and another of the same name that does not open it.
WRITER_SECRET = bytes(range(32))
OTHER_SECRET = bytes(range(32, 64))
IV = bytes(range(100, 116))


def aescbc_sealed(name: str, secret: bytes, plaintext: bytes, iv: bytes = IV) -> bytes:
    """The stored form upstream's aescbc writes (``k8s:enc:aescbc:v1:<name>:`` + IV + ciphertext), IV given."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(secret), modes.CBC(iv)).encryptor()
    return f"k8s:enc:aescbc:v1:{name}:".encode() + iv + encryptor.update(padded) + encryptor.finalize()
