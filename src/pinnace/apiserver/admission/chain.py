"""The admission chain: runs the mutating, then the validating plugins on every write.

:class:`AdmissionChain` is what the generic REST store calls (upstream's
``admission.chainAdmissionHandler``): :meth:`AdmissionChain.admit` before the
object's own defaulting and validation, :meth:`AdmissionChain.validate` after
them, both inside the update's read-modify-CAS loop so that each attempt is
admitted against the object it will replace. A plugin refuses by raising a
``StatusError``; any other exception is a bug in the plugin: it is logged with
its cause and answered as a 500 Status, never a crash and never a write.

Warnings the plugins add go to the request's warning sink (:data:`warning_sink`,
set by the dispatcher for the duration of a request), from where they reach the
client as ``Warning: 299 - "…"`` headers. Writes the server makes on its own
(no sink set) drop them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from contextvars import ContextVar

from pinnace.api import errors
from pinnace.api.registry import ResourceInfo
from pinnace.apiserver.admission import AdmissionRequest, MutatingPlugin, Obj, Operation, ValidatingPlugin
from pinnace.apiserver.user import current_user

__all__ = ["AdmissionChain", "add_warnings", "forbidden", "request_for", "warning_sink"]

log = logging.getLogger(__name__)

#: Where the warnings of the request being served go (None: nobody listens, e.g. the server's own writes).
warning_sink: ContextVar[list[str] | None] = ContextVar("pinnace_admission_warnings", default=None)


def add_warnings(messages: Sequence[str]) -> None:
    """Hand warnings to the client of the current request (no-op outside a request); duplicates are dropped."""
    sink = warning_sink.get()
    if sink is None:
        return
    for message in messages:
        if message not in sink:
            sink.append(message)


class AdmissionChain:
    """The ordered mutating and validating plugins of one API server."""

    def __init__(self, mutating: Sequence[MutatingPlugin] = (), validating: Sequence[ValidatingPlugin] = ()) -> None:
        """Plugins run in the order given (upstream's order is the caller's business: see the package doc)."""
        self.mutating: list[MutatingPlugin] = list(mutating)
        self.validating: list[ValidatingPlugin] = list(validating)

    def __bool__(self) -> bool:
        return bool(self.mutating or self.validating)

    def plugin(self, name: str) -> MutatingPlugin | ValidatingPlugin | None:
        """The plugin of that name, or None."""
        found: list[MutatingPlugin | ValidatingPlugin] = [p for p in self.mutating if p.name == name]
        found += [p for p in self.validating if p.name == name]
        return found[0] if found else None

    async def admit(self, request: AdmissionRequest) -> None:
        """Run the mutating plugins that handle the request, in order (each sees the previous one's changes).

        ``request.mutated`` tells the caller whether the object may have changed: set when a plugin that may
        mutate (all but those declaring ``mutates = False``) handled the request.
        """
        for plugin in self.mutating:
            if plugin.handles(request):
                if getattr(plugin, "mutates", True):
                    request.mutated = True
                await _guarded(plugin.name, plugin.admit(request), request)
        self._flush(request)

    async def validate(self, request: AdmissionRequest) -> None:
        """Run the validating plugins that handle the request, in order; the first refusal wins."""
        for plugin in self.validating:
            if plugin.handles(request):
                await _guarded(plugin.name, plugin.validate(request), request)
        self._flush(request)

    async def review(self, request: AdmissionRequest) -> None:
        """Both phases at once, for writes with no object validation in between (DELETE, CONNECT)."""
        await self.admit(request)
        await self.validate(request)

    @staticmethod
    def _flush(request: AdmissionRequest) -> None:
        if request.warnings:
            add_warnings(request.warnings)
            request.warnings.clear()


async def _guarded(name: str, call: Awaitable[None], request: AdmissionRequest) -> None:
    """Await one plugin call; a non-Status exception becomes a logged 500."""
    try:
        await call
    except errors.StatusError:
        raise
    except Exception as exc:
        log.exception(
            "admission plugin %s failed on %s %s %s/%s",
            name,
            request.operation.value,
            request.info.group_resource,
            request.namespace,
            request.name,
        )
        raise errors.InternalError(f"admission plugin {name!r} failed: {exc}") from exc


def forbidden(request: AdmissionRequest, reason: str, causes: list[errors.Cause] | None = None) -> errors.Forbidden:
    """Upstream's ``admission.NewForbidden``: ``pods "x" is forbidden: <reason>`` (403)."""
    name = request.name or str(((request.obj or {}).get("metadata") or {}).get("name") or "")
    resource = request.info.group_resource
    message = f'{resource} "{name}" is forbidden: {reason}' if name else f"{resource} is forbidden: {reason}"
    return errors.Forbidden(message, group=request.info.group, kind=request.info.plural, name=name, causes=causes or [])


def request_for(
    operation: Operation,
    info: ResourceInfo,
    namespace: str | None,
    name: str,
    obj: Obj | None,
    old: Obj | None,
    *,
    subresource: str | None = None,
    dry_run: bool = False,
    options: Obj | None = None,
) -> AdmissionRequest:
    """The admission request of a write served for the current request's user (:data:`current_user`)."""
    return AdmissionRequest(
        operation,
        info,
        namespace or "",
        name,
        obj,
        old,
        current_user.get(),
        subresource=subresource or "",
        dry_run=dry_run,
        options=options,
    )
