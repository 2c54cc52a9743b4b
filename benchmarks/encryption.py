"""Encryption at rest: what it costs a Secret create and get.

1. Each provider alone: microseconds to encrypt and to decrypt a stored Secret
   of 1 KiB and of 64 KiB (aescbc, aesgcm, secretbox; identity for reference).
2. Through the API server (in process, HTTP on loopback, SQLite in a temp
   dir, one sequential client): Secret creates/s and GETs/s with Secrets
   stored as they are and with the aescbc configuration ``pinnace up``
   generates, and the ratio. Creates go to the store (fsync each); GETs are
   served from the watch cache, which holds decrypted objects, so a GET does
   not decrypt at all.

Run: ``python benchmarks/encryption.py [--n N]``. It reports; it sets no target.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import tempfile
import time
from pathlib import Path

from pinnace.api.registry import builtin_registry
from pinnace.apiserver.encryption import config as enc_config
from pinnace.apiserver.encryption import encrypting_store
from pinnace.apiserver.encryption.providers import AESCBCKey, AESGCMKey, Identity, Provider, SecretboxKey
from pinnace.apiserver.server import APIServer
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.storage import SQLiteStore, Store

SECRETS = ResourceRef("", "v1", "secrets")
CONTEXT = b"/registry/core/secrets/default/bench"


def providers() -> dict[str, Provider]:
    """One of each provider, with a fresh key."""
    return {
        "identity": Identity(),
        "aescbc": AESCBCKey("k", os.urandom(32)),
        "aesgcm": AESGCMKey("k", os.urandom(32)),
        "secretbox": SecretboxKey("k", os.urandom(32)),
    }


def micro(n: int) -> None:
    """Encrypt/decrypt microseconds per provider and size."""
    print("provider    size    encrypt µs  decrypt µs")
    for size in (1024, 64 * 1024):
        plaintext = os.urandom(size)
        for name, provider in providers().items():
            start = time.perf_counter()
            for _ in range(n):
                stored = provider.encrypt(plaintext, CONTEXT)
            encrypt = (time.perf_counter() - start) / n * 1e6
            start = time.perf_counter()
            for _ in range(n):
                provider.decrypt(stored, CONTEXT)
            decrypt = (time.perf_counter() - start) / n * 1e6
            print(f"{name:<10} {size // 1024:>3} KiB {encrypt:>11.1f} {decrypt:>11.1f}")


async def through_api(store: Store, n: int) -> tuple[float, float]:
    """(creates/s, GETs/s) of 1 KiB Secrets through an API server over ``store``."""
    server = APIServer(store)
    await server.listen("127.0.0.1", 0)
    data = {"blob": base64.b64encode(os.urandom(768)).decode()}
    try:
        async with RestClient(server.url) as client:
            start = time.perf_counter()
            for i in range(n):
                await client.create(SECRETS, {"metadata": {"name": f"s{i}"}, "data": data}, "default")
            creates = n / (time.perf_counter() - start)
            start = time.perf_counter()
            for i in range(n):
                await client.get(SECRETS, f"s{i}", "default")
            gets = n / (time.perf_counter() - start)
    finally:
        await server.stop()
    return creates, gets


async def api(n: int, rounds: int = 3) -> None:
    """Creates/s and GETs/s without and with encryption: the best of ``rounds`` interleaved runs of each."""
    best: dict[str, tuple[float, float]] = {"plain": (0.0, 0.0), "aescbc": (0.0, 0.0)}
    for _ in range(rounds):
        for label in best:
            with tempfile.TemporaryDirectory() as tmp:
                raw = await SQLiteStore.open(Path(tmp) / "store.db")
                store: Store = raw
                if label == "aescbc":
                    path = Path(tmp) / "enc.yaml"
                    enc_config.generate(path)
                    store = encrypting_store(raw, enc_config.load(path), builtin_registry())
                try:
                    creates, gets = await through_api(store, n)
                finally:
                    await raw.close()
            best[label] = (max(best[label][0], creates), max(best[label][1], gets))
    (pc, pg), (ec, eg) = best["plain"], best["aescbc"]
    print(f"Secret creates/s: plain {pc:.0f}, aescbc {ec:.0f} ({pc / ec:.2f}x the time)")
    print(f"Secret GETs/s:    plain {pg:.0f}, aescbc {eg:.0f} ({pg / eg:.2f}x the time)")


def main() -> None:
    """Run both parts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="operations per figure")
    args = parser.parse_args()
    micro(args.n)
    asyncio.run(api(args.n))


if __name__ == "__main__":
    main()
