"""Authentication over TLS on an in-process API server: client certificates, tokens, reviews.

The server has the cluster PKI of a data directory, serves HTTPS with the
apiserver certificate, asks for client certificates of the cluster CA, and runs
the authenticators of ``pinnace up`` plus a static token file. The official
``kubernetes`` client talks to it with the admin kubeconfig's client
certificate and with bearer tokens; the token cache runs on a fake clock.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import kubernetes.client
import kubernetes.config
import pytest
from kubernetes.client.exceptions import ApiException

from pinnace.adm import kubeconfigs, pki
from pinnace.api import satoken
from pinnace.apiserver.authn import AuthenticationConfig, enable_authentication, serving_context
from pinnace.apiserver.server import APIServer
from pinnace.storage.sqlite import SQLiteStore

Obj = dict[str, Any]
AUDIENCE = satoken.DEFAULT_ISSUER


class FakeClock:
    """The wall clock of the token checks and their cache: now when the test starts, then moved by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Secure:
    server: APIServer
    data: Path
    pki: pki.PKI
    clock: FakeClock

    @property
    def url(self) -> str:
        return self.server.url

    def ssl(self, identity: kubeconfigs.ClientIdentity | None = None) -> ssl.SSLContext:
        """A client context trusting the cluster CA, with a client certificate for ``identity`` if given."""
        ctx = ssl.create_default_context(cadata=self.pki.ca.cert_pem().decode())
        if identity is not None:
            pair = kubeconfigs.client_pair(self.pki, identity)
            cert, key = self.data / f"{identity.user}.crt", self.data / f"{identity.user}.key"
            pki.write_pair(cert, key, pair)
            ctx.load_cert_chain(str(cert), str(key))
        return ctx

    async def call(
        self,
        method: str,
        path: str,
        body: Obj | None = None,
        *,
        token: str | None = None,
        identity: kubeconfigs.ClientIdentity | None = None,
    ) -> tuple[int, Obj]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        connector = aiohttp.TCPConnector(ssl=self.ssl(identity))
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.request(method, self.url + path, json=body, headers=headers) as resp,
        ):
            return resp.status, await resp.json(content_type=None)

    async def admin(self, method: str, path: str, body: Obj | None = None) -> Obj:
        status, answer = await self.call(method, path, body, identity=kubeconfigs.ADMIN)
        assert status < 300, answer
        return answer

    async def whoami(self, token: str) -> tuple[int, Obj]:
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        return await self.call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", review, token=token)

    async def token_review(self, token: str, audiences: list[str] | None = None) -> Obj:
        spec: Obj = {"token": token}
        if audiences:
            spec["audiences"] = audiences
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
        status, answer = await self.call(
            "POST", "/apis/authentication.k8s.io/v1/tokenreviews", review, identity=kubeconfigs.ADMIN
        )
        assert status == 201, answer
        return dict(answer["status"])


@pytest.fixture
async def secure(tmp_path: Path) -> AsyncIterator[Secure]:
    data = tmp_path / "data"
    cluster_pki = pki.create_pki(data, pki.PKIConfig(node_name="test-node"))
    (tmp_path / "tokens.csv").write_text('static-token-1,alice,1001,"devs,ops"\nstatic-token-2,bob,1002\n')
    store = await SQLiteStore.open(tmp_path / "store.db")
    server = APIServer(store, service_account_key=cluster_pki.sa_key)
    clock = FakeClock()
    enable_authentication(server, AuthenticationConfig(token_file=tmp_path / "tokens.csv", clock=clock))
    crt, key = cluster_pki.path("apiserver")
    await server.listen("127.0.0.1", 0, ssl=serving_context(crt, key, cluster_pki.path("ca")[0]))
    kubeconfigs.create_kubeconfigs(data, cluster_pki, server.url)
    try:
        yield Secure(server, data, cluster_pki, clock)
    finally:
        await server.stop()
        await store.close()


