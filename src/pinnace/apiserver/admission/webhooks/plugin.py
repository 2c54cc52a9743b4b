"""The MutatingAdmissionWebhook and ValidatingAdmissionWebhook admission plugins.

Mutating webhooks are called one after the other, each on the object as the
previous ones left it; a JSONPatch in an allowing answer changes the object.
With ``reinvocationPolicy: IfNeeded`` a webhook is called once more if a later
webhook changed the object after it ran. Validating webhooks are called
together; the first refusal (in call order) wins.

A refusal is upstream's ``admission webhook "<name>" denied the request:
<message>`` with the answer's code (400 at the least). A webhook that cannot
be called refuses the request with a 500 under ``failurePolicy: Fail`` and is
skipped under ``Ignore``. Dry-run requests reach only webhooks whose
``sideEffects`` are None or NoneOnDryRun. Answers' warnings go to the client.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from typing import TYPE_CHECKING, Any

import orjson

from pinnace.api import admission_cel as celeval
from pinnace.api import errors
from pinnace.api.patch import apply_json_patch
from pinnace.apiserver.admission import AdmissionRequest, matching
from pinnace.apiserver.admission.review import ConfigSource, request_json, status_error
from pinnace.apiserver.admission.webhooks.caller import CallError, WebhookCaller
from pinnace.apiserver.admission.webhooks.config import Webhook, compile_configurations

if TYPE_CHECKING:
    from pinnace.apiserver.rest import RestStore
    from pinnace.apiserver.server import APIServer

__all__ = ["MutatingWebhooks", "ValidatingWebhooks", "denied"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
_GROUP, _VERSION = "admissionregistration.k8s.io", "v1"
_DRY_RUN_SAFE = ("None", "NoneOnDryRun")


def denied(webhook: str, status: Obj | None) -> errors.StatusError:
    """Upstream's ToStatusErr: the refusal a webhook's answer (its ``status``) stands for."""
    status = status or {}
    code = status.get("code")
    code = code if isinstance(code, int) and code >= 400 else 400
    reason = str(status.get("reason") or "")
    by = f'admission webhook "{webhook}" denied the request'
    message = str(status.get("message") or "")
    text = f"{by}: {message}" if message else f"{by}: {reason}" if reason else f"{by} without explanation"
    details = status.get("details") or {}
    causes = [
        errors.Cause(str(c.get("reason") or ""), str(c.get("message") or ""), str(c.get("field") or ""))
        for c in details.get("causes") or ()
        if isinstance(c, dict)
    ]
    return status_error(code, reason, text, causes)


class _Webhooks:
    """What both plugins share: the compiled configurations, matching and calling."""

    name = ""
    plural = ""
    mutating = False

    def __init__(self, rest: RestStore) -> None:
        self.rest = rest
        self.caller = WebhookCaller(rest)
        self.source: ConfigSource[list[Webhook]] = ConfigSource(
            rest, _GROUP, _VERSION, self.plural, lambda objs: compile_configurations(objs, mutating=self.mutating)
        )
        ns = rest.registry.get("", "v1", "namespaces")
        assert ns is not None
        self._namespaces = ns
        self._last: list[Webhook] | None = None

    def _served(self, group: str, version: str, plural: str) -> bool:
        return self.rest.registry.get(group, version, plural) is not None

    def handles(self, request: AdmissionRequest) -> bool:
        """Every request may meet a webhook: which ones is decided from the cached configurations.

        None does while there is no configuration: known without awaiting when the empty list this plugin
        last got is still current (a list it has not seen yet goes through :meth:`_webhooks`, which closes
        the connection pools of webhooks that are gone)."""
        current = self.source.current()
        return current is None or current is not self._last or bool(current)

    async def _webhooks(self) -> list[Webhook]:
        webhooks = await self.source.get()
        if webhooks is not self._last:  # recompiled: close the pools of webhooks that are gone
            self._last = webhooks
            await self.caller.retain(webhooks)
        return webhooks

    async def close(self) -> None:
        """Close the webhooks' connection pools (the server is stopping)."""
        await self.caller.close()

    async def _matching(self, request: AdmissionRequest, webhooks: list[Webhook], uid: str) -> list[Webhook]:
        """The webhooks that apply to the request (a condition that fails to run under Fail: a CallError)."""
        out: list[Webhook] = []
        namespace: Obj | None = None
        looked_up = False
        activation: Obj | None = None
        for hook in webhooks:
            if not matching.rules_match(hook.rules, request, hook.match_policy, self._served):
                continue
            if not hook.namespace_selector.empty and not looked_up:
                looked_up = True
                wanted = matching.namespace_labels_needed(request)
                if wanted:
                    cached = await self.rest.get_cached(self._namespaces, None, wanted)
                    namespace = cached.obj if cached is not None else None
            if not matching.namespace_selector_matches(hook.namespace_selector, request, namespace):
                continue
            if not matching.object_selector_matches(hook.object_selector, request):
                continue
            if hook.match_conditions:
                if activation is None:
                    activation = {
                        "object": request.obj,
                        "oldObject": request.old,
                        "request": request_json(request, uid),
                    }
                if not self._conditions_hold(hook, activation):
                    continue
            if request.dry_run and hook.side_effects not in _DRY_RUN_SAFE:
                raise errors.BadRequest(f'admission webhook "{hook.name}" does not support dry run')
            out.append(hook)
        return out

    @staticmethod
    def _conditions_hold(hook: Webhook, activation: Obj) -> bool:
        try:
            return celeval.conditions_hold(hook.match_conditions, activation)
        except celeval.EvaluationError as exc:
            if hook.fails_closed:
                raise _call_failed(CallError(hook.name, str(exc))) from None
            return False

    async def _review(self, hook: Webhook, request: AdmissionRequest, uid: str) -> Obj | None:
        """The webhook's answer, or None if it failed and may be ignored."""
        try:
            return await self.caller.call(hook, request_json(request, uid))
        except CallError as exc:
            if hook.fails_closed:
                raise _call_failed(exc) from None
            log.warning("%s (failurePolicy Ignore: the request goes on)", exc)
            return None


