"""The certificate admission plugins under RBAC: approving needs ``approve`` and issuing needs ``sign`` on the
request's signer (or its domain wildcard); nobody gets system:masters through the kube-apiserver-client signer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_certificate_signing_requests import _certificate, _csr, _request
from tests.integration.tokenusers import authenticate_tokens

from pinnace.api import errors
from pinnace.apiserver.authz import enable_rbac
from pinnace.apiserver.server import APIServer
from pinnace.apiserver.user import ALL_AUTHENTICATED, UserInfo
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.storage.sqlite import SQLiteStore

Obj = dict[str, Any]
CSRS = ResourceRef("certificates.k8s.io", "v1", "certificatesigningrequests", namespaced=False)
ROLES = ResourceRef("rbac.authorization.k8s.io", "v1", "clusterroles", namespaced=False)
BINDINGS = ResourceRef("rbac.authorization.k8s.io", "v1", "clusterrolebindings", namespaced=False)
PLUGINS = ("NamespaceLifecycle", "CertificateApproval", "CertificateSigning", "CertificateSubjectRestriction")
USERS = {
    "admin": UserInfo("kubernetes-admin", groups=("system:masters", ALL_AUTHENTICATED)),
    "clerk": UserInfo("clerk", groups=(ALL_AUTHENTICATED,)),
}


@pytest.fixture
async def clients(tmp_path: Path) -> AsyncIterator[tuple[RestClient, RestClient]]:
    """(the admin's client, the clerk's: it may update CSRs' approval and status, and holds no signer rights)."""
    store = await SQLiteStore.open(tmp_path / "store.db", durable=False)
    server = APIServer(store, admission_plugins=PLUGINS)
    authenticate_tokens(server, USERS, tmp_path, anonymous=False)
    rbac = await enable_rbac(server)
    await server.listen("127.0.0.1", 0)
    admin, clerk = RestClient(server.url, token="admin"), RestClient(server.url, token="clerk")
    try:
        csr_rules = [
            {"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"], "verbs": ["*"]},
            {
                "apiGroups": ["certificates.k8s.io"],
                "resources": ["certificatesigningrequests/approval", "certificatesigningrequests/status"],
                "verbs": ["update"],
            },
        ]
        await _grant(admin, "clerk-csrs", csr_rules)
        yield admin, clerk
    finally:
        await admin.close()
        await clerk.close()
        rbac.stop()
        await server.stop()
        await store.close()


async def _grant(admin: RestClient, name: str, rules: list[Obj]) -> None:
    """Bind a new ClusterRole of ``rules`` to the clerk."""
    meta = {"name": name}
    await admin.create(
        ROLES, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta, "rules": rules}
    )
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "clerk"}],
    }
    await admin.create(BINDINGS, binding)


def _signer_rule(verb: str, *names: str) -> list[Obj]:
    return [
        {"apiGroups": ["certificates.k8s.io"], "resources": ["signers"], "resourceNames": list(names), "verbs": [verb]}
    ]


def _approved(csr: Obj) -> Obj:
    condition = {"type": "Approved", "status": "True", "reason": "Clerk", "message": "looks fine"}
    return {**csr, "status": {"conditions": [condition]}}


async def test_approval_needs_approve_on_the_signer_or_its_domain(clients: tuple[RestClient, RestClient]) -> None:
    admin, clerk = clients
    csr = await clerk.create(CSRS, _csr("one", signerName="example.com/widgets"))

    with pytest.raises(errors.Forbidden) as refused:
        await clerk.update(CSRS, _approved(csr), subresource="approval")
    assert refused.value.message == (
        'certificatesigningrequests.certificates.k8s.io "one" is forbidden: '
        'user not permitted to approve requests with signerName "example.com/widgets"'
    )
    assert "conditions" not in (await admin.get(CSRS, "one")).get("status", {})  # nothing written

    await _grant(admin, "clerk-approves-example", _signer_rule("approve", "example.com/*"))
    approved = await clerk.update(CSRS, _approved(await admin.get(CSRS, "one")), subresource="approval")
    assert [c["type"] for c in approved["status"]["conditions"]] == ["Approved"]


async def test_issuing_a_certificate_needs_sign_on_the_signer(clients: tuple[RestClient, RestClient]) -> None:
    admin, clerk = clients
    await admin.create(CSRS, _csr("two", signerName="example.com/widgets"))
    approved = await admin.update(CSRS, _approved(await admin.get(CSRS, "two")), subresource="approval")
    issued = {**approved, "status": {**approved["status"], "certificate": _certificate()}}

    refusal = r'not permitted to sign requests with signerName "example\.com/widgets"'
    with pytest.raises(errors.Forbidden, match=refusal):
        await clerk.update(CSRS, issued, subresource="status")
    assert "certificate" not in (await admin.get(CSRS, "two"))["status"]

    # A status write that leaves the certificate alone needs no signer rights.
    failed = {"type": "Failed", "status": "True", "reason": "Clerk", "message": "no"}
    current = await admin.get(CSRS, "two")
    unchanged = {**current, "status": {**current["status"], "conditions": [*current["status"]["conditions"], failed]}}
    await clerk.update(CSRS, unchanged, subresource="status")

    await _grant(admin, "clerk-signs-widgets", _signer_rule("sign", "example.com/widgets"))
    current = await admin.get(CSRS, "two")
    signed = await clerk.update(
        CSRS, {**current, "status": {**current["status"], "certificate": _certificate()}}, subresource="status"
    )
    assert signed["status"]["certificate"]


async def test_no_one_gets_system_masters_from_the_kube_apiserver_client_signer(
    clients: tuple[RestClient, RestClient],
) -> None:
    admin, _ = clients
    masters = _csr("three", request=_request("eve", "system:masters"), signerName="kubernetes.io/kube-apiserver-client")
    masters["spec"]["usages"] = ["client auth"]
    with pytest.raises(errors.Forbidden) as refused:
        await admin.create(CSRS, masters)
    assert refused.value.message.endswith(
        "use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed"
    )
    # The same subject through another signer, and another group through this one, are fine.
    await admin.create(CSRS, _csr("four", request=_request("eve", "system:masters")))
    ok = _csr("five", request=_request("eve", "developers"), signerName="kubernetes.io/kube-apiserver-client")
    ok["spec"]["usages"] = ["client auth"]
    await admin.create(CSRS, ok)