# ---- the official client --------------------------------------------------------------------------------------
async def test_the_kubernetes_client_with_the_admin_kubeconfig(secure: Secure) -> None:
    def run() -> tuple[list[str], Any]:
        admin = str(secure.data / "admin.conf")
        with kubernetes.config.new_client_from_config(config_file=admin) as api:  # type: ignore[no-untyped-call]
            names = [
                str(ns.metadata and ns.metadata.name) for ns in kubernetes.client.CoreV1Api(api).list_namespace().items
            ]
            review = kubernetes.client.V1SelfSubjectReview()
            who = kubernetes.client.AuthenticationV1Api(api).create_self_subject_review(body=review)
            return names, who

    names, who = await asyncio.to_thread(run)
    assert {"default", "kube-system"} <= set(names)
    assert who.status.user_info.username == "kubernetes-admin"
    assert who.status.user_info.groups == ["kubeadm:cluster-admins", "system:authenticated"]


async def test_the_kubernetes_client_with_a_bearer_token_and_without_credentials(secure: Secure) -> None:
    def run(token: str | None) -> list[str]:
        config = kubernetes.client.Configuration(host=secure.url)
        config.ssl_ca_cert = str(secure.pki.path("ca")[0])
        if token:
            config.api_key = {"authorization": token}
            config.api_key_prefix = {"authorization": "Bearer"}
        with kubernetes.client.ApiClient(config) as api:
            return [
                str(ns.metadata and ns.metadata.name) for ns in kubernetes.client.CoreV1Api(api).list_namespace().items
            ]

    assert "default" in await asyncio.to_thread(run, "static-token-1")
    for token in (None, "not-a-token"):
        with pytest.raises(ApiException) as refused:
            await asyncio.to_thread(run, token)
        assert refused.value.status == 401
        assert '"reason":"Unauthorized"' in str(refused.value.body).replace(" ", "")


# ---- client certificates ------------------------------------------------------------------------------------
async def test_a_client_certificate_names_the_user_and_groups(secure: Secure) -> None:
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    path = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
    status, answer = await secure.call("POST", path, review, identity=kubeconfigs.node_identity("n1"))
    assert status == 201
    assert answer["kind"] == "SelfSubjectReview"
    assert answer["status"]["userInfo"] == {
        "username": "system:node:n1",
        "groups": ["system:nodes", "system:authenticated"],
    }


async def test_a_certificate_of_another_ca_fails_the_handshake(secure: Secure, tmp_path: Path) -> None:
    other = pki.create_pki(tmp_path / "other", pki.PKIConfig(node_name="x"))
    pair = kubeconfigs.client_pair(other, kubeconfigs.ADMIN)
    pki.write_pair(tmp_path / "o.crt", tmp_path / "o.key", pair)
    ctx = secure.ssl()
    ctx.load_cert_chain(str(tmp_path / "o.crt"), str(tmp_path / "o.key"))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.get(secure.url + "/api/v1/namespaces") as resp:
                await resp.read()


async def test_without_credentials_401_even_for_healthz(secure: Secure) -> None:
    status, answer = await secure.call("GET", "/api/v1/namespaces")
    assert status == 401 and answer["reason"] == "Unauthorized" and answer["message"] == "Unauthorized"
    assert (await secure.call("GET", "/readyz"))[0] == 401


# ---- static tokens -----------------------------------------------------------------------------------------
async def test_static_token_file_users(secure: Secure) -> None:
    status, answer = await secure.whoami("static-token-1")
    assert status == 201
    assert answer["status"]["userInfo"] == {
        "username": "alice",
        "uid": "1001",
        "groups": ["devs", "ops", "system:authenticated"],
    }
    status, answer = await secure.whoami("static-token-2")
    assert answer["status"]["userInfo"]["groups"] == ["system:authenticated"]
    assert (await secure.whoami("static-token-3"))[0] == 401


