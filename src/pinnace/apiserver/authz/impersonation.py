"""Impersonation headers, each authorized (upstream's WithImpersonation filter).

``Impersonate-User`` (a user name, or ``system:serviceaccount:<ns>:<name>``),
``Impersonate-Group`` (repeated), ``Impersonate-Uid`` and
``Impersonate-Extra-<key>`` (repeated; the key percent-encoded). Each is checked
with the ``impersonate`` verb: users, groups and serviceaccounts in the core
group, uids and ``userextras/<key>`` in authentication.k8s.io. A denial is a 403
naming what was asked for; groups or extras without a user are a 400.
Impersonating a service account gives its groups; any impersonated user other
than ``system:anonymous`` is in ``system:authenticated`` (unless it asked for
``system:unauthenticated``).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable

from aiohttp import web

from pinnace.api import errors
from pinnace.apiserver.authz.rbac import service_account_of
from pinnace.apiserver.server import forbidden
from pinnace.apiserver.user import (
    ALL_AUTHENTICATED,
    ALL_UNAUTHENTICATED,
    ANONYMOUS,
    Attributes,
    Authorizer,
    Decision,
    UserInfo,
)

__all__ = ["Impersonator"]

USER = "Impersonate-User"
GROUP = "Impersonate-Group"
UID = "Impersonate-Uid"
EXTRA_PREFIX = "impersonate-extra-"
AUTHENTICATION_GROUP = "authentication.k8s.io"


def _impersonating(names: Iterable[str]) -> bool:
    # Every request passes here: a join and a search in C cost half a loop over the names in Python. Each name
    # follows a newline, which no header name contains: a match is a name that starts so.
    return "\nimpersonate-" in "\n".join(("", *names)).lower()


class Impersonator:
    """The server's impersonation hook: the impersonated user, once the real one may be it."""

    def __init__(self, authorizer: Authorizer) -> None:
        self.authorizer = authorizer

    def applies(self, request: web.BaseRequest) -> bool:
        """Whether the request impersonates anyone (without, :meth:`__call__` gives the user back as it is)."""
        return _impersonating(request.headers)

    async def __call__(self, request: web.BaseRequest, user: UserInfo) -> UserInfo:
        """``user`` itself without impersonation headers; else the impersonated user (403 if not allowed)."""
        headers = request.headers
        if not _impersonating(headers):
            return user  # the common case, checked in one pass over the header names
        name = headers.get(USER)
        groups = headers.getall(GROUP, [])
        uid = headers.get(UID)
        extra: dict[str, list[str]] = {}
        for key, value in headers.items():
            if key.lower().startswith(EXTRA_PREFIX):
                extra.setdefault(urllib.parse.unquote(key[len(EXTRA_PREFIX) :]).lower(), []).append(value)
        if name is None:
            if groups or extra or uid is not None:
                asked = [f"{GROUP}={g}" for g in groups] + [f"{k}={v}" for k, vs in extra.items() for v in vs]
                raise errors.BadRequest(f"requested {asked or [UID]} without impersonating a user")
            return user
        out_groups: list[str] = []
        sa = service_account_of(name)
        if sa is not None:
            await self._check(user, "serviceaccounts", sa[1], namespace=sa[0])
            out_groups += ["system:serviceaccounts", f"system:serviceaccounts:{sa[0]}"]
        else:
            await self._check(user, "users", name)
        for group in groups:
            await self._check(user, "groups", group)
            out_groups.append(group)
        for key, values in extra.items():
            for value in values:
                await self._check(user, "userextras", value, group=AUTHENTICATION_GROUP, subresource=key)
        if uid is not None:
            await self._check(user, "uids", uid, group=AUTHENTICATION_GROUP)
        if name == ANONYMOUS:
            if ALL_UNAUTHENTICATED not in out_groups:
                out_groups.append(ALL_UNAUTHENTICATED)
        elif ALL_AUTHENTICATED not in out_groups and ALL_UNAUTHENTICATED not in out_groups:
            out_groups.append(ALL_AUTHENTICATED)
        return UserInfo(name, uid or "", tuple(out_groups), {k: tuple(v) for k, v in extra.items()})

    async def _check(
        self, user: UserInfo, resource: str, name: str, *, namespace: str = "", group: str = "", subresource: str = ""
    ) -> None:
        attrs = Attributes(
            user,
            "impersonate",
            True,
            api_group=group,
            api_version="v1",
            resource=resource,
            subresource=subresource,
            namespace=namespace,
            name=name,
        )
        decision, reason = await self.authorizer.authorize(attrs)
        if decision is not Decision.ALLOW:
            raise forbidden(attrs, reason)
