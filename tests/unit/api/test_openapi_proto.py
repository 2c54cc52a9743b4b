"""The v2 document in gnostic's protobuf form parses with gnostic's own descriptor, as kubectl embeds it."""

from __future__ import annotations

import functools
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import any_pb2, descriptor_pool, message_factory

from pinnace.api import openapi, openapi_proto
from pinnace.api.registry import builtin_registry

TOOLS = Path(__file__).resolve().parents[3] / "tools"


@functools.cache
def gnostic_document_class() -> Any:
    """The ``openapi.v2.Document`` message class, built from the descriptor in the kubectl on the PATH."""
    sys.path.insert(0, str(TOOLS))
    from extract_openapi_v2_proto import raw_descriptor

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl 1.32 is required on the PATH")
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(any_pb2.DESCRIPTOR.serialized_pb)
    pool.AddSerializedFile(raw_descriptor(Path(kubectl).read_bytes()))
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("openapi.v2.Document"))


def _named(entries: Any) -> dict[str, Any]:
    return {e.name: e.value for e in entries}


def test_the_builtin_document_round_trips_its_definitions_and_paths() -> None:
    doc = openapi.swagger_v2(builtin_registry())
    parsed = gnostic_document_class().FromString(openapi_proto.document(doc))
    assert parsed.swagger == "2.0" and parsed.info.title == doc["info"]["title"]
    definitions = _named(parsed.definitions.additional_properties)
    assert set(definitions) == set(doc["definitions"])
    assert [p.name for p in parsed.paths.path] == list(doc["paths"])
    deployment = definitions["io.k8s.api.apps.v1.Deployment"]
    gvk = _named(deployment.vendor_extension)["x-kubernetes-group-version-kind"]
    assert '"kind":"Deployment"' in gvk.yaml
    spec = _named(deployment.properties.additional_properties)["spec"]
    assert spec._ref == "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
    replicas = _named(definitions["io.k8s.api.apps.v1.DeploymentSpec"].properties.additional_properties)["replicas"]
    assert list(replicas.type.value) == ["integer"] and replicas.format == "int32"


def test_the_choices_gnostic_makes_by_content() -> None:
    doc = {
        "swagger": "2.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/x": {
                "parameters": [{"$ref": "#/parameters/p"}],
                "post": {
                    "parameters": [
                        {"name": "body", "in": "body", "required": True, "schema": {"$ref": "#/definitions/D"}},
                        {"name": "q", "in": "query", "type": "string", "uniqueItems": True},
                        {"name": "n", "in": "path", "type": "string", "required": True},
                    ],
                    "responses": {"201": {"description": "ok", "schema": {"type": "object"}}, "401": {"$ref": "#/r"}},
                },
            }
        },
        "definitions": {
            "D": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "properties": {"a": {"type": ["string", "null"], "enum": ["x", 1], "default": {"k": [1]}}},
                "x-kubernetes-preserve-unknown-fields": True,
            },
            "E": {"additionalProperties": False, "items": {"type": "integer"}, "maximum": 2.5, "minLength": 3},
        },
    }
    parsed = gnostic_document_class().FromString(openapi_proto.document(doc))
    item = parsed.paths.path[0].value
    assert item.parameters[0].json_reference._ref == "#/parameters/p"
    body, query, path = item.post.parameters
    assert body.parameter.body_parameter.schema._ref == "#/definitions/D"
    assert query.parameter.non_body_parameter.query_parameter_sub_schema.unique_items
    assert path.parameter.non_body_parameter.path_parameter_sub_schema.required
    responses = _named(item.post.responses.response_code)
    assert responses["201"].response.schema.schema.type.value == ["object"]
    assert responses["401"].json_reference._ref == "#/r"
    d = _named(parsed.definitions.additional_properties)
    assert d["D"].additional_properties.schema.type.value == ["string"]
    a = _named(d["D"].properties.additional_properties)["a"]
    assert list(a.type.value) == ["string", "null"]
    assert [e.yaml for e in a.enum] == ['"x"\n', "1\n"] and a.default.yaml == '{"k":[1]}\n'
    assert _named(d["D"].vendor_extension)["x-kubernetes-preserve-unknown-fields"].yaml == "true\n"
    assert d["E"].additional_properties.boolean is False and d["E"].additional_properties.HasField("boolean")
    assert d["E"].items.schema[0].type.value == ["integer"]
    assert d["E"].maximum == 2.5 and d["E"].min_length == 3
