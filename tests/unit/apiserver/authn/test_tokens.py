"""The bearer-token pieces alone: header parsing, the token file, the union and its cache, certificate subjects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from pinnace.api import errors
from pinnace.apiserver.authn.tokenfile import StaticTokenAuthenticator, parse_token_file
from pinnace.apiserver.authn.tokens import BearerTokenAuthenticator, TokenRejected, TokenResult, bearer_token
from pinnace.apiserver.authn.union import NOT_CACHED, UnionAuthenticator, with_authenticated_group
from pinnace.apiserver.authn.x509 import ClientCertAuthenticator, user_from_peercert
from pinnace.apiserver.user import ANONYMOUS_USER, UserInfo

API = ("https://kubernetes.default.svc.cluster.local",)


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic YWxpY2U6cHc=", None), ("Bearer ", None), ("", None)],
)
def test_bearer_header(header: str, token: str | None) -> None:
    request = make_mocked_request("GET", "/", headers={"Authorization": header} if header else {})
    assert bearer_token(request) == token


def test_token_file_format() -> None:
    text = 'tok1,alice,1,"a,b"\n\n tok2, bob ,2\n,nobody,3\ntok1,carol,4\n'
    tokens = parse_token_file(text)
    assert tokens == {"tok1": UserInfo("carol", "4"), "tok2": UserInfo("bob", "2")}
    assert parse_token_file('t,u,1,"x, y,"')["t"].groups == ("x", "y")
    with pytest.raises(ValueError, match="at least 3 columns"):
        parse_token_file("tok,user\n")


class Counting:
    """A token authenticator that knows one token and counts its calls."""

    def __init__(self, token: str, user: str, *, reject: str | None = None) -> None:
        self.token, self.user, self.reject, self.calls = token, user, reject, 0

    async def authenticate_token(self, token: str, audiences: Sequence[str]) -> TokenResult | None:
        self.calls += 1
        if self.reject and token.startswith(self.reject):
            raise TokenRejected(f"{self.user} refuses")
        return TokenResult(UserInfo(self.user), tuple(audiences)) if token == self.token else None


async def test_union_order_first_wins_and_errors_aggregate() -> None:
    first, second = Counting("t1", "one", reject="bad"), Counting("t2", "two", reject="bad")
    union = BearerTokenAuthenticator([first, second], API, success_ttl=0)
    assert (await union.authenticate_token("t2")).user.name == "two"
    assert (first.calls, second.calls) == (1, 1)
    with pytest.raises(TokenRejected, match=r"^\[invalid bearer token, one refuses, two refuses\]$"):
        await union.authenticate_token("bad")
    with pytest.raises(TokenRejected, match=r"^invalid bearer token$"):
        await union.authenticate_token("unknown")


async def test_successes_are_cached_for_ten_seconds_per_audience() -> None:
    now = [0.0]
    inner = Counting("t", "u")
    cached = BearerTokenAuthenticator([inner], API, clock=lambda: now[0])
    for _ in range(3):
        await cached.authenticate_token("t")
    assert inner.calls == 1
    await cached.authenticate_token("t", ["other"])
    assert inner.calls == 2
    now[0] = 10.5
    await cached.authenticate_token("t")
    assert inner.calls == 3
    for _ in range(2):  # failures are not cached
        with pytest.raises(TokenRejected):
            await cached.authenticate_token("nope")
    assert inner.calls == 5


async def test_a_success_is_not_remembered_past_the_tokens_own_end() -> None:
    now = [100.0]

    class Expiring:
        calls = 0

        async def authenticate_token(self, token: str, audiences: Sequence[str]) -> TokenResult | None:
            self.calls += 1
            if now[0] >= 103.0:
                raise TokenRejected("token has expired")
            return TokenResult(UserInfo("u"), tuple(audiences), expires_at=103.0)

    inner = Expiring()
    tokens = BearerTokenAuthenticator([inner], API, clock=lambda: now[0])
    request = make_mocked_request("GET", "/", headers={"Authorization": "Bearer t"})
    assert (await tokens.authenticate(request)) == UserInfo("u")
    assert tokens.authenticate_cached(request) == UserInfo("u")
    now[0] = 103.0  # the token's end, 7 s before the cache's
    assert tokens.authenticate_cached(request) is NOT_CACHED
    with pytest.raises(errors.Unauthorized):
        await tokens.authenticate(request)
    assert inner.calls == 2


async def test_nothing_is_remembered_without_a_ttl() -> None:
    inner = Counting("t", "u")
    tokens = BearerTokenAuthenticator([inner], API, success_ttl=0)
    request = make_mocked_request("GET", "/", headers={"Authorization": "Bearer t"})
    for _ in range(2):
        assert await tokens.authenticate(request) == UserInfo("u")
        assert tokens.authenticate_cached(request) is NOT_CACHED
    assert inner.calls == 2


async def test_static_tokens_are_audience_agnostic() -> None:
    static = StaticTokenAuthenticator({"t": UserInfo("u")}, API)
    assert (await static.authenticate_token("t", API)) == TokenResult(UserInfo("u"), API)
    assert await static.authenticate_token("t", ["vault"]) is None


async def test_request_union_adds_authenticated_and_refuses_bad_tokens() -> None:
    union = UnionAuthenticator([BearerTokenAuthenticator([Counting("good", "u")], API)])
    good = make_mocked_request("GET", "/", headers={"Authorization": "Bearer good"})
    user = await union.authenticate(good)
    assert user is not None and user.groups == ("system:authenticated",)
    assert await union.authenticate(make_mocked_request("GET", "/")) is None
    with pytest.raises(errors.Unauthorized):
        await union.authenticate(make_mocked_request("GET", "/", headers={"Authorization": "Bearer bad"}))
    assert with_authenticated_group(ANONYMOUS_USER) is ANONYMOUS_USER


def test_certificate_subject_to_user() -> None:
    peercert = {
        "subject": ((("organizationName", "system:nodes"),), (("organizationName", "x"),), (("commonName", "n1"),))
    }
    assert user_from_peercert(peercert) == UserInfo("n1", groups=("system:nodes", "x"))
    assert user_from_peercert({"subject": ((("organizationName", "x"),),)}) is None


class Transport:
    """A connection as the request sees it: the decoded peer certificate the handshake verified, if any."""

    def __init__(self, peercert: dict[str, object] | None) -> None:
        self.peercert = peercert

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self.peercert if name == "peercert" else default


async def test_cached_path_answers_only_what_the_full_path_would() -> None:
    now = [0.0]
    inner = Counting("good", "u")
    tokens = BearerTokenAuthenticator([inner], API, clock=lambda: now[0])
    union = UnionAuthenticator([ClientCertAuthenticator(), tokens])

    def request(header: str | None, peercert: dict[str, object] | None = None) -> Any:
        headers = {"Authorization": header} if header else {}
        return make_mocked_request("GET", "/", headers=headers, transport=Transport(peercert))

    assert union.authenticate_cached(request(None)) is None  # no credentials: as the full path says
    assert union.authenticate_cached(request("Bearer good")) is NOT_CACHED  # not yet known good
    full = await union.authenticate(request("Bearer good"))
    assert union.authenticate_cached(request("Bearer good")) is full  # the header is known now
    assert full is not None and full.groups == ("system:authenticated",)
    # The same token written otherwise: the full path once (the token's success is remembered), then known.
    assert union.authenticate_cached(request("bearer  good ")) is NOT_CACHED
    assert await union.authenticate(request("bearer  good ")) is full
    assert union.authenticate_cached(request("bearer  good ")) is full
    assert union.authenticate_cached(request("Bearer bad")) is NOT_CACHED  # the full path refuses it (401)
    # a certificate's user wins over the token, as in the full path, and is worked out once per connection
    peercert: dict[str, object] = {"subject": ((("organizationName", "ops"),), (("commonName", "alice"),))}
    by_cert = union.authenticate_cached(request("Bearer good", peercert))
    assert by_cert == UserInfo("alice", groups=("ops", "system:authenticated"))
    assert union.authenticate_cached(request(None, peercert)) is by_cert
    assert await union.authenticate(request("Bearer good", peercert)) == by_cert
    now[0] = 10.5  # the token's success has expired: only the full path may say it again
    assert union.authenticate_cached(request("Bearer good")) is NOT_CACHED
    assert inner.calls == 1


async def test_cached_path_needs_every_authenticator_to_have_one() -> None:
    class Plain:
        async def authenticate(self, request: Any) -> UserInfo | None:
            return UserInfo("plain")

    union = UnionAuthenticator([Plain()])
    assert union.authenticate_cached(make_mocked_request("GET", "/")) is NOT_CACHED
    assert await union.authenticate(make_mocked_request("GET", "/")) == UserInfo(
        "plain", groups=("system:authenticated",)
    )
