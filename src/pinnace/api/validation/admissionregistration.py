"""admissionregistration.k8s.io/v1: webhook configurations, ValidatingAdmissionPolicies and their bindings.

Upstream's ``admissionregistration/validation`` checks, so a configuration
that could never work is refused when it is written (422, each problem at
its field path) instead of failing every request it matches later: client
configs (exactly one of an https ``url`` or a ``service``), rules, policies
(Fail/Ignore, Exact/Equivalent, Never/IfNeeded), ``sideEffects`` (None or
NoneOnDryRun in v1), ``admissionReviewVersions``, timeouts (1 to 30 s), unique
fully qualified webhook names, selectors, and every CEL expression compiled
in the admission environment (``compilation failed: …``).
"""

from __future__ import annotations

import re
from typing import Any

from pinnace.api import admission_cel, errors, selectors
from pinnace.api.errors import Cause
from pinnace.api.validation.field import duplicate, forbidden, invalid, not_supported, required
from pinnace.api.validation.shapes import as_list as _list

__all__ = ["mutating_webhooks", "policy", "policy_binding", "validating_webhooks"]

Obj = dict[str, Any]

_FAILURE_POLICIES = ("Fail", "Ignore")
_MATCH_POLICIES = ("Exact", "Equivalent")
_SIDE_EFFECTS = ("None", "NoneOnDryRun")
_REINVOCATION = ("Never", "IfNeeded")
_OPERATIONS = ("*", "CREATE", "UPDATE", "DELETE", "CONNECT")
_SCOPES = ("Cluster", "Namespaced", "*")
_REVIEW_VERSIONS = ("v1", "v1beta1")
_REASONS = ("Unauthorized", "Forbidden", "Invalid", "RequestEntityTooLarge")
_ACTIONS = ("Deny", "Warn", "Audit")
_CEL_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def _spec(obj: Obj) -> Obj:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _expression(path: str, text: Any) -> list[Cause]:
    if not isinstance(text, str) or not text.strip():
        return [required(path, "expression is not specified")]
    try:
        admission_cel.compile_expression(text)
    except admission_cel.CompileError as exc:
        return [invalid(path, text, f"compilation failed: {exc}")]
    return []


def _one_of(path: str, value: Any, allowed: tuple[str, ...]) -> list[Cause]:
    return [] if value is None or value in allowed else [not_supported(path, value, allowed)]


def _selector(path: str, value: Any) -> list[Cause]:
    if value is None:
        return []
    try:
        selectors.from_label_selector(value)
    except errors.StatusError as exc:
        return [invalid(path, "", exc.message)]
    return []


def _rules(path: str, rules: Any, *, required_rules: bool, named: bool = False) -> list[Cause]:
    causes: list[Cause] = []
    if required_rules and not _list(rules):
        return [required(path)]
    for i, rule in enumerate(_list(rules)):
        where = f"{path}[{i}]"
        if not isinstance(rule, dict):
            causes.append(invalid(where, "", "must be an object"))
            continue
        for key in ("operations", "apiGroups", "apiVersions", "resources"):
            values = _list(rule.get(key))
            if not values:
                causes.append(required(f"{where}.{key}"))
            elif "*" in values and len(values) > 1:
                causes.append(invalid(f"{where}.{key}", values, f"if '*' is present, must not specify other {key}"))
        for j, op in enumerate(_list(rule.get("operations"))):
            causes += _one_of(f"{where}.operations[{j}]", op, _OPERATIONS)
        causes += _one_of(f"{where}.scope", rule.get("scope"), _SCOPES)
        if not named and rule.get("resourceNames") is not None:
            causes.append(invalid(f"{where}.resourceNames", rule["resourceNames"], "not allowed in webhook rules"))
    return causes


def _match_conditions(path: str, conditions: Any) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, cond in enumerate(_list(conditions)):
        where = f"{path}[{i}]"
        name = cond.get("name") if isinstance(cond, dict) else None
        if not isinstance(name, str) or not name:
            causes.append(required(f"{where}.name"))
        elif not _QUALIFIED_NAME.match(name) or len(name.rpartition("/")[2]) > 63:
            causes.append(invalid(f"{where}.name", name, "must be a qualified name"))
        elif name in seen:
            causes.append(duplicate(f"{where}.name", name))
        else:
            seen.add(name)
        causes += _expression(f"{where}.expression", cond.get("expression") if isinstance(cond, dict) else None)
    if len(_list(conditions)) > 64:
        causes.append(Cause("FieldValueTooMany", f"Too many: {len(conditions)}: must have at most 64 items", path))
    return causes


