"""Bearer tokens: the ``Authorization`` header, a union of token authenticators, and its short cache.

As kube-apiserver's ``bearertoken`` + ``tokenunion`` + ``tokencache``: the
token of ``Authorization: Bearer <token>`` is offered to each token
authenticator in turn (static file, service accounts, bootstrap tokens); the
first to recognise it names the user. A token that none accepts is a 401 —
never anonymous. Successful results are cached for :data:`SUCCESS_TTL`
seconds (upstream caches for 10 s too) under a hash
of the token and the audiences, so a client sending the same token on every
request pays for the signature check and the lookups once in that window;
failures are not cached. The cache's clock is injected.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from aiohttp import web

from pinnace.api import errors
from pinnace.apiserver.authn.union import NOT_CACHED, NotCached
from pinnace.apiserver.user import UserInfo

__all__ = [
    "SUCCESS_TTL",
    "BearerTokenAuthenticator",
    "TokenAuthenticator",
    "TokenRejected",
    "TokenResult",
    "bearer_token",
]

#: Seconds a successful token authentication is remembered.
SUCCESS_TTL = 10.0
#: Entries beyond which the cache is swept of expired ones.
_SWEEP_AT = 4096


class TokenRejected(Exception):
    """A token an authenticator recognised as its kind, and refuses (expired, revoked, wrong audience, …)."""


@dataclass(frozen=True, slots=True)
class TokenResult:
    """Whom a token authenticates, and for which of the wanted audiences."""

    user: UserInfo
    audiences: tuple[str, ...] = ()


class TokenAuthenticator(Protocol):
    """One kind of bearer token (upstream's ``authenticator.Token``)."""

    async def authenticate_token(self, token: str, audiences: Sequence[str]) -> TokenResult | None:
        """The token's user if it is this kind and valid for one of ``audiences``; None if not this kind.

        Raises :class:`TokenRejected` for a token of this kind that is not valid.
        """


def bearer_token(request: web.BaseRequest) -> str | None:
    """The token of an ``Authorization: Bearer`` header (None without one, or with another scheme)."""
    header = request.headers.get("Authorization")
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None


def agnostic_audiences(api_audiences: Sequence[str], wanted: Sequence[str]) -> tuple[str, ...] | None:
    """For a token that carries no audience: the API audiences among ``wanted`` (None if none)."""
    if not wanted:
        return tuple(api_audiences)
    both = tuple(a for a in wanted if a in api_audiences)
    return both or None


class BearerTokenAuthenticator:
    """A request's bearer token, tried against each token authenticator in order (with the result cache)."""

    def __init__(
        self,
        authenticators: Sequence[TokenAuthenticator],
        api_audiences: Sequence[str],
        *,
        success_ttl: float = SUCCESS_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.authenticators = list(authenticators)
        self.api_audiences = tuple(api_audiences)
        self.success_ttl = success_ttl
        self.clock = clock
        self._cache: dict[bytes, tuple[float, TokenResult]] = {}
        # The cache key is sha256(token NUL audience NUL …): the API audiences' part is made once.
        self._api_suffix = "".join("\x00" + a for a in self.api_audiences).encode()

    def _key(self, token: str, wanted: tuple[str, ...]) -> bytes:
        suffix = self._api_suffix if wanted is self.api_audiences else "".join("\x00" + a for a in wanted).encode()
        return hashlib.sha256(token.encode() + suffix).digest()

    def authenticate_cached(self, request: web.BaseRequest) -> UserInfo | Literal[NotCached.NOT_CACHED] | None:
        """:meth:`authenticate`'s answer while the token's success is cached (None without a token); else
        NOT_CACHED — a token not known to be good needs the full path, which may refuse it."""
        token = bearer_token(request)
        if token is None:
            return None
        hit = self._cache.get(self._key(token, self.api_audiences))
        if hit is not None and hit[0] > self.clock():
            return hit[1].user
        return NOT_CACHED

    async def authenticate(self, request: web.BaseRequest) -> UserInfo | None:
        """The user of the request's bearer token; None without one; 401 for a token no one accepts."""
        token = bearer_token(request)
        if token is None:
            return None
        try:
            return (await self.authenticate_token(token)).user
        except TokenRejected as exc:
            raise errors.Unauthorized("Unauthorized") from exc

    async def authenticate_token(self, token: str, audiences: Sequence[str] = ()) -> TokenResult:
        """The token's user and audiences (``audiences`` default: the API server's); TokenRejected says why not."""
        wanted = tuple(audiences) or self.api_audiences
        key = self._key(token, wanted)
        now = self.clock()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        result = await self._authenticate_uncached(token, wanted)
        if self.success_ttl > 0:
            if len(self._cache) >= _SWEEP_AT:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            self._cache[key] = (now + self.success_ttl, result)
        return result

    async def _authenticate_uncached(self, token: str, wanted: tuple[str, ...]) -> TokenResult:
        reasons: list[str] = []
        for authenticator in self.authenticators:
            try:
                result = await authenticator.authenticate_token(token, wanted)
            except TokenRejected as exc:
                reasons.append(str(exc))
                continue
            if result is not None:
                return result
        if not reasons:
            raise TokenRejected("invalid bearer token")
        raise TokenRejected(f"[invalid bearer token, {', '.join(reasons)}]")
