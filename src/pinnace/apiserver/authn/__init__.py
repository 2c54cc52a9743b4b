"""Authentication: who a request is, from its client certificate or bearer token (kube-apiserver's authenticators).

The pieces, in the order kube-apiserver tries them:

- :mod:`~pinnace.apiserver.authn.x509` — the TLS serving context (client
  certificates asked for, verified against the cluster CA, optional) and the
  client-certificate authenticator (CN user, O groups);
- :mod:`~pinnace.apiserver.authn.tokens` — the ``Authorization: Bearer`` token,
  offered to the token authenticators in turn, successes cached (10 s at most, and only while
  the token's objects are unchanged):
  :mod:`~pinnace.apiserver.authn.tokenfile` (``--token-auth-file``),
  :mod:`~pinnace.apiserver.authn.serviceaccount` (legacy and bound JWTs),
  :mod:`~pinnace.apiserver.authn.bootstrap` (bootstrap-token Secrets);
- :mod:`~pinnace.apiserver.authn.union` — the first user found wins, every user
  gets ``system:authenticated``; a request with no credentials is anonymous
  (or 401) in the dispatcher;
- :mod:`~pinnace.apiserver.authn.reviews` — TokenReview and SelfSubjectReview.

:func:`enable_authentication` puts them into an :class:`~pinnace.apiserver.server.APIServer`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pinnace.apiserver.authn.bootstrap import BootstrapTokenAuthenticator
from pinnace.apiserver.authn.reviews import GROUP, SelfSubjectReviews, TokenReviews
from pinnace.apiserver.authn.serviceaccount import ServiceAccountTokenAuthenticator
from pinnace.apiserver.authn.tokenfile import StaticTokenAuthenticator
from pinnace.apiserver.authn.tokens import SUCCESS_TTL, BearerTokenAuthenticator, TokenAuthenticator
from pinnace.apiserver.authn.union import UnionAuthenticator
from pinnace.apiserver.authn.x509 import ClientCertAuthenticator, serving_context
from pinnace.apiserver.user import Authenticator

if TYPE_CHECKING:
    from pinnace.apiserver.server import APIServer

__all__ = ["AuthenticationConfig", "enable_authentication", "serving_context"]


@dataclass(frozen=True, slots=True)
class AuthenticationConfig:
    """Which authenticators run (kube-apiserver's authentication flags)."""

    #: Trust client certificates the TLS handshake verified (``--client-ca-file``; the CA is in the TLS context).
    client_certificates: bool = True
    #: ``--token-auth-file``.
    token_file: Path | None = None
    #: ``--enable-bootstrap-token-auth``.
    bootstrap_tokens: bool = True
    #: Service-account tokens (``--service-account-key-file``/``--service-account-issuer``).
    service_accounts: bool = True
    #: ``--anonymous-auth``: a request without credentials is system:anonymous (else 401).
    anonymous: bool = False
    #: Seconds a token's successful authentication is cached at most (0: never).
    token_cache_ttl: float = SUCCESS_TTL
    #: Wall time in seconds (token expiries and the token cache; injected by tests).
    clock: Callable[[], float] = time.time


def enable_authentication(server: APIServer, config: AuthenticationConfig | None = None) -> UnionAuthenticator:
    """Authenticate ``server``'s requests as ``config`` says, and serve TokenReview and SelfSubjectReview."""
    config = config or AuthenticationConfig()
    audiences = server.tokens.audiences
    token_authenticators: list[TokenAuthenticator] = []
    if config.token_file is not None:
        token_authenticators.append(StaticTokenAuthenticator.from_file(config.token_file, audiences))
    if config.service_accounts:
        keys = [server.tokens.key.public_key()]
        accounts = ServiceAccountTokenAuthenticator(
            server.rest, keys, server.tokens.issuer, audiences, clock=config.clock
        )
        token_authenticators.append(accounts)
    if config.bootstrap_tokens:
        token_authenticators.append(BootstrapTokenAuthenticator(server.rest, audiences, clock=config.clock))
    tokens = BearerTokenAuthenticator(
        token_authenticators, audiences, rest=server.rest, success_ttl=config.token_cache_ttl, clock=config.clock
    )
    authenticators: list[Authenticator] = [ClientCertAuthenticator()] if config.client_certificates else []
    authenticators.append(tokens)
    union = UnionAuthenticator(authenticators)
    server.authenticator = union
    server.anonymous = config.anonymous
    server.virtual_resources[(GROUP, "tokenreviews")] = TokenReviews(tokens).handle
    server.virtual_resources[(GROUP, "selfsubjectreviews")] = SelfSubjectReviews().handle
    return union
