"""ServiceAccounts: the default account in every namespace, and TokenRequest's signed tokens."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from pinnace.api import errors, sakeys, satoken
from pinnace.apiserver.serviceaccount_token import TokenIssuer
from pinnace.client.rest import ResourceRef
from pinnace.cluster.testenv import TestEnv

pytestmark = pytest.mark.pinnace_env(controllers=["serviceaccount"])

SA = ResourceRef("", "v1", "serviceaccounts", namespaced=True)
NS = ResourceRef("", "v1", "namespaces", namespaced=False)
PODS = ResourceRef("", "v1", "pods", namespaced=True)
SECRETS = ResourceRef("", "v1", "secrets", namespaced=True)

Obj = dict[str, Any]


def claims_of(token: str) -> Obj:
    payload = token.split(".")[1]
    value: Obj = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return value


async def request_token(env: TestEnv, name: str, namespace: str = "default", **spec: Any) -> Obj:
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    return await env.rest.request("POST", SA.path(namespace, name, "token"), body=body)


async def test_every_namespace_gets_a_default_account_back_after_deletion(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    for ns in ("default", "kube-system", "kube-public"):
        await pinnace_env.eventually(lambda ns=ns: rest.get(SA, "default", ns))
    await rest.create(NS, {"metadata": {"name": "team-a"}})
    first = await pinnace_env.eventually(lambda: rest.get(SA, "default", "team-a"))
    await rest.delete(SA, "default", "team-a")

    async def recreated() -> bool:
        return (await rest.get(SA, "default", "team-a"))["metadata"]["uid"] != first["metadata"]["uid"]

    await pinnace_env.eventually(recreated)


async def test_token_request_returns_a_signed_jwt_with_upstream_claims(pinnace_env: TestEnv) -> None:
    account = await pinnace_env.eventually(lambda: pinnace_env.rest.get(SA, "default", "default"))
    before = int(time.time())
    answer = await request_token(pinnace_env, "default")
    assert answer["kind"] == "TokenRequest" and answer["apiVersion"] == "authentication.k8s.io/v1"
    assert answer["spec"]["audiences"] == ["https://kubernetes.default.svc.cluster.local"]
    assert answer["spec"]["expirationSeconds"] == 3600
    token = answer["status"]["token"]
    claims = claims_of(token)
    assert claims["iss"] == "https://kubernetes.default.svc.cluster.local"
    assert claims["sub"] == "system:serviceaccount:default:default"
    assert claims["aud"] == ["https://kubernetes.default.svc.cluster.local"]
    assert before <= claims["iat"] == claims["nbf"] <= int(time.time())
    assert claims["exp"] == claims["iat"] + 3600
    assert claims["kubernetes.io"] == {
        "namespace": "default",
        "serviceaccount": {"name": "default", "uid": account["metadata"]["uid"]},
    }
    header = orjson.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "RS256" and header["kid"]
    assert answer["status"]["expirationTimestamp"].endswith("Z")


async def test_token_audiences_expiry_and_their_limits(pinnace_env: TestEnv) -> None:
    await pinnace_env.eventually(lambda: pinnace_env.rest.get(SA, "default", "default"))
    answer = await request_token(pinnace_env, "default", audiences=["vault"], expirationSeconds=7200)
    claims = claims_of(answer["status"]["token"])
    assert claims["aud"] == ["vault"] and claims["exp"] - claims["iat"] == 7200
    with pytest.raises(errors.StatusError) as short:
        await request_token(pinnace_env, "default", expirationSeconds=599)
    assert short.value.code == 422
    assert short.value.message == (
        'TokenRequest.authentication.k8s.io "default" is invalid: spec.expirationSeconds: '
        "Invalid value: 599: may not specify a duration less than 10 minutes"
    )
    with pytest.raises(errors.NotFound):
        await request_token(pinnace_env, "nobody")


async def test_bound_tokens_name_the_pod_and_check_it(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    await pinnace_env.eventually(lambda: rest.get(SA, "default", "default"))
    pod = await rest.create(
        PODS, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, "default"
    )
    uid = pod["metadata"]["uid"]
    answer = await request_token(
        pinnace_env, "default", boundObjectRef={"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": uid}
    )
    assert claims_of(answer["status"]["token"])["kubernetes.io"]["pod"] == {"name": "p", "uid": uid}
    with pytest.raises(errors.Conflict):
        await request_token(
            pinnace_env, "default", boundObjectRef={"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "nope"}
        )
    with pytest.raises(errors.NotFound):
        await request_token(pinnace_env, "default", boundObjectRef={"apiVersion": "v1", "kind": "Pod", "name": "gone"})
    with pytest.raises(errors.BadRequest) as kind:
        await request_token(
            pinnace_env, "default", boundObjectRef={"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"}
        )
    assert kind.value.message == "cannot bind token to object of type apps/v1, Kind=Deployment"
    secret = await rest.create(SECRETS, {"metadata": {"name": "s"}}, "default")
    answer = await request_token(
        pinnace_env, "default", boundObjectRef={"apiVersion": "v1", "kind": "Secret", "name": "s"}
    )
    assert claims_of(answer["status"]["token"])["kubernetes.io"]["secret"] == {
        "name": "s",
        "uid": secret["metadata"]["uid"],
    }


async def test_discovery_names_the_token_subresource(pinnace_env: TestEnv) -> None:
    resources = (await pinnace_env.rest.request("GET", "/api/v1"))["resources"]
    token = next(r for r in resources if r["name"] == "serviceaccounts/token")
    assert token["verbs"] == ["create"]
    assert (token["group"], token["version"], token["kind"]) == ("authentication.k8s.io", "v1", "TokenRequest")


# ---- signing and verification, without a server -------------------------------------------------------


def test_key_is_generated_once_with_owner_only_mode(tmp_path: Path) -> None:
    path = tmp_path / "pki" / "sa.key"
    key = sakeys.load_or_generate(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert key.key_size == 2048
    assert sakeys.key_id(sakeys.load_or_generate(path)) == sakeys.key_id(key)
    assert TokenIssuer(path).key.private_numbers() == key.private_numbers()


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return sakeys.generate()


def _claims(**overrides: Any) -> Obj:
    claims = satoken.token_claims(
        issuer=satoken.DEFAULT_ISSUER,
        audiences=[satoken.DEFAULT_ISSUER],
        namespace="ns",
        service_account=satoken.ServiceAccountRef("sa", "u1"),
        expiration_seconds=600,
        now=1_000_000,
    )
    claims.update(overrides)
    return claims


def test_verify_accepts_a_good_token_and_says_why_it_refuses_others(key: rsa.RSAPrivateKey) -> None:
    public = [key.public_key()]
    token = satoken.sign(_claims(), key)
    assert satoken.verify(token, public, now=1_000_100)["sub"] == "system:serviceaccount:ns:sa"
    with pytest.raises(satoken.InvalidToken, match="expired"):
        satoken.verify(token, public, now=1_000_600 + satoken.LEEWAY + 1)
    with pytest.raises(satoken.InvalidToken, match="not valid yet"):
        satoken.verify(token, public, now=1_000_000 - satoken.LEEWAY - 1)
    with pytest.raises(satoken.InvalidToken, match="audiences"):
        satoken.verify(token, public, audiences=["vault"], now=1_000_100)
    with pytest.raises(satoken.InvalidToken, match="issuer"):
        satoken.verify(satoken.sign(_claims(iss="https://evil"), key), public, now=1_000_100)
    with pytest.raises(satoken.InvalidToken, match="signature"):
        satoken.verify(token, [sakeys.generate().public_key()], now=1_000_100)
    head, body, sig = token.split(".")
    forged = base64.urlsafe_b64encode(orjson.dumps(_claims(sub="system:admin"))).rstrip(b"=").decode()
    with pytest.raises(satoken.InvalidToken, match="signature"):
        satoken.verify(f"{head}.{forged}.{sig}", public, now=1_000_100)
    with pytest.raises(satoken.InvalidToken, match="malformed"):
        satoken.verify("not-a-token", public)
    assert body
