"""Registry credentials: ``WWW-Authenticate`` challenges, imagePullSecrets and docker config files.

A registry that wants credentials answers 401 with a challenge
(``Basic realm="…"`` or ``Bearer realm="…",service="…",scope="…"``, RFC 7235).
Credentials come from a pod's imagePullSecrets — ``kubernetes.io/dockerconfigjson``
(``{"auths": {host: {...}}}``, the shape of ``~/.docker/config.json``) or the
older ``kubernetes.io/dockercfg`` (``{host: {...}}``) — and are matched to an
image the way the kubelet's keyring does: the key's host (``*`` globs a DNS
label) and port must match, and the key's path must be a prefix of the
repository's. The most specific key comes first.
"""

from __future__ import annotations

import base64
import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from pinnace.node.cri import RegistryAuth
from pinnace.node.images.reference import DOCKER_HUB, Reference

DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
DOCKER_CFG = "kubernetes.io/dockercfg"
_DOCKER_HUB_KEYS = {"index.docker.io", "registry-1.docker.io", "docker.io", "registry.hub.docker.com"}
_TOKEN = re.compile(r"\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)")
_PARAM = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*')


class CredentialError(ValueError):
    """A pull secret or docker config that cannot be read."""


@dataclass(frozen=True, slots=True)
class Challenge:
    """One authentication challenge from a 401: its scheme (lower-case) and parameters."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)


def parse_www_authenticate(header: str) -> list[Challenge]:
    """The challenges in a ``WWW-Authenticate`` header (quoted values may hold commas)."""
    challenges: list[Challenge] = []
    pos = 0
    while pos < len(header):
        if header[pos] in ", \t":
            pos += 1
            continue
        match = _TOKEN.match(header, pos)
        if not match:
            break
        scheme, pos = match.group(1).lower(), match.end()
        params: dict[str, str] = {}
        while True:
            param = _PARAM.match(header, pos)
            if not param:
                break
            quoted = param.group(2)
            value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else param.group(3)
            params[param.group(1).lower()] = value
            pos = param.end()
            if pos < len(header) and header[pos] == ",":
                pos += 1
        challenges.append(Challenge(scheme, params))
    return challenges


def credentials(auth: RegistryAuth | None) -> tuple[str, str] | None:
    """(username, password) from an auth entry (its ``auth`` field is base64 ``user:password``); None if none."""
    if auth is None:
        return None
    if auth.username or auth.password:
        return auth.username, auth.password
    if auth.auth:
        try:
            user, sep, password = base64.b64decode(auth.auth).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise CredentialError("the auth field is not base64 of user:password") from None
        if sep:
            return user, password
    return None


def _entry(raw: Any) -> RegistryAuth:
    if not isinstance(raw, dict):
        raise CredentialError("a registry entry is not an object")
    auth = RegistryAuth(
        username=str(raw.get("username") or ""),
        password=str(raw.get("password") or ""),
        auth=str(raw.get("auth") or ""),
        identity_token=str(raw.get("identitytoken") or ""),
        registry_token=str(raw.get("registrytoken") or ""),
    )
    credentials(auth)  # fail now on a malformed auth field
    return auth


def docker_config_auths(doc: Mapping[str, Any]) -> dict[str, RegistryAuth]:
    """The ``auths`` of a docker config (``~/.docker/config.json`` or a dockerconfigjson secret)."""
    auths = doc.get("auths", {})
    if not isinstance(auths, dict):
        raise CredentialError("auths is not an object")
    return {str(key): _entry(raw) for key, raw in auths.items()}


def pull_secret_auths(secret: Mapping[str, Any]) -> dict[str, RegistryAuth]:
    """The registry credentials in an imagePullSecret (either docker type); {} for a Secret of another type."""
    data = secret.get("data") or {}
    kind = secret.get("type")
    key = ".dockerconfigjson" if kind == DOCKER_CONFIG_JSON else ".dockercfg" if kind == DOCKER_CFG else None
    if key is None or key not in data:
        return {}
    try:
        doc = orjson.loads(base64.b64decode(data[key]))
    except (ValueError, orjson.JSONDecodeError) as exc:
        name = (secret.get("metadata") or {}).get("name", "?")
        raise CredentialError(f"secret {name}: {key} is not base64 JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise CredentialError(f"{key} is not an object")
    return docker_config_auths(doc) if kind == DOCKER_CONFIG_JSON else {k: _entry(v) for k, v in doc.items()}


def _split_key(key: str) -> tuple[str, str]:
    """A keyring key's host[:port] and path (``https://index.docker.io/v1/`` → ``docker.io``, '')."""
    key = re.sub(r"^[a-z]+://", "", key.strip())
    host, _, path = key.partition("/")
    if host in _DOCKER_HUB_KEYS:
        return DOCKER_HUB, ""
    path = path.strip("/")
    if re.fullmatch(r"v[12]", path):
        path = ""
    return host.lower(), path


def _host_matches(pattern: str, host: str) -> bool:
    pattern_host, _, pattern_port = pattern.partition(":")
    name, _, port = host.partition(":")
    if pattern_port != port:
        return False
    labels, want = pattern_host.split("."), name.split(".")
    return len(labels) == len(want) and all(fnmatch.fnmatchcase(w, p) for p, w in zip(labels, want, strict=True))


class Keyring:
    """Credentials by registry key, looked up for an image as the kubelet's keyring does."""

    def __init__(self, entries: Iterable[tuple[str, RegistryAuth]] = ()) -> None:
        self._entries: list[tuple[str, str, RegistryAuth]] = []
        for key, auth in entries:
            self.add(key, auth)

    def add(self, key: str, auth: RegistryAuth) -> None:
        """Add credentials for a key (``host[:port][/path]``, optionally with a scheme; ``*`` globs a label)."""
        host, path = _split_key(key)
        self._entries.append((host, path, auth))

    @classmethod
    def from_pull_secrets(cls, secrets: Iterable[Mapping[str, Any]]) -> Keyring:
        """A keyring from a pod's imagePullSecrets (Secret objects), in their order."""
        return cls(item for secret in secrets for item in pull_secret_auths(secret).items())

    def lookup(self, image: Reference) -> list[RegistryAuth]:
        """Every credential that applies to ``image``, most specific key first (the kubelet tries them in turn)."""
        found = [
            (len(host) + len(path), auth)
            for host, path, auth in self._entries
            if _host_matches(host, image.domain)
            and (not path or image.path == path or image.path.startswith(path + "/"))
        ]
        found.sort(key=lambda item: -item[0])
        return [auth for _, auth in found]
