"""LimitRanger: the LimitRanges of a namespace default and bound what its pods and claims ask for.

As upstream's ``LimitRanger`` plugin. On pod creation (mutating phase), every
container without a limit or request for a resource gets the ``default`` /
``defaultRequest`` of the namespace's ``Container`` items, and the pod is
annotated ``kubernetes.io/limit-ranger: LimitRanger plugin set: cpu, memory request
for container app; …``. Then (validating phase) pods are checked against the
``min`` / ``max`` / ``maxLimitRequestRatio`` of the ``Container`` and ``Pod``
items, and PersistentVolumeClaims (create and update) against ``min`` / ``max``
of the ``PersistentVolumeClaim`` items; a violation is 403 with upstream's
messages (``maximum cpu usage per Container is 1, but limit is 2``). LimitRange
items are read with upstream's item defaults (default from max, defaultRequest
from default, then from min). A stored LimitRange whose quantities do not parse
(written before validation refused them) is left out with a warning, as
upstream's informer leaves out an object it cannot decode: a pod create is
never a 500 for it.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from pinnace.api import defaults, quantity
from pinnace.apiserver.admission import AdmissionRequest, Operation
from pinnace.apiserver.admission.chain import forbidden
from pinnace.apiserver.admission.lookup import has_none_now, objects_in

if TYPE_CHECKING:
    from pinnace.apiserver.rest import RestStore
    from pinnace.apiserver.server import APIServer

__all__ = [
    "LIMIT_RANGER_ANNOTATION",
    "LimitRanger",
    "effective_items",
    "is_readable",
    "pod_violations",
    "set_pod_defaults",
]

Obj = dict[str, Any]
Resources = dict[str, str]

LIMIT_RANGER_ANNOTATION = "kubernetes.io/limit-ranger"
#: The fields of a LimitRange item that hold resource lists of quantities.
_QUANTITY_FIELDS = ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio")

log = logging.getLogger(__name__)


class LimitRanger:
    """The LimitRanger admission plugin (mutating and validating)."""

    name = "LimitRanger"

    def __init__(self, rest: RestStore) -> None:
        """LimitRanges are read from ``rest``'s watch cache."""
        self.rest = rest

    @classmethod
    def for_server(cls, server: APIServer) -> LimitRanger:
        """The plugin of an API server."""
        return cls(server.rest)

    def handles(self, request: AdmissionRequest) -> bool:
        """Pod creations, and PersistentVolumeClaim creations and updates (containers of a pod are immutable),
        unless there is no LimitRange at all (then the object is left as it is, and known unchanged)."""
        if request.subresource or request.info.group != "" or request.obj is None:
            return False
        if request.info.plural == "pods":
            wanted = request.operation is Operation.CREATE
        else:
            wanted = request.info.plural == "persistentvolumeclaims" and request.operation in (
                Operation.CREATE,
                Operation.UPDATE,
            )
        return wanted and not has_none_now(self.rest, "", "v1", "limitranges")

    async def _items(self, namespace: str) -> list[Obj]:
        ranges = await objects_in(self.rest, "", "v1", "limitranges", namespace)
        return [item for lr in ranges if is_readable(lr) for item in effective_items(lr)]

    async def admit(self, request: AdmissionRequest) -> None:
        """Default the containers' requests and limits of a new pod."""
        if request.info.plural != "pods" or request.obj is None:
            return
        items = await self._items(request.namespace)
        if items:
            defaults.pod(request.obj)  # what decoding does upstream, before admission: requests from limits
            set_pod_defaults(request.obj, items)

    async def validate(self, request: AdmissionRequest) -> None:
        """Refuse a pod or claim outside the namespace's bounds."""
        assert request.obj is not None
        items = await self._items(request.namespace)
        if not items:
            return
        if request.info.plural == "pods":
            problems = pod_violations(request.obj, items)
        else:
            problems = claim_violations(request.obj, items)
        if problems:
            raise forbidden(request, problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]")


def is_readable(limit_range: Obj) -> bool:
    """Whether every quantity of the LimitRange parses (else it is logged and left out)."""
    for item in (limit_range.get("spec") or {}).get("limits") or []:
        for name in _QUANTITY_FIELDS:
            resources = item.get(name) if isinstance(item, dict) else None
            for value in resources.values() if isinstance(resources, dict) else ():
                try:
                    quantity.parse(str(value))
                except (quantity.QuantityError, TypeError):
                    meta = limit_range.get("metadata") or {}
                    log.warning(
                        "LimitRange %s/%s is left out: its %s %r is not a quantity",
                        meta.get("namespace"),
                        meta.get("name"),
                        name,
                        value,
                    )
                    return False
    return True


def effective_items(limit_range: Obj) -> list[Obj]:
    """A LimitRange's items with upstream's defaults (SetDefaults_LimitRangeItem) filled in."""
    out = []
    for raw in (limit_range.get("spec") or {}).get("limits") or []:
        if not isinstance(raw, dict):
            continue
        item = dict(raw)
        if item.get("type") == "Container":
            default = dict(item.get("default") or {})
            request = dict(item.get("defaultRequest") or {})
            for key, value in (item.get("max") or {}).items():
                default.setdefault(key, value)
            for key, value in default.items():
                request.setdefault(key, value)
            for key, value in (item.get("min") or {}).items():
                request.setdefault(key, value)
            item["default"], item["defaultRequest"] = default, request
        out.append(item)
    return out


