"""Resource quota arithmetic: what an object uses of a ResourceQuota, and whether a quota covers it.

The same rules serve the ResourceQuota admission plugin (charging a write) and
the quota controller (recomputing ``status.used`` from the objects), as
upstream's quota evaluators (``pkg/quota/v1/evaluator/core``) do:

- every namespaced object uses 1 of ``count/<resource>[.<group>]``; the core
  kinds also count under their legacy names (``pods``, ``services``,
  ``configmaps``, ``secrets``, ``persistentvolumeclaims``,
  ``replicationcontrollers``, ``resourcequotas``);
- a pod that is not finished uses its requests (``requests.cpu`` or ``cpu``, …)
  and limits (``limits.memory``, …): the sum over its containers, at least its
  largest init container;
- a Service uses ``services.loadbalancers`` and ``services.nodeports``;
- a claim uses ``requests.storage`` and its storage class's
  ``<class>.storageclass.storage.k8s.io/requests.storage`` / ``…/persistentvolumeclaims``.

Quantities are exact (``Fraction``); :func:`pretty` prints a usage as upstream's
messages do (``pods=1,requests.cpu=500m``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from pinnace.api import quantity

__all__ = [
    "Usage",
    "add",
    "covered_resources",
    "legal_names",
    "matches",
    "parse_list",
    "pod_counts",
    "pretty",
    "render",
    "usage",
]

Obj = Mapping[str, Any]
Usage = dict[str, Fraction]

#: Core resources counted under their bare name too (upstream's legacy object-count names).
_LEGACY_COUNTS = frozenset(
    {"pods", "services", "configmaps", "secrets", "persistentvolumeclaims", "replicationcontrollers", "resourcequotas"}
)
#: Pod compute resources that require every container to ask for them (upstream's validationSet).
POD_REQUIRED_EXPLICITLY = ("cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory")
_STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"
_ZERO = Fraction(0)


def count_name(group: str, plural: str) -> str:
    """``count/<plural>`` for core resources, ``count/<plural>.<group>`` for the others."""
    return f"count/{plural}.{group}" if group else f"count/{plural}"


def legal_names(group: str, plural: str) -> set[str] | None:
    """The quota resource names an object of this resource can use, beyond its object count (None: any)."""
    if group:
        return set()
    if plural == "pods":
        return None  # requests.*, limits.*, hugepages-*, extended resources …
    if plural == "services":
        return {"services", "services.loadbalancers", "services.nodeports"}
    if plural == "persistentvolumeclaims":
        return None  # per-class names
    return {plural} if plural in _LEGACY_COUNTS else set()


def covered_resources(group: str, plural: str, hard: Iterable[str]) -> list[str]:
    """The names among a quota's ``hard`` that objects of this resource count against (MatchingResources)."""
    out = []
    count = count_name(group, plural)
    extra = legal_names(group, plural)
    for name in hard:
        if name == count or (name in extra if extra is not None else _pod_or_claim_name(plural, name)):
            out.append(name)
    return sorted(out)


def _pod_or_claim_name(plural: str, name: str) -> bool:
    if plural == "pods":
        if name in ("pods", "cpu", "memory", "ephemeral-storage") or name.startswith(("requests.", "limits.")):
            return True
        return name.startswith("hugepages-")
    return name in ("persistentvolumeclaims", "requests.storage") or _STORAGE_CLASS_SUFFIX in name


def _parsed(value: Any) -> quantity.Quantity:
    """A quantity; zero for a malformed one (validation refuses those before quota sees them)."""
    try:
        return quantity.parse(str(value))
    except quantity.QuantityError:
        return quantity.Quantity(_ZERO)


def _q(value: Any) -> Fraction:
    return _parsed(value).value


def parse_list(resources: Mapping[str, Any] | None) -> Usage:
    """A ResourceList (``{"cpu": "500m"}``) as exact amounts."""
    return {str(k): _q(v) for k, v in (resources or {}).items()}


def add(a: Mapping[str, Fraction], b: Mapping[str, Fraction]) -> Usage:
    """``a + b``, resource by resource."""
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, _ZERO) + v
    return out


