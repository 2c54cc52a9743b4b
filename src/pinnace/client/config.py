"""Client configuration: where the API server is, how to trust it, who we are — and a client from it.

``load_client_config(kubeconfig=None, context=None)`` answers what kubectl
would: the merged kubeconfig (``loader``) narrowed to one context (the
explicit one, else ``current-context``), its cluster and user, and the
context's namespace (default ``"default"``). When no kubeconfig configures
anything and no context was asked for, it falls back to the in-cluster
configuration, as client-go's deferred loader does.

A user authenticates with at most one of a ``token``/``tokenFile`` or a
``username``/``password``, optionally with a client certificate; an ``exec``
plugin is used only when none of those is set (client-go's precedence).
``ClientConfig.rest_client()`` builds the ``RestClient``: an
``ssl.SSLContext`` from the CA and client certificate, and an auth provider
that renews bearer tokens per request (token file, exec plugin).
"""

from __future__ import annotations

import base64
import binascii
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pinnace.client.auth import AuthProvider, StaticAuth, TokenFileAuth, basic_auth, bearer
from pinnace.client.exceptions import ConfigError, NotInClusterError
from pinnace.client.exec_plugin import ExecAuth, ExecConfig, cluster_info
from pinnace.client.loader import Kubeconfig, load_kubeconfig
from pinnace.client.rest import RestClient
from pinnace.client.tls import TLSConfig, build_ssl_context

__all__ = [
    "SERVICE_ACCOUNT_DIR",
    "ClientConfig",
    "config_from_kubeconfig",
    "in_cluster_config",
    "load_client_config",
]

Obj = dict[str, Any]

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")

_UNSUPPORTED_USER_FIELDS = ("auth-provider", "as", "as-uid", "as-groups", "as-user-extra")


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Everything needed to talk to one API server as one identity."""

    server: str
    namespace: str = "default"
    context: str | None = None
    tls: TLSConfig = field(default_factory=TLSConfig)
    token: str | None = None
    token_file: Path | None = None
    username: str | None = None
    password: str | None = None
    exec: ExecConfig | None = None
    exec_cluster: Obj | None = None

    @property
    def uses_tls(self) -> bool:
        """Whether the server is reached over HTTPS."""
        return self.server.startswith("https://")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for the server (None for plain HTTP)."""
        return build_ssl_context(self.tls) if self.uses_tls else None

    def auth_provider(self, *, environ: Mapping[str, str] | None = None) -> AuthProvider | None:
        """What attaches credentials to each request (None: anonymous, or client certificate only)."""
        if self.token_file is not None:
            return TokenFileAuth(self.token_file, fallback=self.token)
        if self.token:
            return StaticAuth(bearer(self.token))
        if self.username or self.password:
            return StaticAuth(basic_auth(self.username or "", self.password or ""))
        if self.exec is not None:
            return ExecAuth(self.exec, tls=self.tls, cluster=self.exec_cluster, environ=environ)
        return None

    def rest_client(self, *, timeout: float = 30.0, user_agent: str | None = None) -> RestClient:
        """A REST client for this server, with this TLS configuration and these credentials."""
        return RestClient(
            self.server,
            timeout=timeout,
            ssl_context=self.ssl_context(),
            server_hostname=self.tls.server_name if self.uses_tls else None,
            auth=self.auth_provider(),
            user_agent=user_agent,
        )


