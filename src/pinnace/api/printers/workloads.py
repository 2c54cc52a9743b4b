"""Printers for workloads: apps, batch, autoscaling and policy, after upstream ``printers.go``.

Missing fields that v1 defaulting would have set before upstream prints
(``replicas: 1``, job ``parallelism``/``completions``, cronjob ``suspend``,
HPA ``minReplicas`` and its default 80% CPU metric) get that default here.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from pinnace.api import errors, hpaconversion
from pinnace.api.printers._common import (
    NONE,
    UNKNOWN,
    Column,
    Obj,
    Printer,
    age,
    age_col,
    col,
    containers_cols,
    doc,
    format_label_selector,
    format_labels,
    has,
    human_duration,
    i,
    label_selector_string,
    layout_containers,
    lst,
    m,
    meta_age,
    name_col,
    name_of,
    parse_time,
    pod_template_containers,
    quantity,
    s,
    span_us,
)


def _apps(kind: str, field: str) -> str:
    return doc(f"io.k8s.api.apps.v1.{kind}", field)


# --- apps -------------------------------------------------------------------------


def _deployment_columns() -> list[Column]:
    return [
        name_col(),
        col("Ready", desc="Number of the pod with ready state"),
        col("Up-to-date", desc=_apps("DeploymentStatus", "updatedReplicas")),
        col("Available", desc=_apps("DeploymentStatus", "availableReplicas")),
        age_col(),
        *containers_cols(),
        col("Selector", desc=_apps("DeploymentSpec", "selector"), priority=1),
    ]


def _deployment_row(obj: Obj, now: datetime) -> list[Any]:
    spec, status = m(obj, "spec"), m(obj, "status")
    names, images = layout_containers(pod_template_containers(obj))
    selector = label_selector_string(spec.get("selector"))
    return [
        name_of(obj),
        f"{i(status, 'readyReplicas')}/{i(spec, 'replicas', 1)}",
        i(status, "updatedReplicas"),
        i(status, "availableReplicas"),
        meta_age(obj, now),
        names,
        images,
        "<invalid>" if selector is None else selector,
    ]


def _replicaset_columns() -> list[Column]:
    return [
        name_col(),
        col("Desired", "integer", _apps("ReplicaSetSpec", "replicas")),
        col("Current", "integer", _apps("ReplicaSetStatus", "replicas")),
        col("Ready", "integer", _apps("ReplicaSetStatus", "readyReplicas")),
        age_col(),
        *containers_cols(),
        col("Selector", desc=_apps("ReplicaSetSpec", "selector"), priority=1),
    ]


def _replicaset_row(obj: Obj, now: datetime) -> list[Any]:
    spec, status = m(obj, "spec"), m(obj, "status")
    names, images = layout_containers(pod_template_containers(obj))
    return [
        name_of(obj),
        i(spec, "replicas", 1),
        i(status, "replicas"),
        i(status, "readyReplicas"),
        meta_age(obj, now),
        names,
        images,
        format_label_selector(spec.get("selector")),
    ]


def _statefulset_columns() -> list[Column]:
    return [
        name_col(),
        col("Ready", desc="Number of the pod with ready state"),
        age_col(),
        *containers_cols(),
    ]


def _statefulset_row(obj: Obj, now: datetime) -> list[Any]:
    spec, status = m(obj, "spec"), m(obj, "status")
    names, images = layout_containers(pod_template_containers(obj))
    return [
        name_of(obj),
        f"{i(status, 'readyReplicas')}/{i(spec, 'replicas', 1)}",
        meta_age(obj, now),
        names,
        images,
    ]


def _daemonset_columns() -> list[Column]:
    return [
        name_col(),
        col("Desired", "integer", _apps("DaemonSetStatus", "desiredNumberScheduled")),
        col("Current", "integer", _apps("DaemonSetStatus", "currentNumberScheduled")),
        col("Ready", "integer", _apps("DaemonSetStatus", "numberReady")),
        col("Up-to-date", "integer", _apps("DaemonSetStatus", "updatedNumberScheduled")),
        col("Available", "integer", _apps("DaemonSetStatus", "numberAvailable")),
        col("Node Selector", desc=doc("io.k8s.api.core.v1.PodSpec", "nodeSelector")),
        age_col(),
        *containers_cols(),
        col("Selector", desc=_apps("DaemonSetSpec", "selector"), priority=1),
    ]


def _daemonset_row(obj: Obj, now: datetime) -> list[Any]:
    spec, status = m(obj, "spec"), m(obj, "status")
    pod_spec = m(m(spec, "template"), "spec")
    names, images = layout_containers(lst(pod_spec, "containers"))
    return [
        name_of(obj),
        i(status, "desiredNumberScheduled"),
        i(status, "currentNumberScheduled"),
        i(status, "numberReady"),
        i(status, "updatedNumberScheduled"),
        i(status, "numberAvailable"),
        format_labels(pod_spec.get("nodeSelector")),
        meta_age(obj, now),
        names,
        images,
        format_label_selector(spec.get("selector")),
    ]


def _controller_revision_columns() -> list[Column]:
    return [
        name_col(),
        col("Controller", desc="Controller of the object"),
        col("Revision", desc=_apps("ControllerRevision", "revision")),
        age_col(),
    ]


def _controller_revision_row(obj: Obj, now: datetime) -> list[Any]:
    controller = NONE
    for ref in lst(m(obj, "metadata"), "ownerReferences"):
        if ref.get("controller") is True:
            api_version = s(ref, "apiVersion")
            group = api_version.split("/", 1)[0] if "/" in api_version else ""
            kind = s(ref, "kind")
            group_kind = f"{kind}.{group}" if group else kind
            controller = f"{group_kind.lower()}/{s(ref, 'name')}" if group_kind else s(ref, "name")
            break
    return [name_of(obj), controller, i(obj, "revision"), meta_age(obj, now)]


# --- batch ------------------------------------------------------------------------


def _job_columns() -> list[Column]:
    return [
        name_col(),
        col("Status", desc="Status of the job."),
        col("Completions", desc=doc("io.k8s.api.batch.v1.JobStatus", "succeeded")),
        col("Duration", desc="Time required to complete the job."),
        age_col(),
        *containers_cols(),
        col("Selector", desc=doc("io.k8s.api.batch.v1.JobSpec", "selector"), priority=1),
    ]


def _job_condition(conditions: list[Any], type_: str) -> bool:
    for c in conditions:
        if s(c, "type") == type_:
            return s(c, "status") == "True"
    return False


def _job_row(obj: Obj, now: datetime) -> list[Any]:
    spec, status = m(obj, "spec"), m(obj, "status")
    succeeded = i(status, "succeeded")
    completions: int | None = spec.get("completions") if isinstance(spec.get("completions"), int) else None
    parallelism: int | None = spec.get("parallelism") if isinstance(spec.get("parallelism"), int) else None
    if completions is None and parallelism is None:  # v1 defaulting of a non-indexed job
        completions = 1
    if parallelism is None:
        parallelism = 1
    if completions is not None:
        completions_cell = f"{succeeded}/{completions}"
    elif parallelism > 1:
        completions_cell = f"{succeeded}/1 of {parallelism}"
    else:
        completions_cell = f"{succeeded}/1"
    start, end = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    duration = ""
    if start is not None:
        duration = human_duration(span_us(end if end is not None else now, start))
    conditions = lst(status, "conditions")
    if _job_condition(conditions, "Complete"):
        state = "Complete"
    elif _job_condition(conditions, "Failed"):
        state = "Failed"
    elif has(m(obj, "metadata"), "deletionTimestamp"):
        state = "Terminating"
    elif _job_condition(conditions, "Suspended"):
        state = "Suspended"
    elif _job_condition(conditions, "FailureTarget"):
        state = "FailureTarget"
    else:
        state = "Running"
    names, images = layout_containers(pod_template_containers(obj))
    return [
        name_of(obj),
        state,
        completions_cell,
        duration,
        meta_age(obj, now),
        names,
        images,
        format_label_selector(spec.get("selector")),
    ]


def _cronjob_columns() -> list[Column]:
    spec, status = "io.k8s.api.batch.v1.CronJobSpec", "io.k8s.api.batch.v1.CronJobStatus"
    return [
        name_col(),
        col("Schedule", desc=doc(spec, "schedule")),
        col("Timezone", desc=doc(spec, "timeZone")),
        col("Suspend", "boolean", doc(spec, "suspend")),
        col("Active", "integer", doc(status, "active")),
        col("Last Schedule", desc=doc(status, "lastScheduleTime")),
        age_col(),
        *containers_cols(),
        col("Selector", desc=doc("io.k8s.api.batch.v1.JobSpec", "selector"), priority=1),
    ]


def _cronjob_row(obj: Obj, now: datetime) -> list[Any]:
    spec, status = m(obj, "spec"), m(obj, "status")
    last = age(status.get("lastScheduleTime"), now) if has(status, "lastScheduleTime") else NONE
    suspend = spec.get("suspend")
    suspend_cell = "True" if suspend is True else "False"  # defaulting sets suspend: false
    job_spec = m(m(spec, "jobTemplate"), "spec")
    names, images = layout_containers(lst(m(m(job_spec, "template"), "spec"), "containers"))
    return [
        name_of(obj),
        s(spec, "schedule"),
        s(spec, "timeZone", NONE),
        suspend_cell,
        len(lst(status, "active")),
        last,
        meta_age(obj, now),
        names,
        images,
        format_label_selector(job_spec.get("selector")),
    ]


# --- autoscaling ------------------------------------------------------------------


def _scale_columns() -> list[Column]:
    # Upstream's NAME column of a Scale carries no "name" format.
    return [
        col("Name", desc=doc("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "name")),
        col("Desired", "integer", doc("io.k8s.api.autoscaling.v1.ScaleSpec", "replicas")),
        col("Available", "integer", doc("io.k8s.api.autoscaling.v1.ScaleStatus", "replicas")),
        age_col(),
    ]


def _scale_row(obj: Obj, now: datetime) -> list[Any]:
    return [name_of(obj), i(m(obj, "spec"), "replicas"), i(m(obj, "status"), "replicas"), meta_age(obj, now)]


def _hpa_columns() -> list[Column]:
    spec, status = (
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerSpec",
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus",
    )
    return [
        name_col(),
        col("Reference", desc=doc(spec, "scaleTargetRef")),
        col("Targets", desc=doc(spec, "metrics")),
        col("MinPods", desc=doc(spec, "minReplicas")),
        col("MaxPods", desc=doc(spec, "maxReplicas")),
        col("Replicas", desc=doc(status, "currentReplicas")),
        age_col(),
    ]


_DEFAULT_CPU_METRIC = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
}


def _hpa_metrics(obj: Obj) -> tuple[list[Any], list[Any]]:
    """(spec metrics, status metrics) in autoscaling/v2 shape (an autoscaling/v1 HPA converted, as stored)."""
    if s(obj, "apiVersion") == "autoscaling/v1":
        with contextlib.suppress(errors.BadRequest):  # (annotations a v1 read made are valid JSON)
            obj = hpaconversion.to_v2(obj)
    spec, status = m(obj, "spec"), m(obj, "status")
    return lst(spec, "metrics") or [_DEFAULT_CPU_METRIC], lst(status, "currentMetrics")


def _qty_or_nil(v: Any) -> str:
    return "<nil>" if v is None else quantity(v)


def format_hpa_metrics(specs: list[Any], statuses: list[Any]) -> str:
    """``formatHPAMetrics``: ``current/target`` per metric, at most two then ``+ N more...``."""
    if not specs:
        return NONE
    out: list[str] = []
    for idx, spec in enumerate(specs):
        st = statuses[idx] if idx < len(statuses) and isinstance(statuses[idx], dict) else {}
        kind = s(spec, "type")
        if kind in ("External", "Object"):
            key = "external" if kind == "External" else "object"
            target, cur = m(m(spec, key), "target"), st.get(key)
            if has(target, "averageValue"):
                current = UNKNOWN
                if isinstance(cur, dict) and has(m(cur, "current"), "averageValue"):
                    current = quantity(m(cur, "current")["averageValue"])
                out.append(f"{current}/{quantity(target['averageValue'])} (avg)")
            else:
                current = _qty_or_nil(m(cur, "current").get("value")) if isinstance(cur, dict) else UNKNOWN
                out.append(f"{current}/{_qty_or_nil(target.get('value'))}")
        elif kind == "Pods":
            cur = st.get("pods")
            current = _qty_or_nil(m(cur, "current").get("averageValue")) if isinstance(cur, dict) else UNKNOWN
            out.append(f"{current}/{_qty_or_nil(m(m(spec, 'pods'), 'target').get('averageValue'))}")
        elif kind in ("Resource", "ContainerResource"):
            key = "resource" if kind == "Resource" else "containerResource"
            src, cur = m(spec, key), st.get(key)
            target = m(src, "target")
            if has(target, "averageValue"):
                current = _qty_or_nil(m(cur, "current").get("averageValue")) if isinstance(cur, dict) else UNKNOWN
                out.append(f"{s(src, 'name')}: {current}/{quantity(target['averageValue'])}")
            else:
                current = UNKNOWN
                if isinstance(cur, dict) and isinstance(m(cur, "current").get("averageUtilization"), int):
                    current = f"{m(cur, 'current')['averageUtilization']}%"
                util = target.get("averageUtilization")
                goal = f"{util}%" if isinstance(util, int) else "<auto>"
                out.append(f"{s(src, 'name')}: {current}/{goal}")
        else:
            out.append("<unknown type>")
    if len(out) > 2:
        return f"{', '.join(out[:2])} + {len(out) - 2} more..."
    return ", ".join(out)


def _hpa_row(obj: Obj, now: datetime) -> list[Any]:
    spec, status = m(obj, "spec"), m(obj, "status")
    ref = m(spec, "scaleTargetRef")
    min_replicas = spec.get("minReplicas")
    specs, statuses = _hpa_metrics(obj)
    return [
        name_of(obj),
        f"{s(ref, 'kind')}/{s(ref, 'name')}",
        format_hpa_metrics(specs, statuses),
        str(min_replicas) if isinstance(min_replicas, int) else "1",
        i(spec, "maxReplicas"),
        i(status, "currentReplicas"),
        meta_age(obj, now),
    ]


# --- policy -----------------------------------------------------------------------


def _pdb_columns() -> list[Column]:
    return [
        name_col(),
        col("Min Available", desc="The minimum number of pods that must be available."),
        col("Max Unavailable", desc="The maximum number of pods that may be unavailable."),
        col("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
        age_col(),
    ]


def _pdb_row(obj: Obj, now: datetime) -> list[Any]:
    spec = m(obj, "spec")
    min_available = str(spec["minAvailable"]) if has(spec, "minAvailable") else "N/A"
    max_unavailable = str(spec["maxUnavailable"]) if has(spec, "maxUnavailable") else "N/A"
    return [
        name_of(obj),
        min_available,
        max_unavailable,
        i(m(obj, "status"), "disruptionsAllowed"),
        meta_age(obj, now),
    ]


PRINTERS: dict[tuple[str, str], Printer] = {
    ("apps", "Deployment"): Printer(_deployment_columns, _deployment_row),
    ("apps", "ReplicaSet"): Printer(_replicaset_columns, _replicaset_row),
    ("apps", "StatefulSet"): Printer(_statefulset_columns, _statefulset_row),
    ("apps", "DaemonSet"): Printer(_daemonset_columns, _daemonset_row),
    ("apps", "ControllerRevision"): Printer(_controller_revision_columns, _controller_revision_row),
    ("batch", "Job"): Printer(_job_columns, _job_row),
    ("batch", "CronJob"): Printer(_cronjob_columns, _cronjob_row),
    ("autoscaling", "HorizontalPodAutoscaler"): Printer(_hpa_columns, _hpa_row),
    ("autoscaling", "Scale"): Printer(_scale_columns, _scale_row),
    ("policy", "PodDisruptionBudget"): Printer(_pdb_columns, _pdb_row),
}
"""Workload printers by (group, kind)."""

__all__ = ["PRINTERS", "format_hpa_metrics"]
