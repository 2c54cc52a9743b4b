"""Bootstrap tokens: ``<token-id>.<token-secret>`` backed by Secrets in kube-system (upstream's ``bootstrap``).

A token ``abcdef.0123456789abcdef`` is valid while the Secret
``kube-system/bootstrap-token-abcdef`` exists, is not being deleted, is of
type ``bootstrap.kubernetes.io/token``, holds the same ``token-secret``, has
``usage-bootstrap-authentication: "true"`` and has not passed its
``expiration`` (RFC 3339). The user is ``system:bootstrap:<token-id>``, in
``system:bootstrappers`` and the groups of ``auth-extra-groups`` (each of which
must start with ``system:bootstrappers:``). The Secret is read from the API
server's watch cache, so a check costs no store round trip. Any failure is
reported as a plain "invalid bearer token" (with the reason logged), as upstream
does, so that tokens cannot be probed.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pinnace.apiserver.authn.tokens import TokenRejected, TokenResult, agnostic_audiences
from pinnace.apiserver.rest import RestStore
from pinnace.apiserver.user import UserInfo

__all__ = [
    "BOOTSTRAPPERS_GROUP",
    "SECRET_PREFIX",
    "SECRET_TYPE",
    "TOKEN_PATTERN",
    "BootstrapTokenAuthenticator",
    "parse_expiration",
]

log = logging.getLogger(__name__)

SECRET_TYPE = "bootstrap.kubernetes.io/token"
SECRET_PREFIX = "bootstrap-token-"
BOOTSTRAPPERS_GROUP = "system:bootstrappers"
#: ``[a-z0-9]{6}.[a-z0-9]{16}``: anything else is not a bootstrap token at all.
TOKEN_PATTERN = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
_GROUP_PATTERN = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")


def _decode(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        return ""
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


def parse_expiration(value: str) -> datetime | None:
    """An RFC 3339 ``expiration`` (ValueError if malformed; None if empty)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class BootstrapTokenAuthenticator:
    """Bearer tokens that are bootstrap tokens (see the module docstring)."""

    def __init__(self, rest: RestStore, api_audiences: Sequence[str]) -> None:
        self.rest = rest
        self.api_audiences = tuple(api_audiences)
        info = rest.registry.get("", "v1", "secrets")
        assert info is not None
        self._secrets = info

    async def authenticate_token(self, token: str, audiences: Sequence[str]) -> TokenResult | None:
        """The bootstrap user of a valid token; None if the token is not of the bootstrap form."""
        match = TOKEN_PATTERN.match(token)
        if match is None:
            return None
        token_id, token_secret = match.groups()
        name = SECRET_PREFIX + token_id
        cached = await self.rest.get_cached(self._secrets, "kube-system", name)
        if cached is None:
            return self._reject(f"no secret kube-system/{name} for bootstrap token {token_id}")
        secret = cached.obj
        meta = secret.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return self._reject(f"bootstrap token secret {name} is being deleted")
        if secret.get("type") != SECRET_TYPE:
            return self._reject(f"secret {name} is of type {secret.get('type')!r}, not {SECRET_TYPE}")
        data = secret.get("data") or {}
        if not hmac.compare_digest(_decode(data, "token-secret").encode(), token_secret.encode()):
            return self._reject(f"the secret of bootstrap token {token_id} does not match")
        if _decode(data, "token-id") != token_id:
            return self._reject(f"secret {name} names another token id")
        try:
            expiration = parse_expiration(_decode(data, "expiration"))
        except ValueError:
            return self._reject(f"bootstrap token {token_id} has a malformed expiration")
        if expiration is not None and expiration <= datetime.now(UTC):
            return self._reject(f"bootstrap token {token_id} expired at {expiration.isoformat()}")
        if _decode(data, "usage-bootstrap-authentication") != "true":
            return self._reject(f"bootstrap token {token_id} is not usable for authentication")
        groups = [BOOTSTRAPPERS_GROUP]
        for group in (g.strip() for g in _decode(data, "auth-extra-groups").split(",")):
            if not group:
                continue
            if not _GROUP_PATTERN.match(group):
                return self._reject(f"bootstrap token {token_id} has an invalid extra group {group!r}")
            if group not in groups:
                groups.append(group)
        matched = agnostic_audiences(self.api_audiences, audiences)
        if matched is None:
            return self._reject("token audiences do not match the expected audiences")
        return TokenResult(UserInfo(f"system:bootstrap:{token_id}", groups=tuple(groups)), matched)

    @staticmethod
    def _reject(reason: str) -> TokenResult | None:
        log.info("bootstrap token refused: %s", reason)
        raise TokenRejected("invalid bearer token")
