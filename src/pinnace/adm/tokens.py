"""``pinnace adm token``: bootstrap tokens on a running cluster, and the join command they go in.

What ``kubeadm token create|delete|list`` do, over the API: a token is a
``bootstrap-token-<id>`` Secret in ``kube-system`` (see
:mod:`pinnace.api.bootstraptoken`). Tokens made for joining nodes default to
kubeadm's: a 24 h TTL, usages ``signing,authentication``, and the group
``system:bootstrappers:kubeadm:default-node-token`` (bound by the bootstrap
policy to what a joining node needs). The join command pins the cluster CA by
the SHA-256 of its SubjectPublicKeyInfo, as kubeadm's
``--discovery-token-ca-cert-hash``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pinnace.api import errors
from pinnace.api.bootstraptoken import EXTRA_GROUP_PATTERN, SECRET_PREFIX, TOKEN_PATTERN, USAGES, BootstrapToken
from pinnace.api.goduration import parse_go_duration
from pinnace.client.rest import ResourceRef, RestClient

__all__ = [
    "DEFAULT_GROUP",
    "DEFAULT_TTL",
    "ca_cert_hash",
    "create_token",
    "delete_token",
    "format_ttl",
    "join_command",
    "list_tokens",
    "parse_duration",
]

SECRETS = ResourceRef("", "v1", "secrets")
DEFAULT_TTL = timedelta(hours=24)
DEFAULT_GROUP = "system:bootstrappers:kubeadm:default-node-token"
_ID = re.compile(r"^[a-z0-9]{6}$")


def parse_duration(text: str) -> timedelta:
    """A Go duration (``24h0m0s``, ``90m``, ``0`` or nothing for none); ValueError if malformed or negative."""
    text = text.strip()
    seconds = parse_go_duration(text) if text else 0.0
    if seconds < 0:
        raise ValueError(f'time: invalid duration "{text}"')
    return timedelta(seconds=seconds)


def format_ttl(token: BootstrapToken, now: datetime | None = None) -> str:
    """``kubeadm token list``'s TTL column: ``23h``, ``59m``, ``<forever>`` or ``<invalid>`` (expired)."""
    if token.expiration is None:
        return "<forever>"
    left = token.expiration - (now or datetime.now(UTC))
    if left.total_seconds() <= 0:
        return "<invalid>"
    seconds = int(left.total_seconds())
    if seconds >= 3600:
        return f"{seconds // 3600}h"
    if seconds >= 60:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def check(token: BootstrapToken) -> None:
    """ValueError (kubeadm's wording) for usages or groups a bootstrap token may not have."""
    for usage in token.usages:
        if usage not in USAGES:
            raise ValueError(f"invalid bootstrap token usage string: {usage}, valid usage options: {', '.join(USAGES)}")
    for group in token.groups:
        if not EXTRA_GROUP_PATTERN.match(group):
            raise ValueError(f'group "{group}" must match {EXTRA_GROUP_PATTERN.pattern}')
    if token.groups and "authentication" not in token.usages:
        raise ValueError("token groups may only be set on tokens usable for authentication")


async def create_token(rest: RestClient, token: BootstrapToken) -> BootstrapToken:
    """Store the token's Secret; ValueError if one with that id exists or the token is not valid."""
    check(token)
    try:
        await rest.create(SECRETS, token.to_secret(), "kube-system")
    except errors.AlreadyExists:
        raise ValueError(f'a token with id "{token.token_id}" already exists') from None
    return token


async def list_tokens(rest: RestClient) -> list[BootstrapToken]:
    """Every well-formed bootstrap token of the cluster (expired ones too, until the cleaner takes them)."""
    items = (await rest.list(SECRETS, "kube-system", fieldSelector="type=bootstrap.kubernetes.io/token"))["items"]
    found = [BootstrapToken.from_secret(secret) for secret in items]
    return sorted((t for t in found if t is not None), key=lambda t: t.token_id)


async def delete_token(rest: RestClient, token_or_id: str) -> str:
    """Delete a token given as ``<id>`` or ``<id>.<secret>``; its id. ValueError if malformed or absent."""
    if TOKEN_PATTERN.match(token_or_id):
        token_id = token_or_id.split(".", 1)[0]
    elif _ID.match(token_or_id):
        token_id = token_or_id
    else:
        raise ValueError(
            f'given token "{token_or_id}" didn\'t match pattern "{TOKEN_PATTERN.pattern}" or "{_ID.pattern}"'
        )
    try:
        await rest.delete(SECRETS, SECRET_PREFIX + token_id, "kube-system")
    except errors.NotFound:
        raise ValueError(f'bootstrap token "{token_id}" not found') from None
    return token_id


def ca_cert_hash(ca_pem: bytes) -> str:
    """``sha256:<hex>`` of the CA certificate's SubjectPublicKeyInfo (kubeadm's CA pin)."""
    cert = x509.load_pem_x509_certificate(ca_pem)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def join_command(
    endpoint: str,
    token: str,
    ca_hashes: Sequence[str],
    *,
    control_plane: bool = False,
    certificate_key: str | None = None,
) -> str:
    """The ``pinnace adm join`` line a node runs to join with ``token``."""
    host = endpoint.removeprefix("https://").removeprefix("http://").rstrip("/")
    parts = ["pinnace adm join", host, "--token", token]
    for pin in ca_hashes:
        parts += ["--discovery-token-ca-cert-hash", pin]
    if control_plane:
        parts.append("--control-plane")
        if certificate_key:
            parts += ["--certificate-key", certificate_key]
    return " ".join(parts)
