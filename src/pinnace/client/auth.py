"""Credentials that a REST client attaches to each request, and the providers that renew them.

The contract (:class:`AuthProvider`) is two methods. ``credentials()`` is
asked before every request and answers with the headers to send (and, for an
exec plugin that hands out client certificates, the TLS context to use).
``unauthorized(used)`` is called when the server answered 401 to a request
sent with ``used``: the provider renews what it can and says whether one
retry is worth it. Providers here:

- :class:`StaticAuth`: a fixed bearer token or basic-auth pair.
- :class:`TokenFileAuth`: a bearer token read from a file and re-read when
  the file changes (projected service-account tokens rotate under a pod).
- ``exec_plugin.ExecAuth``: an ExecCredential plugin (in its own module).
"""

from __future__ import annotations

import base64
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pinnace.client.exceptions import CredentialError

__all__ = ["AuthProvider", "Credentials", "StaticAuth", "TokenFileAuth", "basic_auth", "bearer"]


@dataclass(frozen=True, slots=True)
class Credentials:
    """What to present on one request: headers, and optionally a TLS context with a client certificate."""

    headers: Mapping[str, str] = field(default_factory=dict)
    ssl: ssl.SSLContext | None = None


class AuthProvider(Protocol):
    """A source of credentials that may change between requests."""

    async def credentials(self) -> Credentials:
        """The credentials for the next request."""
        ...

    async def unauthorized(self, used: Credentials) -> bool:
        """The server refused ``used`` with a 401: renew if possible; True if a retry may succeed."""
        ...


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header of a bearer token."""
    return {"Authorization": f"Bearer {token}"}


def basic_auth(username: str, password: str) -> dict[str, str]:
    """The ``Authorization`` header of HTTP basic authentication."""
    raw = f"{username}:{password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}


class StaticAuth:
    """Credentials that never change (a ``token`` or ``username``/``password`` from a kubeconfig)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._creds = Credentials(dict(headers))

    async def credentials(self) -> Credentials:
        """The same headers every time."""
        return self._creds

    async def unauthorized(self, used: Credentials) -> bool:
        """Nothing to renew: no retry."""
        return False


class TokenFileAuth:
    """A bearer token kept in a file, re-read whenever the file changes.

    client-go re-reads such a file every minute; checking the file's identity
    (inode, size, mtime) on each request is as cheap and sees a rotation at
    once. If a later read fails, the last good token (or ``fallback``, a
    kubeconfig's inline ``token``) is used, as client-go does.
    """

    def __init__(self, path: Path, *, fallback: str | None = None) -> None:
        self.path = path
        self._fallback = fallback
        self._stamp: tuple[int, int, int] | None = None
        self._creds: Credentials | None = Credentials(bearer(fallback)) if fallback else None

    def _reload(self, *, force: bool = False) -> None:
        try:
            st = os.stat(self.path)
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
            if stamp == self._stamp and not force:
                return
            token = self.path.read_text().strip()
        except OSError as e:
            if self._creds is None:
                raise CredentialError(f"cannot read the token file {self.path}: {e.strerror or e}") from e
            return
        self._stamp = stamp
        if token:
            self._creds = Credentials(bearer(token))

    async def credentials(self) -> Credentials:
        """The file's current token."""
        self._reload()
        if self._creds is None:
            raise CredentialError(f"the token file {self.path} is empty")
        return self._creds

    async def unauthorized(self, used: Credentials) -> bool:
        """Re-read the file; a retry is worth it only if the token changed."""
        self._reload(force=True)
        return self._creds is not None and self._creds.headers != used.headers
