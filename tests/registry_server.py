"""Debian's ``docker-registry`` on loopback for tests: anonymous, htpasswd Basic auth, or token auth.

:class:`RegistryServer` runs the real registry (distribution 2.8) with a
filesystem store in a temp directory on a free 127.0.0.1 port (over https with
``tls=True``, its certificate signed by a CA of the test's own). With
``auth="basic"`` it checks an htpasswd file (bcrypt lines, from the ``bcrypt``
package of the test extras); with ``auth="token"`` it trusts a
:class:`TokenServer` — a small HTTP server in the test that checks Basic
credentials and signs ES256 JWTs
whose ``x5c`` header carries a certificate from the registry's
``rootcertbundle``, so the real registry verifies real tokens.

Use it as a context manager, or through :func:`registry_fixture` in a
conftest or test module. Tests that import it: unit/integration tests of
``pinnace.node.images`` and the e2e ``pinnace image`` tests.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import bcrypt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

BINARY = "docker-registry"
ISSUER = "pinnace-test-token-issuer"
SERVICE = "pinnace-test-registry"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash of ``password`` for an htpasswd line (the registry accepts only bcrypt)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def tls_files(workdir: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate it signs for 127.0.0.1; (ca file, cert file, key file)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pinnace test registry CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = workdir / "ca.crt", workdir / "registry.crt", workdir / "registry.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


class TokenServer:
    """A registry token server (the Docker token auth spec) that signs ES256 JWTs trusted via a cert bundle."""

    def __init__(self, users: dict[str, str], workdir: Path) -> None:
        self.users = users
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pinnace test token signer")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.bundle = workdir / "token-bundle.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.requests: list[dict[str, Any]] = []
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self._http.server_address[1]
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self._http.shutdown()
        self._http.server_close()

    def sign(self, subject: str, access: list[dict[str, Any]], lifetime: int = 300) -> str:
        """A JWT for ``subject`` granting ``access``, signed with the bundle's key."""
        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(der).decode()]}
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + lifetime,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def _grant(self, user: str | None, scopes: list[str]) -> list[dict[str, Any]]:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind == "repository" and user is not None:
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        return access

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                user: str | None = None
                header = self.headers.get("Authorization", "")
                if header.startswith("Basic "):
                    name, _, password = base64.b64decode(header[6:]).decode().partition(":")
                    if server.users.get(name) != password:
                        self.send_response(401)
                        self.end_headers()
                        server.requests.append({"user": name, "ok": False})
                        return
                    user = name
                scopes = query.get("scope", [])
                server.requests.append({"user": user, "ok": True, "scope": scopes, "service": query.get("service")})
                token = server.sign(user or "", server._grant(user, scopes))
                body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


class RegistryServer:
    """A running ``docker-registry`` on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self, workdir: Path, auth: str = "none", users: dict[str, str] | None = None, tls: bool = False
    ) -> None:
        self.workdir = workdir
        self.auth = auth
        self.tls = tls
        #: With ``tls``, the CA file that signs the registry's certificate (for 127.0.0.1).
        self.ca_file: Path | None = None
        self.users = users or {"alice": "wonderland"}
        self.port = _free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.token_server: TokenServer | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def _config(self) -> str:
        auth = ""
        if self.auth == "basic":
            htpasswd = self.workdir / "htpasswd"
            htpasswd.write_text("".join(f"{u}:{bcrypt_hash(p)}\n" for u, p in self.users.items()))
            auth = f"auth:\n  htpasswd:\n    realm: pinnace-test\n    path: {htpasswd}\n"
        elif self.auth == "token":
            assert self.token_server is not None
            auth = (
                "auth:\n  token:\n"
                f"    realm: {self.token_server.realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n"
                f"    rootcertbundle: {self.token_server.bundle}\n"
            )
        tls = ""
        if self.tls:
            self.ca_file, cert, key = tls_files(self.workdir)
            tls = f"  tls:\n    certificate: {cert}\n    key: {key}\n"
        return (
            "version: 0.1\nlog:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.workdir / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n  secret: {uuid.uuid4().hex}\n" + tls + auth
        )

    def start(self, timeout: float = 20) -> None:
        """Start the registry and wait until /v2/ answers."""
        binary = shutil.which(BINARY)
        if binary is None:
            raise RuntimeError("docker-registry is not installed (Debian package docker-registry; see .ci/run)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.auth == "token":
            self.token_server = TokenServer(self.users, self.workdir)
            self.token_server.start()
        config = self.workdir / "config.yml"
        config.write_text(self._config())
        self.log = self.workdir / "registry.log"
        with self.log.open("wb") as log:
            self._proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        scheme = "https" if self.tls else "http"
        context = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{scheme}://{self.host}/v2/", timeout=1, context=context):
                    return
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"docker-registry not up after {timeout}s: {self.log.read_text()}")

    def stop(self) -> None:
        """Stop the registry (and the token server)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self._proc.pid, 9)
                self._proc.wait()
        if self.token_server is not None:
            self.token_server.stop()

    def __enter__(self) -> RegistryServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def registry_fixture(auth: str = "none", scope: str = "module", tls: bool = False) -> Any:
    """A pytest fixture yielding a started :class:`RegistryServer` with the given auth (none, basic, token)."""

    @pytest.fixture(scope=scope)  # type: ignore[misc]
    def _registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
        with RegistryServer(tmp_path_factory.mktemp(f"registry-{auth}"), auth, tls=tls) as server:
            yield server

    return _registry
