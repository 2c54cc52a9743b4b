"""kubeadm's ``upload-certs`` and ``download-certs``: the shared control-plane keys, encrypted, in a short-lived Secret.

A control plane that joins needs the cluster's CAs and keys — ``ca``,
``front-proxy-ca``, the service-account key pair and, with stacked etcd, the
etcd CA — to sign its own serving and client certificates. ``adm init
--upload-certs`` (or ``init phase upload-certs --upload-certs``) stores them in
the Secret ``kube-system/kubeadm-certs``, each file encrypted with AES-256-GCM
under the *certificate key* (32 random bytes, shown in hex; the nonce precedes
the ciphertext, as kubeadm's ``EncryptBytes``). Data keys are the file names
with ``/`` made ``-`` (``etcd/ca.crt`` is ``etcd-ca.crt``); a file absent on the
uploading host (no stacked etcd) is an empty value. Pinnace adds the
EncryptionConfiguration (``encryption-config.yaml``), so that every API server
of a stacked cluster encrypts Secrets at rest with the same keys (kubeadm leaves
copying it to the user).

The Secret is owned by a bootstrap token with a two-hour TTL and no usages:
when the token cleaner deletes the expired token, the garbage collector deletes
the Secret with it, so the keys are not left in the cluster. The Role and
RoleBinding ``kubeadm:kubeadm-certs`` let the joining tokens' group
(``system:bootstrappers:kubeadm:default-node-token``) get that one Secret.
``adm join --control-plane --certificate-key K`` downloads it with its
bootstrap token and decrypts it; a wrong key fails the GCM tag check, and no
file is written.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pinnace.adm import tokens
from pinnace.adm.kubeadmconfig import create_or_update
from pinnace.api import errors
from pinnace.api.bootstraptoken import BootstrapToken, generate_token
from pinnace.client.rest import ResourceRef, RestClient

__all__ = [
    "CERTIFICATE_KEY_SIZE",
    "ENCRYPTION_CONFIG",
    "ROLE_NAME",
    "SECRET_NAME",
    "TOKEN_TTL",
    "UploadCertsError",
    "certs_to_transfer",
    "decrypt",
    "download_certs",
    "encrypt",
    "parse_certificate_key",
    "rbac_objects",
    "secret_data",
    "upload_certs",
]

Obj = dict[str, Any]

SECRET_NAME = "kubeadm-certs"
ROLE_NAME = "kubeadm:kubeadm-certs"
#: kubeadm's ``DefaultCertTokenDuration``: the uploaded keys are deleted with their token after this.
TOKEN_TTL = timedelta(hours=2)
TOKEN_DESCRIPTION = "Proxy for managing TTL for the kubeadm-certs secret"
#: The certificate key is an AES-256 key.
CERTIFICATE_KEY_SIZE = 32
NONCE_SIZE = 12
#: The EncryptionConfiguration a stacked control plane's API servers share (``cluster.encryption``'s default file).
ENCRYPTION_CONFIG = "encryption-config.yaml"

SECRETS = ResourceRef("", "v1", "secrets")
ROLES = ResourceRef("rbac.authorization.k8s.io", "v1", "roles")
ROLEBINDINGS = ResourceRef("rbac.authorization.k8s.io", "v1", "rolebindings")


class UploadCertsError(ValueError):
    """Uploading or downloading the certificates failed; the message says why (kubeadm's wording)."""


def parse_certificate_key(key: str) -> bytes:
    """The AES key a hex certificate key stands for (UploadCertsError unless 32 bytes of hex)."""
    try:
        raw = bytes.fromhex(key.strip())
    except ValueError:
        raise UploadCertsError(f"error decoding certificate key: {key!r} is not hexadecimal") from None
    if len(raw) != CERTIFICATE_KEY_SIZE:
        raise UploadCertsError(
            f"error decoding certificate key: it must be {CERTIFICATE_KEY_SIZE} bytes ({2 * CERTIFICATE_KEY_SIZE} hex "
            f"digits), not {len(raw)}; make one with `pinnace adm certs certificate-key`"
        )
    return raw


def encrypt(data: bytes, key: bytes) -> bytes:
    """AES-256-GCM of ``data`` under ``key``: a fresh 12-byte nonce, then the ciphertext and tag."""
    nonce = os.urandom(NONCE_SIZE)
    return nonce + AESGCM(key).encrypt(nonce, data, None)


def decrypt(data: bytes, key: bytes) -> bytes:
    """The plaintext of :func:`encrypt`'s output (InvalidTag when the key is wrong or the data was altered)."""
    if len(data) < NONCE_SIZE:
        raise InvalidTag
    return AESGCM(key).decrypt(data[:NONCE_SIZE], data[NONCE_SIZE:], None)


def certs_to_transfer() -> dict[str, str]:
    """Secret data key → path under the data directory of each shared CA, key and the encryption configuration
    (kubeadm's ``certsToTransfer``, and Pinnace's ``encryption-config.yaml``)."""
    paths = ["ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "sa.pub", "sa.key",
             "etcd/ca.crt", "etcd/ca.key"]  # fmt: skip
    transfer = {path.replace("/", "-"): f"pki/{path}" for path in paths}
    transfer[ENCRYPTION_CONFIG] = ENCRYPTION_CONFIG
    return transfer


def secret_data(data_dir: Path, key: bytes) -> dict[str, str]:
    """The Secret's ``data``: each file encrypted and base64-encoded; a missing file (no etcd CA) is empty."""
    data: dict[str, str] = {}
    for name, path in certs_to_transfer().items():
        try:
            plain = (data_dir / path).read_bytes()
        except FileNotFoundError:
            data[name] = ""
            continue
        data[name] = base64.b64encode(encrypt(plain, key)).decode()
    return data


def rbac_objects() -> list[tuple[ResourceRef, Obj]]:
    """The Role and RoleBinding ``kubeadm:kubeadm-certs``: joining tokens may get the Secret, and nothing else."""
    rule = {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [SECRET_NAME], "verbs": ["get"]}
    role = {"metadata": {"name": ROLE_NAME, "namespace": "kube-system"}, "rules": [rule]}
    binding = {
        "metadata": {"name": ROLE_NAME, "namespace": "kube-system"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE_NAME},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": tokens.DEFAULT_GROUP}],
    }
    return [(ROLES, role), (ROLEBINDINGS, binding)]


async def upload_certs(rest: RestClient, data_dir: Path, certificate_key: str) -> Obj:
    """The upload-certs phase: a 2 h token, ``kubeadm-certs`` owned by it holding the encrypted keys, and the RBAC
    letting joining tokens read it. Returns the Secret."""
    key = parse_certificate_key(certificate_key)
    token = BootstrapToken.parse(generate_token(), description=TOKEN_DESCRIPTION, usages=()).ttl(TOKEN_TTL)
    await tokens.create_token(rest, token)
    owner = await rest.get(SECRETS, token.secret_name, "kube-system")
    reference = {
        "apiVersion": "v1",
        "kind": "Secret",
        "name": token.secret_name,
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET_NAME, "namespace": "kube-system", "ownerReferences": [reference]},
        "type": "Opaque",
        "data": secret_data(data_dir, key),
    }
    written = await create_or_update(rest, SECRETS, secret, "kube-system")
    for ref, obj in rbac_objects():
        await create_or_update(rest, ref, obj, "kube-system")
    return written


