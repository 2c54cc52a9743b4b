"""Service account issuer discovery through the official client: the OpenID configuration names the issuer
and the JWKS, and the JWKS key verifies a token the server issued."""

from __future__ import annotations

import base64
import json

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from kubernetes import client
from kubernetes.client import ApiClient
from tests.integration.conftest import ThreadedServer


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_the_issuer_documents_verify_its_tokens(module_server: ThreadedServer, module_k8s_client: ApiClient) -> None:
    # Both methods are typed as str: the raw answer is the JSON (as against any kube-apiserver).
    config = client.WellKnownApi(module_k8s_client).get_service_account_issuer_open_id_configuration(
        _preload_content=False
    )
    assert config.headers["Content-Type"] == "application/json"
    document = json.loads(config.data)
    host = module_server.url.split("://", 1)[1]
    assert document == {
        "issuer": "https://kubernetes.default.svc.cluster.local",
        "jwks_uri": f"https://{host}/openid/v1/jwks",
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }
    keyset = client.OpenidApi(module_k8s_client).get_service_account_issuer_open_id_keyset(_preload_content=False)
    assert keyset.headers["Content-Type"] == "application/jwk-set+json"
    [jwk] = json.loads(keyset.data)["keys"]
    assert (jwk["use"], jwk["kty"], jwk["alg"], jwk["e"]) == ("sig", "RSA", "RS256", "AQAB")

    core = client.CoreV1Api(module_k8s_client)
    core.create_namespaced_service_account(
        "default", client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="oidc"))
    )
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=["sts.example.com"]))
    token = core.create_namespaced_service_account_token("oidc", "default", request).status.token
    header, claims, signature = token.split(".")
    assert json.loads(_unb64(header))["kid"] == jwk["kid"]
    public = rsa.RSAPublicNumbers(int.from_bytes(_unb64(jwk["e"])), int.from_bytes(_unb64(jwk["n"]))).public_key()
    public.verify(_unb64(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
    assert json.loads(_unb64(claims))["iss"] == document["issuer"]
