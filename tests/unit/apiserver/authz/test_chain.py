"""The authorizer chain's order, and its synchronous path giving the same answers as the awaited one."""

from __future__ import annotations

from pinnace.apiserver.authz.chain import AuthorizerChain
from pinnace.apiserver.user import MASTERS, Attributes, Decision, UserInfo


class Fixed:
    """An authorizer with one answer; ``known`` False: it must be awaited for it (its cache is cold)."""

    def __init__(self, decision: Decision, reason: str = "", *, known: bool = True) -> None:
        self.answer, self.known, self.awaited = (decision, reason), known, 0

    def authorize_cached(self, attributes: Attributes) -> tuple[Decision, str] | None:
        return self.answer if self.known else None

    async def authorize(self, attributes: Attributes) -> tuple[Decision, str]:
        self.awaited += 1
        return self.answer


class AwaitOnly:
    async def authorize(self, attributes: Attributes) -> tuple[Decision, str]:
        return Decision.ALLOW, "always"


def attrs(*groups: str) -> Attributes:
    return Attributes(UserInfo("u", groups=groups), "get", True, resource="pods", namespace="ns", name="p")


async def test_cached_answers_match_the_awaited_ones() -> None:
    chains = [
        AuthorizerChain([Fixed(Decision.NO_OPINION, "not a node"), Fixed(Decision.ALLOW, "RBAC: allowed")]),
        AuthorizerChain([Fixed(Decision.NO_OPINION, "a"), Fixed(Decision.NO_OPINION, "b")]),
        AuthorizerChain([Fixed(Decision.DENY, "no"), Fixed(Decision.ALLOW, "yes")]),
        AuthorizerChain([]),
    ]
    for chain in chains:
        assert chain.authorize_cached(attrs()) == await chain.authorize(attrs())
    assert chains[1].authorize_cached(attrs()) == (Decision.NO_OPINION, "a\nb")


async def test_an_authorizer_that_must_be_awaited_sends_the_request_down_the_awaited_path() -> None:
    cold = Fixed(Decision.ALLOW, "RBAC", known=False)
    chain = AuthorizerChain([Fixed(Decision.NO_OPINION), cold])
    assert chain.authorize_cached(attrs()) is None
    assert await chain.authorize(attrs()) == (Decision.ALLOW, "RBAC") and cold.awaited == 1
    # a decisive answer before it is enough, as in the awaited path
    assert AuthorizerChain([Fixed(Decision.ALLOW, "first"), cold]).authorize_cached(attrs()) == (
        Decision.ALLOW,
        "first",
    )
    mixed = AuthorizerChain([AwaitOnly()])
    assert mixed.authorize_cached(attrs()) is None
    assert mixed.authorize_cached(attrs(MASTERS)) == (Decision.ALLOW, "")  # system:masters needs no one


class Versioned(Fixed):
    """An authorizer whose state has a version (None: changes not applied yet), and that leaves "n" users alone."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision)
        self.current: int | None = 1

    def version(self) -> int | None:
        return self.current

    def volatile(self, user: UserInfo) -> bool:
        return user.name == "n"


async def test_remembered_decisions_hold_only_under_the_version_they_were_made_under() -> None:
    rbac = Versioned(Decision.ALLOW)
    chain = AuthorizerChain([rbac])
    key = ("u", (), "get pods")
    assert chain.remembered(key) is None
    chain.remember(key, attrs(), await chain.authorize(attrs()))
    assert chain.remembered(key) == (Decision.ALLOW, "")
    rbac.current = None  # a change waits to be applied: nothing is answered, nothing filed
    assert chain.remembered(key) is None
    chain.remember(("u", (), "list pods"), attrs(), (Decision.ALLOW, ""))
    rbac.current = 2  # applied, even if by another request: what was decided before is forgotten
    assert chain.remembered(key) is None
    assert chain.remembered(("u", (), "list pods")) is None
    node_user = Attributes(UserInfo("n"), "get", True, resource="pods", namespace="ns", name="p")
    chain.remember(("n", (), "get pods"), node_user, (Decision.ALLOW, ""))
    assert chain.remembered(("n", (), "get pods")) is None  # a volatile user's decisions are never remembered
