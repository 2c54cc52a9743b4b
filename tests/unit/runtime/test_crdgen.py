"""CRDs generated from typed models: structural schemas, names, versions, subresources, columns."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field

from pinnace.runtime.crdgen import SchemaError, crd_for, structural_schema, write_crds
from pinnace.runtime.typed import CAMEL, CRDInfo, CustomResource, PrinterColumn, ScaleInfo, is_typed


class Tier(enum.Enum):
    GOLD = "gold"
    SILVER = "silver"


class WidgetSpec(BaseModel):
    model_config = CAMEL
    size: Annotated[int, Field(ge=0, le=100, description="How many widgets.")] = 1
    mode: Literal["fast", "slow"] = "fast"
    tier: Tier = Tier.SILVER
    labels: dict[str, str] = {}
    port: int | str | None = None
    image_name: Annotated[str, Field(min_length=1, pattern="^[a-z]+$")]
    extra: Any = None
    ratio: float | None = None


class WidgetStatus(BaseModel):
    ready_replicas: int = Field(0, alias="readyReplicas")
    nodes: list[str] = []


class Widget(CustomResource):
    crd: ClassVar[CRDInfo] = CRDInfo(
        group="example.com",
        version="v1",
        kind="Widget",
        short_names=("wd",),
        categories=("all",),
        scale=ScaleInfo(spec_replicas_path=".spec.size", status_replicas_path=".status.readyReplicas"),
        printer_columns=(PrinterColumn("Size", ".spec.size", "integer"),),
        validations=({"rule": "self.spec.size <= 50 || self.spec.mode == 'slow'", "message": "big is slow"},),
    )
    spec: WidgetSpec
    status: WidgetStatus | None = None


class WidgetV1Beta1(CustomResource):
    crd: ClassVar[CRDInfo] = CRDInfo(group="example.com", version="v1beta1", kind="Widget", storage=False)
    spec: dict[str, Any] = {}


def test_structural_schema_converts_pydantic_types() -> None:
    schema = structural_schema(Widget)
    assert schema["type"] == "object"
    assert schema["properties"]["metadata"] == {"type": "object"}
    assert schema["required"] == ["spec"]
    spec = schema["properties"]["spec"]
    assert spec["type"] == "object" and spec["required"] == ["imageName"]
    props = spec["properties"]
    assert props["size"] == {
        "type": "integer",
        "description": "How many widgets.",
        "default": 1,
        "maximum": 100,
        "minimum": 0,
    }
    assert props["mode"] == {"type": "string", "default": "fast", "enum": ["fast", "slow"]}
    assert props["tier"]["enum"] == ["gold", "silver"] and props["tier"]["type"] == "string"
    assert props["labels"]["additionalProperties"] == {"type": "string"}
    assert props["port"] == {"x-kubernetes-int-or-string": True, "nullable": True}
    assert props["imageName"] == {"type": "string", "minLength": 1, "pattern": "^[a-z]+$"}
    assert props["extra"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert props["ratio"] == {"type": "number", "nullable": True}
    status = schema["properties"]["status"]
    assert status["nullable"] is True
    assert status["properties"]["readyReplicas"]["type"] == "integer"
    assert status["properties"]["nodes"] == {"type": "array", "default": [], "items": {"type": "string"}}
    assert schema["x-kubernetes-validations"][0]["message"] == "big is slow"
    assert "title" not in yaml.safe_dump(schema).split()


def test_crd_has_names_versions_subresources_and_columns() -> None:
    crd = crd_for(Widget, WidgetV1Beta1)
    assert crd["metadata"]["name"] == "widgets.example.com"
    spec = crd["spec"]
    assert spec["names"] == {
        "plural": "widgets",
        "singular": "widget",
        "kind": "Widget",
        "listKind": "WidgetList",
        "shortNames": ["wd"],
        "categories": ["all"],
    }
    assert spec["scope"] == "Namespaced"
    v1, v1beta1 = spec["versions"]
    assert (v1["name"], v1["storage"], v1beta1["storage"]) == ("v1", True, False)
    assert v1["subresources"] == {
        "status": {},
        "scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.readyReplicas"},
    }
    assert v1["additionalPrinterColumns"] == [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}]
    assert v1beta1["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-preserve-unknown-fields"]


def test_one_storage_version_and_one_kind_only() -> None:
    class Other(CustomResource):
        crd: ClassVar[CRDInfo] = CRDInfo(group="example.com", version="v2", kind="Widget")

    with pytest.raises(ValueError, match="exactly one version must be the storage version"):
        crd_for(Widget, Other)

    class Gadget(CustomResource):
        crd: ClassVar[CRDInfo] = CRDInfo(group="example.com", version="v1", kind="Gadget")

    with pytest.raises(ValueError, match=r"not example\.com/Widget"):
        crd_for(Widget, Gadget)


def test_recursive_and_ambiguous_models_are_refused() -> None:
    class Node(BaseModel):
        children: list[Node] = []

    class Tree(CustomResource):
        crd: ClassVar[CRDInfo] = CRDInfo(group="example.com", version="v1", kind="Tree")
        spec: Node

    with pytest.raises(SchemaError, match="refers to itself"):
        structural_schema(Tree)

    class Mixed(CustomResource):
        crd: ClassVar[CRDInfo] = CRDInfo(group="example.com", version="v1", kind="Mixed")
        spec: int | list[str]

    with pytest.raises(SchemaError, match="no structural schema"):
        structural_schema(Mixed)


def test_typed_objects_round_trip_in_camel_case() -> None:
    w = Widget(metadata={"name": "a", "namespace": "ns"}, spec=WidgetSpec(image_name="nginx", size=3))
    wire = w.to_object()
    assert wire["apiVersion"] == "example.com/v1" and wire["kind"] == "Widget"
    assert wire["spec"]["imageName"] == "nginx" and "status" not in wire
    again = Widget.model_validate(wire)
    assert again.spec.image_name == "nginx" and again.name == "a" and again.namespace == "ns"
    assert is_typed(Widget) and not is_typed(dict) and not is_typed(CustomResource)


def test_write_crds_writes_one_file_per_kind(tmp_path: Path) -> None:
    paths = write_crds([Widget, WidgetV1Beta1], tmp_path / "crd")
    assert [p.name for p in paths] == ["example.com_widgets.yaml"]
    loaded = yaml.safe_load(paths[0].read_text())
    assert loaded["kind"] == "CustomResourceDefinition" and len(loaded["spec"]["versions"]) == 2


def test_plural_rules() -> None:
    for kind, plural in (
        ("Policy", "policies"),
        ("Box", "boxes"),
        ("Gateway", "gateways"),
        ("Memcached", "memcacheds"),
    ):

        class K(CustomResource):
            model_config = ConfigDict(extra="ignore")
            crd: ClassVar[CRDInfo] = CRDInfo(group="g.io", version="v1", kind=kind)

        assert K.crd.plural_name == plural
