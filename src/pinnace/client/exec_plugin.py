"""Exec credential plugins (``users[].user.exec``), as client-go runs them.

The plugin is a command that prints an ``ExecCredential``
(``client.authentication.k8s.io/v1`` or ``v1beta1``) on stdout. It runs with
our environment plus the configured ``env``, and ``KUBERNETES_EXEC_INFO``: an
ExecCredential whose ``spec.interactive`` says whether it may prompt, and,
when ``provideClusterInfo`` is set, whose ``spec.cluster`` describes the
server (with the kubeconfig cluster's ``client.authentication.k8s.io/exec``
extension as ``config``). Its ``status`` carries a ``token`` and/or
``clientCertificateData``/``clientKeyData`` (PEM), and may carry an
``expirationTimestamp``: the answer is cached until then (forever without
one). A 401 from the server re-runs the plugin once, and the request is sent
again with what it returns.

``interactiveMode``: ``Never`` gives the plugin no stdin; ``IfAvailable``
(the v1beta1 default) passes ours when it is a terminal; ``Always`` requires
one. ``v1`` requires the field to be set.
"""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from pinnace.client.auth import Credentials, bearer
from pinnace.client.exceptions import ConfigError, ExecPluginError
from pinnace.client.tls import TLSConfig, build_ssl_context

__all__ = ["ExecAuth", "ExecConfig"]

Obj = dict[str, Any]

API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
INTERACTIVE_MODES = ("Never", "IfAvailable", "Always")
EXEC_INFO_ENV = "KUBERNETES_EXEC_INFO"
CLUSTER_EXTENSION = "client.authentication.k8s.io/exec"


@dataclass(frozen=True, slots=True)
class ExecConfig:
    """A user's ``exec`` stanza, validated."""

    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    api_version: str = "client.authentication.k8s.io/v1"
    interactive_mode: str = "Never"
    provide_cluster_info: bool = False
    install_hint: str = ""

    @classmethod
    def from_kubeconfig(cls, raw: Obj, user: str) -> ExecConfig:
        """Validate a kubeconfig ``exec`` stanza with client-go's messages."""
        where = f"for {user} to use exec authentication plugin"
        command = str(raw.get("command") or "")
        if not command:
            raise ConfigError(f"command must be specified {where}")
        api_version = str(raw.get("apiVersion") or "")
        if not api_version:
            raise ConfigError(f"apiVersion must be specified {where}")
        if api_version not in API_VERSIONS:
            raise ConfigError(f"exec plugin of {user}: unsupported apiVersion {api_version!r} (one of {API_VERSIONS})")
        mode = raw.get("interactiveMode") or ("IfAvailable" if api_version.endswith("v1beta1") else "")
        if not mode:
            raise ConfigError(f"interactiveMode must be specified {where}")
        if mode not in INTERACTIVE_MODES:
            raise ConfigError(f"invalid interactiveMode for {user}: {mode!r}")
        env: list[tuple[str, str]] = []
        for item in raw.get("env") or []:
            if not isinstance(item, dict) or not item.get("name"):
                raise ConfigError(f"env variable name must be specified {where}")
            env.append((str(item["name"]), str(item.get("value") or "")))
        return cls(
            command=command,
            args=tuple(str(a) for a in raw.get("args") or []),
            env=tuple(env),
            api_version=api_version,
            interactive_mode=str(mode),
            provide_cluster_info=bool(raw.get("provideClusterInfo")),
            install_hint=str(raw.get("installHint") or ""),
        )


def cluster_info(server: str, tls: TLSConfig, cluster: Obj) -> Obj:
    """The ``spec.cluster`` of KUBERNETES_EXEC_INFO for a kubeconfig cluster (empty fields omitted)."""
    info: Obj = {"server": server}
    if tls.server_name:
        info["tls-server-name"] = tls.server_name
    if tls.insecure:
        info["insecure-skip-tls-verify"] = True
    if tls.ca:
        info["certificate-authority-data"] = base64.b64encode(tls.ca).decode("ascii")
    for key in ("proxy-url", "disable-compression"):
        if cluster.get(key):
            info[key] = cluster[key]
    for ext in cluster.get("extensions") or []:
        if isinstance(ext, dict) and ext.get("name") == CLUSTER_EXTENSION:
            info["config"] = ext.get("extension")
    return info


@dataclass(frozen=True, slots=True)
class _Answer:
    creds: Credentials
    expires: datetime | None


