"""The service-account signing key: an RSA key in PEM, loaded from a file or made once and kept there.

kube-apiserver signs service-account tokens with ``--service-account-signing-key-file``
and verifies them with the public half (``--service-account-key-file``); kubeadm
generates the pair as ``sa.key`` / ``sa.pub``. :func:`load_or_generate` does the
same for Pinnace: an existing PEM key (PKCS#1 or PKCS#8) is used as it is, a
missing one is generated (RSA 2048), written atomically with mode 0600. The key
ID is upstream's: the unpadded base64url SHA-256 of the public key's DER
(PKIX) encoding, so a JWKS document and the tokens' ``kid`` agree with what
Kubernetes clients expect. The PKI of the security work reuses these helpers.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pinnace.api import base64url

__all__ = ["KEY_BITS", "generate", "key_id", "load_or_generate", "private_pem", "public_pem", "write_private_key"]

#: The size kubeadm gives the service-account key.
KEY_BITS = 2048


def generate(bits: int = KEY_BITS) -> rsa.RSAPrivateKey:
    """A fresh RSA private key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    """The key as PEM (PKCS#1 ``RSA PRIVATE KEY``, as kubeadm writes ``sa.key``)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


def public_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> bytes:
    """The public half as PEM (PKIX ``PUBLIC KEY``, as kubeadm writes ``sa.pub``)."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    """Upstream's ``kid``: base64url (no padding) of the SHA-256 of the public key in DER."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64url.encode(hashlib.sha256(der).digest())


def write_private_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    """Write the key atomically, readable by its owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(private_pem(key))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> rsa.RSAPrivateKey:
    """The RSA private key in a PEM file (ValueError if it holds something else)."""
    # The key is our own file (0600): OpenSSL's RSA consistency check (~40 ms) buys nothing at each start.
    key = serialization.load_pem_private_key(path.read_bytes(), password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path}: not an RSA private key")
    return key


def load_or_generate(path: Path, bits: int = KEY_BITS) -> rsa.RSAPrivateKey:
    """The key at ``path``; generated and written there (0600) if the file does not exist."""
    if path.exists():
        return load(path)
    key = generate(bits)
    write_private_key(path, key)
    return key
