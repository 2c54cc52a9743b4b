"""Bearer tokens: the ``Authorization`` header, a union of token authenticators, and its short cache.

As kube-apiserver's ``bearertoken`` + ``tokenunion`` + ``tokencache``: the
token of ``Authorization: Bearer <token>`` is offered to each token
authenticator in turn (static file, service accounts, bootstrap tokens); the
first to recognise it names the user. A token that none accepts is a 401 —
never anonymous. Failures are not cached.

A success is remembered for :data:`SUCCESS_TTL` seconds (upstream's 10 s), but
never longer than it holds: not past the token's own end (a JWT's ``exp``, a
bootstrap token's ``expiration``, the grace of an object being deleted), and
not past a change of any object it rests on — the token authenticator names
those (service account, pod, secret, node, bootstrap-token Secret) with their
revisions (:class:`Dependency`), and a remembered success is used only while
each is at that revision in this server's watch caches, after this server's
own writes. So deleting a token's Secret or pod refuses the token on the next
request, where upstream's cache accepts it for up to 10 s more.

Results are filed under the token and audiences, and for requests also under
the raw header value, so that a known client's request costs one dict lookup
and no hashing (:meth:`BearerTokenAuthenticator.authenticate_cached`). The
tokens are kept as they are, where upstream keeps an HMAC of them: this
process holds the token file and the service-account signing key anyway, so a
look into its memory learns nothing more from them. The clock (wall time, as
token expiries are) is injected.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

from aiohttp import web

from pinnace.api import errors
from pinnace.apiserver.authn.union import NOT_CACHED, NotCached
from pinnace.apiserver.user import UserInfo

if TYPE_CHECKING:
    from pinnace.api.registry import ResourceInfo
    from pinnace.apiserver.rest import RestStore

__all__ = [
    "SUCCESS_TTL",
    "BearerTokenAuthenticator",
    "Dependency",
    "TokenAuthenticator",
    "TokenRejected",
    "TokenResult",
    "bearer_token",
]

#: Seconds a successful token authentication is remembered, at most.
SUCCESS_TTL = 10.0
#: Entries beyond which a cache is swept of expired ones (and emptied if that is not enough).
_SWEEP_AT = 4096
K = TypeVar("K")


class TokenRejected(Exception):
    """A token an authenticator recognised as its kind, and refuses (expired, revoked, wrong audience, …)."""


@dataclass(frozen=True, slots=True)
class Dependency:
    """A stored object a token's validity rests on, at the revision it had when the token was checked."""

    info: ResourceInfo
    key: str
    revision: int


@dataclass(frozen=True, slots=True)
class TokenResult:
    """Whom a token authenticates, for which of the wanted audiences, and for how long that may be remembered."""

    user: UserInfo
    audiences: tuple[str, ...] = ()
    #: The objects whose change or deletion may end the token's validity (it is checked again then).
    depends_on: tuple[Dependency, ...] = ()
    #: When the token stops being valid of itself, in seconds since the epoch (None: never).
    expires_at: float | None = None


class TokenAuthenticator(Protocol):
    """One kind of bearer token (upstream's ``authenticator.Token``)."""

    async def authenticate_token(self, token: str, audiences: Sequence[str]) -> TokenResult | None:
        """The token's user if it is this kind and valid for one of ``audiences``; None if not this kind.

        Raises :class:`TokenRejected` for a token of this kind that is not valid.
        """


def bearer_token(request: web.BaseRequest) -> str | None:
    """The token of an ``Authorization: Bearer`` header (None without one, or with another scheme)."""
    header = request.headers.get("Authorization")
    return _token_of(header) if header else None


def _token_of(header: str) -> str | None:
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


class _Remembered:
    """A success, and the clock reading until which it may be used (its dependencies still to be checked)."""

    __slots__ = ("result", "until")

    def __init__(self, result: TokenResult, until: float) -> None:
        self.result = result
        self.until = until