def load_client_config(
    kubeconfig: str | os.PathLike[str] | None = None,
    context: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> ClientConfig:
    """The configuration kubectl would use, given ``--kubeconfig`` and ``--context``."""
    env = os.environ if environ is None else environ
    merged = load_kubeconfig(kubeconfig, environ=env)
    if merged.empty and not kubeconfig and context is None:
        try:
            return in_cluster_config(environ=env, service_account_dir=service_account_dir)
        except NotInClusterError:
            raise ConfigError(
                f"no configuration has been provided: {merged.describe_files()} configures no context, "
                "and not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset)"
            ) from None
    return config_from_kubeconfig(merged, context)


def config_from_kubeconfig(kc: Kubeconfig, context: str | None = None) -> ClientConfig:
    """The configuration of one context of a merged kubeconfig (default: its current-context)."""
    where = kc.describe_files()
    name = context or kc.current_context
    if not name:
        raise ConfigError(f"no current-context is set in {where}; choose a context ({_names(kc.contexts)})")
    ctx = kc.contexts.get(name)
    if ctx is None:
        raise ConfigError(f"context {name!r} was not found in {where} ({_names(kc.contexts)})")
    cluster_name, user_name = str(ctx.get("cluster") or ""), str(ctx.get("user") or "")
    if not cluster_name:
        raise ConfigError(f"cluster was not specified for context {name!r} in {where}")
    if not user_name:
        raise ConfigError(f"user was not specified for context {name!r} in {where}")
    cluster = kc.clusters.get(cluster_name)
    if cluster is None:
        raise ConfigError(f"cluster {cluster_name!r} was not found for context {name!r} in {where}")
    user = kc.users.get(user_name)
    if user is None:
        raise ConfigError(f"user {user_name!r} was not found for context {name!r} in {where}")

    tls = _cluster_tls(cluster, cluster_name)
    cert, key = _client_cert(user, user_name)
    tls = TLSConfig(ca=tls.ca, cert=cert, key=key, insecure=tls.insecure, server_name=tls.server_name)
    server = str(cluster.get("server") or "")
    if not server:
        raise ConfigError(f"cluster {cluster_name!r} has no server defined (in {where})")
    if "://" not in server:
        server = ("https://" if tls.configured else "http://") + server
    if cluster.get("proxy-url"):
        raise ConfigError(f"cluster {cluster_name!r}: proxy-url is not supported by pinnace's client yet")
    for unsupported in _UNSUPPORTED_USER_FIELDS:
        if user.get(unsupported):
            raise ConfigError(f"user {user_name!r}: {unsupported} is not supported by pinnace's client yet")

    token = str(user.get("token") or "") or None
    token_file = Path(str(user["tokenFile"])) if user.get("tokenFile") else None
    username = str(user.get("username") or "") or None
    password = str(user.get("password") or "") or None
    methods = [m for m, on in (("token", token), ("basicAuth", username or password)) if on]
    if len(methods) > 1:
        raise ConfigError(
            f"more than one authentication method found for {user_name}; found {methods}, only one is allowed"
        )
    if token_file is not None and not token:
        _check_readable(token_file, f"tokenFile for {user_name}")
    exec_cfg = None
    if isinstance(user.get("exec"), dict):
        exec_cfg = ExecConfig.from_kubeconfig(user["exec"], user_name)
        if token or token_file or username or password or cert:
            exec_cfg = None  # client-go: an explicit credential wins over the plugin
    return ClientConfig(
        server=server,
        namespace=str(ctx.get("namespace") or "default"),
        context=name,
        tls=tls,
        token=token,
        token_file=token_file,
        username=username,
        password=password,
        exec=exec_cfg,
        exec_cluster=cluster_info(server, tls, cluster) if exec_cfg and exec_cfg.provide_cluster_info else None,
    )


def in_cluster_config(
    *, environ: Mapping[str, str] | None = None, service_account_dir: Path = SERVICE_ACCOUNT_DIR
) -> ClientConfig:
    """The configuration of a pod: the kubernetes service, the service account's token, CA and namespace."""
    env = os.environ if environ is None else environ
    host, port = env.get("KUBERNETES_SERVICE_HOST", ""), env.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise NotInClusterError(
            "unable to load in-cluster configuration, "
            "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined"
        )
    token_file = service_account_dir / "token"
    _check_readable(token_file, "the service account token")
    try:
        ca: bytes | None = (service_account_dir / "ca.crt").read_bytes()
    except OSError:
        ca = None  # client-go logs and goes on with the system roots
    namespace = env.get("POD_NAMESPACE", "")
    if not namespace:
        try:
            namespace = (service_account_dir / "namespace").read_text().strip()
        except OSError:
            namespace = ""
    hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return ClientConfig(
        server=f"https://{hostport}", namespace=namespace or "default", tls=TLSConfig(ca=ca), token_file=token_file
    )


def _cluster_tls(cluster: Obj, name: str) -> TLSConfig:
    ca = _file_or_data(cluster, "certificate-authority", f"cluster {name!r}")
    insecure = bool(cluster.get("insecure-skip-tls-verify"))
    if insecure and ca:
        raise ConfigError(
            f"cluster {name!r}: specifying a root certificates file with the insecure flag is not allowed"
        )
    return TLSConfig(ca=ca, insecure=insecure, server_name=str(cluster.get("tls-server-name") or "") or None)


def _client_cert(user: Obj, name: str) -> tuple[bytes | None, bytes | None]:
    cert = _file_or_data(user, "client-certificate", f"user {name!r}")
    key = _file_or_data(user, "client-key", f"user {name!r}")
    method = f"for {name} to use the clientCert authentication method"
    if cert and not key:
        raise ConfigError(f"client-key-data or client-key must be specified {method}")
    if key and not cert:
        raise ConfigError(f"client-cert-data or client-cert must be specified {method}")
    return cert, key


def _file_or_data(entry: Obj, key: str, owner: str) -> bytes | None:
    """``key`` (a path) or ``key-data`` (base64), never both."""
    path, data = entry.get(key), entry.get(f"{key}-data")
    if path and data:
        raise ConfigError(f"{owner}: {key}-data and {key} are both specified; set only one")
    if data:
        try:
            return base64.b64decode("".join(str(data).split()), validate=True)
        except (binascii.Error, ValueError) as e:
            raise ConfigError(f"{owner}: {key}-data is not valid base64: {e}") from e
    if path:
        try:
            return Path(str(path)).read_bytes()
        except OSError as e:
            raise ConfigError(f"{owner}: unable to read {key} {path}: {e.strerror or e}") from e
    return None


def _check_readable(path: Path, what: str) -> None:
    try:
        with path.open("rb"):
            pass
    except OSError as e:
        raise ConfigError(f"unable to read {what} {path}: {e.strerror or e}") from e


def _names(entries: Mapping[str, Any]) -> str:
    return "available: " + ", ".join(sorted(entries)) if entries else "the kubeconfig has no contexts"
