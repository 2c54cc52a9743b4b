"""Mutating and validating webhook configurations, compiled into the webhooks admission calls.

A configuration (admissionregistration.k8s.io/v1) lists webhooks; each has a
client config (``url``, or ``service`` namespace/name/path/port, and a
``caBundle``), rules, selectors, CEL ``matchConditions``, ``failurePolicy``
(default Fail), ``timeoutSeconds`` (default 10, at most 30), ``sideEffects``,
``matchPolicy`` (default Equivalent), ``admissionReviewVersions`` and, for
mutating ones, ``reinvocationPolicy``. Webhooks are called in the order of
their configurations' names, then in the order listed (as upstream).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from pinnace.api import admission_cel as celeval
from pinnace.api import errors, selectors
from pinnace.apiserver.admission import matching

__all__ = ["DEFAULT_TIMEOUT", "Webhook", "compile_configurations"]

Obj = dict[str, Any]

DEFAULT_TIMEOUT = 10
MAX_TIMEOUT = 30


@dataclass(frozen=True, slots=True)
class Webhook:
    """One webhook of one configuration, ready to match and call."""

    name: str
    #: The configuration's name and uid (the uid keys the webhook's connection pool).
    configuration: str
    configuration_uid: str
    rules: tuple[Obj, ...]
    match_policy: str
    namespace_selector: selectors.LabelSelector
    object_selector: selectors.LabelSelector
    #: (name, expression) of each match condition; the webhook is called only if all are true.
    match_conditions: tuple[tuple[str, str], ...]
    failure_policy: str
    timeout: float
    side_effects: str
    review_versions: tuple[str, ...]
    reinvocation_policy: str
    url: str
    service: Obj | None
    #: The PEM CA bundle that verifies the webhook's server (None: the system's roots).
    ca_bundle: bytes | None
    #: Why the webhook cannot be called at all (a bad selector, condition or client config): a call failure.
    broken: str = ""

    @property
    def fails_closed(self) -> bool:
        """failurePolicy Fail: a webhook that cannot be called refuses the request."""
        return self.failure_policy != "Ignore"

    @property
    def key(self) -> tuple[str, str, bytes | None]:
        """What identifies its connection pool."""
        return (self.configuration_uid, self.name, self.ca_bundle)


def _selector(raw: Any, what: str, problems: list[str]) -> selectors.LabelSelector:
    try:
        return matching.selector(raw)
    except errors.StatusError as exc:
        problems.append(f"{what}: {exc.message}")
        return selectors.NOTHING


def _conditions(raw: Any, problems: list[str]) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for cond in raw or ():
        name, expression = str(cond.get("name") or ""), str(cond.get("expression") or "")
        try:
            celeval.compile_expression(expression)
        except celeval.CompileError as exc:
            problems.append(f"matchCondition {name!r} does not compile: {exc}")
            continue
        out.append((name, expression))
    return tuple(out)


def _webhook(config: Obj, raw: Obj, mutating: bool) -> Webhook:
    problems: list[str] = []
    meta = config.get("metadata") or {}
    client = raw.get("clientConfig") or {}
    ca_bundle = None
    if client.get("caBundle"):
        try:
            ca_bundle = base64.b64decode(str(client["caBundle"]), validate=True)
        except (binascii.Error, ValueError):
            problems.append("clientConfig.caBundle is not valid base64")
    url, service = str(client.get("url") or ""), client.get("service")
    if bool(url) == bool(service):
        problems.append("exactly one of clientConfig.url and clientConfig.service must be set")
    timeout = raw.get("timeoutSeconds")
    return Webhook(
        name=str(raw.get("name") or ""),
        configuration=str(meta.get("name") or ""),
        configuration_uid=str(meta.get("uid") or ""),
        rules=tuple(r for r in raw.get("rules") or () if isinstance(r, dict)),
        match_policy=str(raw.get("matchPolicy") or "Equivalent"),
        namespace_selector=_selector(raw.get("namespaceSelector"), "namespaceSelector", problems),
        object_selector=_selector(raw.get("objectSelector"), "objectSelector", problems),
        match_conditions=_conditions(raw.get("matchConditions"), problems),
        failure_policy=str(raw.get("failurePolicy") or "Fail"),
        timeout=float(min(max(int(timeout), 1), MAX_TIMEOUT)) if isinstance(timeout, int) else DEFAULT_TIMEOUT,
        side_effects=str(raw.get("sideEffects") or "Unknown"),
        review_versions=tuple(str(v) for v in raw.get("admissionReviewVersions") or ("v1",)),
        reinvocation_policy=str(raw.get("reinvocationPolicy") or "Never") if mutating else "Never",
        url=url,
        service=service if isinstance(service, dict) else None,
        ca_bundle=ca_bundle,
        broken="; ".join(problems),
    )


def compile_configurations(configurations: list[Obj], *, mutating: bool) -> list[Webhook]:
    """Every webhook of the configurations, in call order (configurations by name, then as listed)."""
    ordered = sorted(configurations, key=lambda c: str((c.get("metadata") or {}).get("name") or ""))
    return [
        _webhook(config, raw, mutating)
        for config in ordered
        for raw in config.get("webhooks") or ()
        if isinstance(raw, dict)
    ]
