"""EncryptionConfiguration (apiserver.config.k8s.io/v1): which resources are encrypted at rest, and how.

The file is upstream's ``--encryption-provider-config``::

    apiVersion: apiserver.config.k8s.io/v1
    kind: EncryptionConfiguration
    resources:
      - resources: [secrets, "*.apps"]
        providers:
          - aescbc: {keys: [{name: key2, secret: <base64>}, {name: key1, secret: <base64>}]}
          - identity: {}

Each resource entry lists resources (``secrets``, ``deployments.apps``,
``*.apps`` for a whole group, ``*.`` for the core group, ``*.*`` for all)
and an ordered list of providers, each with its keys. The first provider's
first key writes; every key of every provider reads — which is how keys
rotate. The first entry that names a resource wins. A file that is wrong is
refused with every problem at its field path (:class:`ConfigError`).

:func:`generate` writes the default that ``pinnace up`` makes on first start:
secrets encrypted with a fresh random aescbc key, identity after it so that a
store that held plaintext before stays readable until re-encrypted.
:func:`rotate` adds a fresh first key to such a file, keeping the others.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets as _secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pinnace.apiserver.encryption.providers import AESCBCKey, AESGCMKey, Identity, Provider, SecretboxKey, Transformer

__all__ = [
    "API_VERSION",
    "KIND",
    "ConfigError",
    "EncryptionConfig",
    "ResourceEntry",
    "generate",
    "load",
    "parse",
    "rotate",
]

API_VERSION = "apiserver.config.k8s.io/v1"
KIND = "EncryptionConfiguration"
_KEY_LENGTHS: dict[str, tuple[int, ...]] = {"aescbc": (16, 24, 32), "aesgcm": (16, 24, 32), "secretbox": (32,)}
_KEYED: dict[str, Callable[[str, bytes], Provider]] = {
    "aescbc": AESCBCKey,
    "aesgcm": AESGCMKey,
    "secretbox": SecretboxKey,
}
_UNSUPPORTED = ("kms",)


class ConfigError(ValueError):
    """An EncryptionConfiguration that cannot be used; ``problems`` says every reason, at its field path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"invalid encryption configuration {source}: " + "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class ResourceEntry:
    """One ``resources[]`` element: the (group, resource) pairs it names (``*`` wildcards) and its transformer."""

    resources: tuple[tuple[str, str], ...]
    transformer: Transformer


@dataclass(frozen=True, slots=True)
class EncryptionConfig:
    """A parsed, valid EncryptionConfiguration."""

    entries: tuple[ResourceEntry, ...]

    def transformer_for(self, group: str, resource: str) -> Transformer | None:
        """The transformer of the first entry naming (group, resource), or None (stored as is)."""
        for entry in self.entries:
            for g, r in entry.resources:
                if (g == "*" or g == group) and (r == "*" or r == resource):
                    return entry.transformer
        return None

    def prefixes(self, storage_prefix: Callable[[str, str], str]) -> list[tuple[str, Transformer]]:
        """(store key prefix, transformer) in precedence order; ``storage_prefix(group, resource)`` maps a
        named resource to its prefix (``*`` as resource: the group's; ``*`` as group: everything)."""
        out: list[tuple[str, Transformer]] = []
        for entry in self.entries:
            for g, r in entry.resources:
                if g == "*":
                    out.append(("/registry/", entry.transformer))
                elif r == "*":
                    out.append((f"/registry/{g or 'core'}/", entry.transformer))
                else:
                    out.append((storage_prefix(g, r), entry.transformer))
        return out


def parse(doc: Any, source: str = "") -> EncryptionConfig:
    """Validate a decoded configuration document and build its transformers."""
    problems: list[str] = []
    if not isinstance(doc, dict):
        raise ConfigError(source, ["the file must hold one EncryptionConfiguration object"])
    if doc.get("apiVersion") not in (API_VERSION, "apiserver.config.k8s.io/v1beta1"):
        problems.append(f'apiVersion: Unsupported value: {doc.get("apiVersion")!r}: supported values: "{API_VERSION}"')
    if doc.get("kind") != KIND:
        problems.append(f'kind: Unsupported value: {doc.get("kind")!r}: supported values: "{KIND}"')
    raw_entries = doc.get("resources")
    if not isinstance(raw_entries, list) or not raw_entries:
        problems.append(
            "resources: Required value: EncryptionConfiguration.Resources must contain at least one resource"
        )
        raw_entries = []
    entries: list[ResourceEntry] = []
    seen: set[tuple[str, str]] = set()
    for i, raw in enumerate(raw_entries):
        entry = _entry(raw, f"resources[{i}]", seen, problems)
        if entry is not None:
            entries.append(entry)
    if problems:
        raise ConfigError(source, problems)
    return EncryptionConfig(tuple(entries))


def _entry(raw: Any, path: str, seen: set[tuple[str, str]], problems: list[str]) -> ResourceEntry | None:
    if not isinstance(raw, dict):
        problems.append(f"{path}: Invalid value: must be an object with resources and providers")
        return None
    names = raw.get("resources")
    pairs: list[tuple[str, str]] = []
    if not isinstance(names, list) or not names:
        problems.append(
            f"{path}.resources: Required value: ResourceConfiguration.Resources must contain at least one resource"
        )
    else:
        for j, name in enumerate(names):
            pair = _resource(name, f"{path}.resources[{j}]", problems)
            if pair is None:
                continue
            if pair in seen:
                problems.append(f"{path}.resources[{j}]: Duplicate value: {name!r}")
            seen.add(pair)
            pairs.append(pair)
    raw_providers = raw.get("providers")
    providers: list[Provider] = []
    if not isinstance(raw_providers, list) or not raw_providers:
        problems.append(
            f"{path}.providers: Required value: ResourceConfiguration.Providers must contain at least one provider"
        )
    else:
        key_names: set[tuple[str, str]] = set()
        for j, p in enumerate(raw_providers):
            providers += _provider(p, f"{path}.providers[{j}]", key_names, problems)
    if not pairs or not providers:
        return None
    return ResourceEntry(tuple(pairs), Transformer(providers))


