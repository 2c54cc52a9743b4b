"""Discovery lists every subresource the server routes, as upstream does: the stored ones (status, scale,
binding, eviction) and the ones relayed to kubelets (pods/exec, attach, log, portforward; nodes/proxy) or to pods
(pods/proxy, services/proxy)."""

from __future__ import annotations

import kubernetes.client


def test_the_core_resource_list_has_the_relayed_subresources(k8s_client: kubernetes.client.ApiClient) -> None:
    resources = kubernetes.client.CoreV1Api(k8s_client).get_api_resources().resources
    listed = {r.name: (r.kind, sorted(r.verbs)) for r in resources if r.name.startswith(("pods/", "nodes/"))}
    assert listed == {
        "pods/attach": ("PodAttachOptions", ["create", "get"]),
        "pods/binding": ("Binding", ["create"]),
        "pods/ephemeralcontainers": ("Pod", ["get", "patch", "update"]),
        "pods/eviction": ("Eviction", ["create"]),
        "pods/exec": ("PodExecOptions", ["create", "get"]),
        "pods/log": ("Pod", ["get"]),
        "pods/portforward": ("PodPortForwardOptions", ["create", "get"]),
        "pods/proxy": ("PodProxyOptions", ["create", "delete", "get", "patch", "update"]),
        "pods/status": ("Pod", ["get", "patch", "update"]),
        "nodes/proxy": ("NodeProxyOptions", ["create", "delete", "get", "patch", "update"]),
        "nodes/status": ("Node", ["get", "patch", "update"]),
    }


def test_services_proxy_is_listed(k8s_client: kubernetes.client.ApiClient) -> None:
    resources = kubernetes.client.CoreV1Api(k8s_client).get_api_resources().resources
    listed = {r.name: (r.kind, sorted(r.verbs)) for r in resources if r.name.startswith("services/")}
    assert listed == {
        "services/proxy": ("ServiceProxyOptions", ["create", "delete", "get", "patch", "update"]),
        "services/status": ("Service", ["get", "patch", "update"]),
    }
