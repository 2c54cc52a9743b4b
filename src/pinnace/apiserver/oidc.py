"""Service account issuer discovery: the OpenID Connect documents kube-apiserver serves about its token issuer.

``/.well-known/openid-configuration`` names the issuer and where its keys are (``jwks_uri``: the JWKS path on
the server's external address, as upstream builds it when ``--service-account-jwks-uri`` is not set);
``/openid/v1/jwks`` is the JSON Web Key Set of the keys that verify service account tokens. Relying parties
(cloud identity federation, the official client's ``WellKnownApi``/``OpenidApi``) read them. Upstream serves
them only for an ``https`` issuer; both answers may be cached for an hour.
"""

from __future__ import annotations

import orjson
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from pinnace.api import base64url, errors
from pinnace.api.sakeys import key_id

CONFIGURATION_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/openid/v1/jwks"
PATHS = (CONFIGURATION_PATH, JWKS_PATH)

_CACHE = "public, max-age=3600"


def _b64_int(value: int) -> str:
    return base64url.encode(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def configuration(issuer: str, external_address: str) -> bytes:
    """The discovery document of ``issuer``, its keys at ``external_address``."""
    return orjson.dumps(
        {
            "issuer": issuer,
            "jwks_uri": f"https://{external_address}{JWKS_PATH}",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }
    )


def jwks(keys: list[rsa.RSAPublicKey]) -> bytes:
    """The key set: one RS256 signing key per public key, each with the ``kid`` tokens carry."""
    out = []
    for key in keys:
        numbers = key.public_numbers()
        out.append(
            {
                "use": "sig",
                "kty": "RSA",
                "kid": key_id(key),
                "alg": "RS256",
                "n": _b64_int(numbers.n),
                "e": _b64_int(numbers.e),
            }
        )
    return orjson.dumps({"keys": out})


def respond(path: str, issuer: str, external_address: str, keys: list[rsa.RSAPublicKey]) -> web.Response:
    """The answer to a GET of one of :data:`PATHS` (404 for an issuer that is not an https URL, as upstream)."""
    if not issuer.startswith("https://"):
        raise errors.NotFound("the server could not find the requested resource")
    if path == CONFIGURATION_PATH:
        body, content_type = configuration(issuer, external_address), "application/json"
    else:
        body, content_type = jwks(keys), "application/jwk-set+json"
    return web.Response(body=body, headers={"Content-Type": content_type, "Cache-Control": _CACHE})
