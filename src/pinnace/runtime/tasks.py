"""Stopping background tasks: cancel them and wait until each has ended.

The API server has its own (:mod:`pinnace.apiserver.background`, below this layer); everything built on the
runtime — the informer cache, controllers, the cluster's DNS, metrics and ingress servers — uses this one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel every task, then wait for each to end, its cancellation swallowed (any other error is raised)."""
    live = list(tasks)
    for task in live:
        task.cancel()
    for task in live:
        with contextlib.suppress(asyncio.CancelledError):
            await task