def render(amounts: Mapping[str, Fraction], like: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Amounts as a ResourceList, each in the format of the same name in ``like`` (binary for ``2Gi`` …)."""
    out = {}
    for k, v in amounts.items():
        fmt = quantity.DECIMAL_SI
        if like is not None and k in like:
            fmt = _parsed(like[k]).format
        out[k] = quantity.canonical(v, fmt)
    return out


def pretty(amounts: Mapping[str, Any]) -> str:
    """Upstream's prettyPrint: ``name=value`` sorted by name, comma-joined."""
    return ",".join(f"{k}={amounts[k]}" for k in sorted(amounts))


def pod_counts(pod: Obj) -> bool:
    """Whether a pod still uses quota: not Succeeded or Failed (upstream's QuotaV1Pod)."""
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def _pod_compute(spec: Obj) -> tuple[Usage, Usage]:
    def total(key: str) -> Usage:
        out: Usage = {}
        for c in spec.get("containers") or []:
            out = add(out, parse_list((c.get("resources") or {}).get(key)))
        for c in spec.get("initContainers") or []:
            for k, v in parse_list((c.get("resources") or {}).get(key)).items():
                out[k] = max(out.get(k, _ZERO), v)
        return add(out, parse_list(spec.get("overhead"))) if spec.get("overhead") else out

    return total("requests"), total("limits")


def usage(group: str, plural: str, obj: Obj) -> Usage:
    """What one object uses (upstream's evaluator Usage)."""
    out: Usage = {count_name(group, plural): Fraction(1)}
    if not group and plural in _LEGACY_COUNTS:
        out[plural] = Fraction(1)
    if group:
        return out
    spec = obj.get("spec") or {}
    if plural == "pods":
        if not pod_counts(obj):
            return {}
        requests, limits = _pod_compute(spec)
        for k, v in requests.items():
            out[f"requests.{k}"] = v
            if k in ("cpu", "memory", "ephemeral-storage"):
                out[k] = v
        for k, v in limits.items():
            out[f"limits.{k}"] = v
    elif plural == "services":
        kind = spec.get("type") or "ClusterIP"
        out["services.loadbalancers"] = Fraction(1 if kind == "LoadBalancer" else 0)
        ports = (
            [p for p in spec.get("ports") or [] if isinstance(p, dict)] if kind in ("NodePort", "LoadBalancer") else []
        )
        out["services.nodeports"] = Fraction(len(ports))
    elif plural == "persistentvolumeclaims":
        storage = _q(((spec.get("resources") or {}).get("requests") or {}).get("storage", "0"))
        out["requests.storage"] = storage
        storage_class = spec.get("storageClassName") or ""
        if storage_class:
            out[f"{storage_class}{_STORAGE_CLASS_SUFFIX}requests.storage"] = storage
            out[f"{storage_class}{_STORAGE_CLASS_SUFFIX}persistentvolumeclaims"] = Fraction(1)
    return out


def _scope_matches(scope: str, operator: str, values: list[str], pod: Obj) -> bool:
    spec = pod.get("spec") or {}
    if scope in ("Terminating", "NotTerminating"):
        terminating = spec.get("activeDeadlineSeconds") is not None
        return terminating if scope == "Terminating" else not terminating
    if scope in ("BestEffort", "NotBestEffort"):
        requests, limits = _pod_compute(spec)
        best_effort = not any(k in ("cpu", "memory") for k in (*requests, *limits))
        return best_effort if scope == "BestEffort" else not best_effort
    if scope == "PriorityClass":
        name = spec.get("priorityClassName") or ""
        if operator == "Exists":
            return bool(name)
        if operator == "DoesNotExist":
            return not name
        if operator == "NotIn":
            return name not in values
        return name in values
    if scope == "CrossNamespacePodAffinity":
        affinity = spec.get("affinity") or {}
        terms = [
            t
            for key in ("podAffinity", "podAntiAffinity")
            for field in (
                "requiredDuringSchedulingIgnoredDuringExecution",
                "preferredDuringSchedulingIgnoredDuringExecution",
            )
            for t in (affinity.get(key) or {}).get(field) or []
        ]
        terms = [t.get("podAffinityTerm", t) for t in terms]
        return any(t.get("namespaces") or t.get("namespaceSelector") is not None for t in terms)
    return False


def matches(quota: Obj, group: str, plural: str, obj: Obj) -> bool:
    """Whether the quota covers the object: it limits something the object uses, and every scope matches.

    Scopes apply to pods only; a scoped quota never covers other kinds (as upstream)."""
    hard = (quota.get("status") or {}).get("hard") or (quota.get("spec") or {}).get("hard") or {}
    if not covered_resources(group, plural, hard):
        return False
    spec = quota.get("spec") or {}
    selectors: list[tuple[str, str, list[str]]] = [(s, "Exists", []) for s in spec.get("scopes") or []]
    for expr in (spec.get("scopeSelector") or {}).get("matchExpressions") or []:
        selectors.append((expr.get("scopeName", ""), expr.get("operator", "In"), list(expr.get("values") or [])))
    if not selectors:
        return True
    if group or plural != "pods":
        return False
    return all(_scope_matches(scope, op, values, obj) for scope, op, values in selectors)


def missing_explicit(pod: Obj, required: Iterable[str]) -> str | None:
    """Upstream's pod Constraints: with cpu or memory quota'd, every container must ask for it explicitly.

    The message (``must specify limits.cpu for: app; memory for: app,side``) or None."""
    wanted = set(required) & set(POD_REQUIRED_EXPLICITLY)
    if not wanted:
        return None
    spec = pod.get("spec") or {}
    missing: dict[str, set[str]] = {}
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        resources = container.get("resources") or {}
        has = {f"requests.{k}" for k in resources.get("requests") or {}} | set(resources.get("requests") or {})
        has |= {f"limits.{k}" for k in resources.get("limits") or {}}
        for name in wanted - has:
            missing.setdefault(name, set()).add(str(container.get("name", "")))
    if not missing:
        return None
    parts = [f"{name} for: {','.join(sorted(missing[name]))}" for name in sorted(missing)]
    return "must specify " + "; ".join(parts)