def _client_config(path: str, config: Any) -> list[Cause]:
    config = config if isinstance(config, dict) else {}
    url, service = config.get("url"), config.get("service")
    if bool(url) == bool(service):
        return [required(path, "exactly one of url or service is required")]
    if url:
        if not str(url).startswith("https://"):
            return [invalid(f"{path}.url", url, "'https' is the only allowed URL scheme")]
        if "#" in str(url) or "?" in str(url):
            return [invalid(f"{path}.url", url, "fragments and query parameters are not allowed")]
        return []
    causes: list[Cause] = []
    for key in ("namespace", "name"):
        if not service.get(key):
            causes.append(required(f"{path}.service.{key}", f"service {key} is required"))
    port = service.get("port")
    if port is not None and not (isinstance(port, int) and 1 <= port <= 65535):
        causes.append(invalid(f"{path}.service.port", port, "port is not valid: must be between 1 and 65535"))
    service_path = service.get("path")
    if service_path and not str(service_path).startswith("/"):
        causes.append(invalid(f"{path}.service.path", service_path, "must start with a '/'"))
    return causes


def _webhooks(obj: Obj, *, mutating: bool) -> list[Cause]:
    causes: list[Cause] = []
    names: set[str] = set()
    for i, hook in enumerate(_list(obj.get("webhooks"))):
        where = f"webhooks[{i}]"
        if not isinstance(hook, dict):
            causes.append(invalid(where, "", "must be an object"))
            continue
        name = hook.get("name")
        if not isinstance(name, str) or not name:
            causes.append(required(f"{where}.name"))
        elif name.count(".") < 2:
            causes.append(
                invalid(f"{where}.name", name, "should be a domain with at least three segments separated by dots")
            )
        elif name in names:
            causes.append(duplicate(f"{where}.name", name))
        else:
            names.add(name)
        causes += _rules(f"{where}.rules", hook.get("rules"), required_rules=False)
        causes += _one_of(f"{where}.failurePolicy", hook.get("failurePolicy"), _FAILURE_POLICIES)
        causes += _one_of(f"{where}.matchPolicy", hook.get("matchPolicy"), _MATCH_POLICIES)
        if hook.get("sideEffects") is None:
            causes.append(required(f"{where}.sideEffects", "must specify one of None, NoneOnDryRun"))
        else:
            causes += _one_of(f"{where}.sideEffects", hook.get("sideEffects"), _SIDE_EFFECTS)
        versions = _list(hook.get("admissionReviewVersions"))
        if not versions:
            causes.append(required(f"{where}.admissionReviewVersions", "must specify one of v1, v1beta1"))
        elif not any(v in _REVIEW_VERSIONS for v in versions):
            causes.append(
                invalid(f"{where}.admissionReviewVersions", versions, "must include at least one of v1, v1beta1")
            )
        timeout = hook.get("timeoutSeconds")
        if timeout is not None and not (isinstance(timeout, int) and 1 <= timeout <= 30):
            causes.append(
                invalid(f"{where}.timeoutSeconds", timeout, "the timeout value must be between 1 and 30 seconds")
            )
        if mutating:
            causes += _one_of(f"{where}.reinvocationPolicy", hook.get("reinvocationPolicy"), _REINVOCATION)
        causes += _selector(f"{where}.namespaceSelector", hook.get("namespaceSelector"))
        causes += _selector(f"{where}.objectSelector", hook.get("objectSelector"))
        causes += _client_config(f"{where}.clientConfig", hook.get("clientConfig"))
        causes += _match_conditions(f"{where}.matchConditions", hook.get("matchConditions"))
    return causes


def mutating_webhooks(obj: Obj, old: Obj | None) -> list[Cause]:
    """A MutatingWebhookConfiguration's problems."""
    return _webhooks(obj, mutating=True)


def validating_webhooks(obj: Obj, old: Obj | None) -> list[Cause]:
    """A ValidatingWebhookConfiguration's problems."""
    return _webhooks(obj, mutating=False)


