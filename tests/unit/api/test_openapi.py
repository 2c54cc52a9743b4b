"""The OpenAPI documents carry what ``kubectl explain`` reads: types it can name, required fields, GVKs."""

from __future__ import annotations

from pinnace.api import openapi
from pinnace.api.registry import builtin_registry

QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"


def test_v3_describes_quantity_and_int_or_string_with_one_of_and_no_type() -> None:
    schemas = openapi.group_version_v3(builtin_registry(), "", "v1")["components"]["schemas"]
    assert "type" not in schemas[QUANTITY]
    assert schemas[QUANTITY]["oneOf"] == [{"type": "string"}, {"type": "number"}]
    assert "type" not in schemas[INT_OR_STRING]
    assert schemas[INT_OR_STRING]["format"] == "int-or-string"
    assert schemas[INT_OR_STRING]["oneOf"] == [{"type": "integer"}, {"type": "string"}]
    limits = schemas["io.k8s.api.core.v1.ResourceRequirements"]["properties"]["limits"]
    assert limits["additionalProperties"] == {"$ref": "#/components/schemas/" + QUANTITY}


def test_v2_keeps_them_strings() -> None:
    definitions = openapi.swagger_v2(builtin_registry())["definitions"]
    assert definitions[QUANTITY]["type"] == "string"
    assert definitions[INT_OR_STRING] == {"type": "string", "format": "int-or-string", "description": ""}


def test_v3_paths_name_their_kind_and_schemas_their_required_fields() -> None:
    doc = openapi.group_version_v3(builtin_registry(), "apps", "v1")
    post = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]["post"]
    assert post["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    spec = doc["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"]
    assert set(spec["required"]) == {"selector", "template"}
    assert spec["properties"]["strategy"] == {
        "description": "The deployment strategy to use to replace existing pods with new ones.",
        "allOf": [{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"}],
        "x-kubernetes-patch-strategy": "retainKeys",
    }
