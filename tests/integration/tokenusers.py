"""Users for in-process servers: bearer tokens served by the real static token file authenticator."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pinnace.apiserver.authn import AuthenticationConfig, enable_authentication
from pinnace.apiserver.server import APIServer
from pinnace.apiserver.user import ALL_AUTHENTICATED, UserInfo


def authenticate_tokens(server: APIServer, users: Mapping[str, UserInfo], directory: Path, *, anonymous: bool) -> None:
    """Authenticate ``server``'s requests by a token file holding ``users`` (token → user), as ``--token-auth-file``.

    Every user is in system:authenticated (the server adds it); without a token a request is system:anonymous
    when ``anonymous``, else 401; an unknown token is 401.
    """
    lines = []
    for token, user in users.items():
        groups = ",".join(g for g in user.groups if g != ALL_AUTHENTICATED)
        lines.append(f'{token},{user.name},{user.uid},"{groups}"')
    path = directory / "tokens.csv"
    path.write_text("\n".join(lines) + "\n")
    config = AuthenticationConfig(client_certificates=False, token_file=path, anonymous=anonymous)
    enable_authentication(server, config)
