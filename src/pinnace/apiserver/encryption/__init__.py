"""Encryption at rest: upstream's EncryptionConfiguration, its providers, and the store decorator that applies it.

* :mod:`.providers` — identity, aescbc, aesgcm, secretbox, in upstream's
  ``k8s:enc:<provider>:v1:<key>:`` format, and the :class:`Transformer` that
  writes with the first and reads with any (key rotation).
* :mod:`.config` — the configuration file: parse and validate, generate a
  default with a random key, rotate in a new key.
* :mod:`.store` — :class:`EncryptingStore`, wrapped around the real store
  (SQLite or etcd) below the API server, so only ciphertext reaches the disk
  and only plaintext reaches the server.

:func:`encrypting_store` wires a configuration onto a store, given the
resource registry that says where each resource is stored.
"""

from __future__ import annotations

from pinnace.api.registry import ResourceRegistry
from pinnace.apiserver.encryption.config import ConfigError, EncryptionConfig, generate, load, parse, rotate
from pinnace.apiserver.encryption.providers import DecryptError, Transformer
from pinnace.apiserver.encryption.store import EncryptingStore, StaleKeyValue, UnreadableValue
from pinnace.storage import Store

__all__ = [
    "ConfigError",
    "DecryptError",
    "EncryptingStore",
    "EncryptionConfig",
    "StaleKeyValue",
    "Transformer",
    "UnreadableValue",
    "encrypting_store",
    "generate",
    "load",
    "parse",
    "rotate",
]


def encrypting_store(store: Store, config: EncryptionConfig, registry: ResourceRegistry) -> EncryptingStore:
    """``store`` with ``config`` applied; resources the registry does not know (yet: CRDs) use the usual
    ``/registry/<group>/<resource>/`` prefix."""

    def storage_prefix(group: str, resource: str) -> str:
        for info in registry.all():
            if info.group == group and info.plural == resource:
                return info.storage_prefix
        return f"/registry/{group or 'core'}/{resource}/"

    return EncryptingStore(store, config.prefixes(storage_prefix))
