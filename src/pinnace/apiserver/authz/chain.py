"""Authorizers in order, and the one call that turns RBAC on in a server.

:class:`AuthorizerChain` is upstream's union authorizer with
``--authorization-mode=Node,RBAC`` behind the privileged-group check: members
of ``system:masters`` may do anything; then the Node authorizer; then RBAC.
The first ALLOW or DENY decides; otherwise the reasons are joined.

The chain remembers its decisions per request key (the user's name and groups
and whatever fixes the rest of the attributes: the dispatcher uses the
request's RequestInfo and selected name), so that a known client's
request is decided with one dict lookup and no :class:`Attributes` built. A
remembered decision holds while every authorizer's :meth:`version` is the one
it was made under (RBAC's changes on any Role, ClusterRole or binding event,
and while RBAC has events not yet applied, nothing is remembered or answered);
decisions for users whose answers follow faster-changing state (a node's pods,
see ``volatile``) are not remembered at all.

:func:`enable_rbac` wires everything into an :class:`APIServer`: the chain as
its authorizer, authorized impersonation, the access reviews, the escalation
hooks on the RBAC kinds; :meth:`RBAC.start` (after the server's own start,
before it serves) writes the bootstrap policy and builds the indexes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

from pinnace.apiserver.authz.bootstrap import ensure_bootstrap_policy
from pinnace.apiserver.authz.escalation import RBACStorageHooks
from pinnace.apiserver.authz.impersonation import Impersonator
from pinnace.apiserver.authz.node import NodeAuthorizer
from pinnace.apiserver.authz.rbac import RBAC_GROUP, RBACAuthorizer
from pinnace.apiserver.authz.reviews import AccessReviews
from pinnace.apiserver.server import APIServer
from pinnace.apiserver.user import MASTERS, Attributes, Authorizer, Decision, UserInfo

__all__ = ["RBAC", "AuthorizerChain", "enable_rbac"]

_PRIVILEGED = (Decision.ALLOW, "")
#: Decisions remembered at most (then the table starts over).
_MAX_REMEMBERED = 20_000


class AuthorizerChain:
    """system:masters, then each authorizer in turn (upstream's union authorizer)."""

    def __init__(self, authorizers: Sequence[Authorizer]) -> None:
        self.authorizers = tuple(authorizers)
        # The synchronous fast path exists when every authorizer has one (else every request awaits).
        cached: list[Callable[[Attributes], tuple[Decision, str] | None] | None]
        cached = [getattr(a, "authorize_cached", None) for a in self.authorizers]
        self._cached = [c for c in cached if c is not None] if all(c is not None for c in cached) else None
        # What remembered decisions rest on: the authorizers' versions, and which users they leave alone.
        versions = [getattr(a, "version", None) for a in self.authorizers]
        self._versions: list[Callable[[], int | None]] = [v for v in versions if v is not None]
        volatile = [getattr(a, "volatile", None) for a in self.authorizers]
        self._volatile: list[Callable[[UserInfo], bool]] = [v for v in volatile if v is not None]
        self._remembered: dict[Hashable, tuple[Decision, str]] = {}
        self._made_under: list[int | None] = [None] * len(self._versions)

    def _current(self) -> bool:
        """Whether remembered decisions may be used and made now (they are forgotten when a version moved)."""
        made_under = self._made_under
        for i, version in enumerate(self._versions):
            now = version()
            if now is None:
                return False
            if now != made_under[i]:
                self._remembered.clear()
                made_under[i] = now
        return True

    def remembered(self, key: Hashable) -> tuple[Decision, str] | None:
        """The decision :meth:`remember` filed under ``key``, if nothing it rests on has changed; else None."""
        if not self._current():
            return None
        return self._remembered.get(key)

    def remember(self, key: Hashable, attributes: Attributes, decision: tuple[Decision, str]) -> None:
        """File the decision just made for ``attributes`` under ``key``, unless it may not be remembered: a volatile
        user's, or one made while an authorizer was behind.

        ``key`` must fix the attributes: the user's name and groups (all the chain's authorizers look at of the
        user) and every other field, or what they are made from."""
        user = attributes.user
        for volatile in self._volatile:
            if volatile(user):
                return
        if not self._current():
            return
        if len(self._remembered) >= _MAX_REMEMBERED:
            self._remembered.clear()
        self._remembered[key] = decision

    def authorize_cached(self, attributes: Attributes) -> tuple[Decision, str] | None:
        """:meth:`authorize`'s answer when every authorizer asked knows its part without awaiting (a remembered
        RBAC decision, an up-to-date node graph); else None, and the caller awaits :meth:`authorize`."""
        if MASTERS in attributes.user.groups:
            return _PRIVILEGED
        if self._cached is None:
            return None
        reasons: list[str] | None = None
        for authorize in self._cached:
            answer = authorize(attributes)
            if answer is None:
                return None
            decision, reason = answer
            if decision is not Decision.NO_OPINION:
                return answer
            if reason:
                reasons = [*(reasons or ()), reason]
        return Decision.NO_OPINION, "\n".join(reasons) if reasons else ""

    async def authorize(self, attributes: Attributes) -> tuple[Decision, str]:
        """The first ALLOW or DENY; else NO_OPINION with every reason given, one per line."""
        if MASTERS in attributes.user.groups:
            return _PRIVILEGED
        reasons: list[str] | None = None
        for authorizer in self.authorizers:
            decision, reason = await authorizer.authorize(attributes)
            if decision is not Decision.NO_OPINION:
                return decision, reason
            if reason:
                reasons = [*(reasons or ()), reason]
        return Decision.NO_OPINION, "\n".join(reasons) if reasons else ""


class RBAC:
    """RBAC, the Node authorizer, reviews and impersonation, installed in one server."""

    def __init__(self, server: APIServer) -> None:
        self.server = server
        self.rbac = RBACAuthorizer(server.rest)
        self.node = NodeAuthorizer(server.rest)
        self.chain = AuthorizerChain([self.node, self.rbac])
        self.reviews = AccessReviews(self.chain, self.rbac)

    def install(self) -> None:
        """Make the server use all of it (its authenticator decides who the users are)."""
        server = self.server
        server.authorizer = self.chain
        server.impersonation = Impersonator(self.chain)
        self.reviews.install(server.virtual_resources)
        for kind in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"):
            server.rest.hooks[(RBAC_GROUP, kind)] = RBACStorageHooks(kind, self.rbac, self.chain)

    async def start(self) -> None:
        """Write the default policy and index it (call once the server has started, before it serves)."""
        await ensure_bootstrap_policy(self.server.rest)
        await self.rbac.start()
        await self.node.start()

    def stop(self) -> None:
        """Stop following the caches."""
        self.rbac.stop()
        self.node.stop()


async def enable_rbac(server: APIServer) -> RBAC:
    """Install RBAC in ``server``, start the server if need be, and bootstrap the policy."""
    rbac = RBAC(server)
    rbac.install()
    if not server.started:
        await server.start()
    await rbac.start()
    return rbac
