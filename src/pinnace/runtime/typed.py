"""Typed custom resources: pydantic models for spec and status, one class per kind and version.

A kind is a subclass of :class:`CustomResource` that names its API in a
``crd`` class attribute::

    class MemcachedSpec(BaseModel):
        size: Annotated[int, Field(ge=0, le=100)] = 1

    class MemcachedStatus(BaseModel):
        nodes: list[str] = []

    class Memcached(CustomResource):
        crd = CRDInfo(group="cache.example.com", version="v1alpha1", kind="Memcached",
                      short_names=("mc",), scale=ScaleInfo(spec_replicas_path=".spec.size"))
        spec: MemcachedSpec = MemcachedSpec()
        status: MemcachedStatus | None = None

:mod:`pinnace.runtime.crdgen` turns such classes into a CustomResourceDefinition
(controller-gen's job). The runtime client accepts the class wherever it
accepts a kind, and returns instances of it: ``await client.get(Memcached,
"m", "default")``. Python field names may be snake_case; give them a camelCase
``alias`` (or use :data:`CAMEL`) to match Kubernetes style on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

from pydantic import AliasGenerator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from pinnace.client.restmapper import GVK

__all__ = ["CAMEL", "CRDInfo", "CustomResource", "PrinterColumn", "ScaleInfo", "is_typed", "to_object"]

#: A model config that writes snake_case Python fields as camelCase JSON.
CAMEL = ConfigDict(
    alias_generator=AliasGenerator(serialization_alias=to_camel, validation_alias=to_camel), populate_by_name=True
)


@dataclass(frozen=True)
class PrinterColumn:
    """One ``additionalPrinterColumns`` entry (``kubectl get`` columns)."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0
    format: str = ""


@dataclass(frozen=True)
class ScaleInfo:
    """The scale subresource's paths."""

    spec_replicas_path: str
    status_replicas_path: str = ".status.replicas"
    label_selector_path: str = ""


@dataclass(frozen=True)
class CRDInfo:
    """What a CRD says about a kind besides its schema."""

    group: str
    version: str
    kind: str
    plural: str = ""
    singular: str = ""
    scope: str = "Namespaced"
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    served: bool = True
    storage: bool = True
    status_subresource: bool = True
    scale: ScaleInfo | None = None
    printer_columns: tuple[PrinterColumn, ...] = ()
    validations: tuple[Mapping[str, Any], ...] = field(default=())

    @cached_property
    def gvk(self) -> GVK:
        """The kind's group, version and kind (made once: every read and write of the kind names it)."""
        return GVK(self.group, self.version, self.kind)

    @property
    def plural_name(self) -> str:
        """The plural resource name (lower-case kind + "s" unless given)."""
        return self.plural or _pluralize(self.kind.lower())

    @property
    def singular_name(self) -> str:
        """The singular resource name."""
        return self.singular or self.kind.lower()


def _pluralize(word: str) -> str:
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


class CustomResource(BaseModel):
    """Base class of typed custom resources: apiVersion, kind and metadata, plus the model's own fields."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    #: What the CRD says about this kind; every concrete subclass sets it.
    crd: ClassVar[CRDInfo]

    metadata: dict[str, Any] = {}

    @classmethod
    def gvk(cls) -> GVK:
        """The kind's group/version/kind."""
        return cls.crd.gvk

    def to_object(self) -> dict[str, Any]:
        """The wire form: apiVersion, kind, then the fields (camelCase aliases, unset optionals left out)."""
        body = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return {"apiVersion": self.crd.gvk.api_version, "kind": self.crd.kind, **body}

    @property
    def name(self) -> str:
        """``metadata.name``."""
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        """``metadata.namespace`` ("" if cluster-scoped)."""
        return str(self.metadata.get("namespace") or "")


def is_typed(kind: object) -> bool:
    """Whether ``kind`` is a CustomResource class."""
    return isinstance(kind, type) and issubclass(kind, CustomResource) and hasattr(kind, "crd")


def to_object(obj: CustomResource | Mapping[str, Any]) -> dict[str, Any]:
    """The wire dict of a typed object (dicts pass through)."""
    if isinstance(obj, CustomResource):
        return obj.to_object()
    return dict(obj)
