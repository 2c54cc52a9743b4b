"""Authorizers in order, and the one call that turns RBAC on in a server.

:class:`AuthorizerChain` is upstream's union authorizer with
``--authorization-mode=Node,RBAC`` behind the privileged-group check: members
of ``system:masters`` may do anything; then the Node authorizer; then RBAC.
The first ALLOW or DENY decides; otherwise the reasons are joined.

:func:`enable_rbac` wires everything into an :class:`APIServer`: the chain as
its authorizer, authorized impersonation, the access reviews, the escalation
hooks on the RBAC kinds; :meth:`RBAC.start` (after the server's own start,
before it serves) writes the bootstrap policy and builds the indexes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pinnace.apiserver.authz.bootstrap import ensure_bootstrap_policy
from pinnace.apiserver.authz.escalation import RBACStorageHooks
from pinnace.apiserver.authz.impersonation import Impersonator
from pinnace.apiserver.authz.node import NodeAuthorizer
from pinnace.apiserver.authz.rbac import RBAC_GROUP, RBACAuthorizer
from pinnace.apiserver.authz.reviews import AccessReviews
from pinnace.apiserver.server import APIServer
from pinnace.apiserver.user import MASTERS, Attributes, Authorizer, Decision

__all__ = ["RBAC", "AuthorizerChain", "enable_rbac"]

_PRIVILEGED = (Decision.ALLOW, "")


class AuthorizerChain:
    """system:masters, then each authorizer in turn (upstream's union authorizer)."""

    def __init__(self, authorizers: Sequence[Authorizer]) -> None:
        self.authorizers = tuple(authorizers)
        # The synchronous fast path exists when every authorizer has one (else every request awaits).
        cached: list[Callable[[Attributes], tuple[Decision, str] | None] | None]
        cached = [getattr(a, "authorize_cached", None) for a in self.authorizers]
        self._cached = [c for c in cached if c is not None] if all(c is not None for c in cached) else None

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
