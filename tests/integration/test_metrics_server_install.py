"""``pinnace up``'s metrics-server objects: made where missing, and the APIService's caBundle kept current."""

from __future__ import annotations

import base64

from pinnace.apiserver.server import APIServer
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.cluster.metricsserver import APISERVICE_NAME, install_metrics_server

APISERVICES = ResourceRef("apiregistration.k8s.io", "v1", "apiservices", namespaced=False)
SERVICES = ResourceRef("", "v1", "services")
CLUSTER_ROLES = ResourceRef("rbac.authorization.k8s.io", "v1", "clusterroles", namespaced=False)
ROLE_BINDINGS = ResourceRef("rbac.authorization.k8s.io", "v1", "rolebindings")


async def test_install_makes_the_objects_and_keeps_the_ca_bundle(api_server: APIServer, client: RestClient) -> None:
    await install_metrics_server(api_server, b"first CA")
    service = await client.get(SERVICES, "metrics-server", "kube-system")
    assert "selector" not in service["spec"] and service["spec"]["ports"][0]["port"] == 443
    apiservice = await client.get(APISERVICES, APISERVICE_NAME)
    assert apiservice["spec"]["service"] == {"namespace": "kube-system", "name": "metrics-server", "port": 443}
    assert base64.b64decode(apiservice["spec"]["caBundle"]) == b"first CA"
    reader = await client.get(CLUSTER_ROLES, "system:aggregated-metrics-reader")
    assert reader["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    await client.get(ROLE_BINDINGS, "metrics-server-auth-reader", "kube-system")

    await client.delete(SERVICES, "metrics-server", "kube-system")
    await install_metrics_server(api_server, b"second CA")  # the next start: a new CA bundle, the Service back
    apiservice = await client.get(APISERVICES, APISERVICE_NAME)
    assert base64.b64decode(apiservice["spec"]["caBundle"]) == b"second CA"
    await client.get(SERVICES, "metrics-server", "kube-system")
