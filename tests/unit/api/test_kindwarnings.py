"""Upstream's warnings for a Service or an Ingress that is valid but likely not what was meant."""

from __future__ import annotations

from typing import Any

from pinnace.api.kindwarnings import for_object, for_service


def service(spec: dict[str, Any], **annotations: str) -> dict[str, Any]:
    return {"metadata": {"name": "s", "annotations": annotations}, "spec": spec}


def test_a_plain_service_has_no_warnings() -> None:
    assert for_service(service({"type": "ClusterIP", "ports": [{"port": 80}]})) == []
    assert for_service({"metadata": None, "spec": "odd"}) == []


def test_fields_the_type_ignores() -> None:
    assert for_service(
        service({"type": "ExternalName", "externalName": "db.example.com", "externalIPs": ["1.2.3.4"]})
    ) == ['spec.externalIPs is ignored when spec.type is "ExternalName"']
    assert for_service(service({"type": "NodePort", "externalName": "db.example.com"})) == [
        'spec.externalName is ignored when spec.type is not "ExternalName"'
    ]
    assert for_service(service({"externalName": "db.example.com"})) == [  # no type: ClusterIP, by default
        'spec.externalName is ignored when spec.type is not "ExternalName"'
    ]


def test_the_deprecated_topology_hints_annotation() -> None:
    annotated = service({"type": "ClusterIP"}, **{"service.kubernetes.io/topology-aware-hints": "auto"})
    assert for_service(annotated) == [
        "annotation service.kubernetes.io/topology-aware-hints is deprecated, please use "
        "service.kubernetes.io/topology-mode instead"
    ]


def test_the_deprecated_ingress_class_annotation_on_create_only() -> None:
    ingress = {"metadata": {"annotations": {"kubernetes.io/ingress.class": "nginx"}}, "spec": {}}
    warning = "annotation \"kubernetes.io/ingress.class\" is deprecated, please use 'spec.ingressClassName' instead"
    assert for_object("networking.k8s.io", "Ingress", ingress, None) == [warning]
    assert for_object("networking.k8s.io", "Ingress", ingress, ingress) == []
    assert for_object("networking.k8s.io", "Ingress", {"metadata": {}, "spec": {}}, None) == []
    assert for_object("", "ConfigMap", ingress, None) == []