# ---- service-account tokens --------------------------------------------------------------------------------
async def _bound_token(secure: Secure, account: str, **spec: Any) -> str:
    answer = await secure.admin(
        "POST",
        f"/api/v1/namespaces/default/serviceaccounts/{account}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
    )
    return str(answer["status"]["token"])


async def test_token_review_of_a_service_account_token(secure: Secure) -> None:
    sa = await secure.admin("POST", "/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "robot"}})
    token = await _bound_token(secure, "robot")
    status = await secure.token_review(token)
    assert status["authenticated"] is True
    assert status["audiences"] == [AUDIENCE]
    user = status["user"]
    assert user["username"] == "system:serviceaccount:default:robot"
    assert user["uid"] == sa["metadata"]["uid"]
    assert user["groups"] == ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]
    assert user["extra"]["authentication.kubernetes.io/credential-id"][0].startswith("JTI=")
    # Another audience: the token is not for it.
    wrong = await secure.token_review(token, ["vault"])
    assert wrong["authenticated"] is False and "audience" in wrong["error"]
    vault = await _bound_token(secure, "robot", audiences=["vault"])
    assert (await secure.token_review(vault, ["vault"]))["audiences"] == ["vault"]
    assert (await secure.token_review(vault))["authenticated"] is False
    garbage = await secure.token_review("garbage")
    assert garbage == {"authenticated": False, "user": {}, "error": "invalid bearer token"}


