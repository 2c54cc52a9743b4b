"""Encryption at rest through a real API server, on SQLite and on etcd: the store holds no Secret plaintext;
keys rotate, and a re-encryption moves every Secret to the new key so the old one can go."""

from __future__ import annotations

import base64
import os
from contextlib import AbstractAsyncContextManager

import orjson
import pytest
from tests.integration.conftest import listening

from pinnace.api import errors
from pinnace.api.registry import builtin_registry
from pinnace.apiserver.encryption import config as enc_config
from pinnace.apiserver.encryption import encrypting_store
from pinnace.apiserver.server import APIServer
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.cluster.encryption import reencrypt
from pinnace.storage import Store

SECRETS = ResourceRef("", "v1", "secrets")
PASSWORD = b"correct horse battery staple"
KEY = "/registry/core/secrets/default/db"


def _config(*keys: tuple[str, bytes], provider: str = "aescbc", identity: bool = True) -> enc_config.EncryptionConfig:
    providers: list[dict[str, object]] = [
        {provider: {"keys": [{"name": n, "secret": base64.b64encode(k).decode()} for n, k in keys]}}
    ]
    if identity:
        providers.append({"identity": {}})
    doc = {
        "apiVersion": enc_config.API_VERSION,
        "kind": enc_config.KIND,
        "resources": [{"resources": ["secrets"], "providers": providers}],
    }
    return enc_config.parse(doc)


def _serving(store: Store, config: enc_config.EncryptionConfig) -> AbstractAsyncContextManager[RestClient]:
    return listening(APIServer(encrypting_store(store, config, builtin_registry())))


def _assert_no_plaintext(raw: bytes) -> None:
    assert PASSWORD not in raw
    assert base64.b64encode(PASSWORD) not in raw
    assert b'"kind":"Secret"' not in raw and b"default" not in raw


async def test_secrets_are_ciphertext_in_the_store_and_keys_rotate(store: Store) -> None:
    key1, key2 = ("key1", os.urandom(32)), ("key2", os.urandom(32))
    secret = {"metadata": {"name": "db"}, "data": {"password": base64.b64encode(PASSWORD).decode()}}

    async with _serving(store, _config(key1)) as client:
        created = await client.create(SECRETS, secret, "default")
        await client.create(ResourceRef("", "v1", "configmaps"), {"metadata": {"name": "plain"}}, "default")
        raw = await store.get(KEY)
        assert raw is not None and raw.value.startswith(b"k8s:enc:aescbc:v1:key1:")
        _assert_no_plaintext(raw.value)
        got = await client.get(SECRETS, "db", "default")
        assert base64.b64decode(got["data"]["password"]) == PASSWORD
        listed = await client.list(SECRETS, "default")
        assert [s["metadata"]["name"] for s in listed["items"]] == ["db"]
        configmap = await store.get("/registry/core/configmaps/default/plain")
        assert configmap is not None and configmap.value.startswith(b"{")  # only the configured resources

    # Rotation: key2 writes from now on; key1 still reads what it wrote.
    async with _serving(store, _config(key2, key1)) as client:
        assert (await client.get(SECRETS, "db", "default"))["data"] == secret["data"]
        report = await reencrypt(client, "secrets")
        assert (report.rewritten, report.current, report.skipped) == (1, 0, 0)
        raw = await store.get(KEY)
        assert raw is not None and raw.value.startswith(b"k8s:enc:aescbc:v1:key2:")
        _assert_no_plaintext(raw.value)
        after = await client.get(SECRETS, "db", "default")
        assert after["data"] == secret["data"] and after["metadata"]["uid"] == created["metadata"]["uid"]
        again = await reencrypt(client, "secrets")
        assert (again.rewritten, again.current) == (0, 1)  # nothing left under key1: no write at all

    # key1 is gone from the configuration: every Secret still reads.
    async with _serving(store, _config(key2, identity=False)) as client:
        assert (await client.get(SECRETS, "db", "default"))["data"] == secret["data"]


async def test_plaintext_from_before_encryption_is_encrypted_by_reencrypt(store: Store) -> None:
    async with _serving(store, enc_config.parse(_identity_only())) as client:
        await client.create(
            SECRETS, {"metadata": {"name": "db"}, "stringData": {"password": PASSWORD.decode()}}, "default"
        )
    raw = await store.get(KEY)
    assert raw is not None and base64.b64decode(orjson.loads(raw.value)["data"]["password"]) == PASSWORD  # identity

    async with _serving(store, _config(("k", os.urandom(32)), provider="secretbox")) as client:
        report = await reencrypt(client, "secrets")
        assert report.rewritten == 1
    raw = await store.get(KEY)
    assert raw is not None and raw.value.startswith(b"k8s:enc:secretbox:v1:k:")
    _assert_no_plaintext(raw.value)


def _identity_only() -> dict[str, object]:
    return {
        "apiVersion": enc_config.API_VERSION,
        "kind": enc_config.KIND,
        "resources": [{"resources": ["secrets"], "providers": [{"identity": {}}]}],
    }


async def test_a_secret_no_configured_key_opens_fails_loudly_and_the_rest_is_served(store: Store) -> None:
    # One Secret written with a key the next configuration does not have (a lost key): as kube-apiserver, the
    # server starts, every request that must read that value is a 500 naming its key, and the rest still works.
    lost, current = ("key1", os.urandom(32)), ("key2", os.urandom(32))
    async with _serving(store, _config(lost, identity=False)) as client:
        await client.create(SECRETS, {"metadata": {"name": "db"}, "stringData": {"password": "x"}}, "default")

    unreadable = f"Internal error occurred: cannot decrypt the stored value of {KEY}: "
    configmaps = ResourceRef("", "v1", "configmaps")
    async with _serving(store, _config(current, identity=False)) as client:
        for read in (
            client.get(SECRETS, "db", "default"),
            client.list(SECRETS, "default"),
            client.list(SECRETS),
            client.delete(SECRETS, "db", "default"),
        ):
            with pytest.raises(errors.InternalError, match=unreadable):
                await read
        await client.create(configmaps, {"metadata": {"name": "still-served"}}, "default")
        assert (await client.get(configmaps, "still-served", "default"))["metadata"]["name"] == "still-served"
        await client.create(SECRETS, {"metadata": {"name": "new"}, "stringData": {"password": "y"}}, "default")
    assert (await store.get(KEY)) is not None  # nothing was lost: the old key brings it back

    async with _serving(store, _config(current, lost, identity=False)) as client:
        names = [s["metadata"]["name"] for s in (await client.list(SECRETS))["items"]]
        assert names == ["db", "new"]
        assert base64.b64decode((await client.get(SECRETS, "db", "default"))["data"]["password"]) == b"x"
