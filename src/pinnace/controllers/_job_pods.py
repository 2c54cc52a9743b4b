"""A Job's pods: how they are made, indexed and judged (helpers of :mod:`.job`).

- :func:`new_job_pod` — the template with a controller reference, the
  tracking finalizer and, for Indexed jobs, the completion index
  (annotation, label, ``JOB_COMPLETION_INDEX``, hostname ``<job>-<index>``);
- :func:`is_failed` — upstream's ``isPodFailed``: Failed, or deleted before
  it succeeded (unless ``podReplacementPolicy: Failed`` waits for the phase);
- :func:`match_pod_failure_policy` — upstream's ``matchPodFailurePolicy``:
  which ``podFailurePolicy`` rule a failed pod meets, whether its failure
  counts, and the message that fails the Job for a ``FailJob`` rule;
- ``backoffLimitPerIndex`` helpers — the failure counts a pod's annotations
  carry for its index, the ones its replacement gets, whether a pod fails its
  index for good (:func:`is_index_failed`);
- :func:`match_success_policy` — upstream's ``matchSuccessPolicy``: the
  ``successPolicy`` rule an Indexed job's succeeded indexes meet;
- :class:`IndexSet` — ``completedIndexes`` in upstream's interval notation
  (``"1,3-5,7"``).
"""

from __future__ import annotations

import copy
from typing import Any

from pinnace.controllers._workload_pods import pod_from_template

__all__ = [
    "COMPLETION_INDEX",
    "TRACKING_FINALIZER",
    "IndexSet",
    "completion_index",
    "finished_at",
    "index_failure_counts",
    "is_failed",
    "is_index_failed",
    "last_failed_per_index",
    "match_pod_failure_policy",
    "match_success_policy",
    "new_job_pod",
    "next_index_failure_counts",
    "restarts",
]

Obj = dict[str, Any]

#: The annotation and label carrying an Indexed job's pod index.
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
#: Keeps a finished pod until the Job controller has counted it.
TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
INDEX_ENV = "JOB_COMPLETION_INDEX"
#: The failures of a pod's index before it, counted and ignored by the podFailurePolicy (backoffLimitPerIndex).
INDEX_FAILURE_COUNT = "batch.kubernetes.io/job-index-failure-count"
INDEX_IGNORED_FAILURE_COUNT = "batch.kubernetes.io/job-index-ignored-failure-count"


def new_job_pod(job: Obj, index: int | None, failures: tuple[int, int] | None = None) -> Obj:
    """A pod for ``job`` (for completion ``index`` of an Indexed job; with ``backoffLimitPerIndex``, the
    ``failures`` of the index so far, counted and ignored)."""
    name = job["metadata"]["name"]
    template = copy.deepcopy(job["spec"].get("template") or {})
    generate = f"{name}-"
    if index is not None:
        tmeta = template.setdefault("metadata", {})
        tmeta.setdefault("annotations", {})[COMPLETION_INDEX] = str(index)
        if failures is not None:
            tmeta["annotations"][INDEX_FAILURE_COUNT] = str(failures[0])
            if failures[1]:
                tmeta["annotations"][INDEX_IGNORED_FAILURE_COUNT] = str(failures[1])
        tmeta.setdefault("labels", {})[COMPLETION_INDEX] = str(index)
        spec = template.setdefault("spec", {})
        if not spec.get("hostname"):
            spec["hostname"] = f"{name}-{index}"
        env = {
            "name": INDEX_ENV,
            "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}},
        }
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            variables = container.setdefault("env", [])
            if not any(v.get("name") == INDEX_ENV for v in variables):
                variables.append(env)
        generate = f"{name}-{index}-"
    pod = pod_from_template(template, job, generate_name=generate)
    finalizers = pod["metadata"].setdefault("finalizers", [])
    if TRACKING_FINALIZER not in finalizers:
        finalizers.append(TRACKING_FINALIZER)
    return pod


def completion_index(pod: Obj | None) -> int | None:
    """The pod's completion index (from its annotation), if it has a valid one."""
    if pod is None:
        return None
    value = (pod["metadata"].get("annotations") or {}).get(COMPLETION_INDEX)
    try:
        index = int(str(value))
    except ValueError:
        return None
    return index if index >= 0 else None


def is_failed(pod: Obj, job: Obj) -> bool:
    """Whether the pod counts as a failure of ``job``."""
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Failed":
        return True
    if job["spec"].get("podReplacementPolicy") == "Failed":
        return False
    return bool(pod["metadata"].get("deletionTimestamp")) and phase != "Succeeded"


def _failed_container(pod: Obj, requirement: Obj) -> Obj | None:
    """The first container (then init container) that ended with a non-zero exit code the requirement names."""
    status = pod.get("status") or {}
    wanted = requirement.get("containerName")
    values = {int(v) for v in requirement.get("values") or []}
    for container in [*(status.get("containerStatuses") or []), *(status.get("initContainerStatuses") or [])]:
        if wanted is not None and container.get("name") != wanted:
            continue
        code = int(((container.get("state") or {}).get("terminated") or {}).get("exitCode") or 0)
        if code != 0 and (code in values) == (requirement.get("operator") == "In"):
            return dict(container)
    return None


def _matching_condition(pod: Obj, patterns: list[Obj]) -> Obj | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        for pattern in patterns:
            if condition.get("type") == pattern.get("type") and condition.get("status") == pattern.get("status"):
                return dict(condition)
    return None


