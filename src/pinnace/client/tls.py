"""TLS settings of a connection to an API server, and the ``ssl.SSLContext`` built from them.

A kubeconfig gives the certificate authority and the client certificate
either as files or inline (``-data``); by the time they reach :class:`TLSConfig`
both are PEM bytes, read once when the configuration is loaded. Python's
``ssl`` module takes a CA bundle from memory, but a certificate chain only
from a path: the client certificate and key go through anonymous in-memory
files (``memfd``) on Linux, and elsewhere through a 0600 file in a private
temporary directory that is removed as soon as the context has loaded it.

As client-go does, a configured CA *replaces* the system roots, and
``insecure`` (``insecure-skip-tls-verify``) turns verification off and cannot
be combined with a CA.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pinnace.client.exceptions import ConfigError

__all__ = ["TLSConfig", "build_ssl_context"]


@dataclass(frozen=True, slots=True)
class TLSConfig:
    """How to verify the server and how to prove who we are (all PEM bytes)."""

    ca: bytes | None = None
    cert: bytes | None = None
    key: bytes | None = None
    insecure: bool = False
    server_name: str | None = None

    @property
    def configured(self) -> bool:
        """Whether anything here asks for TLS (decides the scheme of a server given without one)."""
        return bool(self.ca or self.cert or self.insecure or self.server_name)


def build_ssl_context(tls: TLSConfig, *, cert: bytes | None = None, key: bytes | None = None) -> ssl.SSLContext:
    """A client context for ``tls``; ``cert``/``key`` (from an exec plugin) replace its client certificate."""
    if tls.insecure and tls.ca:
        raise ConfigError("specifying a root certificates file with the insecure flag is not allowed")
    try:
        ctx = ssl.create_default_context(cadata=tls.ca.decode("ascii")) if tls.ca else ssl.create_default_context()
    except (ssl.SSLError, UnicodeDecodeError) as e:
        raise ConfigError(f"the certificate authority is not a valid PEM bundle: {e}") from e
    if tls.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    cert, key = (cert, key) if cert or key else (tls.cert, tls.key)
    if cert or key:
        if not (cert and key):
            raise ConfigError("a client certificate needs both a certificate and a key")
        with _pem_file(cert, "client-cert") as cert_path, _pem_file(key, "client-key") as key_path:
            try:
                ctx.load_cert_chain(cert_path, key_path)
            except ssl.SSLError as e:
                raise ConfigError(f"the client certificate and key cannot be used: {e}") from e
    return ctx


@contextlib.contextmanager
def _pem_file(data: bytes, name: str) -> Iterator[str]:
    """A path that reads as ``data`` for as long as the block runs, never left on disk."""
    if hasattr(os, "memfd_create") and Path("/proc/self/fd").is_dir():
        fd = os.memfd_create(name, os.MFD_CLOEXEC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="pinnace-tls-") as tmp:  # mkdtemp: 0700
        path = Path(tmp) / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        yield str(path)