def _remember(table: dict[K, _Remembered], key: K, entry: _Remembered, now: float) -> None:
    if len(table) >= _SWEEP_AT:
        for stale in [k for k, v in table.items() if v.until <= now]:
            del table[stale]
        if len(table) >= _SWEEP_AT:
            table.clear()
    table[key] = entry


class BearerTokenAuthenticator:
    """A request's bearer token, tried against each token authenticator in order (with the result cache).

    ``rest``: the server whose watch caches hold the objects tokens depend on; without it, a result with
    dependencies is never remembered.
    """

    def __init__(
        self,
        authenticators: Sequence[TokenAuthenticator],
        api_audiences: Sequence[str],
        *,
        rest: RestStore | None = None,
        success_ttl: float = SUCCESS_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.authenticators = list(authenticators)
        self.api_audiences = tuple(api_audiences)
        self.rest = rest
        self.success_ttl = success_ttl
        self.clock = clock
        #: (token, audiences) → success; raw Authorization header → the same, for the API audiences.
        self._tokens: dict[tuple[str, tuple[str, ...]], _Remembered] = {}
        self._headers: dict[str, _Remembered] = {}

    def authenticate_cached(self, request: web.BaseRequest) -> UserInfo | Literal[NotCached.NOT_CACHED] | None:
        """:meth:`authenticate`'s answer while the header's success is remembered and still holds (None without
        a token); else NOT_CACHED — a token not known to be good needs the full path, which may refuse it."""
        header = request.headers.get("Authorization")
        if not header:
            return None
        entry = self._headers.get(header)
        if entry is not None and entry.until > self.clock():
            result = entry.result
            if not result.depends_on or self._holds_now(result.depends_on):
                return result.user
        return NOT_CACHED if _token_of(header) is not None else None

    def _holds_now(self, dependencies: tuple[Dependency, ...]) -> bool:
        """Whether every dependency is still at its revision, as far as the caches tell without awaiting."""
        rest = self.rest
        if rest is None:
            return False
        for dependency in dependencies:
            cache = rest.fresh_cache_now(dependency.info)
            if cache is None:
                return False
            obj = cache.get(dependency.key)
            if obj is None or obj.revision != dependency.revision:
                return False
        return True

    async def _holds(self, dependencies: tuple[Dependency, ...]) -> bool:
        rest = self.rest
        if rest is None:
            return not dependencies
        for dependency in dependencies:
            obj = (await rest.fresh_cache(dependency.info)).get(dependency.key)
            if obj is None or obj.revision != dependency.revision:
                return False
        return True

    async def authenticate(self, request: web.BaseRequest) -> UserInfo | None:
        """The user of the request's bearer token; None without one; 401 for a token no one accepts."""
        header = request.headers.get("Authorization")
        token = _token_of(header) if header else None
        if header is None or token is None:
            return None
        try:
            entry = await self._remembered(token, self.api_audiences)
        except TokenRejected as exc:
            self._headers.pop(header, None)
            raise errors.Unauthorized("Unauthorized") from exc
        if self._tokens.get((token, self.api_audiences)) is entry:  # remembered: the header's next request finds it
            _remember(self._headers, header, entry, self.clock())
        return entry.result.user

    async def authenticate_token(self, token: str, audiences: Sequence[str] = ()) -> TokenResult:
        """The token's user and audiences (``audiences`` default: the API server's); TokenRejected says why not."""
        return (await self._remembered(token, tuple(audiences) or self.api_audiences)).result

    async def _remembered(self, token: str, wanted: tuple[str, ...]) -> _Remembered:
        key = (token, wanted)
        entry = self._tokens.get(key)
        if entry is not None and entry.until > self.clock() and await self._holds(entry.result.depends_on):
            return entry
        self._tokens.pop(key, None)
        result = await self._authenticate_uncached(token, wanted)
        now = self.clock()
        expires = result.expires_at if result.expires_at is not None else math.inf
        entry = _Remembered(result, min(now + self.success_ttl, expires))
        if self.success_ttl > 0 and entry.until > now and (self.rest is not None or not result.depends_on):
            _remember(self._tokens, key, entry, now)
        return entry

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
