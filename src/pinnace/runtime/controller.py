"""The controller: sources feed a rate-limited workqueue; N workers call the reconciler.

:meth:`Controller.start` starts the sources, waits until they have synced,
then runs ``max_concurrent_reconciles`` workers until :meth:`Controller.stop`.
The workqueue guarantees a request is never reconciled by two workers at
once. After each reconcile:

- an exception → requeue with the rate limiter's backoff (logged with its
  traceback and the request; counted as an error);
- the races every controller meets are not logged as errors: a conflict
  (409, a write from a stale cache) is requeued with backoff quietly for its
  first :data:`QUIET_CONFLICTS` retries; a refusal because the object itself
  was deleted meanwhile (a NotFound naming the request's object, when the
  controller knows its kind) or because its namespace is being deleted (or
  is gone) ends the request, as upstream's controllers drop it;
- :class:`~pinnace.runtime.reconcile.TerminalError` → logged, not requeued;
- ``Result(requeue_after=s)`` → backoff forgotten, requeued after ``s``;
- ``Result(requeue=True)`` → requeued with backoff;
- otherwise → backoff forgotten.

Stopping drains: no new requests are handed out and the reconciles in flight
finish (up to ``drain_timeout``) before the workers end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from pinnace.api import errors
from pinnace.runtime import metrics
from pinnace.runtime.clock import Clock, RealClock
from pinnace.runtime.ratelimit import RateLimiter
from pinnace.runtime.reconcile import Reconciler, Request, Result, TerminalError
from pinnace.runtime.source import Source
from pinnace.runtime.workqueue import ShutDown, WorkQueue

__all__ = ["Controller"]

log = logging.getLogger(__name__)

#: Conflicts in a row on one request that are requeued without an error line: a few are the normal price of
#: optimistic concurrency on a cache that lags the writes; more (about 5 s of backoff) say something keeps
#: writing from a stale read, and that is logged as the error it is.
QUIET_CONFLICTS = 10


class Controller:
    """Runs a reconciler over the requests its sources produce."""

    def __init__(
        self,
        name: str,
        reconciler: Reconciler,
        *,
        max_concurrent_reconciles: int = 1,
        rate_limiter: RateLimiter | None = None,
        clock: Clock | None = None,
        cache_sync_timeout: float = 120.0,
        subject: tuple[str, str] | None = None,
    ) -> None:
        if max_concurrent_reconciles < 1:
            raise ValueError("max_concurrent_reconciles must be at least 1")
        self.name = name
        self.reconciler = reconciler
        self.max_concurrent_reconciles = max_concurrent_reconciles
        self.clock: Clock = clock or RealClock()
        self.queue: WorkQueue[Request] = WorkQueue(name, rate_limiter=rate_limiter, clock=self.clock)
        self.cache_sync_timeout = cache_sync_timeout
        #: The (API group, plural resource) of the objects the requests name, when known (the builder's
        #: for-kind): a NotFound for the request's own object then means it was deleted while reconciled.
        self.subject = subject
        self.sources: list[Source] = []
        self._workers: list[asyncio.Task[None]] = []
        self._started = False
        self._stopped = asyncio.Event()
        # The per-reconcile metric children, looked up once.
        self._reconcile_time = metrics.RECONCILE_TIME.labels(name)
        self._successes = metrics.RECONCILE_TOTAL.labels(name, "success")

    def watch(self, source: Source) -> None:
        """Add a source (before start, or while running: it is started at once then)."""
        self.sources.append(source)
        if self._started:
            asyncio.get_running_loop().create_task(source.start(self.queue))

    async def start(self) -> None:
        """Start the sources, wait for them to sync, then start the workers."""
        if self._started:
            raise RuntimeError(f"controller {self.name} was already started")
        self._started = True
        for source in self.sources:
            await source.start(self.queue)
        for source in self.sources:
            if not await source.wait_for_sync(self.cache_sync_timeout):
                raise TimeoutError(f"controller {self.name}: a source did not sync within {self.cache_sync_timeout}s")
        self._workers = [
            asyncio.create_task(self._work(), name=f"{self.name} worker {i}")
            for i in range(self.max_concurrent_reconciles)
        ]
        log.info("controller %s started with %d workers", self.name, len(self._workers))

    async def run(self) -> None:
        """Start, then serve until :meth:`stop` (or cancellation, which stops too)."""
        await self.start()
        try:
            await self._stopped.wait()
        finally:
            await self.stop()

    async def stop(self, drain_timeout: float = 30.0) -> None:
        """Stop the sources, let reconciles in flight finish, then end the workers."""
        for source in self.sources:
            with contextlib.suppress(Exception):
                await source.stop()
        drained = await self.queue.shut_down_with_drain(drain_timeout)
        if not drained:
            log.warning(
                "controller %s: reconciles still running after %.0fs; cancelling them", self.name, drain_timeout
            )
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()
        self._stopped.set()

    async def _work(self) -> None:
        while True:
            try:
                request = await self.queue.get()
            except ShutDown:
                return
            try:
                await self.reconcile_one(request)
            finally:
                self.queue.done(request)

    async def reconcile_one(self, request: Request) -> None:
        """Reconcile one request and requeue it as its result says."""
        started = time.perf_counter()
        try:
            result = await self.reconciler.reconcile(request)
        except asyncio.CancelledError:
            raise
        except TerminalError as exc:
            metrics.RECONCILE_ERRORS.labels(self.name).inc()
            metrics.RECONCILE_TOTAL.labels(self.name, "error").inc()
            log.error("controller %s: reconcile of %s failed for good: %s", self.name, request, exc)
            self.queue.forget(request)
            return
        except Exception as exc:
            metrics.RECONCILE_ERRORS.labels(self.name).inc()
            metrics.RECONCILE_TOTAL.labels(self.name, "error").inc()
            retry = self.queue.num_requeues(request) + 1
            if self._gone(request, exc):
                log.debug("controller %s: %s went away while reconciled: %s", self.name, request, exc)
                self.queue.forget(request)
                return
            if isinstance(exc, errors.Conflict) and retry <= QUIET_CONFLICTS:
                log.debug("controller %s: reconcile of %s conflicted (retry %d): %s", self.name, request, retry, exc)
            elif isinstance(exc, errors.StatusError):
                # The API refused (a conflict, a quota, a validation): its message says it all; a stack would not.
                log.error("controller %s: reconcile of %s failed (retry %d): %s", self.name, request, retry, exc)
            else:
                log.exception("controller %s: reconcile of %s failed (retry %d)", self.name, request, retry)
            self.queue.add_rate_limited(request)
            return
        finally:
            self._reconcile_time.observe(time.perf_counter() - started)
        self._after(request, result)

    def _gone(self, request: Request, exc: Exception) -> bool:
        """Whether the API refused because the request's object, or its namespace, is gone or going."""
        if errors.namespace_terminating(exc):
            return True
        if not isinstance(exc, errors.NotFound):
            return False
        if request.namespace and (exc.group, exc.kind, exc.name) == ("", "namespaces", request.namespace):
            return True
        return self.subject is not None and (exc.group, exc.kind, exc.name) == (*self.subject, request.name)

    def _after(self, request: Request, result: Result) -> None:
        if result.requeue_after > 0:
            self.queue.forget(request)
            self.queue.add_after(request, result.requeue_after)
            metrics.RECONCILE_TOTAL.labels(self.name, "requeue_after").inc()
        elif result.requeue:
            self.queue.add_rate_limited(request)
            metrics.RECONCILE_TOTAL.labels(self.name, "requeue").inc()
        else:
            self.queue.forget(request)
            self._successes.inc()
