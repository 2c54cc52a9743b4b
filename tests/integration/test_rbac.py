"""RBAC end to end in process: an API server with a token authenticator, the bootstrap policy and every check.

Users are bearer tokens of a token file (the real static-token authenticator). The aggregation controller
runs as system:kube-controller-manager, so it works with the rights the
bootstrap policy gives that user; the official Python client is refused and
allowed as a real cluster would refuse and allow it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import kubernetes.client
import pytest
from kubernetes.client.rest import ApiException
from tests.integration.tokenusers import authenticate_tokens

from pinnace.apiserver.authz import RBAC, enable_rbac
from pinnace.apiserver.server import APIServer
from pinnace.apiserver.user import UserInfo
from pinnace.client.rest import RestClient
from pinnace.cluster.testenv import TestEnv
from pinnace.controllers.clusterrole_aggregation import aggregate_rules
from pinnace.storage.sqlite import SQLiteStore

Obj = dict[str, Any]
RBAC_V1 = "/apis/rbac.authorization.k8s.io/v1"
AUTHZ_V1 = "/apis/authorization.k8s.io/v1"

USERS = {
    "admin-token": UserInfo("kubernetes-admin", groups=("system:masters",)),
    "kcm-token": UserInfo("system:kube-controller-manager"),
    "bob-token": UserInfo("bob", groups=("developers",)),
    "alice-token": UserInfo("alice"),
    "node1-token": UserInfo("system:node:node1", groups=("system:nodes",)),
    "robot-token": UserInfo(
        "system:serviceaccount:team:robot", groups=("system:serviceaccounts", "system:serviceaccounts:team")
    ),
}


class Cluster:
    """The server, and HTTP as any user."""

    def __init__(self, server: APIServer, rbac: RBAC, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.rbac = rbac
        self.session = session

    async def call(
        self, token: str | None, method: str, path: str, body: Obj | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Obj]:
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        async with self.session.request(method, self.server.url + path, json=body, headers=h) as response:
            text = await response.text()
            return response.status, (json.loads(text) if text.startswith("{") else {"text": text})

    async def ok(self, token: str | None, method: str, path: str, body: Obj | None = None) -> Obj:
        status, out = await self.call(token, method, path, body)
        assert status < 300, (status, out)
        return out

    async def can(self, token: str, verb: str, resource: str, namespace: str = "", **extra: str) -> bool:
        attrs = {"verb": verb, "resource": resource, "namespace": namespace, **extra}
        review = {"spec": {"resourceAttributes": attrs}}
        out = await self.ok(token, "POST", f"{AUTHZ_V1}/selfsubjectaccessreviews", review)
        return bool(out["status"]["allowed"])


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    store = await SQLiteStore.open(tmp_path / "store.db", durable=False)
    server = APIServer(store)
    authenticate_tokens(server, USERS, tmp_path, anonymous=True)
    rbac = await enable_rbac(server)
    await server.listen("127.0.0.1", 0)
    kcm_rest = RestClient(server.url, token="kcm-token")
    controllers = TestEnv(server.url, kcm_rest)
    try:
        await controllers.run_controllers(["clusterrole-aggregation"])
        async with aiohttp.ClientSession() as session:
            c = Cluster(server, rbac, session)
            for namespace in ("team", "other"):
                await c.ok("admin-token", "POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
            yield c
    finally:
        await controllers.close()
        await kcm_rest.close()
        rbac.stop()
        await server.stop()
        await store.close()


def role_binding(name: str, role: str, subjects: list[Obj], kind: str = "ClusterRole") -> Obj:
    return {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": subjects,
    }


BOB = [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"}]


async def wait_aggregated(c: Cluster, name: str) -> Obj:
    """The role once admin, edit and view all hold the aggregate of what they select now (view feeds edit feeds
    admin, so a role can match its inputs while an input is still filling)."""
    for _ in range(200):
        roles = (await c.ok("admin-token", "GET", f"{RBAC_V1}/clusterroles"))["items"]
        by_name = {r["metadata"]["name"]: r for r in roles}
        chain = [by_name[n] for n in ("view", "edit", "admin")]
        if all(r.get("rules") and r["rules"] == aggregate_rules(r, roles) for r in chain):
            return by_name[name]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} was never aggregated")


async def test_anonymous_sees_only_public_info(cluster: Cluster) -> None:
    for path in ("/version", "/healthz", "/livez", "/readyz"):
        status, _ = await cluster.call(None, "GET", path)
        assert status == 200, path
    status, out = await cluster.call(None, "GET", "/api")
    assert status == 403
    assert out["message"] == 'forbidden: User "system:anonymous" cannot get path "/api"'
    status, out = await cluster.call(None, "GET", "/api/v1/namespaces/default/pods")
    assert status == 403
    assert out["message"] == (
        'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" '
        'in the namespace "default"'
    )
    status, _ = await cluster.call("bob-token", "GET", "/api")  # discovery is for every authenticated user
    assert status == 200
    status, _ = await cluster.call("nobody-token", "GET", "/version")  # a bad token is 401, not anonymous
    assert status == 401


async def test_bootstrap_policy_is_upstreams(cluster: Cluster) -> None:
    admin = await cluster.ok("admin-token", "GET", f"{RBAC_V1}/clusterroles/cluster-admin")
    assert admin["rules"] == [
        {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
        {"verbs": ["*"], "nonResourceURLs": ["*"]},
    ]
    assert admin["metadata"]["annotations"] == {"rbac.authorization.kubernetes.io/autoupdate": "true"}
    assert admin["metadata"]["labels"] == {"kubernetes.io/bootstrapping": "rbac-defaults"}
    binding = await cluster.ok("admin-token", "GET", f"{RBAC_V1}/clusterrolebindings/cluster-admin")
    assert binding["subjects"] == [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:masters"}]
    names = {
        r["metadata"]["name"] for r in (await cluster.ok("admin-token", "GET", f"{RBAC_V1}/clusterroles"))["items"]
    }
    for wanted in (
        "admin", "edit", "view", "system:basic-user", "system:discovery", "system:public-info-viewer",
        "system:monitoring", "system:kube-controller-manager", "system:kube-scheduler", "system:node",
        "system:node-proxier", "system:node-bootstrapper", "system:controller:deployment-controller",
        "system:certificates.k8s.io:certificatesigningrequests:nodeclient", "kubeadm:get-nodes",
    ):  # fmt: skip
        assert wanted in names
    # view is filled by the aggregation controller, and admin holds edit's rules which hold view's.
    view = await wait_aggregated(cluster, "view")
    assert {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["namespaces"]} in view["rules"]
    admin_role = await wait_aggregated(cluster, "admin")
    assert any("roles" in r.get("resources", []) for r in admin_role["rules"])
    assert any("pods/exec" in r.get("resources", []) for r in admin_role["rules"])


async def test_a_binding_grants_at_once_and_only_in_its_namespace(cluster: Cluster) -> None:
    await wait_aggregated(cluster, "view")
    pods = "/api/v1/namespaces/team/pods"
    status, _ = await cluster.call("bob-token", "GET", pods)
    assert status == 403
    await cluster.ok(
        "admin-token", "POST", f"{RBAC_V1}/namespaces/team/rolebindings", role_binding("bob-view", "view", BOB)
    )
    status, _ = await cluster.call("bob-token", "GET", pods)  # the very next request
    assert status == 200
    status, _ = await cluster.call("bob-token", "GET", "/api/v1/namespaces/other/pods")
    assert status == 403
    status, out = await cluster.call(
        "bob-token", "POST", "/api/v1/namespaces/team/configmaps", {"metadata": {"name": "c"}}
    )
    assert status == 403
    assert out["message"] == (
        'configmaps is forbidden: User "bob" cannot create resource "configmaps" in API group "" '
        'in the namespace "team"'
    )
    status, _ = await cluster.call("bob-token", "GET", "/api/v1/namespaces/team/secrets")  # view holds no secrets
    assert status == 403
    await cluster.ok("admin-token", "DELETE", f"{RBAC_V1}/namespaces/team/rolebindings/bob-view")
    status, _ = await cluster.call("bob-token", "GET", pods)
    assert status == 403


async def test_a_remembered_decision_ends_with_the_grant_however_the_change_is_noticed(cluster: Cluster) -> None:
    await wait_aggregated(cluster, "view")
    pods = "/api/v1/namespaces/team/pods"
    binding = f"{RBAC_V1}/namespaces/team/rolebindings"
    rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
    role: Obj = {"metadata": {"name": "pod-reader"}, "rules": rules}
    await cluster.ok("admin-token", "POST", f"{RBAC_V1}/namespaces/team/roles", role)
    await cluster.ok("admin-token", "POST", binding, role_binding("bob-pods", "pod-reader", BOB, kind="Role"))
    for _ in range(2):  # the second answer is the remembered one
        assert (await cluster.call("bob-token", "GET", pods))[0] == 200
    # The Role loses the rule: the very next request is refused.
    role["rules"] = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]
    await cluster.ok("admin-token", "PUT", f"{RBAC_V1}/namespaces/team/roles/pod-reader", role)
    assert (await cluster.call("bob-token", "GET", pods))[0] == 403
    assert (await cluster.call("bob-token", "GET", "/api/v1/namespaces/team/configmaps"))[0] == 200
    # The binding goes, and another request (a review) brings RBAC up to date first: still refused at once.
    await cluster.ok("admin-token", "DELETE", f"{binding}/bob-pods")
    assert not await cluster.can("bob-token", "list", "configmaps", "team")
    assert (await cluster.call("bob-token", "GET", "/api/v1/namespaces/team/configmaps"))[0] == 403


async def test_groups_service_accounts_resource_names_and_subresources(cluster: Cluster) -> None:
    role = {
        "metadata": {"name": "scaler"},
        "rules": [
            {"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["get", "update"]},
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["settings"], "verbs": ["get", "list"]},
        ],
    }
    await cluster.ok("admin-token", "POST", f"{RBAC_V1}/namespaces/team/roles", role)
    subjects = [
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "developers"},
        {"kind": "ServiceAccount", "name": "robot"},  # the binding's namespace
    ]
    await cluster.ok(
        "admin-token",
        "POST",
        f"{RBAC_V1}/namespaces/team/rolebindings",
        role_binding("scalers", "scaler", subjects, "Role"),
    )
    for token in ("bob-token", "robot-token"):
        assert await cluster.can(token, "update", "deployments", "team", group="apps", subresource="scale")
        assert await cluster.can(token, "get", "statefulsets", "team", group="apps", subresource="scale")
        assert not await cluster.can(token, "get", "deployments", "team", group="apps")
        assert await cluster.can(token, "get", "configmaps", "team", name="settings")
        assert not await cluster.can(token, "get", "configmaps", "team", name="other")
        assert not await cluster.can(token, "list", "configmaps", "team")
    assert not await cluster.can("alice-token", "get", "configmaps", "team", name="settings")
    # A list of the one name (fieldSelector=metadata.name=…) is authorized as a request for that name, as upstream.
    listing = "/api/v1/namespaces/team/configmaps"
    status, _ = await cluster.call("bob-token", "GET", listing + "?fieldSelector=metadata.name%3Dsettings")
    assert status == 200
    for query in ("", "?fieldSelector=metadata.name%3Dother", "?fieldSelector=metadata.name!%3Dsettings"):
        status, _ = await cluster.call("bob-token", "GET", listing + query)
        assert status == 403, query


async def test_a_binding_to_a_missing_role_says_so(cluster: Cluster) -> None:
    await cluster.ok(
        "admin-token", "POST", f"{RBAC_V1}/namespaces/team/rolebindings", role_binding("ghost", "nope", BOB)
    )
    status, out = await cluster.call("bob-token", "GET", "/api/v1/namespaces/team/pods")
    assert status == 403
    assert out["message"].endswith(': RBAC: clusterrole.rbac.authorization.k8s.io "nope" not found')


async def test_access_reviews(cluster: Cluster) -> None:
    await wait_aggregated(cluster, "edit")
    await cluster.ok(
        "admin-token", "POST", f"{RBAC_V1}/namespaces/team/rolebindings", role_binding("bob-edit", "edit", BOB)
    )
    sar = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": "bob",
            "resourceAttributes": {"verb": "create", "resource": "deployments", "group": "apps", "namespace": "team"},
        },
    }
    out = await cluster.ok("admin-token", "POST", f"{AUTHZ_V1}/subjectaccessreviews", sar)
    assert out["status"]["allowed"] is True
    assert out["status"]["reason"] == 'RBAC: allowed by RoleBinding "bob-edit/team" of ClusterRole "edit" to User "bob"'
    sar["spec"]["resourceAttributes"]["namespace"] = "other"
    out = await cluster.ok("admin-token", "POST", f"{AUTHZ_V1}/subjectaccessreviews", sar)
    assert out["status"] == {"allowed": False}
    status, _ = await cluster.call("bob-token", "POST", f"{AUTHZ_V1}/subjectaccessreviews", sar)  # not bob's to ask
    assert status == 403

    local = {"spec": {"user": "bob", "resourceAttributes": {"verb": "delete", "resource": "pods", "namespace": "team"}}}
    lsar = f"{AUTHZ_V1}/namespaces/team/localsubjectaccessreviews"
    status, _ = await cluster.call("bob-token", "POST", lsar, local)
    assert status == 403  # LocalSubjectAccessReview is admin's, not edit's
    out = await cluster.ok("admin-token", "POST", lsar, local)
    assert out["status"]["allowed"] is True and out["metadata"]["namespace"] == "team"
    status, out = await cluster.call(
        "admin-token", "POST", f"{AUTHZ_V1}/namespaces/other/localsubjectaccessreviews", local
    )
    assert status == 400 and out["message"] == "spec.resourceAttributes.namespace must match namespace: other"

    non_resource = {"spec": {"nonResourceAttributes": {"verb": "get", "path": "/metrics"}}}
    out = await cluster.ok("bob-token", "POST", f"{AUTHZ_V1}/selfsubjectaccessreviews", non_resource)
    assert out["status"]["allowed"] is False
    out = await cluster.ok("admin-token", "POST", f"{AUTHZ_V1}/selfsubjectaccessreviews", non_resource)
    assert out["status"]["allowed"] is True

    rules = await cluster.ok(
        "bob-token", "POST", f"{AUTHZ_V1}/selfsubjectrulesreviews", {"spec": {"namespace": "team"}}
    )
    status = rules["status"]
    assert status["incomplete"] is False
    assert {
        "verbs": ["create"],
        "apiGroups": ["authorization.k8s.io"],
        "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
    } in status["resourceRules"]
    assert any("deployments" in r["resources"] and "create" in r["verbs"] for r in status["resourceRules"])
    assert any("/version" in r["nonResourceURLs"] for r in status["nonResourceRules"])
    other = await cluster.ok(
        "bob-token", "POST", f"{AUTHZ_V1}/selfsubjectrulesreviews", {"spec": {"namespace": "other"}}
    )
    assert not any("deployments" in r["resources"] for r in other["status"]["resourceRules"])


ESCALATION = (
    'roles.rbac.authorization.k8s.io "reader" is forbidden: user "bob" (groups=["developers" "system:authenticated"]) '
    "is attempting to grant RBAC permissions not currently held:\n"
    '{APIGroups:[""], Resources:["nodes"], Verbs:["get" "list"]}\n'
    '{APIGroups:["apps"], Resources:["deployments"], Verbs:["escalate"]}'
)


async def test_escalation_is_refused_with_upstreams_message(cluster: Cluster) -> None:
    await wait_aggregated(cluster, "admin")
    await cluster.ok(
        "admin-token", "POST", f"{RBAC_V1}/namespaces/team/rolebindings", role_binding("bob-admin", "admin", BOB)
    )
    mine = {
        "metadata": {"name": "reader"},
        "rules": [{"apiGroups": [""], "resources": ["secrets", "pods"], "verbs": ["get", "list"]}],
    }
    await cluster.ok("bob-token", "POST", f"{RBAC_V1}/namespaces/team/roles", mine)  # admin holds these
    too_much = {
        "metadata": {"name": "reader"},
        "rules": [
            {"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get", "list"]},
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "escalate"]},
        ],
    }
    status, out = await cluster.call("bob-token", "PUT", f"{RBAC_V1}/namespaces/team/roles/reader", too_much)
    assert status == 403, out
    assert out["message"] == ESCALATION
    assert out["details"] == {"name": "reader", "group": "rbac.authorization.k8s.io", "kind": "roles"}

    # A binding to a role with more than bob holds is refused; to one he holds, allowed.
    status, out = await cluster.call(
        "bob-token", "POST", f"{RBAC_V1}/namespaces/team/rolebindings", role_binding("x", "cluster-admin", BOB)
    )
    assert status == 403
    assert out["message"].startswith('rolebindings.rbac.authorization.k8s.io "x" is forbidden: user "bob"')
    await cluster.ok("bob-token", "POST", f"{RBAC_V1}/namespaces/team/rolebindings", role_binding("y", "view", BOB))

    # The bind verb on the role, or escalate on roles, lifts each check.
    grant = {
        "metadata": {"name": "binder"},
        "rules": [
            {
                "apiGroups": ["rbac.authorization.k8s.io"],
                "resources": ["clusterroles"],
                "verbs": ["bind"],
                "resourceNames": ["cluster-admin"],
            },
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]},
        ],
    }
    await cluster.ok("admin-token", "POST", f"{RBAC_V1}/clusterroles", grant)
    await cluster.ok("admin-token", "POST", f"{RBAC_V1}/clusterrolebindings", role_binding("bob-binder", "binder", BOB))
    await cluster.ok(
        "bob-token", "POST", f"{RBAC_V1}/namespaces/team/rolebindings", role_binding("x", "cluster-admin", BOB)
    )
    status, out = await cluster.call("bob-token", "PUT", f"{RBAC_V1}/namespaces/team/roles/reader", too_much)
    assert status == 200, out


async def test_impersonation_is_authorized(cluster: Cluster) -> None:
    await wait_aggregated(cluster, "view")
    await cluster.ok(
        "admin-token", "POST", f"{RBAC_V1}/namespaces/team/rolebindings", role_binding("bob-view", "view", BOB)
    )
    pods = "/api/v1/namespaces/team/pods"
    status, out = await cluster.call("alice-token", "GET", pods, headers={"Impersonate-User": "bob"})
    assert status == 403
    assert out["message"] == (
        'users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" '
        "at the cluster scope"
    )
    impersonator = {
        "metadata": {"name": "impersonator"},
        "rules": [
            {"apiGroups": [""], "resources": ["users", "groups", "serviceaccounts"], "verbs": ["impersonate"]},
            {"apiGroups": ["authentication.k8s.io"], "resources": ["userextras/scopes"], "verbs": ["impersonate"]},
        ],
    }
    await cluster.ok("admin-token", "POST", f"{RBAC_V1}/clusterroles", impersonator)
    alice = [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}]
    await cluster.ok(
        "admin-token", "POST", f"{RBAC_V1}/clusterrolebindings", role_binding("alice-imp", "impersonator", alice)
    )
    status, _ = await cluster.call("alice-token", "GET", pods, headers={"Impersonate-User": "bob"})
    assert status == 200
    status, _ = await cluster.call("alice-token", "GET", pods)
    assert status == 403
    # Groups: who the impersonated user is comes back from a rules review.
    headers = {"Impersonate-User": "carol", "Impersonate-Group": "developers", "Impersonate-Extra-Scopes": "read"}
    status, _ = await cluster.call("alice-token", "GET", "/api", headers=headers)
    assert status == 200
    status, out = await cluster.call("alice-token", "GET", pods, headers={"Impersonate-Extra-Scopes": "read"})
    assert status == 400
    status, out = await cluster.call(
        "alice-token", "GET", pods, headers={"Impersonate-User": "bob", "Impersonate-Uid": "1"}
    )
    assert status == 403 and 'cannot impersonate resource "uids" in API group "authentication.k8s.io"' in out["message"]
    # A service account: its groups come with it.
    view_sa = role_binding(
        "sas-view",
        "view",
        [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:serviceaccounts:team"}],
    )
    await cluster.ok("admin-token", "POST", f"{RBAC_V1}/namespaces/team/rolebindings", view_sa)
    status, _ = await cluster.call(
        "alice-token", "GET", pods, headers={"Impersonate-User": "system:serviceaccount:team:builder"}
    )
    assert status == 200


async def test_nodes_reach_what_their_pods_use(cluster: Cluster) -> None:
    for name in ("used", "unused"):
        await cluster.ok("admin-token", "POST", "/api/v1/namespaces/team/secrets", {"metadata": {"name": name}})
    pod = {
        "metadata": {"name": "web"},
        "spec": {
            "nodeName": "node1",
            "containers": [
                {
                    "name": "c",
                    "image": "busybox",
                    "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "a"}}}],
                }
            ],
            "volumes": [{"name": "s", "secret": {"secretName": "used"}}],
        },
    }
    await cluster.ok("admin-token", "POST", "/api/v1/namespaces/team/pods", pod)
    status, _ = await cluster.call("node1-token", "GET", "/api/v1/namespaces/team/secrets/used")
    assert status == 200
    status, out = await cluster.call("node1-token", "GET", "/api/v1/namespaces/team/secrets/unused")
    assert status == 403
    assert out["message"] == (
        'secrets "unused" is forbidden: User "system:node:node1" cannot get resource "secrets" in API group "" '
        "in the namespace \"team\": no relationship found between node 'node1' and this object"
    )
    status, _ = await cluster.call("node1-token", "GET", "/api/v1/namespaces/team/secrets")
    assert status == 403
    status, _ = await cluster.call("node1-token", "GET", "/api/v1/namespaces/team/configmaps/cfg")
    assert status == 404  # allowed; it just does not exist
    status, _ = await cluster.call("node1-token", "GET", "/api/v1/namespaces/team/pods/web")
    assert status == 200
    lease = {"metadata": {"name": "node1"}, "spec": {"holderIdentity": "node1"}}
    await cluster.ok("node1-token", "POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease)
    status, _ = await cluster.call(
        "node1-token", "GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node2"
    )
    assert status == 403
    await cluster.ok("node1-token", "POST", "/api/v1/nodes", {"metadata": {"name": "node1"}})
    status, _ = await cluster.call("node1-token", "PATCH", "/api/v1/nodes/node1", {"metadata": {"labels": {"a": "b"}}},
                                   headers={"Content-Type": "application/merge-patch+json"})  # fmt: skip
    assert status == 200, status
    status, _ = await cluster.call("node1-token", "DELETE", "/api/v1/nodes/node2")
    assert status == 403
    # The pod moves away (deleted): its secret is out of reach again.
    await cluster.ok("admin-token", "DELETE", "/api/v1/namespaces/team/pods/web?gracePeriodSeconds=0")
    status, _ = await cluster.call("node1-token", "GET", "/api/v1/namespaces/team/secrets/used")
    assert status == 403


async def test_the_official_client_is_refused_and_allowed(cluster: Cluster) -> None:
    await wait_aggregated(cluster, "edit")
    await cluster.ok(
        "admin-token", "POST", f"{RBAC_V1}/namespaces/team/rolebindings", role_binding("bob-edit", "edit", BOB)
    )

    def as_bob() -> tuple[int, str, str, list[Obj]]:
        config = kubernetes.client.Configuration(host=cluster.server.url)
        config.api_key = {"authorization": "Bearer bob-token"}
        with kubernetes.client.ApiClient(config) as api:
            core = kubernetes.client.CoreV1Api(api)
            made = core.create_namespaced_config_map(
                "team", kubernetes.client.V1ConfigMap(metadata=kubernetes.client.V1ObjectMeta(name="cm"))
            )
            details = []  # upstream's NewForbidden always names the resource (group, no subresource) and object
            for call in (
                lambda: core.list_namespaced_config_map("other"),
                lambda: core.read_namespaced_pod_log("p", "other"),
                lambda: kubernetes.client.RbacAuthorizationV1Api(api).read_cluster_role("admin"),
            ):
                with pytest.raises(ApiException) as refused:
                    call()
                body = json.loads(refused.value.body)
                details.append(body["details"])
            return refused.value.status, body["reason"], made.metadata.name, details

    status, reason, made, details = await asyncio.to_thread(as_bob)
    assert (status, reason, made) == (403, "Forbidden", "cm")
    assert details == [
        {"kind": "configmaps"},
        {"name": "p", "kind": "pods"},
        {"name": "admin", "group": "rbac.authorization.k8s.io", "kind": "clusterroles"},
    ]
