"""Ingress end to end, with the real kubectl: ``pinnace up`` with a process node and its ingress controller, two
web servers behind Services, an Ingress routing by host and path, and TLS by SNI from a Secret made with
``kubectl create secret tls``."""

from __future__ import annotations

import http.client
import shutil
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.kubectl import eventually, get_json, table

from pinnace.adm.pki import CertSpec, ensure_ca, ensure_cert

from .conftest import Cluster, free_port, start_cluster, stop_cluster

pytestmark = pytest.mark.slow

INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
spec:
  tls:
  - hosts: [shop.example.test]
    secretName: shop-tls
  rules:
  - host: shop.example.test
    http:
      paths:
      - path: /api
        pathType: Prefix
        backend: {service: {name: api, port: {number: 80}}}
      - path: /
        pathType: Prefix
        backend: {service: {name: web, port: {number: 80}}}
"""


@pytest.fixture(scope="module")
def ingress_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, int, int]]:
    """``pinnace up`` with one process node, the ingress controller on free ports."""
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH: the e2e tests need the real kubectl 1.32")
    base = tmp_path_factory.mktemp("pinnace-ingress")
    http_port, https_port = free_port(), free_port()
    args = ["--nodes", "1", "--ingress-http-port", str(http_port), "--ingress-https-port", str(https_port)]
    c = start_cluster(base / "data", base / "home", extra_args=args)
    try:
        eventually(lambda: get_json(c, "nodes")["items"], timeout=60)
        yield c, http_port, https_port
    finally:
        stop_cluster(c)


def _backend(c: Cluster, name: str, www: Path) -> None:
    """A ready process pod ``name`` serving ``www`` over HTTP, behind a Service ``name`` on port 80."""
    port = free_port()
    serve = f"exec busybox httpd -f -p {port} -h {www}"
    c.kubectl("run", name, "--image=busybox", f"--labels=app={name}", "--restart=Never", "--command", "--",
              "sh", "-c", serve)  # fmt: skip
    c.kubectl("create", "service", "clusterip", name, f"--tcp=80:{port}")
    c.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=60s", timeout=70)


def _get(port: int, host: str, path: str, context: ssl.SSLContext | None = None) -> tuple[int, str, str]:
    """(status, Location header, body) of GET ``path`` for ``host`` through the ingress on ``port`` (with
    ``context``: over TLS, with the host as SNI and the name verified)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        if context is not None:
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            conn.sock = context.wrap_socket(raw, server_hostname=host)
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.getheader("Location") or "", response.read().decode()
    finally:
        conn.close()


def _certificate(tmp: Path, host: str) -> tuple[Path, Path, Path]:
    """A CA, and a serving certificate for ``host`` it issued: (CA file, certificate file, key file)."""
    ca = ensure_ca(tmp, "ca", "ingress-test-ca")
    ensure_cert(tmp, "tls", CertSpec(host, dns_names=(host,), server=True), ca)
    return tmp / "ca.crt", tmp / "tls.crt", tmp / "tls.key"


def test_an_ingress_routes_by_host_and_path_and_serves_tls(
    ingress_cluster: tuple[Cluster, int, int], tmp_path: Path
) -> None:
    c, http_port, https_port = ingress_cluster
    classes = table(c.kubectl("get", "ingressclass").stdout)
    assert classes[1][:2] == ["pinnace", "pinnace.dev/ingress"], classes
    for name in ("web", "api"):
        (tmp_path / name / "api").mkdir(parents=True)
        (tmp_path / name / "index.html").write_text(f"{name} home\n")
        (tmp_path / name / "api" / "index.html").write_text(f"{name} api\n")
        _backend(c, name, tmp_path / name)
    ca, crt, key = _certificate(tmp_path / "pki", "shop.example.test")
    c.kubectl("create", "secret", "tls", "shop-tls", f"--cert={crt}", f"--key={key}")
    c.kubectl("apply", "-f", "-", input=INGRESS)

    def address() -> str:
        rows = table(c.kubectl("get", "ingress", "shop").stdout)
        return rows[1][3] if len(rows) > 1 and len(rows[1]) > 5 else ""

    assert eventually(address, timeout=30) == "127.0.0.1"  # NAME CLASS HOSTS ADDRESS PORTS AGE

    context = ssl.create_default_context(cafile=str(ca))
    status, _, body = eventually(lambda: _ok(_get(https_port, "shop.example.test", "/api/", context)), timeout=30)
    assert body == "api api\n"
    assert _get(https_port, "shop.example.test", "/", context)[2] == "web home\n"
    # Plain HTTP for a host with TLS is sent to HTTPS; another host finds no rule (the default backend's 404).
    status, location, _ = _get(http_port, "shop.example.test", "/api/")
    assert status == 308 and location.startswith("https://shop.example.test"), (status, location)
    assert _get(http_port, "elsewhere.example.test", "/")[0] == 404


def _ok(answer: tuple[int, str, str]) -> tuple[int, str, str] | None:
    return answer if answer[0] == 200 else None
