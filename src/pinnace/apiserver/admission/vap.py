"""ValidatingAdmissionPolicy: in-process validation in CEL, bound to resources by ValidatingAdmissionPolicyBindings.

A policy (admissionregistration.k8s.io/v1) says what it matches
(``matchConstraints``), when it applies (``matchConditions``), named
intermediate values (``variables``) and its ``validations``: CEL expressions
over ``object``, ``oldObject``, ``request``, ``params``, ``namespaceObject``
and ``variables`` that must hold. A binding puts a policy to work: it may
narrow what it matches (``matchResources``), gives it parameters
(``paramRef``: an object of the policy's ``paramKind`` by name, or every
one a label selector picks, in the request's namespace unless it names
one; none found: ``parameterNotFoundAction``) and says what a failure does
(``validationActions``: Deny refuses the request, Warn returns a warning,
Audit is logged).

Refusals read as upstream's: ``configmaps "x" is forbidden:
ValidatingAdmissionPolicy 'p' with binding 'b' denied request: <message>``,
with the code of the validation's ``reason`` (Invalid: 422 by default). A
policy that cannot be evaluated (bad expression, missing parameters) follows
its ``failurePolicy``: Fail refuses, Ignore lets the request through.
Policies are compiled when the set of policies changes; each expression's
program is compiled once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pinnace.api import admission_cel as celeval
from pinnace.api import errors, selectors
from pinnace.api.registry import ResourceInfo
from pinnace.apiserver.admission import AdmissionRequest, matching
from pinnace.apiserver.admission.chain import forbidden
from pinnace.apiserver.admission.review import ConfigSource, request_json, status_error

if TYPE_CHECKING:
    from pinnace.apiserver.rest import RestStore
    from pinnace.apiserver.server import APIServer

__all__ = ["ValidatingAdmissionPolicy"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
_GROUP, _VERSION = "admissionregistration.k8s.io", "v1"
_CODES = {"Unauthorized": 401, "Forbidden": 403, "Invalid": 422, "RequestEntityTooLarge": 413}


class _Misconfigured(Exception):
    """A policy or binding that cannot be evaluated for this request (its failurePolicy decides)."""


@dataclass(frozen=True, slots=True)
class _Validation:
    expression: str
    message: str
    message_expression: str
    reason: str


@dataclass(frozen=True, slots=True)
class _Policy:
    name: str
    fails_closed: bool
    param_kind: tuple[str, str] | None
    match: Obj
    conditions: tuple[tuple[str, str], ...]
    variables: tuple[tuple[str, str], ...]
    validations: tuple[_Validation, ...]
    #: Why the policy cannot be evaluated at all (an expression that does not compile).
    broken: str


def _compile_policy(obj: Obj) -> _Policy:
    spec = obj.get("spec") or {}
    problems: list[str] = []

    def checked(items: Any, key: str, what: str) -> list[Obj]:
        out = []
        for i, item in enumerate(items or ()):
            text = str(item.get(key) or "")
            try:
                celeval.compile_expression(text)
            except celeval.CompileError as exc:
                problems.append(f"spec.{what}[{i}].{key}: compilation failed: {exc}")
                continue
            out.append(item)
        return out

    validations = [
        _Validation(
            str(v["expression"]),
            str(v.get("message") or ""),
            str(v.get("messageExpression") or ""),
            str(v.get("reason") or "Invalid"),
        )
        for v in checked(spec.get("validations"), "expression", "validations")
    ]
    for i, v in enumerate(validations):
        if v.message_expression:
            try:
                celeval.compile_expression(v.message_expression)
            except celeval.CompileError as exc:
                problems.append(f"spec.validations[{i}].messageExpression: compilation failed: {exc}")
    param = spec.get("paramKind")
    return _Policy(
        name=str((obj.get("metadata") or {}).get("name") or ""),
        fails_closed=spec.get("failurePolicy") != "Ignore",
        param_kind=(str(param.get("apiVersion") or ""), str(param.get("kind") or "")) if param else None,
        match=spec.get("matchConstraints") or {},
        conditions=tuple(
            (str(c.get("name")), str(c["expression"]))
            for c in checked(spec.get("matchConditions"), "expression", "matchConditions")
        ),
        variables=tuple(
            (str(v.get("name")), str(v["expression"]))
            for v in checked(spec.get("variables"), "expression", "variables")
        ),
        validations=tuple(validations),
        broken="; ".join(problems),
    )


def _compile_policies(objects: list[Obj]) -> dict[str, _Policy]:
    return {p.name: p for p in map(_compile_policy, objects)}


class ValidatingAdmissionPolicy:
    """The ValidatingAdmissionPolicy admission plugin."""

    name = "ValidatingAdmissionPolicy"

    def __init__(self, rest: RestStore) -> None:
        self.rest = rest
        self.policies: ConfigSource[dict[str, _Policy]] = ConfigSource(
            rest, _GROUP, _VERSION, "validatingadmissionpolicies", _compile_policies
        )
        self.bindings: ConfigSource[list[Obj]] = ConfigSource(
            rest, _GROUP, _VERSION, "validatingadmissionpolicybindings", list
        )
        namespaces = rest.registry.get("", "v1", "namespaces")
        assert namespaces is not None
        self._namespaces = namespaces

    @classmethod
    def for_server(cls, server: APIServer) -> ValidatingAdmissionPolicy:
        """The plugin of an API server."""
        return cls(server.rest)

    def handles(self, request: AdmissionRequest) -> bool:
        """Every request may be bound to a policy: which ones is decided from the cached bindings (none while
        there is no binding, known without awaiting when the compiled bindings are current)."""
        bindings = self.bindings.current()
        return bindings is None or bool(bindings)

    def _served(self, group: str, version: str, plural: str) -> bool:
        return self.rest.registry.get(group, version, plural) is not None

    async def validate(self, request: AdmissionRequest) -> None:
        """Run every bound policy that matches; refuse on the first Deny failure."""
        bindings = await self.bindings.get()
        if not bindings:
            return
        policies = await self.policies.get()
        context = _Context(request)
        for binding in bindings:
            spec = binding.get("spec") or {}
            policy = policies.get(str(spec.get("policyName") or ""))
            if policy is None:
                continue
            if not await self._matches(policy.match, request, context, rules_required=True):
                continue
            if spec.get("matchResources") and not await self._matches(
                spec["matchResources"], request, context, rules_required=False
            ):
                continue
            binding_name = str((binding.get("metadata") or {}).get("name") or "")
            try:
                failures = await self._evaluate(policy, spec, request, context)
            except _Misconfigured as exc:
                if not policy.fails_closed:
                    log.warning("policy %s with binding %s ignored: %s", policy.name, binding_name, exc)
                    continue
                failures = [(str(exc), "Invalid")]
            for message, reason in failures:
                self._act(
                    request, policy.name, binding_name, spec.get("validationActions") or ["Deny"], message, reason
                )

    def _act(
        self, request: AdmissionRequest, policy: str, binding: str, actions: list[str], message: str, reason: str
    ) -> None:
        if "Warn" in actions:
            request.warnings.append(
                f"Validation failed for ValidatingAdmissionPolicy '{policy}' with binding '{binding}': {message}"
            )
        if "Audit" in actions:
            log.info("audit: ValidatingAdmissionPolicy %r with binding %r failed: %s", policy, binding, message)
        if "Deny" in actions:
            text = f"ValidatingAdmissionPolicy '{policy}' with binding '{binding}' denied request: {message}"
            base = forbidden(request, text)
            raise status_error(_CODES.get(reason, 422), reason, base.message, [errors.Cause("", text, "")])

    async def _matches(self, match: Obj, request: AdmissionRequest, context: _Context, *, rules_required: bool) -> bool:
        rules = match.get("resourceRules")
        policy = str(match.get("matchPolicy") or "Equivalent")
        if (rules or rules_required) and not matching.rules_match(rules, request, policy, self._served):
            return False
        if matching.rules_match(match.get("excludeResourceRules"), request, policy, self._served):
            return False
        try:
            ns_selector = matching.selector(match.get("namespaceSelector"))
            object_selector = matching.selector(match.get("objectSelector"))
        except errors.StatusError:
            return False
        if not ns_selector.empty and not matching.namespace_selector_matches(
            ns_selector, request, await context.namespace(self)
        ):
            return False
        return matching.object_selector_matches(object_selector, request)

    async def _evaluate(
        self, policy: _Policy, binding: Obj, request: AdmissionRequest, context: _Context
    ) -> list[tuple[str, str]]:
        """The (message, reason) of every validation that fails, for every parameter object."""
        if policy.broken:
            raise _Misconfigured(f"failed to configure policy: {policy.broken}")
        failures: list[tuple[str, str]] = []
        for params in await self._params(policy, binding, request):
            activation = {
                "object": request.obj,
                "oldObject": request.old,
                "request": context.request_json(),
                "params": params,
                "namespaceObject": await context.namespace(self),
            }
            try:
                if not celeval.conditions_hold(policy.conditions, activation):
                    continue
            except celeval.EvaluationError as exc:
                raise _Misconfigured(str(exc)) from None
            activation["variables"] = _variables(policy, activation)
            for validation in policy.validations:
                failure = _check(validation, activation)
                if failure is not None:
                    failures.append(failure)
        return failures

    async def _params(self, policy: _Policy, binding: Obj, request: AdmissionRequest) -> list[Obj | None]:
        """The parameter objects to validate against ([None] for a policy without paramKind)."""
        if policy.param_kind is None:
            return [None]
        api_version, kind = policy.param_kind
        group, _, version = api_version.rpartition("/")
        info = self.rest.registry.by_kind(group, version, kind)
        if info is None:
            raise _Misconfigured(
                "failed to configure policy: failed to find resource referenced by paramKind: "
                f"'{api_version}, Kind={kind}'"
            )
        ref = binding.get("paramRef")
        if not isinstance(ref, dict):
            raise _Misconfigured(
                f"failed to configure binding: paramKind {kind} is set but the binding has no paramRef"
            )
        namespace = self._param_namespace(info, ref, request)
        found: list[Obj | None] = []
        if ref.get("name"):
            cached = await self.rest.get_cached(info, namespace, str(ref["name"]))
            found = [cached.obj] if cached is not None else []
        else:
            try:
                chosen = selectors.from_label_selector(ref.get("selector") or {})
            except errors.StatusError as exc:
                raise _Misconfigured(f"failed to configure binding: {exc.message}") from None
            cache = await self.rest.fresh_cache(info)
            found = [
                c.obj for c in cache.list(namespace) if chosen.matches((c.obj.get("metadata") or {}).get("labels"))
            ]
        if found:
            return found
        if ref.get("parameterNotFoundAction") == "Allow":
            return []
        raise _Misconfigured(
            "failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction"
        )

    @staticmethod
    def _param_namespace(info: ResourceInfo, ref: Obj, request: AdmissionRequest) -> str | None:
        if not info.namespaced:
            return None
        if ref.get("namespace"):
            return str(ref["namespace"])
        if not request.namespace:
            raise _Misconfigured(
                "failed to configure binding: cannot use a namespaced paramRef without a namespace "
                "for a cluster-scoped request"
            )
        return request.namespace


class _Context:
    """What every binding evaluated for one request shares: its JSON and its Namespace, made once."""

    def __init__(self, request: AdmissionRequest) -> None:
        self.request = request
        self._json: Obj | None = None
        self._namespace: Obj | None = None
        self._looked_up = False

    def request_json(self) -> Obj:
        if self._json is None:
            self._json = request_json(self.request, "")
        return self._json

    async def namespace(self, plugin: ValidatingAdmissionPolicy) -> Obj | None:
        """The request's Namespace object (None for cluster-scoped requests)."""
        if not self._looked_up:
            self._looked_up = True
            if self.request.namespace and self.request.info.namespaced:
                cached = await plugin.rest.get_cached(plugin._namespaces, None, self.request.namespace)
                self._namespace = cached.obj if cached is not None else None
        return self._namespace


def _variables(policy: _Policy, activation: Obj) -> Obj:
    """The policy's variables in order, each seeing the ones before it (one that fails is left out)."""
    values: Obj = {}
    for name, expression in policy.variables:
        try:
            values[name] = celeval.evaluate(expression, {**activation, "variables": values})
        except celeval.EvaluationError as exc:
            log.debug("variable %s of policy %s failed: %s", name, policy.name, exc)
    return values


def _check(validation: _Validation, activation: Obj) -> tuple[str, str] | None:
    """None if the validation holds, else its (message, reason)."""
    try:
        result = celeval.evaluate(validation.expression, activation)
    except celeval.EvaluationError as exc:
        raise _Misconfigured(f"expression '{validation.expression}' resulted in error: {exc}") from None
    if result is True:
        return None
    if result is not False:
        raise _Misconfigured(f"expression '{validation.expression}' did not evaluate to a boolean")
    message = validation.message or f"failed expression: {validation.expression}"
    if validation.message_expression:
        try:
            produced = celeval.evaluate(validation.message_expression, activation)
        except celeval.EvaluationError:
            produced = None
        if isinstance(produced, str) and produced.strip():
            message = produced.strip()
    return message, validation.reason
