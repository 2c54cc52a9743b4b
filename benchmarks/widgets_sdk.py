"""The benchmark's Widget operator on the Pinnace SDK, written as a user would write it.

For each Widget it creates a ConfigMap of the same name, owned by the Widget
(a controller reference), and sets ``status.configMap`` to that name. The same
operator is in ``widgets_kopf.py`` for kopf; ``runtime_vs_kopf.py`` runs both.

Run: ``KUBECONFIG=... python benchmarks/widgets_sdk.py --namespace NS [--workers N]``.
(No ``from __future__ import annotations``: pydantic resolves the models' annotations
when they are defined, so the file also runs under ``python -m cProfile``.)
"""

import argparse
import asyncio
import contextlib
import logging
import sys
from typing import ClassVar

from pydantic import BaseModel

from pinnace.api import errors
from pinnace.client import load_client_config
from pinnace.runtime import GENERATION_CHANGED, Builder, Client, Manager, ManagerOptions, MergePatch, Request, Result
from pinnace.runtime.cache.cache import strip_managed_fields
from pinnace.runtime.controllerutil import set_controller_reference
from pinnace.runtime.typed import CAMEL, CRDInfo, CustomResource

CONFIGMAP = "v1/ConfigMap"
LABELS = {"app.kubernetes.io/managed-by": "widget-operator"}


class WidgetSpec(BaseModel):
    """What the widget holds."""

    size: int = 1
    color: str = "blue"


class WidgetStatus(BaseModel):
    """What the operator made of it."""

    model_config = CAMEL

    config_map: str | None = None


class Widget(CustomResource):
    """The benchmark's custom resource."""

    crd: ClassVar[CRDInfo] = CRDInfo(group="bench.example.com", version="v1", kind="Widget")
    spec: WidgetSpec = WidgetSpec()
    status: WidgetStatus | None = None


class WidgetReconciler:
    """A ConfigMap per Widget, and the Widget's status naming it."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def reconcile(self, request: Request) -> Result:
        """Converge one Widget."""
        try:
            widget: Widget = await self.client.get(Widget, request.name, request.namespace)
        except errors.NotFound:
            return Result()
        try:
            await self.client.get(CONFIGMAP, widget.name, widget.namespace)
        except errors.NotFound:
            cm = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": widget.name, "namespace": widget.namespace, "labels": LABELS},
                "data": {"size": str(widget.spec.size), "color": widget.spec.color},
            }
            set_controller_reference(widget.to_object(), cm)
            with contextlib.suppress(errors.AlreadyExists):  # made by an earlier reconcile, not yet in the cache
                await self.client.create(cm)
        if widget.status is None or widget.status.config_map != widget.name:
            await self.client.status().patch(widget, MergePatch({"status": {"configMap": widget.name}}))
        return Result()


async def run(namespace: str, workers: int) -> int:
    """Serve until a signal."""
    rest = load_client_config().rest_client()
    # The reconciler never reads managedFields: the cache need not keep them (controller-runtime's
    # DefaultTransform: TransformStripManagedFields, as memory-minded operators set it).
    manager = Manager(rest, ManagerOptions(namespace=namespace, cache_transform=strip_managed_fields))
    await (
        Builder(manager)
        .for_(Widget, GENERATION_CHANGED)
        .owns(CONFIGMAP)
        .with_options(max_concurrent_reconciles=workers)
        .complete(WidgetReconciler(manager.client))
    )
    try:
        return await manager.run_until_signal()
    finally:
        await rest.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--namespace", required=True, help="the namespace to serve")
    parser.add_argument("--workers", type=int, default=16, help="max_concurrent_reconciles")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop
    except ImportError:
        return asyncio.run(run(args.namespace, args.workers))
    return uvloop.run(run(args.namespace, args.workers))


if __name__ == "__main__":
    sys.exit(main())
