"""Encryption at rest for a local cluster: which EncryptionConfiguration ``pinnace up`` uses, and applying it.

With ``--encryption-provider-config FILE`` that file is used as given. Without
it, the cluster uses ``encryption-config.yaml`` in its data directory, made on
the first start with a fresh random aescbc key for Secrets (identity after it,
so a store written before encryption was on still reads) — so Secret bytes in
the SQLite file are never plaintext. A store that other API servers share
(etcd) gets no generated key: every server must then be given the same file,
or they could not read each other's Secrets; until then Secrets are stored as
they are, and the server says so in its log.

:func:`reencrypt` rewrites every object of a resource through the API, so that
after a key rotation each is stored with the new key and the old one can go.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from pinnace.api import errors
from pinnace.api.registry import ResourceRegistry, builtin_registry
from pinnace.apiserver import encryption
from pinnace.client.rest import RestClient
from pinnace.client.restmapper import RESTMapper
from pinnace.storage import Store

__all__ = ["DEFAULT_CONFIG_FILE", "ReencryptReport", "config_path", "encrypted_store", "reencrypt"]

log = logging.getLogger(__name__)

#: The generated configuration, in the data directory (upstream has no default; kubeadm users pass a file).
DEFAULT_CONFIG_FILE = "encryption-config.yaml"


def config_path(data_dir: Path, explicit: Path | None, *, shared_store: bool) -> Path | None:
    """The configuration file the cluster uses (generating the default if due), or None for no encryption."""
    if explicit is not None:
        return explicit
    path = data_dir / DEFAULT_CONFIG_FILE
    if path.exists():
        return path
    if shared_store:
        log.warning(
            "Secrets are stored unencrypted: the store is shared with other API servers, so give every one of them "
            "the same --encryption-provider-config"
        )
        return None
    encryption.generate(path)
    log.info("generated an encryption configuration with a new aescbc key for Secrets in %s", path)
    return path


def encrypted_store(
    store: Store, data_dir: Path, explicit: Path | None, registry: ResourceRegistry | None = None
) -> Store:
    """``store`` with the cluster's encryption configuration applied (:class:`encryption.ConfigError` if bad)."""
    path = config_path(data_dir, explicit, shared_store=store.shared)
    if path is None:
        return store
    return encryption.encrypting_store(store, encryption.load(path), registry or builtin_registry())


@dataclass(frozen=True, slots=True)
class ReencryptReport:
    """What a re-encryption did to one resource."""

    resource: str
    #: Written again (they had been stored with another key than the current one).
    rewritten: int
    #: Already stored with the current key (the server did not write them).
    current: int
    #: Changed or deleted by someone else meanwhile (a write after the key change is in the new key already).
    skipped: int


async def reencrypt(client: RestClient, resource: str, *, page_size: int = 500) -> ReencryptReport:
    """Replace every object of ``resource`` (``secrets``, ``deployments.apps``) with itself through the API, so the
    server stores each with its current write key (upstream: ``kubectl get … -o json | kubectl replace -f -``).

    The server rewrites an unchanged object only if it was stored with another key than the current one."""
    plural, _, group = resource.partition(".")
    mapper = RESTMapper(client)
    kinds = await mapper.kinds_for(group, plural)
    if not kinds:
        raise errors.NotFound(f'the server does not serve the resource "{resource}"')
    ref = (await mapper.mapping(kinds[0])).ref
    rewritten = current = skipped = 0
    params = {"limit": str(page_size)}
    while True:
        page = await client.list(ref, None, **params)
        for item in page.get("items") or []:
            item.setdefault("apiVersion", kinds[0].api_version)
            item.setdefault("kind", kinds[0].kind)
            try:
                written = await client.update(ref, item)
            except (errors.Conflict, errors.NotFound):
                skipped += 1
                continue
            if written["metadata"]["resourceVersion"] != item["metadata"]["resourceVersion"]:
                rewritten += 1
            else:
                current += 1
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return ReencryptReport(resource, rewritten, current, skipped)
        params = {"limit": str(page_size), "continue": token}
