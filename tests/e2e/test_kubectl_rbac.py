"""The real kubectl against ``pinnace up`` with RBAC: ``kubectl auth can-i`` across users, groups, service
accounts and roles (``--as``, ``--as-group``, ``--list``, ``-n``, subresources, URLs), escalation refused with
upstream's message, impersonation refused without the right, anonymous limited to public information.

One cluster for the module: the namespace and ClusterRole aggregation controllers, and a static token file
(bob; carol in group ``devs``).
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from tests.e2e.conftest import Cluster, start_cluster, stop_cluster

from pinnace.controllers.clusterrole_aggregation import aggregate_rules

pytestmark = pytest.mark.slow

TOKENS = 'bob-token,bob,2001\ncarol-token,carol,2002,"devs"\n'


@pytest.fixture(scope="module")
def rbac_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH: the e2e tests need the real kubectl 1.32")
    base = tmp_path_factory.mktemp("pinnace-rbac")
    tokens = base / "tokens.csv"
    tokens.write_text(TOKENS)
    extra = ["--controllers", "namespace,clusterrole-aggregation", "--token-auth-file", str(tokens)]
    c = start_cluster(base / "data", base / "home", extra_args=extra)
    try:
        c.kubectl("create", "namespace", "dev")
        c.kubectl("create", "serviceaccount", "robot", "-n", "dev")
        yield c
    finally:
        stop_cluster(c)


def as_token(cluster: Cluster, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    """kubectl with only a bearer token (and the cluster CA)."""
    ca = str(cluster.data_dir / "pki" / "ca.crt")
    return subprocess.run(
        ["kubectl", "--kubeconfig", "/dev/null", "--server", cluster.url, "--certificate-authority", ca]
        + (["--token", token] if token else [])
        + list(args),
        capture_output=True,
        text=True,
        timeout=60,
        env=cluster.env,
    )


def can_i(cluster: Cluster, *args: str) -> str:
    """``kubectl auth can-i`` as the admin (``--as`` in ``args`` impersonates): "yes" or "no"."""
    result = cluster.kubectl("auth", "can-i", *args, check=False)
    assert result.returncode in (0, 1), result.stderr
    return result.stdout.strip()


def wait_aggregated(cluster: Cluster, role: str) -> None:
    """Until view, edit and admin all hold the aggregate of what they select (view feeds edit feeds admin)."""
    for _ in range(200):
        roles = json.loads(cluster.kubectl("get", "clusterroles", "-o", "json").stdout)["items"]
        chain = [r for r in roles if r["metadata"]["name"] in ("view", "edit", "admin")]
        if len(chain) == 3 and all(r.get("rules") and r["rules"] == aggregate_rules(r, roles) for r in chain):
            return
        time.sleep(0.05)
    raise AssertionError(f"ClusterRole {role} was never aggregated")


def test_can_i_matrix(rbac_cluster: Cluster) -> None:
    c = rbac_cluster
    for role in ("view", "edit", "admin"):
        wait_aggregated(c, role)
    c.kubectl("create", "rolebinding", "bob-edit", "--clusterrole=edit", "--user=bob", "-n", "dev")
    c.kubectl("create", "rolebinding", "devs-view", "--clusterrole=view", "--group=devs", "-n", "dev")
    c.kubectl("create", "rolebinding", "robot-view", "--clusterrole=view", "--serviceaccount=dev:robot", "-n", "dev")
    c.kubectl("create", "clusterrole", "node-reader", "--verb=get,list", "--resource=nodes")
    c.kubectl("create", "clusterrolebinding", "ops-nodes", "--clusterrole=node-reader", "--group=ops")
    robot = "system:serviceaccount:dev:robot"
    matrix = [
        # (arguments, expected)
        (["create", "deployments"], "yes"),  # the admin
        (["*", "*", "--all-namespaces"], "yes"),
        (["create", "deployments", "-n", "dev", "--as", "bob"], "yes"),
        (["create", "deployments", "-n", "default", "--as", "bob"], "no"),
        (["delete", "secrets", "-n", "dev", "--as", "bob"], "yes"),
        (["create", "roles", "-n", "dev", "--as", "bob"], "no"),  # edit is not admin
        (["get", "pods", "--subresource=log", "-n", "dev", "--as", "bob"], "yes"),
        (["get", "pods/log", "-n", "dev", "--as", "carol", "--as-group", "devs"], "yes"),
        (["get", "pods", "--subresource=exec", "-n", "dev", "--as", "carol", "--as-group", "devs"], "no"),
        (["list", "pods", "-n", "dev", "--as", "carol"], "no"),  # without the group
        (["list", "secrets", "-n", "dev", "--as", "carol", "--as-group", "devs"], "no"),  # view has no secrets
        (["list", "pods", "-n", "dev", "--as", robot], "yes"),
        (["create", "pods", "-n", "dev", "--as", robot], "no"),
        (["list", "pods", "-n", "dev", "--as", "system:serviceaccount:dev:other"], "no"),
        (["get", "nodes", "--as", "x", "--as-group", "ops"], "yes"),
        (["delete", "nodes", "--as", "x", "--as-group", "ops"], "no"),
        (["get", "/healthz", "--as", "bob"], "yes"),
        (["get", "/metrics", "--as", "bob"], "no"),
        (["get", "/metrics"], "yes"),
    ]
    answers = [(args, can_i(c, *args)) for args, _ in matrix]
    assert answers == [(args, want) for args, want in matrix]


def test_can_i_with_own_token_and_list(rbac_cluster: Cluster) -> None:
    c = rbac_cluster
    wait_aggregated(c, "edit")
    c.kubectl("create", "rolebinding", "bob-edit-2", "--clusterrole=edit", "--user=bob", "-n", "dev", check=False)
    mine = as_token(c, "bob-token", "auth", "can-i", "create", "configmaps", "-n", "dev")
    assert mine.stdout.strip() == "yes", mine.stderr
    listing = as_token(c, "bob-token", "auth", "can-i", "--list", "-n", "dev")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"]
    assert any(line.split()[0] == "selfsubjectaccessreviews.authorization.k8s.io" for line in lines[1:])
    assert any(line.startswith("configmaps ") and "create" in line for line in lines)
    elsewhere = as_token(c, "bob-token", "auth", "can-i", "--list", "-n", "default").stdout
    assert not any(line.startswith("configmaps ") for line in elsewhere.splitlines())
    refused = as_token(c, "bob-token", "get", "pods", "-n", "default")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): pods is forbidden: User "bob" cannot list resource "pods" in API group "" '
        'in the namespace "default"'
    )


def test_escalation_is_refused(rbac_cluster: Cluster) -> None:
    c = rbac_cluster
    wait_aggregated(c, "admin")
    c.kubectl("create", "rolebinding", "carol-admin", "--clusterrole=admin", "--user=carol", "-n", "dev")
    ok = as_token(c, "carol-token", "create", "role", "pod-reader", "--verb=get,list", "--resource=pods", "-n", "dev")
    assert ok.returncode == 0, ok.stderr
    bad = as_token(c, "carol-token", "create", "role", "node-reader", "--verb=get", "--resource=nodes", "-n", "dev")
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        'Error from server (Forbidden): roles.rbac.authorization.k8s.io "node-reader" is forbidden: user "carol" '
        '(groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n'
        '{APIGroups:[""], Resources:["nodes"], Verbs:["get"]}'
    )
    bind = as_token(
        c, "carol-token", "create", "rolebinding", "sneaky", "--clusterrole=cluster-admin", "--user=carol", "-n", "dev"
    )
    assert bind.returncode == 1
    assert 'rolebindings.rbac.authorization.k8s.io "sneaky" is forbidden: user "carol"' in bind.stderr
    # Impersonating someone needs the impersonate verb.
    imp = as_token(c, "carol-token", "get", "pods", "-n", "dev", "--as", "bob")
    assert imp.returncode == 1
    assert imp.stderr.strip() == (
        'Error from server (Forbidden): users "bob" is forbidden: User "carol" cannot impersonate resource "users" '
        'in API group "" at the cluster scope'
    )


def _get(cluster: Cluster, path: str) -> tuple[int, dict[str, object]]:
    context = ssl.create_default_context(cafile=str(cluster.data_dir / "pki" / "ca.crt"))
    try:
        with urllib.request.urlopen(cluster.url + path, timeout=10, context=context) as response:
            body = response.read()
            return response.status, json.loads(body) if body.startswith(b"{") else {}
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_anonymous_gets_public_info_only(rbac_cluster: Cluster) -> None:
    for path in ("/version", "/healthz", "/livez", "/readyz"):
        assert _get(rbac_cluster, path)[0] == 200, path
    status, body = _get(rbac_cluster, "/api/v1/namespaces/default/pods")
    assert status == 403
    assert body["message"] == (
        'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" '
        'in the namespace "default"'
    )
    status, body = _get(rbac_cluster, "/apis")
    assert (status, body["message"]) == (403, 'forbidden: User "system:anonymous" cannot get path "/apis"')
