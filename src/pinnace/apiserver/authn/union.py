"""The request authenticator: x509 client certificates, then bearer tokens; every user in system:authenticated.

As kube-apiserver's ``union`` + ``AuthenticatedGroupAdder``: the first
authenticator that names a user wins; if none does and one of them refused the
request's credentials (a bad token), the request is refused (401) rather than
served as anonymous — the dispatcher makes it anonymous only when no credentials
were offered at all.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Final, Generic, Literal, Protocol, TypeVar

from aiohttp import web

from pinnace.api import errors
from pinnace.apiserver.user import ALL_AUTHENTICATED, ALL_UNAUTHENTICATED, Authenticator, UserInfo

__all__ = [
    "NOT_CACHED",
    "CachedAuthenticator",
    "IdentityMemo",
    "NotCached",
    "UnionAuthenticator",
    "with_authenticated_group",
]

#: Objects an :class:`IdentityMemo` remembers, at most (then it starts over).
_MEMO_LIMIT = 4096
K = TypeVar("K")
V = TypeVar("V")


class IdentityMemo(Generic[K, V]):
    """``make(obj)``, worked out once per object (by identity) for objects handed out again and again.

    An entry holds its object, so the id it is filed under stays that object's; past ``limit`` entries the
    memo starts over.
    """

    def __init__(self, make: Callable[[K], V], limit: int = _MEMO_LIMIT) -> None:
        self.make = make
        self.limit = limit
        self._memo: dict[int, tuple[K, V]] = {}

    def __call__(self, obj: K) -> V:
        """What ``make`` gives for ``obj``."""
        hit = self._memo.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        if len(self._memo) >= self.limit:
            self._memo.clear()
        value = self.make(obj)
        self._memo[id(obj)] = (obj, value)
        return value


class NotCached(enum.Enum):
    """The type of :data:`NOT_CACHED` (an enum of one, so that type checkers can tell it apart)."""

    NOT_CACHED = "not cached"


#: What :meth:`CachedAuthenticator.authenticate_cached` answers when only the full (awaited) path can tell.
NOT_CACHED: Final = NotCached.NOT_CACHED


class CachedAuthenticator(Protocol):
    """An authenticator that can often answer without awaiting anything (a cache hit, a verified certificate).

    The synchronous answer spares every request of a known client the coroutines of the full path: it is the
    same user the full path gives, or :data:`NOT_CACHED` when only the full path can tell.
    """

    async def authenticate(self, request: web.BaseRequest) -> UserInfo | None:
        """The full path (see :class:`~pinnace.apiserver.user.Authenticator`)."""

    def authenticate_cached(self, request: web.BaseRequest) -> UserInfo | Literal[NotCached.NOT_CACHED] | None:
        """The user, None for no credentials of this kind, or NOT_CACHED; never raises for bad credentials."""


def with_authenticated_group(user: UserInfo) -> UserInfo:
    """``user`` in ``system:authenticated`` (unless already there, or anonymous)."""
    if ALL_AUTHENTICATED in user.groups or ALL_UNAUTHENTICATED in user.groups:
        return user
    return UserInfo(user.name, user.uid, (*user.groups, ALL_AUTHENTICATED), user.extra)


class UnionAuthenticator:
    """Each authenticator in turn; the first user found, with system:authenticated added."""

    def __init__(self, authenticators: Sequence[Authenticator]) -> None:
        self.authenticators = list(authenticators)
        # The synchronous fast path exists when every authenticator has one (else every request awaits).
        cached: list[Callable[[web.BaseRequest], UserInfo | NotCached | None] | None]
        cached = [getattr(a, "authenticate_cached", None) for a in self.authenticators]
        self._cached = [c for c in cached if c is not None] if all(c is not None for c in cached) else None
        # The token cache hands out the same UserInfo for every request of a token: its group-added twin is
        # made once.
        self._with_group = IdentityMemo(with_authenticated_group)

    def authenticate_cached(self, request: web.BaseRequest) -> UserInfo | Literal[NotCached.NOT_CACHED] | None:
        """What :meth:`authenticate` answers, when each authenticator up to the deciding one knows it without
        awaiting (the first user found wins, as there); else :data:`NOT_CACHED`."""
        if self._cached is None:
            return NOT_CACHED
        for authenticate in self._cached:
            user = authenticate(request)
            if user is NOT_CACHED:
                return NOT_CACHED
            if user is not None:
                return self._with_group(user)
        return None

    async def authenticate(self, request: web.BaseRequest) -> UserInfo | None:
        """The request's user; None if it offers no credentials; 401 if it offers only bad ones."""
        refused: errors.Unauthorized | None = None
        for authenticator in self.authenticators:
            try:
                user = await authenticator.authenticate(request)
            except errors.Unauthorized as exc:
                refused = refused or exc
                continue
            if user is not None:
                return self._with_group(user)
        if refused is not None:
            raise refused
        return None
