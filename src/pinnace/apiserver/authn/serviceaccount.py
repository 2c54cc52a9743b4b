"""Service-account tokens: legacy Secret-based JWTs and bound tokens from TokenRequest.

Both are RS256 JWTs signed with the service-account key (``sa.key``).

- **Bound** tokens (``iss``: the API server's issuer) must be for one of the
  wanted audiences (default: the API server's), within ``nbf``/``exp``, and the
  objects they name must still exist with the same uid — the service account,
  and the pod, secret or node the token is bound to (a node only when the token
  is bound to the node itself; a pod-bound token merely records its pod's node).
  An object being deleted keeps its tokens valid for
  :data:`DELETION_GRACE` seconds after its deletionTimestamp, as upstream (a pod's
  graceful termination still needs its token).
- **Legacy** tokens (``iss: kubernetes/serviceaccount``) carry no audience and
  no expiry: they are valid while their Secret exists and holds the very same
  token, and the service account exists with the uid the token names.

The user is ``system:serviceaccount:<ns>:<name>`` with the account's uid, in
``system:serviceaccounts`` and ``system:serviceaccounts:<ns>``; bound tokens
add the extras ``authentication.kubernetes.io/pod-name``, ``pod-uid``,
``node-name``, ``node-uid`` and ``credential-id`` (``JTI=<jti>``). Objects are
read from the API server's watch caches; a success names them at the revisions
read, and ends at the token's ``exp`` (with the leeway) or an object's deletion
grace, so the token cache keeps it no longer than it holds.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from pinnace.api import satoken
from pinnace.apiserver.authn.tokens import Dependency, TokenRejected, TokenResult
from pinnace.apiserver.rest import RestStore
from pinnace.apiserver.user import UserInfo
from pinnace.apiserver.watch_cache import CachedObject

__all__ = ["DELETION_GRACE", "LEGACY_ISSUER", "ServiceAccountTokenAuthenticator"]

Obj = dict[str, Any]

log = logging.getLogger(__name__)

LEGACY_ISSUER = "kubernetes/serviceaccount"
#: What a client hears when a token's pod, secret or node is gone or replaced (the detail is logged).
INVALIDATED = "service account token has been invalidated"
#: Seconds after its deletionTimestamp that an object being deleted still validates its tokens.
DELETION_GRACE = 60.0
_EXTRA = "authentication.kubernetes.io/"
_LEGACY = "kubernetes.io/serviceaccount/"


def _valid_until(obj: Obj) -> float | None:
    """Until when an object validates its tokens: for ever (None), or the end of its deletion's grace."""
    stamp = (obj.get("metadata") or {}).get("deletionTimestamp")
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp() + DELETION_GRACE
    except ValueError:
        return -math.inf


@dataclass(slots=True)
class _Checked:
    """What a token's checks rested on: the objects read, and the earliest end of validity seen."""

    depends_on: list[Dependency] = field(default_factory=list)
    expires_at: float | None = None

    def until(self, end: float | None) -> None:
        if end is not None and (self.expires_at is None or end < self.expires_at):
            self.expires_at = end

    def result(self, user: UserInfo, audiences: tuple[str, ...]) -> TokenResult:
        return TokenResult(user, audiences, tuple(self.depends_on), self.expires_at)


def _user(namespace: str, name: str, uid: str, extra: dict[str, tuple[str, ...]] | None = None) -> UserInfo:
    groups = ("system:serviceaccounts", f"system:serviceaccounts:{namespace}")
    return UserInfo(satoken.username(namespace, name), uid=uid, groups=groups, extra=extra or {})


