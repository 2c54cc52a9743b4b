"""Service-account tokens: the JWT claims upstream puts in them, RS256 signing, and verification.

:func:`token_claims` builds the claims of a bound service-account token as
kube-apiserver 1.32 issues them from the TokenRequest API: ``iss``, ``sub``
(``system:serviceaccount:NS:NAME``), ``aud``, ``exp``/``iat``/``nbf``, ``jti``,
and the private ``kubernetes.io`` claim naming the namespace, the service
account (name and uid) and, for a token bound to an object, that pod, secret
or node (a pod's node too). :func:`sign` makes the compact JWS (header
``alg: RS256`` and the key's ``kid``); :func:`verify` checks signature,
issuer, audience and time window and returns the claims — what the
authenticator of the security work calls.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from pinnace.api import base64url
from pinnace.api.sakeys import key_id

__all__ = [
    "DEFAULT_ISSUER",
    "InvalidToken",
    "ServiceAccountRef",
    "sign",
    "token_claims",
    "unverified_claims",
    "username",
    "verify",
    "verify_signature",
]

Obj = dict[str, Any]

#: kube-apiserver's ``--service-account-issuer`` as kubeadm sets it (also the default API audience).
DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"

#: Seconds of clock skew tolerated when checking ``nbf``/``exp`` (upstream's leeway).
LEEWAY = 60


class InvalidToken(ValueError):
    """A token that is malformed, wrongly signed, expired, or not meant for this audience."""


@dataclass(frozen=True, slots=True)
class ServiceAccountRef:
    """A named object with its uid, as the ``kubernetes.io`` claim records it."""

    name: str
    uid: str

    def claim(self) -> dict[str, str]:
        """``{"name": …, "uid": …}``."""
        return {"name": self.name, "uid": self.uid}


def username(namespace: str, name: str) -> str:
    """The user a service account's token authenticates as."""
    return f"system:serviceaccount:{namespace}:{name}"


def token_claims(
    *,
    issuer: str,
    audiences: list[str],
    namespace: str,
    service_account: ServiceAccountRef,
    expiration_seconds: int,
    now: float | None = None,
    pod: ServiceAccountRef | None = None,
    secret: ServiceAccountRef | None = None,
    node: ServiceAccountRef | None = None,
) -> Obj:
    """The claims of a token for ``service_account`` in ``namespace``, valid from ``now`` for the given seconds."""
    issued = int(now if now is not None else time.time())
    private: Obj = {"namespace": namespace}
    if node is not None:
        private["node"] = node.claim()
    if pod is not None:
        private["pod"] = pod.claim()
    if secret is not None:
        private["secret"] = secret.claim()
    private["serviceaccount"] = service_account.claim()
    return {
        "aud": list(audiences),
        "exp": issued + expiration_seconds,
        "iat": issued,
        "iss": issuer,
        "jti": str(uuid.uuid4()),
        "kubernetes.io": private,
        "nbf": issued,
        "sub": username(namespace, service_account.name),
    }


def _unb64(text: str) -> bytes:
    try:
        return base64url.decode(text)
    except (ValueError, TypeError) as exc:
        raise InvalidToken("malformed token: bad base64") from exc


def sign(claims: Obj, key: rsa.RSAPrivateKey) -> str:
    """The compact JWS of ``claims`` signed with RS256 (header with the key's ``kid``)."""
    header = {"alg": "RS256", "kid": key_id(key)}
    signing_input = f"{base64url.encode(orjson.dumps(header))}.{base64url.encode(orjson.dumps(claims))}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{base64url.encode(signature)}"


def _decode_part(text: str) -> Obj:
    try:
        value = orjson.loads(_unb64(text))
    except orjson.JSONDecodeError as exc:
        raise InvalidToken("malformed token: bad JSON") from exc
    if not isinstance(value, dict):
        raise InvalidToken("malformed token: not a JSON object")
    return value


def unverified_claims(token: str) -> Obj:
    """The claims of a compact JWS, not verified: only to route a token to the right checks (its ``iss``)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("malformed token: not a compact JWS")
    return _decode_part(parts[1])


def verify_signature(token: str, keys: list[rsa.RSAPublicKey]) -> Obj:
    """The claims of a token whose RS256 signature verifies with one of ``keys`` (no claim is checked).

    Legacy secret-based tokens have neither ``aud`` nor ``exp``: their
    authenticator checks the claims itself; :func:`verify` is for bound tokens.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("malformed token: not a compact JWS")
    header, claims = _decode_part(parts[0]), _decode_part(parts[1])
    if header.get("alg") != "RS256":
        raise InvalidToken(f"unsupported signing algorithm {header.get('alg')!r}")
    signature = _unb64(parts[2])
    signing_input = f"{parts[0]}.{parts[1]}".encode()
    for public in keys:
        try:
            public.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
            return claims
        except InvalidSignature:
            continue
    raise InvalidToken("invalid signature")


def verify(
    token: str,
    keys: list[rsa.RSAPublicKey],
    *,
    issuers: list[str] | None = None,
    audiences: list[str] | None = None,
    now: float | None = None,
) -> Obj:
    """The claims of a valid token; :class:`InvalidToken` says why one is not.

    The signature must verify with one of ``keys`` (RS256 only); ``iss`` must
    be one of ``issuers`` (default: :data:`DEFAULT_ISSUER`); ``aud`` must share
    a value with ``audiences`` (default: the issuers); ``nbf`` and ``exp`` must
    hold at ``now``, give or take :data:`LEEWAY` seconds.
    """
    claims = verify_signature(token, keys)
    issuers = issuers or [DEFAULT_ISSUER]
    if claims.get("iss") not in issuers:
        raise InvalidToken(f"token issuer {claims.get('iss')!r} is not trusted")
    wanted = set(audiences or issuers)
    aud = claims.get("aud")
    got = set(aud if isinstance(aud, list) else [aud])
    if not wanted & got:
        raise InvalidToken("token audiences do not match the expected audiences")
    at = now if now is not None else time.time()
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, int) or at > exp + LEEWAY:
        raise InvalidToken("token has expired")
    if isinstance(nbf, int) and at < nbf - LEEWAY:
        raise InvalidToken("token is not valid yet")
    return claims
