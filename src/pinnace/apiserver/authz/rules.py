"""RBAC policy rules: matching a request against a rule, and whether rules cover others.

A :class:`Rule` is a ``rbac/v1`` PolicyRule made immutable and quick to test
(frozensets instead of lists). :func:`allows` is upstream's ``RuleAllows``:
verbs, API groups, resources (``pods/log``, ``*``, ``*/scale``), resource
names, and non-resource URLs (exact, ``*``, or a prefix ending in ``*``).
:func:`covers` is the escalation check's ``Covers``: every rule of a role, broken
down to one verb of one resource, must be held by one of the owner's rules;
what is not comes back, compacted, for the 403 message (:func:`compact_string`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pinnace.apiserver.user import Attributes

__all__ = ["Rule", "allows", "compact_string", "covers", "rules_from"]

ALL = "*"


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


@dataclass(frozen=True, slots=True)
class Rule:
    """One PolicyRule (order kept as written, for messages and reviews)."""

    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, rule: Mapping[str, Any]) -> Rule:
        """From a rbac/v1 PolicyRule dict."""
        return cls(
            _strings(rule.get("verbs")),
            _strings(rule.get("apiGroups")),
            _strings(rule.get("resources")),
            _strings(rule.get("resourceNames")),
            _strings(rule.get("nonResourceURLs")),
        )

    def to_json(self) -> dict[str, list[str]]:
        """As a rbac/v1 PolicyRule (or a SelfSubjectRulesReview's rule) dict."""
        out: dict[str, list[str]] = {"verbs": list(self.verbs)}
        if self.api_groups:
            out["apiGroups"] = list(self.api_groups)
        if self.resources:
            out["resources"] = list(self.resources)
        if self.resource_names:
            out["resourceNames"] = list(self.resource_names)
        if self.non_resource_urls:
            out["nonResourceURLs"] = list(self.non_resource_urls)
        return out


def rules_from(obj: Mapping[str, Any]) -> tuple[Rule, ...]:
    """The rules of a Role or ClusterRole object."""
    rules = obj.get("rules")
    return tuple(Rule.from_json(r) for r in rules if isinstance(r, dict)) if isinstance(rules, list) else ()


def _verb_matches(rule: Rule, verb: str) -> bool:
    return ALL in rule.verbs or verb in rule.verbs


def _group_matches(rule: Rule, group: str) -> bool:
    return ALL in rule.api_groups or group in rule.api_groups


def _resource_matches(rule: Rule, combined: str, subresource: str) -> bool:
    for resource in rule.resources:
        if resource in (ALL, combined):
            return True
        # "*/scale" holds the scale subresource of every resource.
        if subresource and len(resource) == len(subresource) + 2 and resource == "*/" + subresource:
            return True
    return False


def _name_matches(rule: Rule, name: str) -> bool:
    return not rule.resource_names or name in rule.resource_names


def _url_matches(rule: Rule, path: str) -> bool:
    for url in rule.non_resource_urls:
        if url in (ALL, path):
            return True
        if url.endswith("*") and path.startswith(url.rstrip("*")):
            return True
    return False


def allows(rule: Rule, attrs: Attributes) -> bool:
    """Whether ``rule`` grants the request (upstream's RuleAllows)."""
    if attrs.resource_request:
        combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        return (
            _verb_matches(rule, attrs.verb)
            and _group_matches(rule, attrs.api_group)
            and _resource_matches(rule, combined, attrs.subresource)
            and _name_matches(rule, attrs.name)
        )
    return _verb_matches(rule, attrs.verb) and _url_matches(rule, attrs.path)


# ---- coverage (escalation) ----------------------------------------------------


def _breakdown(rule: Rule) -> list[Rule]:
    """One rule per verb of one resource (and name), or per verb of one URL (upstream's BreakdownRule)."""
    out: list[Rule] = []
    for group in rule.api_groups:
        for resource in rule.resources:
            for verb in rule.verbs:
                if rule.resource_names:
                    out.extend(Rule((verb,), (group,), (resource,), (name,)) for name in rule.resource_names)
                else:
                    out.append(Rule((verb,), (group,), (resource,)))
    for url in rule.non_resource_urls:
        out.extend(Rule((verb,), non_resource_urls=(url,)) for verb in rule.verbs)
    return out


def _has_all(owner: Sequence[str], wanted: Sequence[str]) -> bool:
    return ALL in owner or all(w in owner for w in wanted)


def _resource_covers(owner: Sequence[str], wanted: Sequence[str]) -> bool:
    if ALL in owner:
        return True
    for resource in wanted:
        if resource in owner:
            continue
        parts = resource.split("/", 1)
        if len(parts) == 2 and f"*/{parts[1]}" in owner:
            continue
        return False
    return True


def _url_covers(owner: Sequence[str], wanted: Sequence[str]) -> bool:
    for url in wanted:
        if not any(o in (ALL, url) or (o.endswith("*") and url.startswith(o.rstrip("*"))) for o in owner):
            return False
    return True


def _rule_covers(owner: Rule, servant: Rule) -> bool:
    return (
        _has_all(owner.verbs, servant.verbs)
        and _has_all(owner.api_groups, servant.api_groups)
        and _resource_covers(owner.resources, servant.resources)
        and _url_covers(owner.non_resource_urls, servant.non_resource_urls)
        # An owner limited to names covers only those names; an unlimited owner covers any.
        and (not owner.resource_names or all(n in owner.resource_names for n in servant.resource_names))
        and (bool(owner.resource_names) <= bool(servant.resource_names))
    )


def covers(owner: Iterable[Rule], servant: Iterable[Rule]) -> tuple[bool, list[Rule]]:
    """Whether ``owner`` holds every permission of ``servant``; if not, what is missing (compacted, sorted)."""
    held = list(owner)
    missing = [sub for rule in servant for sub in _breakdown(rule) if not any(_rule_covers(o, sub) for o in held)]
    if not missing:
        return True, []
    return False, sorted(_compact(missing), key=lambda r: "PolicyRule" + compact_string(r))


def _compact(rules: list[Rule]) -> list[Rule]:
    """Merge single-resource rules that differ only by verb (upstream's CompactRules)."""
    merged: dict[tuple[str, str], list[str]] = {}
    out: list[Rule] = []
    for rule in rules:
        simple = (
            len(rule.api_groups) == 1
            and len(rule.resources) == 1
            and not rule.resource_names
            and not rule.non_resource_urls
        )
        if not simple:
            out.append(rule)
            continue
        verbs = merged.setdefault((rule.api_groups[0], rule.resources[0]), [])
        verbs.extend(v for v in rule.verbs if v not in verbs)
    out.extend(Rule(tuple(verbs), (group,), (resource,)) for (group, resource), verbs in merged.items())
    return out


def _quoted(values: Sequence[str]) -> str:
    """Go's %q of a []string: ``["a" "b"]``."""
    return "[" + " ".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "]"


def compact_string(rule: Rule) -> str:
    """Upstream's CompactString: ``{APIGroups:["apps"], Resources:["deployments"], Verbs:["get"]}``."""
    parts = []
    for label, values in (
        ("APIGroups", rule.api_groups),
        ("Resources", rule.resources),
        ("NonResourceURLs", rule.non_resource_urls),
        ("ResourceNames", rule.resource_names),
        ("Verbs", rule.verbs),
    ):
        if values:
            parts.append(f"{label}:{_quoted(values)}")
    return "{" + ", ".join(parts) + "}"
