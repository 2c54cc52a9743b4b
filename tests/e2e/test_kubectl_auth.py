"""The real kubectl against ``pinnace up`` over TLS: who it is, and what happens without credentials.

One cluster for the module (the namespace controller only), with a static token file.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import yaml
from tests.e2e.conftest import Cluster, start_cluster, stop_cluster

from pinnace.adm.pki import load_pair, signed_by

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH: the e2e tests need the real kubectl 1.32")
    base = tmp_path_factory.mktemp("pinnace-auth")
    tokens = base / "tokens.csv"
    tokens.write_text('e2e-token-1,alice,1001,"devs,ops"\n')
    c = start_cluster(
        base / "data", base / "home", extra_args=["--controllers", "namespace", "--token-auth-file", str(tokens)]
    )
    try:
        yield c
    finally:
        stop_cluster(c)


def _kubectl(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    """kubectl with no kubeconfig at all: only what the arguments say."""
    return subprocess.run(
        ["kubectl", "--kubeconfig", "/dev/null", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=cluster.env,
    )


def test_the_admin_kubeconfig_speaks_tls_with_client_certificates(secure: Cluster) -> None:
    config = yaml.safe_load(secure.kubeconfig.read_text())
    assert config["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{secure.port}"
    assert config["clusters"][0]["cluster"]["certificate-authority-data"]
    assert set(config["users"][0]["user"]) == {"client-certificate-data", "client-key-data"}
    out = secure.kubectl("get", "namespaces", "-o", "name").stdout.split()
    assert "namespace/kube-system" in out
    secure.kubectl("create", "configmap", "tls-works", "--from-literal=a=b")
    assert secure.kubectl("get", "configmap", "tls-works", "-o", "jsonpath={.data.a}").stdout == "b"
    # kubeadm's other kubeconfigs work too.
    cm = secure.data_dir / "controller-manager.conf"
    assert "system:kube-controller-manager" in secure.kubectl("--kubeconfig", str(cm), "auth", "whoami").stdout


def test_kubectl_auth_whoami(secure: Cluster) -> None:
    out = secure.kubectl("auth", "whoami", "-o", "yaml").stdout
    info = yaml.safe_load(out)["status"]["userInfo"]
    assert info == {"username": "kubernetes-admin", "groups": ["kubeadm:cluster-admins", "system:authenticated"]}
    server = f"https://127.0.0.1:{secure.port}"
    ca = ["--certificate-authority", str(secure.data_dir / "pki" / "ca.crt")]
    alice = _kubectl(secure, "--server", server, *ca, "--token", "e2e-token-1", "auth", "whoami")
    assert alice.returncode == 0, alice.stderr
    assert "alice" in alice.stdout and "[devs ops system:authenticated]" in alice.stdout


def test_without_valid_credentials_kubectl_is_unauthorized(secure: Cluster) -> None:
    server = f"https://127.0.0.1:{secure.port}"
    ca = ["--certificate-authority", str(secure.data_dir / "pki" / "ca.crt")]
    result = _kubectl(secure, "--server", server, *ca, "--token", "not-a-valid-token", "get", "pods")
    assert result.returncode == 1
    assert "error: You must be logged in to the server (Unauthorized)" in result.stderr
    # With no credentials at all the request is system:anonymous (upstream's default --anonymous-auth), which RBAC
    # refuses with 403 for anything but public information (tests/e2e/test_kubectl_rbac.py has the rest).
    context = ssl.create_default_context(cafile=str(secure.data_dir / "pki" / "ca.crt"))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(server + "/api/v1/namespaces/default/pods", timeout=10, context=context)
    assert refused.value.code == 403
    status = json.loads(refused.value.read())
    assert (status["kind"], status["reason"], status["message"]) == (
        "Status",
        "Forbidden",
        'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" '
        'in the namespace "default"',
    )
    # The server's certificate is only trusted with the cluster CA.
    untrusted = _kubectl(secure, "--server", server, "--token", "e2e-token-1", "get", "pods")
    assert untrusted.returncode == 1 and "certificate signed by unknown authority" in untrusted.stderr


def test_the_pki_is_kubeadms(secure: Cluster) -> None:
    pki = secure.data_dir / "pki"
    for name in ("ca", "apiserver", "apiserver-kubelet-client", "front-proxy-ca", "front-proxy-client"):
        assert (pki / f"{name}.crt").exists() and (pki / f"{name}.key").stat().st_mode & 0o077 == 0
    assert (pki / "sa.key").exists() and (pki / "sa.pub").exists()
    for conf in ("admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf"):
        assert (secure.data_dir / conf).exists()
    cluster_pki = load_pair(pki / "ca.crt", pki / "ca.key")
    server = load_pair(pki / "apiserver.crt", pki / "apiserver.key")
    assert cluster_pki is not None and server is not None and signed_by(server.cert, cluster_pki.cert)


def test_status_reports_ready_over_tls(secure: Cluster) -> None:
    status = subprocess.run(
        [sys.executable, "-m", "pinnace", "status", "--data-dir", str(secure.data_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        env=secure.env,
        check=False,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"https://127.0.0.1:{secure.port}: ready" in status.stdout


def test_the_reviews_are_in_discovery_so_kubectl_create_f_works(
    secure: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    listed = secure.kubectl("api-resources", "--api-group=authorization.k8s.io", "-o", "name").stdout.split()
    assert sorted(listed) == [
        "localsubjectaccessreviews.authorization.k8s.io",
        "selfsubjectaccessreviews.authorization.k8s.io",
        "selfsubjectrulesreviews.authorization.k8s.io",
        "subjectaccessreviews.authorization.k8s.io",
    ]
    listed = secure.kubectl("api-resources", "--api-group=authentication.k8s.io", "-o", "name").stdout.split()
    assert sorted(listed) == ["selfsubjectreviews.authentication.k8s.io", "tokenreviews.authentication.k8s.io"]

    review = tmp_path_factory.mktemp("review") / "sar.yaml"
    spec = {
        "user": "alice",
        "groups": ["devs"],
        "resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"},
    }
    review.write_text(
        json.dumps({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec})
    )
    answer = json.loads(secure.kubectl("create", "-f", str(review), "-o", "json").stdout)
    assert answer["kind"] == "SubjectAccessReview" and answer["status"]["allowed"] is False

    # Like upstream, only create is routed for a review.
    refused = secure.kubectl("get", "subjectaccessreviews", check=False)
    assert refused.returncode != 0
    assert "MethodNotAllowed" in refused.stderr
