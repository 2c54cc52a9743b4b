"""The bootstrap signer and token cleaner: ``cluster-info`` signed by every signing token; expired tokens gone.

Upstream's ``bootstrapsigner`` controller keeps, in the ``cluster-info``
ConfigMap of ``kube-public``, one ``jws-kubeconfig-<token-id>`` per bootstrap
token that has ``usage-bootstrap-signing: "true"`` and has not expired: the
detached JWS of the ConfigMap's ``kubeconfig`` (see
:mod:`pinnace.api.bootstraptoken`). Signatures of tokens that went away are
removed. A joining node that knows a token trusts the ConfigMap it read
through that signature (``pinnace adm join --token``). Upstream's
``tokencleaner`` deletes bootstrap-token Secrets whose expiration has passed,
at the time it passes.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from pinnace.api import errors
from pinnace.api.bootstraptoken import CLUSTER_INFO, JWS_PREFIX, SECRET_TYPE, BootstrapToken, detached_jws
from pinnace.runtime.builder import Builder
from pinnace.runtime.client import Client, MergePatch
from pinnace.runtime.clock import Clock
from pinnace.runtime.controller import Controller
from pinnace.runtime.controllerutil import get_or_none
from pinnace.runtime.handler import EnqueueRequestsFromMapFunc
from pinnace.runtime.manager import Manager
from pinnace.runtime.predicate import new_predicate
from pinnace.runtime.reconcile import Request, Result

__all__ = ["BootstrapSigner", "TokenCleaner", "add_bootstrap_signer", "add_token_cleaner"]

Obj = dict[str, Any]

CONFIGMAPS = "v1/ConfigMap"
SECRETS = "v1/Secret"
CLUSTER_INFO_REQUEST = Request("kube-public", CLUSTER_INFO)


def _is_cluster_info(obj: Obj) -> bool:
    meta = obj.get("metadata") or {}
    return meta.get("name") == CLUSTER_INFO and meta.get("namespace") == "kube-public"


def _is_token_secret(obj: Obj) -> bool:
    return obj.get("type") == SECRET_TYPE and (obj.get("metadata") or {}).get("namespace") == "kube-system"


async def add_bootstrap_signer(manager: Manager) -> Controller:
    """Add the bootstrap signer to ``manager``."""
    return await (
        Builder(manager)
        .named("bootstrapsigner")
        .for_(CONFIGMAPS, new_predicate(_is_cluster_info))
        .watches(SECRETS, EnqueueRequestsFromMapFunc(lambda _: [CLUSTER_INFO_REQUEST]), new_predicate(_is_token_secret))
        .complete(BootstrapSigner(manager.client, manager.clock))
    )


class BootstrapSigner:
    """Keeps the ``jws-kubeconfig-*`` signatures of ``cluster-info`` in line with the signing tokens."""

    def __init__(self, client: Client, clock: Clock) -> None:
        self.client = client
        self.clock = clock

    async def reconcile(self, request: Request) -> Result:
        """Sign ``cluster-info`` with each valid signing token; drop the other signatures."""
        config = await get_or_none(self.client, CONFIGMAPS, CLUSTER_INFO, "kube-public")
        if config is None or (config.get("metadata") or {}).get("deletionTimestamp"):
            return Result()
        data: dict[str, str] = dict(config.get("data") or {})
        content = data.get("kubeconfig")
        now = self.clock.wall()
        wanted: dict[str, str] = {}
        next_expiry: datetime | None = None
        for secret in await self.client.list(SECRETS, "kube-system"):
            token = BootstrapToken.from_secret(secret)
            if token is None or "signing" not in token.usages or token.expired(now) or content is None:
                continue
            if (secret.get("metadata") or {}).get("deletionTimestamp"):
                continue
            wanted[JWS_PREFIX + token.token_id] = detached_jws(content, token.token_id, token.token_secret)
            if token.expiration is not None and (next_expiry is None or token.expiration < next_expiry):
                next_expiry = token.expiration
        current = {k: v for k, v in data.items() if k.startswith(JWS_PREFIX)}
        if current != wanted:
            patch: dict[str, str | None] = {k: None for k in current if k not in wanted}
            patch.update(wanted)
            with contextlib.suppress(errors.NotFound):
                await self.client.patch(config, MergePatch({"data": patch}))
        if next_expiry is not None:  # a token's signature goes when the token expires
            return Result(requeue_after=max(0.0, (next_expiry - now).total_seconds()) + 0.5)
        return Result()


async def add_token_cleaner(manager: Manager) -> Controller:
    """Add the bootstrap token cleaner to ``manager``."""
    return await (
        Builder(manager)
        .named("tokencleaner")
        .for_(SECRETS, new_predicate(_is_token_secret))
        .complete(TokenCleaner(manager.client, manager.clock))
    )


class TokenCleaner:
    """Deletes bootstrap-token Secrets once they expire."""

    def __init__(self, client: Client, clock: Clock) -> None:
        self.client = client
        self.clock = clock

    async def reconcile(self, request: Request) -> Result:
        """Delete the token's Secret if it has expired, else look again when it will have."""
        secret = await get_or_none(self.client, SECRETS, request.name, request.namespace)
        if secret is None or (secret.get("metadata") or {}).get("deletionTimestamp"):
            return Result()
        token = BootstrapToken.from_secret(secret)
        if token is None or token.expiration is None:
            return Result()
        left = (token.expiration - self.clock.wall().astimezone(UTC)).total_seconds()
        if left > 0:
            return Result(requeue_after=left)
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.client.delete(secret, preconditions={"uid": secret["metadata"]["uid"]})
        return Result()
