"""The API server's background tasks (cache followers, repairs, expiry): how they are stopped."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

__all__ = ["cancel"]


async def cancel(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel each task given (None: none) and wait until all have ended, their cancellation swallowed."""
    live = [task for task in tasks if task is not None]
    for task in live:
        task.cancel()
    for task in live:
        with contextlib.suppress(asyncio.CancelledError):
            await task
