"""Decoding into the typed structs: unknown fields, omitempty, field order."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api import errors, typed
from pinnace.api.definitions import definition_for


def _schema(group: str, version: str, kind: str) -> Any:
    schema = definition_for(group, version, kind)
    assert schema is not None
    return schema


def test_empty_and_null_omitempty_maps_and_lists_vanish() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "labels": {}, "annotations": None, "finalizers": []},
        "data": {},
    }
    assert typed.normalize(obj, _schema("", "v1", "ConfigMap")) == []
    assert obj == {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "x"}}


def test_empty_structs_and_required_fields_stay() -> None:
    pod = {
        "spec": {"containers": [{"name": "c", "resources": {}, "ports": []}], "securityContext": {}},
        "metadata": {"name": "p"},
        "kind": "Pod",
    }
    typed.normalize(pod, _schema("", "v1", "Pod"))
    assert pod["spec"] == {"containers": [{"name": "c", "resources": {}}], "securityContext": {}}
    role: dict[str, Any] = {"metadata": {"name": "r"}, "rules": [{"verbs": [], "apiGroups": []}]}
    typed.normalize(role, _schema("rbac.authorization.k8s.io", "v1", "Role"))
    assert role["rules"] == [{"verbs": []}]  # verbs is required; apiGroups is omitempty


def test_unknown_fields_are_dropped_and_reported_with_their_paths() -> None:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "bogus": 1},
        "spec": {
            "template": {"spec": {"containers": [{"name": "c", "imagex": "i"}]}},
            "selector": {"matchLabels": {"a": "b"}},
        },
        "extra": True,
    }
    schema = _schema("apps", "v1", "Deployment")
    expected = ["metadata.bogus", "spec.template.spec.containers[0].imagex", "extra"]
    assert typed.unknown_fields(obj, schema) == expected
    assert "extra" in obj  # unknown_fields only looks
    assert typed.normalize(obj, schema) == expected
    assert "extra" not in obj and "bogus" not in obj["metadata"]
    assert obj["spec"]["template"]["spec"]["containers"] == [{"name": "c"}]


def test_free_form_fields_keep_anything() -> None:
    crd_schema = _schema("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
    obj = {
        "metadata": {"name": "a.b", "managedFields": [{"manager": "m", "fieldsV1": {"f:x": {}}}]},
        "spec": {
            "group": "b",
            "names": {"kind": "A", "plural": "a"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }
    assert typed.unknown_fields(obj, crd_schema) == []
    assert typed.normalize(obj, crd_schema) == []
    assert obj["metadata"]["managedFields"][0]["fieldsV1"] == {"f:x": {}}


def test_custom_resources_only_get_their_metadata_normalised() -> None:
    obj = {"apiVersion": "x/v1", "kind": "Thing", "metadata": {"name": "t", "labels": {}}, "spec": {"free": {}}}
    assert typed.normalize(obj, None) == []
    assert obj == {"apiVersion": "x/v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": {"free": {}}}


def test_field_order_is_kind_apiversion_metadata_first_status_last() -> None:
    obj = {"status": {}, "spec": {}, "metadata": {"name": "n"}, "apiVersion": "v1", "kind": "Namespace"}
    typed.normalize(obj, _schema("", "v1", "Namespace"))
    assert list(obj) == ["kind", "apiVersion", "metadata", "spec", "status"]


def test_field_validation_directives() -> None:
    schema = _schema("", "v1", "ConfigMap")
    obj = {"metadata": {"name": "x"}, "bogus": 1, "data": {"a": "b"}}
    assert typed.field_validation(None) == typed.WARN
    assert typed.check_unknown_fields(obj, schema, typed.WARN) == ['unknown field "bogus"']
    assert typed.check_unknown_fields(obj, schema, typed.IGNORE) == []
    context = 'ConfigMap in version "v1" cannot be handled as a ConfigMap: '
    with pytest.raises(errors.BadRequest) as caught:
        typed.check_unknown_fields(obj, schema, typed.STRICT, context)
    assert caught.value.status()["message"] == context + 'strict decoding error: unknown field "bogus"'
    with pytest.raises(errors.BadRequest):
        typed.field_validation("Loud")


def test_quantities_are_written_in_canonical_form_and_null_as_zero() -> None:
    pod = {
        "metadata": {"name": "p"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "i",
                    "resources": {"limits": {"cpu": "1000m", "memory": 1048576, "x": None}, "requests": {"cpu": "2"}},
                }
            ],
            "overhead": {"cpu": "0.25"},
            "volumes": [{"name": "v", "emptyDir": {"sizeLimit": " 2048Mi"}}],
        },
    }
    typed.normalize(pod, _schema("", "v1", "Pod"))
    resources = pod["spec"]["containers"][0]["resources"]
    assert resources == {"limits": {"cpu": "1", "memory": "1048576", "x": "0"}, "requests": {"cpu": "2"}}
    assert pod["spec"]["overhead"] == {"cpu": "250m"}
    assert pod["spec"]["volumes"][0]["emptyDir"]["sizeLimit"] == "2Gi"
    odd = {"metadata": {"name": "q"}, "spec": {"hard": {"pods": "lots"}}}  # the decode check refuses it, not this
    typed.normalize(odd, _schema("", "v1", "ResourceQuota"))
    assert odd["spec"]["hard"] == {"pods": "lots"}


def test_bytes_are_written_as_base64_on_one_line() -> None:
    secret = {
        "metadata": {"name": "s"},
        "data": {"wrapped": "aGVs\nbG8=", "crlf": "aGVsbG8=\r\n", "bits": "aGl=", "array": [104, 105], "plain": "aGk="},
    }
    typed.normalize(secret, _schema("", "v1", "Secret"))
    hello, hi = "aGVsbG8=", "aGk="
    assert secret["data"] == {"wrapped": hello, "crlf": hello, "bits": hi, "array": hi, "plain": hi}
    csr = {"metadata": {"name": "c"}, "spec": {"request": "aGVs\nbG8=", "signerName": "x"}}
    csr["status"] = {"certificate": []}
    typed.normalize(csr, _schema("certificates.k8s.io", "v1", "CertificateSigningRequest"))
    assert csr["spec"]["request"] == "aGVsbG8="
    assert csr["status"] == {}  # no bytes: omitempty drops the field
