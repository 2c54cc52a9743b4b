"""The aggregation layer's pure parts: APIService parsing, forwarded headers, discovery conversion and ordering."""

from __future__ import annotations

import base64

import orjson
from multidict import CIMultiDict

from pinnace.api.registry import builtin_registry
from pinnace.apiserver.aggregator_discovery import to_discovery
from pinnace.apiserver.aggregator_proxy import (
    Backend,
    ServiceRef,
    TLSConfig,
    _forwarded_headers,
    auth_proxy_headers,
    service_ref,
    tls_config,
)
from pinnace.apiserver.discovery import Discovery, ExternalVersion
from pinnace.apiserver.user import UserInfo


def apiservice(**spec: object) -> dict[str, object]:
    return {"metadata": {"name": "v1beta1.metrics.k8s.io"}, "spec": {"group": "metrics.k8s.io", "version": "v1beta1",
                                                                       **spec}}  # fmt: skip


def test_an_apiservice_names_its_service_and_tls() -> None:
    assert service_ref(apiservice()) is None  # a local one
    ref = service_ref(apiservice(service={"namespace": "kube-system", "name": "metrics-server"}))
    assert ref == ServiceRef("kube-system", "metrics-server", 443)
    assert ref.server_name == "metrics-server.kube-system.svc"
    pem = b"-----BEGIN CERTIFICATE-----\n"
    obj = apiservice(service={"namespace": "n", "name": "s", "port": 8443}, caBundle=base64.b64encode(pem).decode())
    assert service_ref(obj) == ServiceRef("n", "s", 8443)
    assert tls_config(obj) == TLSConfig(pem, False, "s.n.svc")
    insecure = apiservice(service={"namespace": "n", "name": "s"}, insecureSkipTLSVerify=True, caBundle="!!")
    assert tls_config(insecure) == TLSConfig(b"", True, "s.n.svc")
    assert Backend("fd00::1", 443).address == "[fd00::1]:443"


def test_the_user_goes_in_request_headers_and_credentials_do_not() -> None:
    user = UserInfo("jane", groups=("devs", "system:authenticated"), extra={"scopes.example.com/x": ("a", "b")})
    assert auth_proxy_headers(user) == [
        ("X-Remote-User", "jane"),
        ("X-Remote-Group", "devs"),
        ("X-Remote-Group", "system:authenticated"),
        ("X-Remote-Extra-scopes.example.com%2Fx", "a"),
        ("X-Remote-Extra-scopes.example.com%2Fx", "b"),
    ]
    incoming = CIMultiDict(
        [
            ("Authorization", "Bearer secret"),
            ("Impersonate-User", "root"),
            ("Impersonate-Extra-x", "1"),
            ("X-Remote-User", "forged"),
            ("X-Remote-Group", "system:masters"),
            ("Connection", "keep-alive, X-Hop"),
            ("X-Hop", "1"),
            ("Upgrade", "h2c"),
            ("Host", "api"),
            ("Content-Length", "3"),
            ("Accept", "application/json"),
            ("User-Agent", "kubectl"),
        ]
    )
    out = _forwarded_headers(incoming, user)
    assert list(out.items()) == [
        ("Accept", "application/json"),
        ("User-Agent", "kubectl"),
        *auth_proxy_headers(user),
    ]


def test_an_apiresourcelist_becomes_aggregated_discovery() -> None:
    resources = [
        {"name": "widgets/status", "namespaced": True, "kind": "Widget", "verbs": ["get", "patch"]},
        {"name": "widgets", "singularName": "widget", "namespaced": True, "kind": "Widget", "verbs": ["get", "list"],
         "shortNames": ["wd"], "categories": ["all"], "group": "g.example.com", "version": "v1"},
        {"name": "orphans/log", "namespaced": False, "kind": "", "verbs": ["get"]},
        "not a resource",
    ]  # fmt: skip
    assert list(to_discovery(resources)) == [
        {
            "resource": "widgets",
            "responseKind": {"group": "g.example.com", "version": "v1", "kind": "Widget"},
            "scope": "Namespaced",
            "singularResource": "widget",
            "verbs": ["get", "list"],
            "shortNames": ["wd"],
            "categories": ["all"],
            "subresources": [
                {"subresource": "status", "responseKind": {"group": "", "version": "", "kind": "Widget"},
                 "verbs": ["get", "patch"]},
            ],
        },
        {
            "resource": "orphans",
            "responseKind": {"group": "", "version": "", "kind": ""},
            "scope": "Cluster",
            "singularResource": "",
            "verbs": [],
            "subresources": [{"subresource": "log", "responseKind": {"group": "", "version": "", "kind": ""},
                              "verbs": ["get"]}],
        },
    ]  # fmt: skip


def test_discovery_orders_extension_groups_by_priority_and_invalidates_its_documents() -> None:
    discovery = Discovery(builtin_registry())
    before = orjson.loads(discovery.api_group_list())
    local = [g["name"] for g in before["groups"]]
    pods = {"resource": "pods", "responseKind": {"group": "", "version": "", "kind": "PodMetrics"},
            "scope": "Namespaced", "singularResource": "", "verbs": ["get"]}  # fmt: skip
    discovery.set_external(
        [
            ExternalVersion("metrics.k8s.io", "v1beta1", 100, 100, (pods,), stale=False),
            ExternalVersion("wardle.example.com", "v1alpha1", 18500, 10),
            ExternalVersion("wardle.example.com", "v1", 18500, 20),
            ExternalVersion("apps", "v1", 17800, 15),  # served here too: the local one wins
        ]
    )
    after = orjson.loads(discovery.api_group_list())
    names = [g["name"] for g in after["groups"]]
    assert names == ["wardle.example.com", *local, "metrics.k8s.io"]
    wardle = after["groups"][0]
    assert [v["version"] for v in wardle["versions"]] == ["v1", "v1alpha1"]
    assert wardle["preferredVersion"]["version"] == "v1"
    assert orjson.loads(discovery.api_group("metrics.k8s.io"))["versions"] == [
        {"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}
    ]
    aggregated = orjson.loads(discovery.aggregated(False))
    items = {i["metadata"]["name"]: i for i in aggregated["items"]}
    assert [i["metadata"]["name"] for i in aggregated["items"]] == names
    assert items["metrics.k8s.io"]["versions"] == [{"version": "v1beta1", "resources": [pods], "freshness": "Current"}]
    assert items["wardle.example.com"]["versions"][0] == {"version": "v1", "resources": [], "freshness": "Stale"}
    assert [v["version"] for v in items["apps"]["versions"]] == ["v1"]
    core = orjson.loads(discovery.aggregated(True))
    assert [i["metadata"].get("name") for i in core["items"]] == [None]

    discovery.set_external([])
    assert orjson.loads(discovery.api_group_list()) == before
