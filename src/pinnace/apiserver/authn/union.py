"""The request authenticator: x509 client certificates, then bearer tokens; every user in system:authenticated.

As kube-apiserver's ``union`` + ``AuthenticatedGroupAdder``: the first
authenticator that names a user wins; if none does and one of them refused the
request's credentials (a bad token), the request is refused (401) rather than
served as anonymous — the dispatcher makes it anonymous only when no credentials
were offered at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from pinnace.api import errors
from pinnace.apiserver.user import ALL_AUTHENTICATED, ALL_UNAUTHENTICATED, Authenticator, UserInfo

__all__ = ["UnionAuthenticator", "with_authenticated_group"]

#: Users whose group-added form is remembered, at most (then the memo starts over).
_MEMO_LIMIT = 4096


def with_authenticated_group(user: UserInfo) -> UserInfo:
    """``user`` in ``system:authenticated`` (unless already there, or anonymous)."""
    if ALL_AUTHENTICATED in user.groups or ALL_UNAUTHENTICATED in user.groups:
        return user
    return UserInfo(user.name, user.uid, (*user.groups, ALL_AUTHENTICATED), user.extra)


class UnionAuthenticator:
    """Each authenticator in turn; the first user found, with system:authenticated added."""

    def __init__(self, authenticators: Sequence[Authenticator]) -> None:
        self.authenticators = list(authenticators)
        # The token cache hands out the same UserInfo for every request of a token: its group-added twin is
        # made once (keyed by identity; the entry holds the original, so the id stays its own).
        self._grouped: dict[int, tuple[UserInfo, UserInfo]] = {}

    def _with_group(self, user: UserInfo) -> UserInfo:
        hit = self._grouped.get(id(user))
        if hit is not None and hit[0] is user:
            return hit[1]
        if len(self._grouped) >= _MEMO_LIMIT:
            self._grouped.clear()
        grouped = with_authenticated_group(user)
        self._grouped[id(user)] = (user, grouped)
        return grouped

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