def _match_resources(path: str, match: Any, *, required_rules: bool) -> list[Cause]:
    if not isinstance(match, dict):
        return [required(path)] if required_rules else []
    causes = _rules(f"{path}.resourceRules", match.get("resourceRules"), required_rules=required_rules, named=True)
    causes += _rules(
        f"{path}.excludeResourceRules", match.get("excludeResourceRules"), required_rules=False, named=True
    )
    causes += _one_of(f"{path}.matchPolicy", match.get("matchPolicy"), _MATCH_POLICIES)
    causes += _selector(f"{path}.namespaceSelector", match.get("namespaceSelector"))
    causes += _selector(f"{path}.objectSelector", match.get("objectSelector"))
    return causes


def policy(obj: Obj, old: Obj | None) -> list[Cause]:
    """A ValidatingAdmissionPolicy's problems."""
    spec = _spec(obj)
    causes = _one_of("spec.failurePolicy", spec.get("failurePolicy"), _FAILURE_POLICIES)
    param = spec.get("paramKind")
    if isinstance(param, dict):
        for key in ("apiVersion", "kind"):
            if not param.get(key):
                causes.append(required(f"spec.paramKind.{key}"))
    causes += _match_resources("spec.matchConstraints", spec.get("matchConstraints"), required_rules=True)
    validations = _list(spec.get("validations"))
    if not validations and not _list(spec.get("auditAnnotations")):
        causes.append(required("spec.validations", "validations or auditAnnotations must contain at least one item"))
    for i, v in enumerate(validations):
        where = f"spec.validations[{i}]"
        v = v if isinstance(v, dict) else {}
        causes += _expression(f"{where}.expression", v.get("expression"))
        if v.get("messageExpression"):
            causes += _expression(f"{where}.messageExpression", v["messageExpression"])
        causes += _one_of(f"{where}.reason", v.get("reason"), _REASONS)
    names: set[str] = set()
    for i, var in enumerate(_list(spec.get("variables"))):
        where = f"spec.variables[{i}]"
        var = var if isinstance(var, dict) else {}
        name = var.get("name")
        if not isinstance(name, str) or not name:
            causes.append(required(f"{where}.name", "name is not specified"))
        elif not _CEL_IDENTIFIER.match(name):
            causes.append(invalid(f"{where}.name", name, "name is not a valid CEL identifier"))
        elif name in names:
            causes.append(duplicate(f"{where}.name", name))
        else:
            names.add(name)
        causes += _expression(f"{where}.expression", var.get("expression"))
    causes += _match_conditions("spec.matchConditions", spec.get("matchConditions"))
    return causes


def policy_binding(obj: Obj, old: Obj | None) -> list[Cause]:
    """A ValidatingAdmissionPolicyBinding's problems."""
    spec = _spec(obj)
    causes: list[Cause] = []
    if not spec.get("policyName"):
        causes.append(required("spec.policyName"))
    ref = spec.get("paramRef")
    if isinstance(ref, dict):
        if ref.get("name") and ref.get("selector") is not None:
            causes.append(forbidden("spec.paramRef.name", "name and selector are mutually exclusive"))
        elif not ref.get("name") and ref.get("selector") is None:
            causes.append(required("spec.paramRef", "one of name or selector must be specified"))
        causes += _selector("spec.paramRef.selector", ref.get("selector"))
        action = ref.get("parameterNotFoundAction")
        if action is None:
            causes.append(required("spec.paramRef.parameterNotFoundAction"))
        else:
            causes += _one_of("spec.paramRef.parameterNotFoundAction", action, ("Allow", "Deny"))
    actions = _list(spec.get("validationActions"))
    if not actions:
        causes.append(required("spec.validationActions", "at least one validation action is required"))
    seen: set[str] = set()
    for i, action in enumerate(actions):
        if action in seen:
            causes.append(duplicate(f"spec.validationActions[{i}]", action))
        seen.add(action)
        causes += _one_of(f"spec.validationActions[{i}]", action, _ACTIONS)
    if {"Deny", "Warn"} <= seen:
        causes.append(
            invalid(
                "spec.validationActions",
                actions,
                "must not contain both Deny and Warn (repeating the same validation failure information in the API "
                "response and headers serves no purpose)",
            )
        )
    causes += _match_resources("spec.matchResources", spec.get("matchResources"), required_rules=False)
    return causes
