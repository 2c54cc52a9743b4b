"""Bootstrap tokens: ``<token-id>.<token-secret>`` backed by Secrets in kube-system (upstream's ``bootstrap``).

A token ``abcdef.0123456789abcdef`` is valid while the Secret
``kube-system/bootstrap-token-abcdef`` exists, is not being deleted, is of
type ``bootstrap.kubernetes.io/token``, holds the same ``token-secret``, has
``usage-bootstrap-authentication: "true"`` and has not passed its
``expiration`` (RFC 3339). The user is ``system:bootstrap:<token-id>``, in
``system:bootstrappers`` and the groups of ``auth-extra-groups`` (each of which
must start with ``system:bootstrappers:``). The Secret is read from the API
server's watch cache, so a check costs no store round trip; a success rests on
that Secret's revision and ends at the expiration (the token cache honours
both). Any failure is reported as a plain "invalid bearer token" (with the
reason logged), as upstream does, so that tokens cannot be probed.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Sequence

from pinnace.api.bootstraptoken import (
    BOOTSTRAPPERS_GROUP,
    EXTRA_GROUP_PATTERN,
    SECRET_PREFIX,
    SECRET_TYPE,
    TOKEN_PATTERN,
    parse_expiration,
    secret_text,
)
from pinnace.apiserver.authn.tokens import Dependency, TokenRejected, TokenResult, agnostic_audiences
from pinnace.apiserver.rest import RestStore
from pinnace.apiserver.user import UserInfo

__all__ = ["BootstrapTokenAuthenticator"]

log = logging.getLogger(__name__)


class BootstrapTokenAuthenticator:
    """Bearer tokens that are bootstrap tokens (see the module docstring)."""

    def __init__(
        self, rest: RestStore, api_audiences: Sequence[str], *, clock: Callable[[], float] = time.time
    ) -> None:
        self.rest = rest
        self.api_audiences = tuple(api_audiences)
        self.clock = clock
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
        if not hmac.compare_digest(secret_text(data, "token-secret").encode(), token_secret.encode()):
            return self._reject(f"the secret of bootstrap token {token_id} does not match")
        if secret_text(data, "token-id") != token_id:
            return self._reject(f"secret {name} names another token id")
        try:
            expiration = parse_expiration(secret_text(data, "expiration"))
        except ValueError:
            return self._reject(f"bootstrap token {token_id} has a malformed expiration")
        if expiration is not None and expiration.timestamp() <= self.clock():
            return self._reject(f"bootstrap token {token_id} expired at {expiration.isoformat()}")
        if secret_text(data, "usage-bootstrap-authentication") != "true":
            return self._reject(f"bootstrap token {token_id} is not usable for authentication")
        groups = [BOOTSTRAPPERS_GROUP]
        for group in (g.strip() for g in secret_text(data, "auth-extra-groups").split(",")):
            if not group:
                continue
            if not EXTRA_GROUP_PATTERN.match(group):
                return self._reject(f"bootstrap token {token_id} has an invalid extra group {group!r}")
            if group not in groups:
                groups.append(group)
        matched = agnostic_audiences(self.api_audiences, audiences)
        if matched is None:
            return self._reject("token audiences do not match the expected audiences")
        user = UserInfo(f"system:bootstrap:{token_id}", groups=tuple(groups))
        # Remembered while the Secret stays as it is, and not past the expiration.
        depends_on = (Dependency(self._secrets, cached.key, cached.revision),)
        return TokenResult(user, matched, depends_on, expiration.timestamp() if expiration is not None else None)

    @staticmethod
    def _reject(reason: str) -> TokenResult | None:
        log.info("bootstrap token refused: %s", reason)
        raise TokenRejected("invalid bearer token")
