"""The Memcached kind (cache.example.com/v1alpha1), as a typed model."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, Field

from pinnace.runtime.typed import CRDInfo, CustomResource, PrinterColumn, ScaleInfo


class MemcachedSpec(BaseModel):
    """How many memcached servers to run, and which image."""

    size: Annotated[int, Field(ge=0, le=50, description="Number of memcached pods.")] = 1
    image: str = Field("memcached:1.6-alpine", description="The memcached container image.")


class MemcachedStatus(BaseModel):
    """What the operator observed."""

    nodes: list[str] = Field(default_factory=list, description="Names of the memcached pods.")
    replicas: int = 0
    conditions: list[dict[str, Any]] = Field(default_factory=list)


class Memcached(CustomResource):
    """A memcached cluster."""

    crd: ClassVar[CRDInfo] = CRDInfo(
        group="cache.example.com",
        version="v1alpha1",
        kind="Memcached",
        short_names=("mc",),
        scale=ScaleInfo(spec_replicas_path=".spec.size", status_replicas_path=".status.replicas"),
        printer_columns=(
            PrinterColumn("Size", ".spec.size", "integer"),
            PrinterColumn("Ready", ".status.replicas", "integer"),
            PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
        ),
    )
    spec: MemcachedSpec = MemcachedSpec()
    status: MemcachedStatus | None = None
