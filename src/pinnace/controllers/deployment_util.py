"""The arithmetic of Deployments: plain functions on Deployment and ReplicaSet dicts.

Upstream's ``pkg/controller/deployment/util``, which the Deployment controller
(:mod:`.deployment`, :mod:`.deployment_rollout`) and ``kubectl rollout`` both
depend on to agree:

- the **pod-template-hash** (FNV-32a of the template and the collision
  count, written in the safe-encoding alphabet) that names a Deployment's
  ReplicaSets ``<deployment>-<hash>`` and labels their pods;
- **template equality** ignoring that hash label, which decides which
  ReplicaSet is the new one (so ``kubectl rollout undo`` and ``restart``
  just work);
- the **annotations**: ``deployment.kubernetes.io/revision`` (and
  ``revision-history``), ``desired-replicas`` and ``max-replicas``;
- **maxSurge / maxUnavailable** resolved from ints or percentages with
  upstream's rounding, and the replica counts of a rollout step;
- **conditions** and the **status** a Deployment reports.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson

from pinnace.controllers._workload_history import _SAFE, _fnv32
from pinnace.controllers._workload_pods import parse_time, rfc3339

__all__ = [
    "DESIRED_REPLICAS",
    "HASH_LABEL",
    "MAX_REPLICAS",
    "REVISION",
    "REVISION_HISTORY",
    "by_creation",
    "by_revision",
    "condition",
    "copy_deployment_annotations",
    "deployment_complete",
    "deployment_progressing",
    "deployment_timed_out",
    "equal_ignore_hash",
    "max_revision",
    "max_surge",
    "max_unavailable",
    "new_condition",
    "new_rs_new_replicas",
    "pod_template_hash",
    "remove_condition",
    "replicas",
    "revision",
    "scaled_value",
    "set_condition",
    "set_new_rs_annotations",
    "set_replicas_annotations",
]

Obj = dict[str, Any]

#: The label (on ReplicaSets, their selectors and their pods) that carries the template hash.
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
#: Annotations of a Deployment not copied to its ReplicaSets (upstream's annotationsToSkip).
SKIPPED_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        REVISION_HISTORY,
        DESIRED_REPLICAS,
        MAX_REPLICAS,
        "deprecated.deployment.rollback.to",
    }
)
#: How long the revision-history annotation may grow (upstream's maxRevHistoryLengthInChars).
MAX_REVISION_HISTORY_CHARS = 2000


# ---- names and templates -------------------------------------------------------
def pod_template_hash(template: Obj | None, collision_count: int | None = None) -> str:
    """The hash naming a ReplicaSet of ``template`` (upstream's ``controller.ComputeHash``).

    FNV-32a of the template (as canonical JSON: Go hashes its struct dump,
    which Python cannot reproduce byte for byte, so hashes differ from
    upstream's values but look the same), then the collision count as eight
    little-endian bytes when there is one; the decimal sum written in the
    safe alphabet, as ``rand.SafeEncodeString``.
    """
    raw = orjson.dumps(template or {}, option=orjson.OPT_SORT_KEYS)
    if collision_count is not None:
        raw += (collision_count & 0xFFFFFFFF).to_bytes(8, "little")
    return "".join(_SAFE[ord(c) % len(_SAFE)] for c in str(_fnv32(raw)))


def _semantic(value: Any) -> Any:
    """``value`` without nulls, empty maps and empty lists (apimachinery's DeepEqual treats nil as empty)."""
    if isinstance(value, dict):
        out = {k: _semantic(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def _without_hash(template: Obj | None) -> Any:
    t = copy.deepcopy(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return _semantic(t)


def equal_ignore_hash(a: Obj | None, b: Obj | None) -> bool:
    """Whether two pod templates are equal but for the pod-template-hash label (upstream's ``EqualIgnoreHash``)."""
    return bool(_without_hash(a) == _without_hash(b))


# ---- reading objects ------------------------------------------------------------
def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _annotations(obj: Obj) -> dict[str, str]:
    return _meta(obj).get("annotations") or {}


def replicas(obj: Obj) -> int:
    """``spec.replicas`` (defaulted to 1 by the API server, so absent means unset: 0)."""
    return int((obj.get("spec") or {}).get("replicas") or 0)


def _status(obj: Obj, field: str) -> int:
    return int((obj.get("status") or {}).get(field) or 0)


def revision(rs: Obj) -> int:
    """The revision a ReplicaSet's annotation records (0 when none or not a number)."""
    try:
        return int(_annotations(rs).get(REVISION, "0"))
    except ValueError:
        return 0


def max_revision(rss: Iterable[Obj]) -> int:
    """The highest revision among ``rss``."""
    return max((revision(rs) for rs in rss), default=0)


def _created(rs: Obj) -> str:
    return str(_meta(rs).get("creationTimestamp") or "")


def by_creation(rs: Obj) -> tuple[str, str]:
    """Sort key: oldest first, then by name (upstream's ``ReplicaSetsByCreationTimestamp``)."""
    return _created(rs), str(_meta(rs).get("name") or "")


def by_revision(rs: Obj) -> tuple[int, str, str]:
    """Sort key: lowest revision first, then oldest (upstream's ``ReplicaSetsByRevision``)."""
    return (revision(rs), *by_creation(rs))


def total_replicas(rss: Iterable[Obj | None]) -> int:
    """Sum of ``spec.replicas`` (``GetReplicaCountForReplicaSets``)."""
    return sum(replicas(rs) for rs in rss if rs is not None)


def status_sum(rss: Iterable[Obj | None], field: str) -> int:
    """Sum of a status count over ReplicaSets (``replicas``, ``readyReplicas``, ``availableReplicas``)."""
    return sum(_status(rs, field) for rs in rss if rs is not None)


def active(rss: Iterable[Obj | None]) -> list[Obj]:
    """The ReplicaSets that want pods (``FilterActiveReplicaSets``)."""
    return [rs for rs in rss if rs is not None and replicas(rs) > 0]


# ---- surge and unavailability ---------------------------------------------------
def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """An int-or-percent against ``total`` (``GetScaledValueFromIntOrPercent``)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        return int(text)
    fraction = int(text[:-1]) * total / 100
    return math.ceil(fraction) if round_up else math.floor(fraction)


def _rolling(d: Obj) -> Obj | None:
    strategy = (d.get("spec") or {}).get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return None
    return strategy.get("rollingUpdate") or {}


def is_rolling_update(d: Obj) -> bool:
    """Whether the Deployment's strategy is RollingUpdate."""
    return _rolling(d) is not None


def _fenceposts(d: Obj) -> tuple[int, int]:
    rolling = _rolling(d) or {}
    desired = replicas(d)
    surge = scaled_value(rolling.get("maxSurge", 0), desired, True)
    unavailable = scaled_value(rolling.get("maxUnavailable", 0), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1  # both rounded to zero: allow one unavailable, as surge may be blocked by quota
    return surge, unavailable


def max_surge(d: Obj) -> int:
    """How many pods over the desired count a rollout may run (0 for Recreate)."""
    return _fenceposts(d)[0] if is_rolling_update(d) else 0


def max_unavailable(d: Obj) -> int:
    """How many desired pods may be unavailable during a rollout (0 for Recreate or no replicas)."""
    if not is_rolling_update(d) or replicas(d) == 0:
        return 0
    return min(_fenceposts(d)[1], replicas(d))


def new_rs_new_replicas(d: Obj, all_rss: Sequence[Obj], new_rs: Obj) -> int:
    """The size the new ReplicaSet may scale up to now (``NewRSNewReplicas``)."""
    if not is_rolling_update(d):
        return replicas(d)
    surge = scaled_value((_rolling(d) or {}).get("maxSurge", 0), replicas(d), True)
    current = total_replicas(all_rss)
    max_total = replicas(d) + surge
    if current >= max_total:
        return replicas(new_rs)
    scale_up = min(max_total - current, replicas(d) - replicas(new_rs))
    return replicas(new_rs) + scale_up


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    """Whether ``rs`` runs all the Deployment's replicas, all available."""
    if rs is None:
        return False
    try:
        desired = int(_annotations(rs).get(DESIRED_REPLICAS, ""))
    except ValueError:
        return False
    want = replicas(d)
    return desired == want and replicas(rs) == want and _status(rs, "availableReplicas") == want


# ---- annotations ----------------------------------------------------------------
def copy_deployment_annotations(d: Obj, rs: Obj) -> bool:
    """Copy the Deployment's annotations (but the skipped ones) onto ``rs``; True if any changed."""
    meta = rs.setdefault("metadata", {})
    annotations = meta.setdefault("annotations", {})
    changed = False
    for key, value in _annotations(d).items():
        if key in SKIPPED_ANNOTATIONS or annotations.get(key) == value:
            continue
        annotations[key] = value
        changed = True
    return changed


def set_replicas_annotations(rs: Obj, desired: int, max_replicas: int) -> bool:
    """Record the Deployment's size and surge on ``rs``; True if they changed."""
    annotations = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(max_replicas))):
        if annotations.get(key) != value:
            annotations[key] = value
            changed = True
    return changed


def replicas_annotations_need_update(rs: Obj, desired: int, max_replicas: int) -> bool:
    """Whether ``rs`` records another size or surge than these."""
    annotations = _annotations(rs)
    return annotations.get(DESIRED_REPLICAS) != str(desired) or annotations.get(MAX_REPLICAS) != str(max_replicas)


def max_replicas_annotation(rs: Obj) -> int | None:
    """The max-replicas annotation, if readable."""
    try:
        return int(_annotations(rs)[MAX_REPLICAS])
    except (KeyError, ValueError):
        return None


def set_new_rs_annotations(d: Obj, rs: Obj, new_revision: int, *, exists: bool) -> bool:
    """Annotate the new ReplicaSet: copied annotations, revision (keeping history on rollback), sizes.

    Upstream's ``SetNewReplicaSetAnnotations``; True if anything changed.
    """
    changed = copy_deployment_annotations(d, rs)
    annotations = rs["metadata"]["annotations"]
    old = annotations.get(REVISION)
    try:
        old_number = int(old) if old else 0
    except ValueError:
        return False
    if old_number < new_revision:
        annotations[REVISION] = str(new_revision)
        changed = True
        if old:  # an old ReplicaSet becomes new again: a rollback; remember the revision it had
            history = annotations.get(REVISION_HISTORY, "")
            previous = history.split(",") if history else []
            total = len(history) + len(old) + 1
            start = 0
            while total > MAX_REVISION_HISTORY_CHARS and start < len(previous):
                total -= len(previous[start]) + 1
                start += 1
            if total <= MAX_REVISION_HISTORY_CHARS:
                annotations[REVISION_HISTORY] = ",".join([*previous[start:], old])
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed


# ---- conditions -----------------------------------------------------------------
def condition(status: Obj | None, type_: str) -> Obj | None:
    """The condition of ``type_`` in a status."""
    for c in (status or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def new_condition(type_: str, status: str, reason: str, message: str, now: datetime) -> Obj:
    """A Deployment condition stamped ``now``."""
    t = rfc3339(now)
    return {
        "type": type_,
        "status": status,
        "lastUpdateTime": t,
        "lastTransitionTime": t,
        "reason": reason,
        "message": message,
    }


def set_condition(status: Obj, cond: Obj) -> None:
    """Set ``cond`` unless one of the same status and reason is there (``SetDeploymentCondition``)."""
    current = condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] and current.get("reason") == cond["reason"]:
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, cond["type"])
    status.setdefault("conditions", []).append(cond)


def remove_condition(status: Obj, type_: str) -> None:
    """Drop the condition of ``type_``."""
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != type_]
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)


# ---- progress -------------------------------------------------------------------
def has_progress_deadline(d: Obj) -> bool:
    """Whether progressDeadlineSeconds is set (and not the max int32, which means none)."""
    seconds = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return seconds is not None and int(seconds) != 2**31 - 1


def deployment_complete(d: Obj, status: Obj) -> bool:
    """All replicas updated and available, and the latest spec observed."""
    want = replicas(d)
    return (
        _status({"status": status}, "updatedReplicas") == want
        and _status({"status": status}, "replicas") == want
        and _status({"status": status}, "availableReplicas") == want
        and int(status.get("observedGeneration") or 0) >= int(_meta(d).get("generation") or 0)
    )


def deployment_progressing(d: Obj, status: Obj) -> bool:
    """Whether ``status`` shows progress over the Deployment's recorded status."""
    old = d.get("status") or {}

    def get(s: Obj, f: str) -> int:
        return int(s.get(f) or 0)

    old_old = get(old, "replicas") - get(old, "updatedReplicas")
    new_old = get(status, "replicas") - get(status, "updatedReplicas")
    return (
        get(status, "updatedReplicas") > get(old, "updatedReplicas")
        or new_old < old_old
        or get(status, "readyReplicas") > get(old, "readyReplicas")
        or get(status, "availableReplicas") > get(old, "availableReplicas")
    )


def deployment_timed_out(d: Obj, status: Obj, now: datetime) -> bool:
    """Whether the rollout has made no progress for progressDeadlineSeconds."""
    if not has_progress_deadline(d):
        return False
    cond = condition(status, "Progressing")
    if cond is None or cond.get("reason") == "NewReplicaSetAvailable":
        return False
    if cond.get("reason") == "ProgressDeadlineExceeded":
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return False
    return (now - since).total_seconds() > int((d.get("spec") or {})["progressDeadlineSeconds"])


def calculate_status(all_rss: Sequence[Obj], new_rs: Obj | None, d: Obj, now: datetime) -> Obj:
    """The status a Deployment reports for its ReplicaSets (``calculateStatus``); zero counts omitted."""
    available = status_sum(all_rss, "availableReplicas")
    unavailable = max(0, total_replicas(all_rss) - available)
    old = d.get("status") or {}
    counts = {
        "observedGeneration": int(_meta(d).get("generation") or 0),
        "replicas": status_sum(all_rss, "replicas"),
        "updatedReplicas": status_sum([new_rs], "replicas"),
        "readyReplicas": status_sum(all_rss, "readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": unavailable,
    }
    status: Obj = {k: v for k, v in counts.items() if v}
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if old.get("conditions"):
        status["conditions"] = [dict(c) for c in old["conditions"]]
    if available >= replicas(d) - max_unavailable(d):
        cond = new_condition(
            "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now
        )
    else:
        cond = new_condition(
            "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", now
        )
    set_condition(status, cond)
    return status
