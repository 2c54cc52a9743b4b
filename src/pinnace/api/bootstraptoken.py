"""Bootstrap tokens as Secrets, and the detached JWS they sign ``cluster-info`` with (upstream's cluster-bootstrap).

A bootstrap token ``abcdef.0123456789abcdef`` lives in the Secret
``kube-system/bootstrap-token-abcdef`` of type ``bootstrap.kubernetes.io/token``,
whose data holds ``token-id``, ``token-secret``, an optional RFC 3339
``expiration`` and ``description``, the usages (``usage-bootstrap-authentication``,
``usage-bootstrap-signing``: ``"true"``) and ``auth-extra-groups``. The
bootstrap signer writes, into the ``cluster-info`` ConfigMap of ``kube-public``,
one ``jws-kubeconfig-<token-id>`` per signing token: a compact JWS (HS256, key
the token secret, header ``{"alg":"HS256","kid":"<token-id>"}``) of the
ConfigMap's ``kubeconfig`` with the payload left out. A joining node, knowing
the token, recomputes it to trust what it read without TLS trust yet.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pinnace.api import base64url

__all__ = [
    "BOOTSTRAPPERS_GROUP",
    "CLUSTER_INFO",
    "JWS_PREFIX",
    "SECRET_PREFIX",
    "SECRET_TYPE",
    "TOKEN_PATTERN",
    "BootstrapToken",
    "detached_jws",
    "generate_token",
    "parse_expiration",
    "secret_text",
    "verify_detached_jws",
]

SECRET_TYPE = "bootstrap.kubernetes.io/token"
SECRET_PREFIX = "bootstrap-token-"
BOOTSTRAPPERS_GROUP = "system:bootstrappers"
#: ``[a-z0-9]{6}.[a-z0-9]{16}``: anything else is not a bootstrap token at all.
TOKEN_PATTERN = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
EXTRA_GROUP_PATTERN = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")
#: The ConfigMap in kube-public that joining nodes read anonymously, and its signature keys' prefix.
CLUSTER_INFO = "cluster-info"
JWS_PREFIX = "jws-kubeconfig-"
USAGES = ("authentication", "signing")

_ALPHABET = string.ascii_lowercase + string.digits


def generate_token() -> str:
    """A new random token, ``[a-z0-9]{6}.[a-z0-9]{16}`` (kubeadm token generate)."""
    return (
        "".join(secrets.choice(_ALPHABET) for _ in range(6))
        + "."
        + "".join(secrets.choice(_ALPHABET) for _ in range(16))
    )


def parse_expiration(value: str) -> datetime | None:
    """An RFC 3339 ``expiration`` (ValueError if malformed; None if empty)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret_text(data: dict[str, Any], key: str) -> str:
    """A Secret data value as text ("" when absent or not base64 of UTF-8)."""
    value = data.get(key)
    if not isinstance(value, str):
        return ""
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


@dataclass
class BootstrapToken:
    """One bootstrap token and what its Secret says of it."""

    token_id: str
    token_secret: str
    description: str = ""
    expiration: datetime | None = None
    usages: tuple[str, ...] = USAGES
    groups: tuple[str, ...] = ()
    #: Anything the Secret held that is not one of the fields above (kept on a round trip).
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def token(self) -> str:
        """``<id>.<secret>``."""
        return f"{self.token_id}.{self.token_secret}"

    @property
    def secret_name(self) -> str:
        """``bootstrap-token-<id>``."""
        return SECRET_PREFIX + self.token_id

    @classmethod
    def parse(cls, token: str, **fields: Any) -> BootstrapToken:
        """From ``<id>.<secret>``; ValueError with kubeadm's wording when it is not one."""
        match = TOKEN_PATTERN.match(token)
        if match is None:
            raise ValueError(f'the bootstrap token "{token}" was not of the form "{TOKEN_PATTERN.pattern}"')
        return cls(match.group(1), match.group(2), **fields)

    def expired(self, now: datetime | None = None) -> bool:
        """Whether the expiration has passed."""
        return self.expiration is not None and self.expiration <= (now or datetime.now(UTC))

    def ttl(self, ttl: timedelta | None) -> BootstrapToken:
        """Expire ``ttl`` from now (None or zero: never), in place; returns self."""
        self.expiration = datetime.now(UTC).replace(microsecond=0) + ttl if ttl else None
        return self

    def to_secret(self) -> dict[str, Any]:
        """The Secret that holds this token."""
        data = {"token-id": self.token_id, "token-secret": self.token_secret, **self.extra}
        if self.description:
            data["description"] = self.description
        if self.expiration is not None:
            data["expiration"] = self.expiration.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for usage in self.usages:
            data[f"usage-bootstrap-{usage}"] = "true"
        if self.groups:
            data["auth-extra-groups"] = ",".join(self.groups)
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": self.secret_name, "namespace": "kube-system"},
            "type": SECRET_TYPE,
            "data": {k: _b64(v) for k, v in data.items()},
        }

    @classmethod
    def from_secret(cls, secret: dict[str, Any]) -> BootstrapToken | None:
        """The token a bootstrap-token Secret holds; None if the Secret is not a well-formed one."""
        if secret.get("type") != SECRET_TYPE:
            return None
        data = secret.get("data") or {}
        token_id, token_secret = secret_text(data, "token-id"), secret_text(data, "token-secret")
        name = (secret.get("metadata") or {}).get("name", "")
        if not TOKEN_PATTERN.match(f"{token_id}.{token_secret}") or name != SECRET_PREFIX + token_id:
            return None
        try:
            expiration = parse_expiration(secret_text(data, "expiration"))
        except ValueError:
            return None
        usages = tuple(u for u in USAGES if secret_text(data, f"usage-bootstrap-{u}") == "true")
        groups = tuple(g.strip() for g in secret_text(data, "auth-extra-groups").split(",") if g.strip())
        known = {"token-id", "token-secret", "expiration", "description", "auth-extra-groups"}
        known.update(f"usage-bootstrap-{u}" for u in USAGES)
        extra = {k: secret_text(data, k) for k in data if k not in known}
        description = secret_text(data, "description")
        return cls(token_id, token_secret, description, expiration, usages, groups, extra)


def detached_jws(content: str, token_id: str, token_secret: str) -> str:
    """The compact JWS of ``content`` (HS256 keyed by the token secret) without its payload: ``header..signature``."""
    header = base64url.encode(b'{"alg":"HS256","kid":"' + token_id.encode() + b'"}')
    signing_input = f"{header}.{base64url.encode(content.encode())}".encode()
    signature = hmac.new(token_secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}..{base64url.encode(signature)}"


def verify_detached_jws(signature: str, content: str, token_id: str, token_secret: str) -> bool:
    """Whether ``signature`` is the detached JWS of ``content`` by this token (compared in constant time)."""
    return hmac.compare_digest(signature.encode(), detached_jws(content, token_id, token_secret).encode())