def _resource(name: Any, path: str, problems: list[str]) -> tuple[str, str] | None:
    if not isinstance(name, str) or not name:
        problems.append(f"{path}: Required value: a resource name is required")
        return None
    if name != name.lower():
        problems.append(f"{path}: Invalid value: {name!r}: resource name should not contain capital letters")
        return None
    resource, _, group = name.partition(".")
    if resource == "*" and "." not in name:
        problems.append(f"{path}: Invalid value: {name!r}: use '*.' for the core group or '*.*' for all resources")
        return None
    if group == "*" and resource != "*":
        problems.append(f"{path}: Invalid value: {name!r}: a wildcard group needs a wildcard resource ('*.*')")
        return None
    return group, resource


def _provider(raw: Any, path: str, key_names: set[tuple[str, str]], problems: list[str]) -> list[Provider]:
    if not isinstance(raw, dict) or len(raw) != 1:
        problems.append(
            f"{path}: Invalid value: more than one provider specified in a single element, "
            "should split into different list elements"
            if isinstance(raw, dict) and raw
            else f"{path}: Required value: provider does not contain any of the expected providers: "
            "identity, aescbc, aesgcm, secretbox"
        )
        return []
    kind, body = next(iter(raw.items()))
    if kind == "identity":
        return [Identity()]
    if kind in _UNSUPPORTED:
        problems.append(f"{path}.{kind}: Unsupported value: {kind!r}: Pinnace has no KMS plugin support")
        return []
    if kind not in _KEYED:
        problems.append(
            f'{path}: Unsupported value: "{kind}": supported values: "aescbc", "aesgcm", "identity", "secretbox"'
        )
        return []
    keys = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(keys, list) or not keys:
        problems.append(f"{path}.{kind}.keys: Required value: at least one key is required")
        return []
    out: list[Provider] = []
    for k, key in enumerate(keys):
        where = f"{path}.{kind}.keys[{k}]"
        name = key.get("name") if isinstance(key, dict) else None
        secret = key.get("secret") if isinstance(key, dict) else None
        if not isinstance(name, str) or not name:
            problems.append(f"{where}.name: Required value: key name is required")
            continue
        if ":" in name:
            problems.append(f"{where}.name: Invalid value: {name!r}: key name must not contain ':'")
            continue
        if (kind, name) in key_names:
            problems.append(f"{where}.name: Duplicate value: {name!r}")
            continue
        key_names.add((kind, name))
        if not isinstance(secret, str) or not secret:
            problems.append(f"{where}.secret: Required value: secret is required")
            continue
        try:
            raw_secret = base64.b64decode(secret, validate=True)
        except (binascii.Error, ValueError):
            problems.append(f"{where}.secret: Invalid value: REDACTED: secret is not a valid base64 string")
            continue
        if len(raw_secret) not in _KEY_LENGTHS[kind]:
            lengths = " ".join(str(n) for n in _KEY_LENGTHS[kind])
            problems.append(
                f"{where}.secret: Invalid value: REDACTED: secret is not of the expected length, "
                f"got {len(raw_secret)}, expected one of [{lengths}]"
            )
            continue
        out.append(_KEYED[kind](name, raw_secret))
    return out


def load(path: Path) -> EncryptionConfig:
    """Read and validate a configuration file (:class:`ConfigError` if it is wrong)."""
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"not valid YAML: {exc}"]) from None
    return parse(doc, str(path))


def new_key(length: int = 32) -> str:
    """A fresh random key, base64-encoded as the file holds it."""
    return base64.b64encode(os.urandom(length)).decode()


def generate(path: Path, provider: str = "aescbc", resources: tuple[str, ...] = ("secrets",)) -> None:
    """Write a configuration encrypting ``resources`` with one fresh key of ``provider`` (mode 0600)."""
    if provider not in _KEYED:
        raise ValueError(f"unknown provider {provider!r}; choose one of {', '.join(sorted(_KEYED))}")
    doc = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "resources": [
            {
                "resources": list(resources),
                "providers": [{provider: {"keys": [{"name": "key1", "secret": new_key()}]}}, {"identity": {}}],
            }
        ],
    }
    _write(path, doc)


def rotate(path: Path) -> str:
    """Put a fresh key first in the first keyed provider of every entry (the old keys still read); its name."""
    doc = yaml.safe_load(path.read_text())
    parse(doc, str(path))
    name = ""
    for entry in doc["resources"]:
        for provider in entry["providers"]:
            kind = next(iter(provider))
            if kind in _KEYED:
                keys = provider[kind]["keys"]
                taken = {k["name"] for k in keys}
                n = len(keys) + 1
                while f"key{n}" in taken:
                    n += 1
                name = f"key{n}"
                keys.insert(0, {"name": name, "secret": new_key()})
                break
    if not name:
        raise ConfigError(str(path), ["no entry has an aescbc, aesgcm or secretbox provider to rotate"])
    _write(path, doc)
    return name


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{_secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(doc, f, sort_keys=False)
    os.replace(tmp, path)