class ExecAuth:
    """An :class:`~pinnace.client.auth.AuthProvider` backed by an exec plugin.

    One plugin run at a time; concurrent requests wait for it and share its
    answer. ``wall`` (UTC now) is injectable so expiry is tested without
    waiting.
    """

    def __init__(
        self,
        config: ExecConfig,
        *,
        tls: TLSConfig | None = None,
        cluster: Obj | None = None,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self._tls = tls or TLSConfig()
        self._cluster = cluster
        self._wall = wall
        self._environ = environ
        self._answer: _Answer | None = None
        self._lock = asyncio.Lock()

    async def credentials(self) -> Credentials:
        """The cached credentials, or a fresh plugin run's once they expired."""
        async with self._lock:
            answer = self._answer
            if answer is None or (answer.expires is not None and self._wall() >= answer.expires):
                answer = self._answer = await self._run()
            return answer.creds

    async def unauthorized(self, used: Credentials) -> bool:
        """Re-run the plugin (unless another request already did since ``used``); always worth one retry."""
        async with self._lock:
            if self._answer is None or self._answer.creds is used:
                self._answer = await self._run()
            return True

    async def _run(self) -> _Answer:
        cfg = self.config
        interactive = cfg.interactive_mode != "Never" and sys.stdin is not None and sys.stdin.isatty()
        if cfg.interactive_mode == "Always" and not interactive:
            raise ExecPluginError("exec plugin cannot support interactive mode: standard input is not a terminal")
        spec: Obj = {"interactive": interactive}
        if cfg.provide_cluster_info and self._cluster is not None:
            spec["cluster"] = self._cluster
        info = {"kind": "ExecCredential", "apiVersion": cfg.api_version, "spec": spec}
        env = dict(os.environ if self._environ is None else self._environ)
        env.update(cfg.env)
        env[EXEC_INFO_ENV] = orjson.dumps(info).decode()
        try:
            proc = await asyncio.create_subprocess_exec(
                cfg.command,
                *cfg.args,
                env=env,
                stdin=None if interactive else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError:
            hint = f"\n\n{cfg.install_hint}" if cfg.install_hint else ""
            raise ExecPluginError(f"exec: executable {cfg.command} not found{hint}") from None
        except OSError as e:
            raise ExecPluginError(f"exec: cannot run {cfg.command}: {e.strerror or e}") from e
        stdout, stderr = await proc.communicate()
        if proc.returncode != 0:
            detail = stderr.decode(errors="replace").strip()[-2000:]
            message = f"exec: executable {cfg.command} failed with exit code {proc.returncode}"
            raise ExecPluginError(message + (f": {detail}" if detail else ""))
        return self._parse(stdout)

    def _parse(self, stdout: bytes) -> _Answer:
        cmd = self.config.command
        try:
            cred = orjson.loads(stdout)
        except orjson.JSONDecodeError as e:
            raise ExecPluginError(f"exec plugin {cmd}: decoding stdout: {e}") from e
        if not isinstance(cred, dict) or cred.get("kind") != "ExecCredential":
            raise ExecPluginError(f"exec plugin {cmd}: stdout is not an ExecCredential")
        if cred.get("apiVersion") != self.config.api_version:
            raise ExecPluginError(
                f"exec plugin is configured to use API version {self.config.api_version}, "
                f"plugin returned version {cred.get('apiVersion')}"
            )
        status = cred.get("status")
        if not isinstance(status, dict):
            raise ExecPluginError(f"exec plugin {cmd} didn't return a status field")
        token = str(status.get("token") or "")
        cert = str(status.get("clientCertificateData") or "").encode()
        key = str(status.get("clientKeyData") or "").encode()
        if bool(cert) != bool(key):
            raise ExecPluginError(f"exec plugin {cmd} returned only certificate or key, not both")
        if not token and not cert:
            raise ExecPluginError(f"exec plugin {cmd} didn't return a token or cert/key pair")
        ctx: ssl.SSLContext | None = build_ssl_context(self._tls, cert=cert, key=key) if cert else None
        return _Answer(Credentials(bearer(token) if token else {}, ctx), _expiry(status, cmd))


def _expiry(status: Obj, cmd: str) -> datetime | None:
    raw = status.get("expirationTimestamp")
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(str(raw))
    except ValueError as e:
        raise ExecPluginError(f"exec plugin {cmd}: invalid expirationTimestamp {raw!r}") from e
    return when if when.tzinfo else when.replace(tzinfo=UTC)
