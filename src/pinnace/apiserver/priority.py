"""Pod priority at create time (upstream's Priority admission plugin), as a storage hook for pods.

A new pod's ``spec.priorityClassName`` is resolved to ``spec.priority`` and
``spec.preemptionPolicy`` from its PriorityClass; without a class name the
global default class applies (its name is written into the pod), or priority
0 when there is none. A class that does not exist, or a priority or
preemption policy in the spec that disagrees with the class, is refused
with upstream's 403. The two system classes (``system-node-critical``,
``system-cluster-critical``) resolve even before their objects exist;
:func:`ensure_system_priority_classes` creates those objects, as
kube-apiserver does at start-up.
"""

from __future__ import annotations

import contextlib
from typing import Any

from pinnace.api import errors
from pinnace.api.podutil import SYSTEM_PRIORITY_CLASSES
from pinnace.apiserver.rest import RestStore

__all__ = ["PodPriority", "ensure_system_priority_classes"]

Obj = dict[str, Any]

DEFAULT_PREEMPTION_POLICY = "PreemptLowerPriority"


_SYSTEM_DESCRIPTIONS = {
    "system-node-critical": "Used for system critical pods that must not be moved from their current node.",
    "system-cluster-critical": (
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."
    ),
}


async def ensure_system_priority_classes(rest: RestStore) -> None:
    """Create whichever of the two system PriorityClasses is missing (upstream's start-up hook)."""
    info = rest.registry.get("scheduling.k8s.io", "v1", "priorityclasses")
    if info is None:  # pragma: no cover - the kind is always served
        return
    for name, value in SYSTEM_PRIORITY_CLASSES.items():
        if await rest.get_cached(info, None, name) is not None:
            continue
        obj = {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            "description": _SYSTEM_DESCRIPTIONS[name],
            "preemptionPolicy": DEFAULT_PREEMPTION_POLICY,
        }
        with contextlib.suppress(errors.AlreadyExists):
            await rest.create(info, None, obj)


async def _nothing(ok: bool) -> None:
    return None


class PodPriority:
    """Storage hooks for pods: resolve the priority class on create."""

    def __init__(self, rest: RestStore) -> None:
        self.rest = rest

    async def _classes(self) -> list[Obj]:
        info = self.rest.registry.get("scheduling.k8s.io", "v1", "priorityclasses")
        if info is None:  # pragma: no cover - the kind is always served
            return []
        cache = await self.rest.fresh_cache(info)
        return [c.obj for c in cache.list(None)]

    async def resolve(self, pod: Obj) -> None:
        """Set the pod's priority fields from its class (in place); 403 as upstream when they cannot be."""
        spec = pod.setdefault("spec", {})
        name = str(pod.get("metadata", {}).get("name") or "")
        classes = await self._classes()
        wanted = spec.get("priorityClassName")
        value: int
        policy: str = DEFAULT_PREEMPTION_POLICY
        if wanted:
            found = next((c for c in classes if c["metadata"]["name"] == wanted), None)
            if found is not None:
                value = int(found.get("value") or 0)
                policy = str(found.get("preemptionPolicy") or DEFAULT_PREEMPTION_POLICY)
            elif wanted in SYSTEM_PRIORITY_CLASSES:
                value = SYSTEM_PRIORITY_CLASSES[str(wanted)]
            else:
                raise _forbidden(name, f"no PriorityClass with name {wanted} was found")
        else:
            defaults = sorted((c for c in classes if c.get("globalDefault")), key=lambda c: int(c.get("value") or 0))
            if defaults:
                chosen = defaults[0]
                spec["priorityClassName"] = chosen["metadata"]["name"]
                value = int(chosen.get("value") or 0)
                policy = str(chosen.get("preemptionPolicy") or DEFAULT_PREEMPTION_POLICY)
            else:
                value = 0
        for field, what, computed in (
            ("priority", "the integer value of priority", value),
            ("preemptionPolicy", "the string value of PreemptionPolicy", policy),
        ):
            given = spec.get(field)
            if given is not None and given != computed:
                raise _forbidden(
                    name,
                    f"{what} ({given}) must not be provided in pod spec; "
                    f"priority admission controller computed {computed} from the given PriorityClass name",
                )
            spec[field] = computed

    async def begin_create(self, obj: Obj, *, dry_run: bool) -> Any:
        """Resolve the new pod's priority."""
        await self.resolve(obj)
        return _nothing

    async def begin_update(self, new: Obj, old: Obj, *, dry_run: bool) -> Any:
        """Nothing: the priority fields cannot change after create (pod update validation says so)."""
        return _nothing

    async def after_delete(self, obj: Obj) -> None:
        """Nothing to release."""


def _forbidden(name: str, why: str) -> errors.Forbidden:
    return errors.Forbidden(f'pods "{name}" is forbidden: {why}', kind="pods", name=name)
