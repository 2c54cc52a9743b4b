"""Who is asking, and may they: the types authentication, authorization and admission share.

The dispatcher authenticates every request into a :class:`UserInfo` (upstream's
``user.Info``), applies impersonation, builds the request's authorization
:class:`Attributes` and asks the :class:`Authorizer`; the user is then
available to the handlers and admission through :data:`current_user` (set for
the duration of the request's task).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

#: Group every authenticated user is in.
ALL_AUTHENTICATED = "system:authenticated"
#: Group and user of requests without credentials.
ALL_UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
#: Full access, no authorization check (upstream's loopback/privileged group).
MASTERS = "system:masters"


@dataclass(frozen=True, slots=True)
class UserInfo:
    """An authenticated identity: name, uid, groups and extra attributes (upstream's user.Info)."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """As authentication/v1 UserInfo (TokenReview status, SelfSubjectReview, admission reviews)."""
        out: dict[str, object] = {"username": self.name}
        if self.uid:
            out["uid"] = self.uid
        if self.groups:
            out["groups"] = list(self.groups)
        if self.extra:
            out["extra"] = {k: list(v) for k, v in self.extra.items()}
        return out


#: What a request without credentials is, when anonymous requests are allowed.
ANONYMOUS_USER = UserInfo(ANONYMOUS, groups=(ALL_UNAUTHENTICATED,))

#: The user of the request the current task is serving (None outside a request, or with authentication off).
current_user: ContextVar[UserInfo | None] = ContextVar("pinnace_current_user", default=None)


@dataclass(slots=True)
class Attributes:
    """What a request wants to do, for the authorizer (upstream's authorizer.Attributes).

    Not frozen: one is built for every request, and a frozen dataclass's construction costs twice as much.
    Authorizers treat it as read-only.
    """

    user: UserInfo
    verb: str
    #: Resource requests: group, version, resource, subresource, namespace and name.
    resource_request: bool
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    #: Non-resource requests: the URL path.
    path: str = ""


class Decision(enum.Enum):
    """An authorizer's answer."""

    ALLOW = "allow"
    DENY = "deny"
    NO_OPINION = "no-opinion"


class Authenticator(Protocol):
    """Turns a request's credentials into a user.

    Returns None when the request carries no credentials this authenticator
    understands; raises ``errors.Unauthorized`` when it carries credentials
    that are invalid (a bad token must not fall through to anonymous).
    """

    async def authenticate(self, request: web.BaseRequest) -> UserInfo | None:
        """The request's user, or None if it has no credentials for this authenticator."""


class Authorizer(Protocol):
    """Decides whether a user may do what a request asks; the reason goes into 403 messages and reviews."""

    async def authorize(self, attributes: Attributes) -> tuple[Decision, str]:
        """ALLOW, DENY or NO_OPINION, with a reason."""