def _call_failed(exc: CallError) -> errors.InternalError:
    return errors.InternalError(f"Internal error occurred: {exc}")


class MutatingWebhooks(_Webhooks):
    """MutatingAdmissionWebhook: calls the mutating webhooks in order and applies their patches."""

    name = "MutatingAdmissionWebhook"
    plural = "mutatingwebhookconfigurations"
    mutating = True
    #: It reports its own changes (``request.mutated``, when a patch changed the object): most requests meet no
    #: webhook, and their objects must not lose the proof that they are normal.
    mutates = False

    @classmethod
    def for_server(cls, server: APIServer) -> MutatingWebhooks:
        """The plugin of an API server."""
        return cls(server.rest)

    async def admit(self, request: AdmissionRequest) -> None:
        """Call each matching webhook on the object as it stands; reinvoke IfNeeded ones after later changes."""
        webhooks = await self._webhooks()
        if not webhooks:
            return
        uid = str(uuid.uuid4())
        hooks = await self._matching(request, webhooks, uid)
        changes = 0
        ran_at: dict[int, int] = {}
        for i, hook in enumerate(hooks):
            if await self._mutate(hook, request, uid):
                changes += 1
            ran_at[i] = changes
        for i, hook in enumerate(hooks):
            if hook.reinvocation_policy == "IfNeeded" and ran_at.get(i, changes) < changes:
                await self._mutate(hook, request, uid)

    async def _mutate(self, hook: Webhook, request: AdmissionRequest, uid: str) -> bool:
        """Call one webhook; whether its patch changed the object."""
        response = await self._review(hook, request, uid)
        if response is None:
            return False
        request.warnings.extend(str(w) for w in response.get("warnings") or ())
        if not response["allowed"]:
            raise denied(hook.name, response.get("status"))
        patch = response.get("patch")
        if not patch or request.obj is None:
            return False
        if response.get("patchType") != "JSONPatch":
            raise _call_failed(CallError(hook.name, f"unsupported patch type {response.get('patchType')!r}"))
        try:
            operations = base64.b64decode(str(patch))
            patched = apply_json_patch(request.obj, orjson.loads(operations))
        except (ValueError, errors.StatusError) as exc:
            raise _call_failed(CallError(hook.name, f"the patch does not apply: {exc}")) from None
        if patched == request.obj:
            return False
        request.obj.clear()
        request.obj.update(patched)
        request.mutated = True
        return True


class ValidatingWebhooks(_Webhooks):
    """ValidatingAdmissionWebhook: calls the matching validating webhooks together; any may refuse."""

    name = "ValidatingAdmissionWebhook"
    plural = "validatingwebhookconfigurations"

    @classmethod
    def for_server(cls, server: APIServer) -> ValidatingWebhooks:
        """The plugin of an API server."""
        return cls(server.rest)

    async def validate(self, request: AdmissionRequest) -> None:
        """Refuse the request if any matching webhook does (the first in call order wins)."""
        webhooks = await self._webhooks()
        if not webhooks:
            return
        uid = str(uuid.uuid4())
        hooks = await self._matching(request, webhooks, uid)
        if not hooks:
            return
        results = await asyncio.gather(*(self._review(h, request, uid) for h in hooks), return_exceptions=True)
        for hook, result in zip(hooks, results, strict=True):
            if isinstance(result, BaseException):
                raise result
            if result is None:
                continue
            request.warnings.extend(str(w) for w in result.get("warnings") or ())
            if not result["allowed"]:
                raise denied(hook.name, result.get("status"))
