"""The controller SDK: controller-runtime's proven split, in asyncio Python.

A user implements one method, ``async def reconcile(request) -> Result``; the
rest is wiring, bottom up:

- :mod:`.clock` — the real clock and a fake one that tests advance by hand;
- :mod:`.workqueue` and :mod:`.ratelimit` — deduplicated keys, one worker per
  key, delays and controller-runtime's default backoff;
- :mod:`.cache` — reflector → delta FIFO → indexer → informer, one shared
  informer per kind, reads from memory, field indexes;
- :mod:`.client` — cached reads, direct writes, status writer, merge patches;
- :mod:`.reconcile`, :mod:`.predicate`, :mod:`.handler`, :mod:`.source`,
  :mod:`.controller` — events become requests become reconciles;
- :mod:`.builder` — ``for_(...).owns(...).watches(...).complete(r)``;
- :mod:`.manager` — runs it all with leader election (:mod:`.leaderelection`),
  probes, metrics (:mod:`.metrics`) and events (:mod:`.events`);
- :mod:`.controllerutil`, :mod:`.conditions` — finalizers, owner references,
  create-or-update, status conditions;
- :mod:`.webhook` — admission webhooks (validating, mutating) served by the manager;
- :mod:`.typed`, :mod:`.crdgen` — typed custom resources and the CRDs generated from them;
- :mod:`pinnace.cluster.testenv` (a layer above) — the ``pinnace_env`` pytest fixture (a real server in process).
"""

from typing import TYPE_CHECKING, Any

from pinnace.client.restmapper import GVK
from pinnace.runtime.builder import Builder
from pinnace.runtime.cache.cache import Cache
from pinnace.runtime.client import Apply, Client, JSONPatch, MergeFrom, MergePatch
from pinnace.runtime.clock import Clock, FakeClock, RealClock
from pinnace.runtime.controller import Controller
from pinnace.runtime.events import NORMAL, WARNING, EventRecorder
from pinnace.runtime.handler import EnqueueRequestForObject, EnqueueRequestForOwner, EnqueueRequestsFromMapFunc
from pinnace.runtime.manager import LeaderElectionLost, Manager, ManagerOptions
from pinnace.runtime.predicate import (
    ANNOTATIONS_CHANGED,
    GENERATION_CHANGED,
    LABELS_CHANGED,
    RESOURCE_VERSION_CHANGED,
    Predicate,
    new_predicate,
)
from pinnace.runtime.ratelimit import RateLimiter, default_controller_rate_limiter
from pinnace.runtime.reconcile import Reconciler, ReconcilerFunc, Request, Result, TerminalError
from pinnace.runtime.workqueue import ShutDown, WorkQueue

if TYPE_CHECKING:
    from pinnace.runtime.typed import CRDInfo, CustomResource, PrinterColumn, ScaleInfo
    from pinnace.runtime.webhook import Denied, WebhookServer, mutating, validating

#: Names imported on first use: the webhook server brings aiohttp's server side (~2 MB resident), and typed
#: custom resources bring pydantic (~8 MB), which an operator without webhooks, or without typed CRs, and the
#: controller manager and node agents, need not pay for.
_LAZY = {
    "Denied": "webhook",
    "WebhookServer": "webhook",
    "mutating": "webhook",
    "validating": "webhook",
    "CRDInfo": "typed",
    "CustomResource": "typed",
    "PrinterColumn": "typed",
    "ScaleInfo": "typed",
}


def __getattr__(name: str) -> Any:
    """The lazily imported names (PEP 562)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ANNOTATIONS_CHANGED",
    "GENERATION_CHANGED",
    "GVK",
    "LABELS_CHANGED",
    "NORMAL",
    "RESOURCE_VERSION_CHANGED",
    "WARNING",
    "Apply",
    "Builder",
    "CRDInfo",
    "Cache",
    "Client",
    "Clock",
    "Controller",
    "CustomResource",
    "Denied",
    "EnqueueRequestForObject",
    "EnqueueRequestForOwner",
    "EnqueueRequestsFromMapFunc",
    "EventRecorder",
    "FakeClock",
    "JSONPatch",
    "LeaderElectionLost",
    "Manager",
    "ManagerOptions",
    "MergeFrom",
    "MergePatch",
    "Predicate",
    "PrinterColumn",
    "RateLimiter",
    "RealClock",
    "Reconciler",
    "ReconcilerFunc",
    "Request",
    "Result",
    "ScaleInfo",
    "ShutDown",
    "TerminalError",
    "WebhookServer",
    "WorkQueue",
    "default_controller_rate_limiter",
    "mutating",
    "new_predicate",
    "validating",
]