async def test_a_pod_bound_token_dies_with_its_pod(secure: Secure) -> None:
    await secure.admin("POST", "/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "worker"}})
    pod_body = {
        "metadata": {"name": "p1"},
        "spec": {"serviceAccountName": "worker", "containers": [{"name": "c", "image": "busybox"}]},
    }
    pod = await secure.admin("POST", "/api/v1/namespaces/default/pods", pod_body)
    ref = {"apiVersion": "v1", "kind": "Pod", "name": "p1", "uid": pod["metadata"]["uid"]}
    token = await _bound_token(secure, "worker", boundObjectRef=ref)
    status, who = await secure.whoami(token)
    assert status == 201
    extra = who["status"]["userInfo"]["extra"]
    assert extra["authentication.kubernetes.io/pod-name"] == ["p1"]
    assert extra["authentication.kubernetes.io/pod-uid"] == [pod["metadata"]["uid"]]
    await secure.admin("DELETE", "/api/v1/namespaces/default/pods/p1?gracePeriodSeconds=0")
    # The token's success was remembered, but only while its pod stays as it was: refused at once
    # (upstream's token cache would still accept it for up to 10 s).
    assert (await secure.whoami(token))[0] == 401
    error = (await secure.token_review(token))["error"]
    assert error == "[invalid bearer token, service account token has been invalidated]"


async def test_a_token_dies_with_its_service_account_recreated_under_the_same_name(secure: Secure) -> None:
    await secure.admin("POST", "/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "temp"}})
    token = await _bound_token(secure, "temp")
    assert (await secure.token_review(token))["authenticated"] is True
    await secure.admin("DELETE", "/api/v1/namespaces/default/serviceaccounts/temp")
    await secure.admin("POST", "/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "temp"}})
    assert "does not match claim" in (await secure.token_review(token))["error"]


async def test_legacy_secret_based_tokens(secure: Secure) -> None:
    sa = await secure.admin("POST", "/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "old"}})
    prefix = "kubernetes.io/serviceaccount/"
    claims = {
        "iss": "kubernetes/serviceaccount",
        prefix + "namespace": "default",
        prefix + "secret.name": "old-token",
        prefix + "service-account.name": "old",
        prefix + "service-account.uid": sa["metadata"]["uid"],
        "sub": "system:serviceaccount:default:old",
    }
    token = satoken.sign(claims, secure.server.tokens.key)
    assert "token has been invalidated" in (await secure.token_review(token))["error"]  # no secret holds it yet
    secret = {
        "metadata": {"name": "old-token", "annotations": {"kubernetes.io/service-account.name": "old"}},
        "type": "kubernetes.io/service-account-token",
        "data": {"token": base64.b64encode(token.encode()).decode()},
    }
    await secure.admin("POST", "/api/v1/namespaces/default/secrets", secret)
    status = await secure.token_review(token)
    assert status["authenticated"] is True and status["user"]["username"] == "system:serviceaccount:default:old"
    assert "extra" not in status["user"]
    await secure.admin("DELETE", "/api/v1/namespaces/default/secrets/old-token")
    assert (await secure.token_review(token))["authenticated"] is False


# ---- bootstrap tokens -------------------------------------------------------------------------------------
def _bootstrap_secret(token_id: str, secret: str, **data: str) -> Obj:
    values = {"token-id": token_id, "token-secret": secret, "usage-bootstrap-authentication": "true", **data}
    return {
        "metadata": {"name": f"bootstrap-token-{token_id}"},
        "type": "bootstrap.kubernetes.io/token",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }


async def test_bootstrap_tokens(secure: Secure) -> None:
    secrets = "/api/v1/namespaces/kube-system/secrets"
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    extra = "system:bootstrappers:kubeadm:default-node-token"
    await secure.admin(
        "POST",
        secrets,
        _bootstrap_secret("abcdef", "0123456789abcdef", expiration=later, **{"auth-extra-groups": extra}),
    )
    status, who = await secure.whoami("abcdef.0123456789abcdef")
    assert status == 201
    assert who["status"]["userInfo"] == {
        "username": "system:bootstrap:abcdef",
        "groups": ["system:bootstrappers", extra, "system:authenticated"],
    }
    assert (await secure.whoami("abcdef.0123456789abcdee"))[0] == 401  # wrong secret
    earlier = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    await secure.admin("POST", secrets, _bootstrap_secret("expire", "0123456789abcdef", expiration=earlier))
    await secure.admin(
        "POST", secrets, _bootstrap_secret("nouse1", "0123456789abcdef", **{"usage-bootstrap-authentication": "false"})
    )
    for refused in ("expire.0123456789abcdef", "nouse1.0123456789abcdef", "gone00.0123456789abcdef"):
        assert (await secure.whoami(refused))[0] == 401, refused
    await secure.admin("DELETE", f"{secrets}/bootstrap-token-abcdef")
    assert (await secure.whoami("abcdef.0123456789abcdef"))[0] == 401  # at once, though its success was cached


async def test_a_cached_bootstrap_token_is_refused_once_it_expires(secure: Secure) -> None:
    secrets = "/api/v1/namespaces/kube-system/secrets"
    soon = datetime.fromtimestamp(int(secure.clock.now) + 5, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    await secure.admin("POST", secrets, _bootstrap_secret("soonxx", "0123456789abcdef", expiration=soon))
    for _ in range(2):  # the second answer comes from the cache
        assert (await secure.whoami("soonxx.0123456789abcdef"))[0] == 201
    secure.clock.now += 6  # past the expiration, well within the cache's 10 s
    assert (await secure.whoami("soonxx.0123456789abcdef"))[0] == 401


async def test_a_changed_bootstrap_token_secret_is_read_again(secure: Secure) -> None:
    secrets = "/api/v1/namespaces/kube-system/secrets"
    await secure.admin("POST", secrets, _bootstrap_secret("chngxx", "0123456789abcdef"))
    assert (await secure.whoami("chngxx.0123456789abcdef"))[0] == 201
    changed = _bootstrap_secret("chngxx", "0123456789abcdef", **{"usage-bootstrap-authentication": "false"})
    await secure.admin("PUT", f"{secrets}/bootstrap-token-chngxx", changed)
    assert (await secure.whoami("chngxx.0123456789abcdef"))[0] == 401
