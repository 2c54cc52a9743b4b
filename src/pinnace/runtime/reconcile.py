"""The whole contract a controller's author implements: ``reconcile(Request) -> Result``.

A :class:`Request` names one object (namespace and name) whose world may have
changed; the reconciler reads what it needs, makes the world match the spec,
and returns a :class:`Result`. Raising an exception means "try again later"
(with backoff); ``Result(requeue_after=s)`` means "look again in s seconds";
``Result(requeue=True)`` means "again soon, with backoff"; raising
:class:`TerminalError` means "failed for good" (logged, not retried).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Reconciler", "ReconcilerFunc", "Request", "Result", "TerminalError"]


@dataclass(frozen=True, slots=True, order=True)
class Request:
    """Which object to reconcile: namespace ("" for cluster-scoped) and name."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True, slots=True)
class Result:
    """What to do after a reconcile that did not raise."""

    requeue: bool = False
    requeue_after: float = 0.0


class TerminalError(Exception):
    """A failure that retrying cannot fix: logged and counted, but the request is not requeued."""


class Reconciler(Protocol):
    """Makes the world match one object's spec."""

    async def reconcile(self, request: Request) -> Result:
        """Reconcile the object ``request`` names."""
        ...


class ReconcilerFunc:
    """A plain ``async def f(request) -> Result`` used as a :class:`Reconciler`."""

    def __init__(self, func: Callable[[Request], Awaitable[Result]]) -> None:
        self.func = func

    async def reconcile(self, request: Request) -> Result:
        """Call the function."""
        return await self.func(request)
