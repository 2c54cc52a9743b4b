"""Validation of workloads: Deployments, ReplicaSets, StatefulSets, DaemonSets (apps/v1) and Jobs (batch/v1).

Upstream's ``pkg/apis/apps/validation`` and ``pkg/apis/batch/validation``, for
what users meet: a selector is required and must select the pod template's
labels (``spec.template.metadata.labels: Invalid value:
map[string]string{"app":"web"}: `selector` does not match template
`labels```), replicas and the other counts are not negative, the template is a
valid pod template with the restart policy the kind needs, a rolling update
can make progress; on update the selector is immutable (a Job's template too,
and a StatefulSet's spec but for a few fields).
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pinnace.api.errors import Cause
from pinnace.api.validation import core, field
from pinnace.api.validation.field import invalid, nonnegative, not_supported, required
from pinnace.api.validation.shapes import as_dict as _dict

Obj = dict[str, Any]

_MISMATCH = "`selector` does not match template `labels`"

STATEFULSET_UPDATE_FORBIDDEN = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
    "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
)


def _template_labels(spec: Obj) -> Any:
    return _dict(_dict(spec.get("template")).get("metadata")).get("labels")


def _selector(spec: Obj, kind: str) -> list[Cause]:
    """Required, valid, and not empty."""
    selector = spec.get("selector")
    if selector is None:
        return [required("spec.selector")]
    out = core.label_selector(selector, "spec.selector")
    sel = _dict(selector)
    if not sel.get("matchLabels") and not sel.get("matchExpressions"):
        out.append(invalid("spec.selector", field.label_selector(sel), f"empty selector is invalid for {kind}"))
    return out


def _selects_template(spec: Obj, path: str = "spec.template.metadata.labels") -> list[Cause]:
    """``selector.Matches(template labels)`` — a missing selector selects nothing."""
    selector = spec.get("selector")
    labels = _template_labels(spec)
    if selector is None:
        matched: bool | None = False
    else:
        sel = _dict(selector)
        if not sel.get("matchLabels") and not sel.get("matchExpressions"):
            return []  # an empty selector is reported as such, and matches everything
        matched = core.selects(sel, labels)
    if matched is None:
        return [invalid("spec.selector", field.label_selector(_dict(selector)), "invalid label selector")]
    if not matched:
        return [invalid(path, field.GoValue(field.string_map(labels if labels else None)), _MISMATCH)]
    return []


def _pod_template_for_replicas(spec: Obj, kind: str) -> list[Cause]:
    """``ValidatePodTemplateSpecForReplicaSet``: matched labels, a valid template, restartPolicy Always."""
    out = _selects_template(spec)
    template = spec.get("template")
    if template is None:
        return [*out, required("spec.template")]
    out.extend(core.pod_template(template, "spec.template"))
    pod_spec = _dict(_dict(template).get("spec"))
    restart = pod_spec.get("restartPolicy")
    if restart and restart != "Always":
        out.append(not_supported("spec.template.spec.restartPolicy", restart, ("Always",)))
    if pod_spec.get("activeDeadlineSeconds") is not None:
        out.append(
            invalid(
                "spec.template.spec.activeDeadlineSeconds",
                pod_spec["activeDeadlineSeconds"],
                f"activeDeadlineSeconds in {kind} is not Supported",
            )
        )
    return out


def _int_or_percent_value(value: Any) -> int:
    if isinstance(value, str):
        digits = value[:-1]
        return int(digits) if value.endswith("%") and digits.isdigit() else 0
    return value if isinstance(value, int) else 0


def _strategy(strategy: Any) -> list[Cause]:
    strategy = _dict(strategy)
    type_ = strategy.get("type")
    rolling = strategy.get("rollingUpdate")
    if type_ == "Recreate":
        if rolling is not None:
            return [
                field.forbidden(
                    "spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"
                )
            ]
        return []
    if type_ != "RollingUpdate":
        shown = field.GoValue(
            f"apps.DeploymentStrategy{{Type:{field.go_value(str(type_ or ''))}, "
            "RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}"
        )
        return [not_supported("spec.strategy", shown, ("Recreate", "RollingUpdate"))]
    rolling = _dict(rolling)
    path = "spec.strategy.rollingUpdate"
    unavailable, surge = rolling.get("maxUnavailable", 0), rolling.get("maxSurge", 0)
    out = field.int_or_percent(f"{path}.maxUnavailable", unavailable) + field.int_or_percent(f"{path}.maxSurge", surge)
    if _int_or_percent_value(unavailable) == 0 and _int_or_percent_value(surge) == 0:
        out.append(
            invalid(f"{path}.maxUnavailable", field.int_or_string(unavailable), "may not be 0 when `maxSurge` is 0")
        )
    if isinstance(unavailable, str) and _int_or_percent_value(unavailable) > 100:
        out.append(invalid(f"{path}.maxUnavailable", field.int_or_string(unavailable), "must not be greater than 100%"))
    return out


def _selector_immutable(obj: Obj, old: Obj) -> list[Cause]:
    new_sel, old_sel = _dict(obj.get("spec")).get("selector"), _dict(old.get("spec")).get("selector")
    return field.immutable("spec.selector", new_sel, old_sel, field.label_selector(_dict(new_sel)))


def deployment(obj: Obj, old: Obj | None) -> list[Cause]:
    """``ValidateDeploymentSpec`` (+ the immutable selector on update)."""
    spec = _dict(obj.get("spec"))
    out = nonnegative("spec.replicas", spec.get("replicas"))
    out.extend(_selector(spec, "deployment"))
    out.extend(_pod_template_for_replicas(spec, "ReplicaSet"))
    out.extend(_strategy(spec.get("strategy")))
    out.extend(nonnegative("spec.minReadySeconds", spec.get("minReadySeconds")))
    out.extend(nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit")))
    deadline = spec.get("progressDeadlineSeconds")
    if isinstance(deadline, int):
        out.extend(nonnegative("spec.progressDeadlineSeconds", deadline))
        if deadline <= int(spec.get("minReadySeconds") or 0):
            out.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    if old is not None:
        out.extend(_selector_immutable(obj, old))
    return out


def replica_set(obj: Obj, old: Obj | None) -> list[Cause]:
    """``ValidateReplicaSetSpec`` (+ the immutable selector on update)."""
    spec = _dict(obj.get("spec"))
    out = nonnegative("spec.replicas", spec.get("replicas"))
    out.extend(nonnegative("spec.minReadySeconds", spec.get("minReadySeconds")))
    out.extend(_selector(spec, "deployment"))  # sic: upstream says "deployment" for ReplicaSets too
    out.extend(_pod_template_for_replicas(spec, "ReplicaSet"))
    if old is not None:
        out.extend(_selector_immutable(obj, old))
    return out


def stateful_set(obj: Obj, old: Obj | None) -> list[Cause]:
    """``ValidateStatefulSetSpec``; on update only a few spec fields may change."""
    spec = _dict(obj.get("spec"))
    out: list[Cause] = []
    policy = spec.get("podManagementPolicy")
    if not policy:
        out.append(required("spec.podManagementPolicy"))
    elif policy not in ("OrderedReady", "Parallel"):
        out.append(invalid("spec.podManagementPolicy", policy, "must be 'OrderedReady' or 'Parallel'"))
    update_type = _dict(spec.get("updateStrategy")).get("type")
    if not update_type:
        out.append(required("spec.updateStrategy"))
    elif update_type not in ("OnDelete", "RollingUpdate"):
        out.append(invalid("spec.updateStrategy", update_type, "must be 'RollingUpdate' or 'OnDelete'"))
    out.extend(nonnegative("spec.replicas", spec.get("replicas")))
    out.extend(nonnegative("spec.minReadySeconds", spec.get("minReadySeconds")))
    out.extend(_selector(spec, "statefulset"))
    out.extend(_selects_template(spec))
    claims = {
        str(_dict(c.get("metadata")).get("name") or "")
        for c in spec.get("volumeClaimTemplates") or []
        if isinstance(c, dict)
    }
    template = spec.get("template")
    out.extend(core.pod_template(template, "spec.template", extra_volumes=claims))
    pod_spec = _dict(_dict(template).get("spec"))
    restart = pod_spec.get("restartPolicy")
    if restart and restart != "Always":
        out.append(not_supported("spec.template.spec.restartPolicy", restart, ("Always",)))
    if old is not None:
        new_rest = {k: v for k, v in spec.items() if k not in _STATEFULSET_MUTABLE}
        old_rest = {k: v for k, v in _dict(old.get("spec")).items() if k not in _STATEFULSET_MUTABLE}
        if not field.semantic_equal(new_rest, old_rest):
            out.append(field.forbidden("spec", STATEFULSET_UPDATE_FORBIDDEN))
    return out


_STATEFULSET_MUTABLE = frozenset(
    {"replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy", "minReadySeconds"}
)


def daemon_set(obj: Obj, old: Obj | None) -> list[Cause]:
    """``ValidateDaemonSetSpec`` (+ the immutable selector on update)."""
    spec = _dict(obj.get("spec"))
    out = core.label_selector(spec.get("selector"), "spec.selector") if spec.get("selector") is not None else []
    out.extend(_selects_template(spec))
    sel = spec.get("selector")
    if isinstance(sel, dict) and not sel.get("matchLabels") and not sel.get("matchExpressions"):
        out.append(invalid("spec.selector", field.label_selector(sel), "empty selector is invalid for daemonset"))
    template = spec.get("template")
    out.extend(core.pod_template(template, "spec.template"))
    restart = _dict(_dict(template).get("spec")).get("restartPolicy")
    if restart and restart != "Always":
        out.append(not_supported("spec.template.spec.restartPolicy", restart, ("Always",)))
    out.extend(nonnegative("spec.minReadySeconds", spec.get("minReadySeconds")))
    out.extend(nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit")))
    if old is not None:
        out.extend(_selector_immutable(obj, old))
    return out


# ---- batch ---------------------------------------------------------------------------------------

#: Labels a Job's generated selector uses (upstream's ``batch.kubernetes.io/controller-uid`` …).
JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def generate_job_selector(obj: Obj) -> None:
    """A Job without ``manualSelector: true`` selects its pods by its uid (upstream's ``generateSelector``).

    Call once the uid is set. The template gets the uid and job-name labels (and
    their legacy unprefixed twins), the selector matches the uid.
    """
    spec = obj.get("spec")
    if not isinstance(spec, dict) or spec.get("manualSelector") is True:
        return
    meta = _dict(obj.get("metadata"))
    uid, name = str(meta.get("uid") or ""), str(meta.get("name") or "")
    template = spec.get("template")
    if not isinstance(template, dict):
        return
    tmeta = template.get("metadata")
    if not isinstance(tmeta, dict):
        tmeta = template["metadata"] = {}
    labels = tmeta.get("labels")
    if not isinstance(labels, dict):
        labels = tmeta["labels"] = {}
    labels.setdefault("controller-uid", uid)
    labels.setdefault(JOB_UID_LABEL, uid)
    labels.setdefault("job-name", name)
    labels.setdefault(JOB_NAME_LABEL, name)
    if spec.get("selector") is None:
        spec["selector"] = {"matchLabels": {JOB_UID_LABEL: uid}}


def job(obj: Obj, old: Obj | None) -> list[Cause]:
    """``validateJobSpec``; on update the selector, template (once started) and completions are immutable."""
    spec = _dict(obj.get("spec"))
    out: list[Cause] = []
    for key in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit"):
        out.extend(nonnegative(f"spec.{key}", spec.get(key)))
    selector = spec.get("selector")
    if selector is None:
        out.append(required("spec.selector"))
    else:
        out.extend(core.label_selector(selector, "spec.selector"))
    if selector is not None:
        out.extend(_selects_template(spec))
    template = spec.get("template")
    out.extend(core.pod_template(template, "spec.template"))
    restart = _dict(_dict(template).get("spec")).get("restartPolicy")
    if restart not in ("OnFailure", "Never"):
        out.append(not_supported("spec.template.spec.restartPolicy", restart or "", ("OnFailure", "Never")))
    if old is not None:
        old_spec = _dict(old.get("spec"))
        out.extend(field.immutable("spec.completions", spec.get("completions"), old_spec.get("completions")))
        out.extend(_selector_immutable(obj, old))
        out.extend(
            field.immutable(
                "spec.template",
                template,
                old_spec.get("template"),
                field.GoValue("core.PodTemplateSpec{...}"),
            )
        )
        out.extend(field.immutable("spec.completionMode", spec.get("completionMode"), old_spec.get("completionMode")))
    return out


def cron_job(obj: Obj, old: Obj | None) -> list[Cause]:
    """A cron job: a schedule, a concurrency policy, and a valid job template."""
    spec = _dict(obj.get("spec"))
    out: list[Cause] = []
    if not spec.get("schedule"):
        out.append(required("spec.schedule"))
    policy = spec.get("concurrencyPolicy")
    if policy not in ("Allow", "Forbid", "Replace"):
        out.append(not_supported("spec.concurrencyPolicy", policy or "", ("Allow", "Forbid", "Replace")))
    for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        out.extend(nonnegative(f"spec.{key}", spec.get(key)))
    if isinstance(zone := spec.get("timeZone"), str):
        out.extend(_time_zone(zone))
    job_spec = _dict(_dict(spec.get("jobTemplate")).get("spec"))
    path = "spec.jobTemplate.spec.template"
    out.extend(core.pod_template(job_spec.get("template"), path))
    restart = _dict(_dict(job_spec.get("template")).get("spec")).get("restartPolicy")
    if restart not in ("OnFailure", "Never"):
        out.append(not_supported(f"{path}.spec.restartPolicy", restart or "", ("OnFailure", "Never")))
    return out


#: A part of an IANA time zone name, as upstream accepts it before looking the zone up.
_TIME_ZONE_PART = re.compile(r"[A-Za-z.\-_0-9+]{1,14}")


def _time_zone(zone: str) -> list[Cause]:
    """A cron job's ``timeZone``: an explicit IANA zone this machine knows (upstream: ``time.LoadLocation``)."""
    if not zone:
        return [invalid("spec.timeZone", zone, "timeZone must be nil or non-empty string")]
    unknown = invalid("spec.timeZone", zone, f"unknown time zone {zone}")
    for part in zone.split("/"):
        if part in (".", "..") or part.startswith("-") or not _TIME_ZONE_PART.fullmatch(part):
            return [unknown]
    if zone.lower() == "local":
        return [
            invalid(
                "spec.timeZone",
                zone,
                "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
            )
        ]
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return [unknown]
    return []
