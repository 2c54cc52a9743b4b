"""Client certificates: the TLS context the API server serves with, and the x509 authenticator.

kube-apiserver asks every client for a certificate (``--client-ca-file``) but
does not require one: the handshake verifies a certificate that is offered
against the client CA (a certificate of another CA, or expired, or without
the clientAuth usage fails the handshake), and a connection without one goes
on to the other authenticators. The verified certificate's subject is the
user: CN the name, each O a group (upstream's ``CommonNameUserConversion``).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from pinnace.apiserver.authn.union import IdentityMemo
from pinnace.apiserver.user import UserInfo

__all__ = ["ClientCertAuthenticator", "serving_context", "user_from_peercert"]


def serving_context(cert_file: Path, key_file: Path, client_ca_file: Path | None = None) -> ssl.SSLContext:
    """The server's TLS context: its certificate, TLS ≥ 1.2, and client certificates asked for but optional."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert_file), str(key_file))
    if client_ca_file is not None:
        ctx.load_verify_locations(cafile=str(client_ca_file))
        ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def user_from_peercert(peercert: Mapping[str, Any]) -> UserInfo | None:
    """The user a verified peer certificate (as ``SSLSocket.getpeercert()`` decodes it) names, or None."""
    subject = peercert.get("subject")
    if not isinstance(subject, tuple):
        return None
    name = ""
    groups: list[str] = []
    for rdn in subject:
        for attr, value in rdn:
            if attr == "commonName":
                name = value
            elif attr == "organizationName":
                groups.append(value)
    if not name:
        return None
    return UserInfo(name, groups=tuple(groups))


class ClientCertAuthenticator:
    """The user of a request whose connection presented a client certificate the handshake verified.

    A connection's certificate is fixed at its handshake, and the transport hands out the same decoded
    certificate for every request on it, so its user is worked out once per connection.
    """

    def __init__(self) -> None:
        self._user_of = IdentityMemo(user_from_peercert)

    async def authenticate(self, request: web.BaseRequest) -> UserInfo | None:
        """CN and O of the verified client certificate; None without one (or over plain HTTP)."""
        return self.authenticate_cached(request)

    def authenticate_cached(self, request: web.BaseRequest) -> UserInfo | None:
        """The same answer, without awaiting: a certificate's user never needs I/O."""
        transport = request.transport
        if transport is None:
            return None
        peercert = transport.get_extra_info("peercert")
        return self._user_of(peercert) if peercert else None
