"""What the workload controllers (StatefulSet, DaemonSet, Job) share about pods.

Plain functions over pod dicts — phase and readiness as upstream's
``podutil`` judges them, the controller reference an owner puts on what it
creates, a pod built from a template — and :class:`Expectations`, the
bookkeeping that keeps a controller reading from a cache from creating (or
deleting) twice what it has just created (or deleted) but not yet seen come
back through its informer (upstream's ``ControllerExpectations``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pinnace.api.selectors import from_label_selector

__all__ = [
    "Expectations",
    "controller_ref",
    "controller_uid",
    "is_active",
    "is_available",
    "is_ready",
    "is_terminating",
    "owned_pods",
    "parse_time",
    "pod_from_template",
    "rfc3339",
    "selector_string",
]

Obj = dict[str, Any]


def rfc3339(when: datetime) -> str:
    """A Kubernetes timestamp (seconds, UTC, ``Z``)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    """A Kubernetes timestamp as an aware datetime (None for none)."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def is_terminating(pod: Obj) -> bool:
    """Deleted, waiting for its grace period or finalizers."""
    return bool(_meta(pod).get("deletionTimestamp"))


def is_active(pod: Obj) -> bool:
    """Neither finished (Succeeded/Failed) nor being deleted (upstream's ``IsPodActive``)."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not is_terminating(pod)


def _ready_condition(pod: Obj) -> Obj | None:
    """The pod's Ready condition as stored (callers only read it: no copy per pod on every reconcile)."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond  # type: ignore[no-any-return]
    return None


def is_ready(pod: Obj) -> bool:
    """Its Ready condition is True."""
    cond = _ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def is_available(pod: Obj, min_ready_seconds: int, now: datetime) -> bool:
    """Ready for at least ``min_ready_seconds`` (upstream's ``IsPodAvailable``)."""
    cond = _ready_condition(pod)
    if cond is None or cond.get("status") != "True":
        return False
    if min_ready_seconds <= 0:
        return True
    since = parse_time(cond.get("lastTransitionTime"))
    return since is not None and (now - since).total_seconds() >= min_ready_seconds


def controller_uid(obj: Obj) -> str | None:
    """The uid of the object's controlling owner, if it has one."""
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid") or "")
    return None


def owned_pods(pods: list[Obj], owner: Obj) -> list[Obj]:
    """The pods whose controller is ``owner`` (by uid)."""
    uid = _meta(owner).get("uid")
    return [p for p in pods if controller_uid(p) == uid]


def selector_string(selector: Obj | None) -> str:
    """A ``metav1.LabelSelector`` in the string form list requests take."""
    return str(from_label_selector(selector or {}))


def controller_ref(owner: Obj) -> Obj:
    """The ownerReference a controller puts on what it creates."""
    meta = _meta(owner)
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod_from_template(template: Obj | None, owner: Obj, *, name: str = "", generate_name: str = "") -> Obj:
    """A new pod from a pod template, controlled by ``owner``, in its namespace (upstream's ``GetPodFromTemplate``)."""
    template = copy.deepcopy(template or {})
    tmeta = template.get("metadata") or {}
    meta: Obj = {
        "namespace": _meta(owner).get("namespace"),
        "labels": dict(tmeta.get("labels") or {}),
        "ownerReferences": [controller_ref(owner)],
    }
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        meta["finalizers"] = list(tmeta["finalizers"])
    if name:
        meta["name"] = name
    else:
        meta["generateName"] = generate_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec") or {}}


@dataclass
class _Pending:
    adds: set[str] = field(default_factory=set)
    deletes: set[str] = field(default_factory=set)
    since: float = 0.0


class Expectations:
    """Creations and deletions a controller has made and is waiting to see in its cache.

    ``satisfied(key, pods)`` is asked with the pods the cache shows now
    (terminating ones count as deleted); it is True once every
    expected pod has appeared and every expected deletion has gone, or after
    ``timeout`` seconds (upstream's five minutes is long for a cache that
    lost an event; a minute is enough).
    """

    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._pending: dict[str, _Pending] = {}

    def expect_create(self, key: str, name: str, now: float) -> None:
        """``name`` was created for ``key``."""
        pending = self._pending.setdefault(key, _Pending(since=now))
        pending.adds.add(name)

    def expect_delete(self, key: str, name: str, now: float) -> None:
        """``name`` was deleted for ``key``."""
        pending = self._pending.setdefault(key, _Pending(since=now))
        pending.deletes.add(name)

    def satisfied(self, key: str, pods: list[Obj], now: float) -> bool:
        """Whether the cache (showing ``pods`` now) has caught up with what was done for ``key``."""
        pending = self._pending.get(key)
        if pending is None:
            return True
        pending.adds -= {_meta(p).get("name") for p in pods}
        pending.deletes &= {_meta(p).get("name") for p in pods if not is_terminating(p)}
        if (not pending.adds and not pending.deletes) or now - pending.since > self.timeout:
            del self._pending[key]
            return True
        return False

    def forget(self, key: str) -> None:
        """Drop what is expected for ``key`` (its owner is gone)."""
        self._pending.pop(key, None)