def set_pod_defaults(pod: Obj, items: list[Obj]) -> None:
    """Fill missing container requests and limits from the Container items, and say so in the annotation."""
    limits: Resources = {}
    requests: Resources = {}
    for item in items:
        if item.get("type") == "Container":
            requests.update(item.get("defaultRequest") or {})
            limits.update(item.get("default") or {})
    if not limits and not requests:
        return
    spec = pod.get("spec") or {}
    notes: list[str] = []
    for key, kind in (("containers", "container"), ("initContainers", "init container")):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                notes += _merge_container(container, requests, limits, kind)
    if notes:
        annotations = pod.setdefault("metadata", {}).setdefault("annotations", {})
        annotations[LIMIT_RANGER_ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)


def _merge_container(container: Obj, requests: Resources, limits: Resources, kind: str) -> list[str]:
    resources = container.setdefault("resources", {})
    have_limits = resources.setdefault("limits", {})
    have_requests = resources.setdefault("requests", {})
    set_limits = [k for k in limits if k not in have_limits]
    for k in set_limits:
        have_limits[k] = limits[k]
    set_requests = [k for k in requests if k not in have_requests]
    for k in set_requests:
        have_requests[k] = requests[k]
    for key in ("limits", "requests"):
        if not resources[key]:
            del resources[key]
    notes = []
    if set_requests:
        notes.append(", ".join(sorted(set_requests)) + f" request for {kind} {container.get('name', '')}")
    if set_limits:
        notes.append(", ".join(sorted(set_limits)) + f" limit for {kind} {container.get('name', '')}")
    return notes


def _q(value: Any) -> Fraction:
    return quantity.parse(str(value)).value


def _text(value: Any) -> str:
    return str(quantity.parse(str(value)))


def _min(kind: str, name: str, enforced: Any, request: Resources, limit: Resources) -> str | None:
    bound = f"minimum {name} usage per {kind} is {_text(enforced)}"
    if name not in request:
        return f"{bound}.  No request is specified"
    if _q(request[name]) < _q(enforced):
        return f"{bound}, but request is {_text(request[name])}"
    if name in limit and _q(limit[name]) < _q(enforced):
        return f"{bound}, but limit is {_text(limit[name])}"
    return None


def _max(kind: str, name: str, enforced: Any, request: Resources, limit: Resources) -> str | None:
    bound = f"maximum {name} usage per {kind} is {_text(enforced)}"
    if name not in limit:
        return f"{bound}.  No limit is specified"
    if _q(limit[name]) > _q(enforced):
        return f"{bound}, but limit is {_text(limit[name])}"
    if name in request and _q(request[name]) > _q(enforced):
        return f"{bound}, but request is {_text(request[name])}"
    return None


def _max_request(kind: str, name: str, enforced: Any, request: Resources) -> str | None:
    bound = f"maximum {name} usage per {kind} is {_text(enforced)}"
    if name not in request:
        return f"{bound}.  No request is specified"
    if _q(request[name]) > _q(enforced):
        return f"{bound}, but request is {_text(request[name])}"
    return None


def _ratio(kind: str, name: str, enforced: Any, request: Resources, limit: Resources) -> str | None:
    bound = f"{name} max limit to request ratio per {kind} is {_text(enforced)}"
    if name not in request or _q(request[name]) == 0:
        return f"{bound}, but no request is specified or request is 0"
    if name not in limit or _q(limit[name]) == 0:
        return f"{bound}, but no limit is specified or limit is 0"
    ratio = _q(limit[name]) / _q(request[name])
    if ratio > _q(enforced):
        return f"{bound}, but provided ratio is {float(ratio):f}"
    return None


def _check(kind: str, item: Obj, request: Resources, limit: Resources) -> list[str]:
    found = [_min(kind, k, v, request, limit) for k, v in (item.get("min") or {}).items()]
    found += [_max(kind, k, v, request, limit) for k, v in (item.get("max") or {}).items()]
    found += [_ratio(kind, k, v, request, limit) for k, v in (item.get("maxLimitRequestRatio") or {}).items()]
    return [f for f in found if f is not None]


def _resources(container: Obj) -> tuple[Resources, Resources]:
    resources = container.get("resources") or {}
    return dict(resources.get("requests") or {}), dict(resources.get("limits") or {})


def _pod_total(spec: Obj, which: int) -> Resources:
    """The pod's requests (0) or limits (1): the sum over containers, at least the largest init container's."""
    total: dict[str, Fraction] = {}
    for container in spec.get("containers") or []:
        for k, v in _resources(container)[which].items():
            total[k] = total.get(k, Fraction(0)) + _q(v)
    for container in spec.get("initContainers") or []:
        for k, v in _resources(container)[which].items():
            total[k] = max(total.get(k, Fraction(0)), _q(v))
    return {k: quantity.canonical(v) for k, v in total.items()}


def pod_violations(pod: Obj, items: list[Obj]) -> list[str]:
    """Upstream's messages for each Container / Pod bound the pod breaks (empty: within bounds)."""
    spec = pod.get("spec") or {}
    problems: list[str] = []
    for item in items:
        if item.get("type") == "Container":
            for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
                problems += _check("Container", item, *_resources(container))
        elif item.get("type") == "Pod":
            problems += _check("Pod", item, _pod_total(spec, 0), _pod_total(spec, 1))
    return problems


def claim_violations(claim: Obj, items: list[Obj]) -> list[str]:
    """Upstream's messages for each PersistentVolumeClaim bound the claim's requests break."""
    requests = dict(((claim.get("spec") or {}).get("resources") or {}).get("requests") or {})
    problems: list[str | None] = []
    for item in items:
        if item.get("type") == "PersistentVolumeClaim":
            problems += [_min("PersistentVolumeClaim", k, v, requests, {}) for k, v in (item.get("min") or {}).items()]
            problems += [
                _max_request("PersistentVolumeClaim", k, v, requests) for k, v in (item.get("max") or {}).items()
            ]
    return [p for p in problems if p is not None]