def match_pod_failure_policy(job: Obj, pod: Obj) -> tuple[str | None, bool, str | None]:
    """For a failed pod of ``job``: the message that fails the Job (a ``FailJob`` rule matched, worded as
    upstream), whether the failure counts towards the backoff limits (not for an ``Ignore`` rule), and the
    action of the rule matched (None for none)."""
    policy = job["spec"].get("podFailurePolicy") or {}
    namespace, name = pod["metadata"].get("namespace"), pod["metadata"]["name"]
    for index, rule in enumerate(policy.get("rules") or []):
        action = rule.get("action")
        if rule.get("onExitCodes") is not None:
            container = _failed_container(pod, rule["onExitCodes"])
            if container is None:
                continue
            code = container["state"]["terminated"]["exitCode"]
            what = f"Container {container.get('name')} for pod {namespace}/{name} failed with exit code {code}"
        elif rule.get("onPodConditions") is not None:
            condition = _matching_condition(pod, rule["onPodConditions"])
            if condition is None:
                continue
            what = f"Pod {namespace}/{name} has condition {condition.get('type')}"
        else:
            continue
        if action == "Ignore":
            return None, False, action
        if action == "FailJob":
            return f"{what} matching FailJob rule at index {index}", True, action
        if action in ("Count", "FailIndex"):
            return None, True, action
    return None, True, None


def index_failure_counts(pod: Obj) -> tuple[int, int]:
    """The failures, counted and ignored, of the pod's index before it (its annotations)."""
    annotations = pod["metadata"].get("annotations") or {}
    counts = []
    for key in (INDEX_FAILURE_COUNT, INDEX_IGNORED_FAILURE_COUNT):
        try:
            counts.append(max(0, int(str(annotations.get(key) or 0))))
        except ValueError:
            counts.append(0)
    return counts[0], counts[1]


def next_index_failure_counts(job: Obj, failed: Obj | None) -> tuple[int, int]:
    """The failure counts of the pod replacing ``failed`` (upstream's ``getNewIndexFailureCounts``)."""
    if failed is None:
        return 0, 0
    counted, ignored = index_failure_counts(failed)
    if match_pod_failure_policy(job, failed)[1]:
        return counted + 1, ignored
    return counted, ignored + 1


def is_index_failed(job: Obj, pod: Obj) -> bool:
    """Whether the pod fails its index for good (upstream's ``isIndexFailed``): a ``FailIndex`` rule, or a
    counted failure with ``backoffLimitPerIndex`` failures of the index before it."""
    if not is_failed(pod, job):
        return False
    _, counted, action = match_pod_failure_policy(job, pod)
    if action == "FailIndex":
        return True
    return counted and index_failure_counts(pod)[0] >= int(job["spec"].get("backoffLimitPerIndex") or 0)


def last_failed_per_index(job: Obj, pods: list[Obj]) -> dict[int, Obj]:
    """The latest failed pod of each index (what its replacement counts from)."""
    out: dict[int, Obj] = {}
    for pod in sorted(pods, key=lambda p: str(p["metadata"].get("creationTimestamp") or "")):
        index = completion_index(pod)
        if index is not None and is_failed(pod, job):
            out[index] = pod
    return out


def finished_at(pod: Obj) -> str:
    """When the pod's last container ended (upstream's ``getFinishedTime``), as an RFC 3339 string ("" if never)."""
    status = pod.get("status") or {}
    ends = [
        str(((c.get("state") or {}).get("terminated") or {}).get("finishedAt") or "")
        for c in [*(status.get("containerStatuses") or []), *(status.get("initContainerStatuses") or [])]
    ]
    return max([e for e in ends if e] or [str(pod["metadata"].get("deletionTimestamp") or "")])


def match_success_policy(job: Obj, succeeded: set[int]) -> str | None:
    """The message of the first ``successPolicy`` rule the succeeded indexes meet (upstream's), if any."""
    completions = int(job["spec"].get("completions") or 0)
    for index, rule in enumerate((job["spec"].get("successPolicy") or {}).get("rules") or []):
        count = rule.get("succeededCount")
        if rule.get("succeededIndexes") is not None:
            try:
                required = {i for i in IndexSet.parse(str(rule["succeededIndexes"])) if i < completions}
            except ValueError:
                continue  # not an index list: upstream skips the rule
            if not required:
                continue
            met = len(required & succeeded) >= int(count) if count is not None else required <= succeeded
        else:
            met = count is not None and len(succeeded) >= int(count)
        if met and succeeded:
            return f"Matched rules at index {index}"
    return None


def restarts(pod: Obj) -> int:
    """Container restarts so far (what counts against the backoff limit of OnFailure pods)."""
    status = pod.get("status") or {}
    statuses = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    return sum(int(s.get("restartCount") or 0) for s in statuses)


class IndexSet(set[int]):
    """A set of completion indexes that prints as upstream's ``completedIndexes``."""

    @classmethod
    def parse(cls, text: str) -> IndexSet:
        """Read ``"1,3-5,7"``."""
        out = cls()
        for part in filter(None, text.split(",")):
            first, _, last = part.partition("-")
            out.update(range(int(first), int(last or first) + 1))
        return out

    def __str__(self) -> str:
        parts: list[str] = []
        values = sorted(self)
        i = 0
        while i < len(values):
            j = i
            while j + 1 < len(values) and values[j + 1] == values[j] + 1:
                j += 1
            # As upstream's orderedIntervals: a run of two prints as "1,2", a longer one as "1-3".
            parts.append(str(values[i]) if i == j else f"{values[i]}{',' if j == i + 1 else '-'}{values[j]}")
            i = j + 1
        return ",".join(parts)