class ServiceAccountTokenAuthenticator:
    """Bearer tokens that are service-account JWTs (see the module docstring)."""

    def __init__(
        self,
        rest: RestStore,
        keys: Sequence[rsa.RSAPublicKey],
        issuer: str,
        api_audiences: Sequence[str],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rest = rest
        self.keys = list(keys)
        self.issuer = issuer
        self.api_audiences = tuple(api_audiences)
        self.clock = clock

    async def authenticate_token(self, token: str, audiences: Sequence[str]) -> TokenResult | None:
        """The service account of a valid token; None if the token is not a JWT of ours."""
        try:
            iss = satoken.unverified_claims(token).get("iss")
        except satoken.InvalidToken:
            return None
        if iss == self.issuer:
            return await self._bound(token, audiences)
        if iss == LEGACY_ISSUER:
            return await self._legacy(token, audiences)
        return None

    async def _check_ref(self, plural: str, namespace: str | None, ref: Any, checked: _Checked) -> Obj:
        """The object a claim names, if it still exists with the claimed uid and is not long deleted
        (recorded in ``checked``: the token holds while the object stays as it is, and its grace lasts).

        As upstream's validator: the account's absence or new uid is said as it is; a bound or legacy
        object's is only logged, the client hears "service account token has been invalidated".
        """
        name, uid = (ref.get("name"), ref.get("uid")) if isinstance(ref, dict) else (None, None)
        what = plural[:-1]
        if not isinstance(name, str) or not name:
            raise TokenRejected(f"token could not be validated: malformed {what} reference")
        info = self.rest.registry.get("", "v1", plural)
        assert info is not None
        cached: CachedObject | None = await self.rest.get_cached(info, namespace, name)
        obj = cached.obj if cached is not None else None
        where = f"{namespace}/{name}" if namespace else name
        actual = (obj.get("metadata") or {}).get("uid") if obj is not None else None
        if plural == "serviceaccounts":
            if obj is None:
                raise TokenRejected(f'serviceaccounts "{name}" not found')
            if uid and actual != uid:
                raise TokenRejected(f"service account UID ({actual}) does not match claim ({uid})")
        if obj is None:
            reason = f"{what} {where} has been deleted"
        elif uid and actual != uid:
            reason = f"{what} {where} UID ({actual}) does not match claim ({uid})"
        elif (end := _valid_until(obj)) is not None and end <= self.clock():
            reason = f"{what} {where} is being deleted"
        else:
            assert cached is not None
            checked.depends_on.append(Dependency(info, cached.key, cached.revision))
            checked.until(end)
            return obj
        log.info("service account token refused: %s", reason)
        raise TokenRejected(INVALIDATED)

    async def _bound(self, token: str, audiences: Sequence[str]) -> TokenResult:
        wanted = list(audiences) or list(self.api_audiences)
        try:
            claims = satoken.verify(token, self.keys, issuers=[self.issuer], audiences=wanted, now=self.clock())
        except satoken.InvalidToken as exc:
            raise TokenRejected(str(exc)) from None
        private = claims.get("kubernetes.io")
        if not isinstance(private, dict) or not isinstance(private.get("namespace"), str):
            raise TokenRejected("token could not be validated: no kubernetes.io claims")
        namespace = private["namespace"]
        checked = _Checked()
        if isinstance(claims.get("exp"), int | float):
            checked.until(float(claims["exp"]) + satoken.LEEWAY)
        account = private.get("serviceaccount") or {}
        await self._check_ref("serviceaccounts", namespace, account, checked)
        extra: dict[str, tuple[str, ...]] = {}
        pod, secret, node = private.get("pod"), private.get("secret"), private.get("node")
        if pod:
            await self._check_ref("pods", namespace, pod, checked)
            extra[_EXTRA + "pod-name"] = (str(pod.get("name")),)
            extra[_EXTRA + "pod-uid"] = (str(pod.get("uid")),)
        if secret:
            await self._check_ref("secrets", namespace, secret, checked)
        if node:
            if not pod:  # a pod-bound token records its pod's node; only a node-bound one depends on it
                await self._check_ref("nodes", None, node, checked)
            extra[_EXTRA + "node-name"] = (str(node.get("name")),)
            extra[_EXTRA + "node-uid"] = (str(node.get("uid")),)
        if claims.get("jti"):
            extra[_EXTRA + "credential-id"] = (f"JTI={claims['jti']}",)
        aud = claims.get("aud")
        got = aud if isinstance(aud, list) else [aud]
        matched = tuple(a for a in wanted if a in got)
        return checked.result(_user(namespace, str(account.get("name")), str(account.get("uid") or ""), extra), matched)

    async def _legacy(self, token: str, audiences: Sequence[str]) -> TokenResult:
        try:
            claims = satoken.verify_signature(token, self.keys)
        except satoken.InvalidToken as exc:
            raise TokenRejected(str(exc)) from None
        namespace = claims.get(_LEGACY + "namespace")
        secret_name = claims.get(_LEGACY + "secret.name")
        account_name = claims.get(_LEGACY + "service-account.name")
        account_uid = claims.get(_LEGACY + "service-account.uid")
        if not all(isinstance(v, str) and v for v in (namespace, secret_name, account_name, account_uid)):
            raise TokenRejected("token could not be validated: missing legacy service account claims")
        assert isinstance(namespace, str) and isinstance(secret_name, str)
        assert isinstance(account_name, str) and isinstance(account_uid, str)
        if claims.get("sub") != satoken.username(namespace, account_name):
            raise TokenRejected("token could not be validated: sub does not match the service account")
        matched = tuple(a for a in audiences if a in self.api_audiences) if audiences else self.api_audiences
        if not matched:
            raise TokenRejected("token audiences do not match the expected audiences")
        checked = _Checked()
        secret = await self._check_ref("secrets", namespace, {"name": secret_name}, checked)
        stored = (secret.get("data") or {}).get("token")
        try:
            stored_token = base64.b64decode(stored or "", validate=True)
        except (binascii.Error, ValueError):
            stored_token = b""
        if not hmac.compare_digest(stored_token, token.encode()):
            log.info("legacy token refused: secret %s/%s holds another token", namespace, secret_name)
            raise TokenRejected(INVALIDATED)
        await self._check_ref("serviceaccounts", namespace, {"name": account_name, "uid": account_uid}, checked)
        return checked.result(_user(namespace, account_name, account_uid), matched)
