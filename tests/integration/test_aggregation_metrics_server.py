"""``kubectl top`` through the aggregation layer: Pinnace's own metrics server registered as metrics-server is.

The metrics server (:mod:`pinnace.metricsserver`) serves with a certificate for
``metrics-server.kube-system.svc`` from a CA of the test's own (the
APIService's ``caBundle``); it authenticates the aggregator by the front-proxy
client certificate and the ``extension-apiserver-authentication`` ConfigMap the
API server published, and is found through an EndpointSlice at 127.0.0.1.
Its readings are stored directly (no kubelet to scrape).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.integration.test_aggregation import AGGREGATED_V2, Env, env, eventually, kubectl

from pinnace.adm import pki
from pinnace.client.config import load_client_config
from pinnace.cluster.metricsserver import METRICS_NAMESPACE, METRICS_SERVICE, metrics_apiservice, metrics_service
from pinnace.metricsserver import MetricsServer, MetricsServerConfig
from pinnace.metricsserver.samples import NodeScrape, Point

__all__ = ["env"]  # the fixture, shared with test_aggregation

SECOND = 1_000_000_000


@pytest.fixture
async def metrics(env: Env, tmp_path: Path) -> AsyncIterator[MetricsServer]:
    key = pki.generate_key(pki.ECDSA_P256)
    ca = pki.CertPair(pki.new_ca("metrics-server-ca", key), key)
    serving_key = pki.generate_key(pki.ECDSA_P256)
    name = f"{METRICS_SERVICE}.{METRICS_NAMESPACE}.svc"
    spec = pki.CertSpec("metrics-server", dns_names=(name,), server=True)
    pki.write_pair(
        tmp_path / "ms.crt", tmp_path / "ms.key", pki.CertPair(pki.issue(spec, ca, serving_key), serving_key)
    )
    await env.create("/api/v1/namespaces", {"metadata": {"name": "shop"}})
    await env.create("/api/v1/nodes", {"metadata": {"name": "n1"}})
    pod = {"metadata": {"name": "web-1"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    await env.create("/api/v1/namespaces/shop/pods", pod)
    rest = load_client_config(env.kubeconfig).rest_client()
    config = MetricsServerConfig("127.0.0.1", 0, str(tmp_path / "ms.crt"), str(tmp_path / "ms.key"), resolution=3600)
    server = MetricsServer(rest, config)
    port = await server.start()
    try:
        for informer in (server.nodes, server.pods):
            await informer.wait_for_sync(10)
        readings = [(100.0, 0, 0, 1 << 20), (115.0, 15 * SECOND, 3 * SECOND, 64 << 20)]
        for at, node_cpu, pod_cpu, memory in readings:
            pods = {("shop", "web-1"): {"c": Point(at, pod_cpu, memory, 50.0)}}
            server.storage.store([NodeScrape("n1", at, Point(at, node_cpu, 1 << 30), pods)])
        slice_ = {
            "metadata": {
                "name": "metrics-server-1",
                "namespace": METRICS_NAMESPACE,
                "labels": {"kubernetes.io/service-name": METRICS_SERVICE},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        }
        await env.create(f"/api/v1/namespaces/{METRICS_NAMESPACE}/services", metrics_service())
        await env.create(f"/apis/discovery.k8s.io/v1/namespaces/{METRICS_NAMESPACE}/endpointslices", slice_)
        await env.create("/apis/apiregistration.k8s.io/v1/apiservices", metrics_apiservice(ca.cert_pem()))
        yield server
    finally:
        await server.stop()
        await rest.close()


async def test_kubectl_top_reads_the_metrics_server_through_the_aggregator(env: Env, metrics: MetricsServer) -> None:
    await env.wait_condition("True", "Passed")

    async def discovered() -> bool:
        _, doc = await env.call("GET", "/apis", headers={"Accept": AGGREGATED_V2})
        return any(
            g["metadata"]["name"] == "metrics.k8s.io" and g["versions"][0]["freshness"] == "Current"
            for g in doc["items"]
        )

    await eventually(discovered)
    code, out, err = await kubectl(env, "top", "pods", "-n", "shop", "--no-headers")
    assert code == 0, err
    assert out.split() == ["web-1", "200m", "64Mi"]
    code, out, err = await kubectl(env, "top", "nodes", "--no-headers")
    assert code == 0, err
    assert out.split()[:2] == ["n1", "1000m"]
