"""/metrics through the official Python client: the request and storage families count what was served."""

from __future__ import annotations

import kubernetes.client
from prometheus_client.parser import text_string_to_metric_families
from tests.integration.conftest import ThreadedServer


def scrape(api: kubernetes.client.ApiClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = api.call_api("GET", api.configuration.host + "/metrics")
    assert response.status == 200
    text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_the_requests_served_by_verb_resource_and_code(threaded_server: ThreadedServer) -> None:
    with kubernetes.client.ApiClient(kubernetes.client.Configuration(host=threaded_server.url)) as api:
        core = kubernetes.client.CoreV1Api(api)
        for i in range(3):
            core.create_namespaced_config_map("default", {"metadata": {"name": f"m{i}"}})
        try:
            core.create_namespaced_config_map("default", {"metadata": {"name": "m0"}})
        except kubernetes.client.ApiException as exc:
            assert exc.status == 409
        got = scrape(api)
    create = {"verb": "CREATE", "group": "", "version": "v1", "resource": "configmaps", "subresource": ""}

    def labels(**extra: str) -> tuple[tuple[str, str], ...]:
        return tuple(sorted({**create, **extra}.items()))

    assert got["apiserver_request_total", labels(code="201")] == 3
    assert got["apiserver_request_total", labels(code="409")] == 1
    assert got["apiserver_request_duration_seconds_count", labels()] == 4
    assert got["apiserver_request_duration_seconds_bucket", labels(le="+Inf")] == 4
    assert got["apiserver_request_duration_seconds_sum", labels()] > 0
    storage = tuple(sorted({"operation": "create"}.items()))
    assert got["apiserver_storage_request_duration_seconds_count", storage] >= 4  # the 409 reached the store too