def decrypt_secret(data: Mapping[str, str], certificate_key: str) -> dict[str, bytes]:
    """Each file of the Secret's data, decrypted (empty ones stay empty); UploadCertsError naming the cause."""
    key = parse_certificate_key(certificate_key)
    files: dict[str, bytes] = {}
    for name, value in data.items():
        try:
            raw = base64.b64decode(value or "", validate=True)
            files[name] = decrypt(raw, key) if raw else b""
        except (InvalidTag, binascii.Error):
            raise UploadCertsError(
                "error decoding secret data with provided key: cipher: message authentication failed "
                "(is the --certificate-key the one `pinnace adm init --upload-certs` printed?)"
            ) from None
    return files


async def download_certs(rest: RestClient, data_dir: Path, certificate_key: str) -> list[str]:
    """The download-certs step of a control-plane join: fetch ``kubeadm-certs``, decrypt every file (all or none),
    write them under ``data_dir`` (keys 0600). Returns the paths written, relative to ``data_dir``."""
    parse_certificate_key(certificate_key)
    try:
        secret = await rest.get(SECRETS, SECRET_NAME, "kube-system")
    except errors.NotFound:
        raise UploadCertsError(
            f'error downloading the secret: Secret "{SECRET_NAME}" was not found in the "kube-system" Namespace. '
            "This Secret might have expired. Please, run `pinnace adm init phase upload-certs --upload-certs` on a "
            "control plane to generate a new one"
        ) from None
    except errors.Forbidden as exc:
        raise UploadCertsError(f"error downloading the secret: {exc}") from None
    files = decrypt_secret(secret.get("data") or {}, certificate_key)
    written = []
    for name, path in certs_to_transfer().items():
        if name not in files:
            raise UploadCertsError(
                f"the Secret does not include the required certificate or key - name: {name}, path: {path}"
            )
        if not files[name]:
            continue
        target = data_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[name])
        target.chmod(0o644 if path.endswith((".crt", ".pub")) else 0o600)
        written.append(path)
    return written
