"""The built-in controllers' finer points with the real kubectl, on ``pinnace up --sim-nodes 5``.

- The races a busy cluster always has log no ERROR in ``pinnace up``'s output: quotas
  recounted from a cache that lags admission's charges (409s), Deployments and aggregated
  ClusterRoles deleted while being reconciled (404s), controllers creating pods, endpoints
  and events in a namespace being deleted (403 NamespaceTerminating). Upstream's controllers
  requeue or drop these quietly, and so must ours. (First in the module: it reads the log of
  its own run only, and the tests below log warnings on purpose.)
- PodDisruptionBudgets over pods with no controller, or with a controller that has no scale,
  as upstream's disruption controller (v1.32) handles them.
- HorizontalPodAutoscalers on metrics other than Resource, with no metrics APIs: the events,
  condition and ``kubectl describe`` in upstream's words (pkg/controller/podautoscaler).
- A StatefulSet's ``persistentVolumeClaimRetentionPolicy`` through scale-down, a policy change
  and deletion; the status of an empty StatefulSet and DaemonSet as Go's JSON writes it.
- Jobs suspended (their pods deleted, not failed), or with a ``podFailurePolicy``, a
  ``successPolicy`` or a ``backoffLimitPerIndex`` (simulated pods exit, with the code their
  annotation says, a second after they start).
"""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Cluster, output_path
from tests.e2e.kubectl import eventually, get_json, names

ROUNDS = 3
POD_SPEC = 'containers: [{name: c, image: busybox, command: ["sleep", "3600"]}]'


def _namespace_with_web(ns: str, replicas: int) -> str:
    """The namespace ``ns`` and its Deployment "web" (YAML documents)."""
    return f"""apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template: {{metadata: {{labels: {{app: web}}}}, spec: {{{POD_SPEC}}}}}
"""


def _namespace_objects(ns: str) -> str:
    pod = POD_SPEC
    return f"""{_namespace_with_web(ns, 3)}---
apiVersion: v1
kind: ResourceQuota
metadata: {{name: q, namespace: {ns}}}
spec: {{hard: {{pods: "40", services: "5", count/deployments.apps: "5", count/jobs.batch: "5"}}}}
---
apiVersion: v1
kind: ResourceQuota
metadata: {{name: q2, namespace: {ns}}}
spec: {{hard: {{pods: "30"}}}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: ds, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: ds}}}}
  template: {{metadata: {{labels: {{app: ds}}}}, spec: {{{pod}}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {ns}}}
spec: {{selector: {{app: web}}, ports: [{{port: 80}}]}}
---
apiVersion: batch/v1
kind: Job
metadata: {{name: j, namespace: {ns}}}
spec:
  parallelism: 3
  completions: 6
  template: {{spec: {{restartPolicy: Never, {pod}}}}}
"""


def _aggregated_roles(name: str) -> str:
    parts = "".join(
        f"""---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {name}-{p}, labels: {{{name}: "true"}}}}
rules: [{{apiGroups: [""], resources: [pods], verbs: [v{p}]}}]
"""
        for p in range(3)
    )
    return f"""apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {name}}}
aggregationRule: {{clusterRoleSelectors: [{{matchLabels: {{{name}: "true"}}}}]}}
rules: []
{parts}"""


def test_a_busy_workload_of_expected_races_logs_no_error(sim_cluster: Cluster) -> None:
    c = sim_cluster
    log = output_path(c.data_dir)  # the API server's and the controller manager's log lines
    start = log.stat().st_size
    namespaces = [f"races-{i}" for i in range(ROUNDS)]
    for i, ns in enumerate(namespaces):
        c.kubectl("apply", "-f", "-", input=_namespace_objects(ns))
        c.kubectl("apply", "-f", "-", input=_aggregated_roles(f"races-agg-{i}"))
    for ns in namespaces:
        c.kubectl("scale", "deployment", "web", "-n", ns, "--replicas=8")
        c.kubectl("set", "image", "deployment/web", "c=busybox:1.36", "-n", ns)
        c.kubectl("scale", "deployment", "web", "-n", ns, "--replicas=1")
    for i, ns in enumerate(namespaces):
        roles = [f"races-agg-{i}", *(f"races-agg-{i}-{p}" for p in range(3))]
        c.kubectl("delete", "clusterrole", *roles, "--wait=false")
        c.kubectl("delete", "deployment", "web", "-n", ns, "--wait=false")
        c.kubectl("delete", "resourcequota", "q", "-n", ns, "--wait=false")
        c.kubectl("delete", "namespace", ns, "--wait=false")
    eventually(lambda: not set(namespaces) & set(names(c, "namespaces")), timeout=90)

    with log.open("rb") as f:
        f.seek(start)
        written = f.read().decode(errors="replace")
    loud = [line for line in written.splitlines() if " ERROR " in line or " WARNING " in line or "Traceback" in line]
    # A slow event handler on a loaded machine is worth its warning, but it is no race.
    assert [line for line in loud if "handlers must not block" not in line] == []


def _pdb_objects(ns: str) -> str:
    pod = POD_SPEC
    return f"""{_namespace_with_web(ns, 2)}---
apiVersion: v1
kind: Pod
metadata: {{name: bare, namespace: {ns}, labels: {{app: web}}}}
spec: {{{pod}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: lonely, namespace: {ns}, labels: {{app: lonely}}}}
spec: {{{pod}}}
---
apiVersion: batch/v1
kind: Job
metadata: {{name: batch, namespace: {ns}}}
spec:
  parallelism: 2
  template: {{metadata: {{labels: {{app: batch}}}}, spec: {{restartPolicy: Never, {pod}}}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: web, namespace: {ns}}}
spec: {{maxUnavailable: 1, selector: {{matchLabels: {{app: web}}}}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: lonely, namespace: {ns}}}
spec: {{minAvailable: "50%", selector: {{matchLabels: {{app: lonely}}}}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: batch, namespace: {ns}}}
spec: {{maxUnavailable: 1, selector: {{matchLabels: {{app: batch}}}}}}
"""


def test_budgets_leave_out_unmanaged_pods_and_fail_safe_on_unscalable_controllers(sim_cluster: Cluster) -> None:
    c, ns = sim_cluster, "budgets"
    c.kubectl("apply", "-f", "-", input=_pdb_objects(ns))

    def status(name: str) -> dict[str, Any]:
        found: dict[str, Any] = get_json(c, "pdb", name, "-n", ns).get("status") or {}
        return found

    def allowed_condition(name: str) -> dict[str, Any]:
        return next((x for x in status(name).get("conditions") or [] if x["type"] == "DisruptionAllowed"), {})

    # The bare pod is healthy but not expected: only the Deployment's 2 replicas are.
    counts = ("expectedPods", "desiredHealthy", "currentHealthy", "disruptionsAllowed")
    eventually(lambda: tuple(status("web").get(k) for k in counts) == (2, 1, 3, 2))
    # Only unmanaged pods: none expected, so no disruption allowed, however many are healthy.
    eventually(lambda: tuple(status("lonely").get(k) for k in counts) == (0, 0, 1, 0))
    assert allowed_condition("lonely")["reason"] == "InsufficientPods"
    # A Job has no scale: the budget cannot be computed and fails safe.
    cond = eventually(lambda: allowed_condition("batch").get("reason") == "SyncFailed" and allowed_condition("batch"))
    assert (cond["status"], cond["message"]) == ("False", "jobs.batch does not implement the scale subresource")
    assert status("batch")["disruptionsAllowed"] == 0

    def events(pdb: str) -> dict[str, str]:
        listed = get_json(c, "events", "-n", ns, "--field-selector", f"involvedObject.name={pdb}")["items"]
        return {e["reason"]: e["message"] for e in listed if e["type"] == "Warning"}

    unmanaged = (
        "Pods selected by this PodDisruptionBudget (selector: &LabelSelector{MatchLabels:map[string]string{app: "
        "web,},MatchExpressions:[]LabelSelectorRequirement{},}) were found to be unmanaged. As a result, the status "
        "of the PDB cannot be calculated correctly, which may result in undefined behavior. To account for these "
        'pods please set ".spec.minAvailable" field of the PDB to an integer value.'
    )
    assert eventually(lambda: events("web")).get("UnmanagedPods") == unmanaged
    assert eventually(lambda: events("batch")).get("CalculateExpectedPodCountFailed") == (
        "Failed to calculate the number of expected pods: jobs.batch does not implement the scale subresource"
    )
    described = c.kubectl("describe", "pdb", "batch", "-n", ns).stdout
    assert "Allowed disruptions:  0" in described and "CalculateExpectedPodCountFailed" in described
    c.kubectl("delete", "namespace", ns, "--wait=false")


HPA_METRICS = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: metrics, namespace: hpa-metrics}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 5
  metrics:
  - type: Pods
    pods: {metric: {name: packets-per-second}, target: {type: AverageValue, averageValue: 1k}}
  - type: Object
    object:
      metric: {name: requests-per-second}
      describedObject: {apiVersion: networking.k8s.io/v1, kind: Ingress, name: main-route}
      target: {type: Value, value: 10k}
  - type: Object
    object:
      metric: {name: rps}
      describedObject: {apiVersion: v1, kind: Service, name: web}
      target: {type: AverageValue, averageValue: "2"}
  - type: External
    external:
      metric: {name: queue_messages_ready, selector: {matchLabels: {queue: worker_tasks}}}
      target: {type: AverageValue, averageValue: "30"}
  - type: External
    external:
      metric: {name: total}
      target: {type: Value, value: "5"}
  - type: ContainerResource
    containerResource: {name: cpu, container: application, target: {type: Utilization, averageUtilization: 60}}
"""
NO_CUSTOM = "unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered"
NO_RESOURCE = (
    "unable to fetch metrics from resource metrics API: the server could not find the requested resource "
    "(get pods.metrics.k8s.io)"
)


def _no_external(name: str) -> str:
    return (
        "unable to fetch metrics from external metrics API: the server could not find the requested resource "
        f"(get {name}.external.metrics.k8s.io)"
    )


def test_autoscaler_reports_each_missing_metrics_api_in_upstreams_words(sim_cluster: Cluster) -> None:
    c, ns = sim_cluster, "hpa-metrics"
    c.kubectl("apply", "-f", "-", input=_namespace_with_web(ns, 2))
    c.kubectl("apply", "-f", "-", input=HPA_METRICS)

    def warnings() -> dict[str, set[str]]:
        listed = get_json(c, "events", "-n", ns, "--field-selector", "involvedObject.kind=HorizontalPodAutoscaler")
        out: dict[str, set[str]] = {}
        for e in listed["items"]:
            out.setdefault(e["reason"], set()).add(e["message"])
        return out

    selector = (
        "&LabelSelector{MatchLabels:map[string]string{queue: worker_tasks,},"
        "MatchExpressions:[]LabelSelectorRequirement{},}"
    )
    pods = f"unable to get metric packets-per-second: {NO_CUSTOM}"
    expected = {
        "FailedGetPodsMetric": {pods},
        # Upstream's format string puts the object's kind, namespace and name in this odd order.
        "FailedGetObjectMetric": {
            f"unable to get metric requests-per-second: Ingress on {ns} main-route/{NO_CUSTOM}",
            f"unable to get metric rps: Service on {ns} web/{NO_CUSTOM}",
        },
        "FailedGetExternalMetric": {
            f"unable to get external metric {ns}/queue_messages_ready/{selector}: "
            + _no_external("queue_messages_ready"),
            f"unable to get external metric {ns}/total/nil: {_no_external('total')}",
        },
        "FailedGetContainerResourceMetric": {
            f"failed to get cpu utilization: unable to get metrics for resource cpu: {NO_RESOURCE}"
        },
        "FailedComputeMetricsReplicas": {
            f"invalid metrics (6 invalid out of 6), first error is: failed to get pods metric value: {pods}"
        },
    }
    assert eventually(lambda: len(warnings()) == len(expected), timeout=30)
    assert warnings() == expected

    hpa = get_json(c, "hpa", "metrics", "-n", ns)
    assert hpa["status"]["currentMetrics"] == [{"type": ""}] * 6  # upstream's statuses of failed metrics: empty
    conditions = {x["type"]: (x["status"], x["reason"], x["message"]) for x in hpa["status"]["conditions"]}
    assert conditions["ScalingActive"] == (
        "False",
        "FailedGetPodsMetric",
        f"the HPA was unable to compute the replica count: {pods}",
    )
    described = c.kubectl("describe", "hpa", "metrics", "-n", ns).stdout
    assert '"requests-per-second" on Ingress/main-route (target value):' in described
    assert "Deployment pods:" in described and "2 current / 0 desired" in described
    c.kubectl("delete", "namespace", ns, "--wait=false")


def _failing_job(ns: str, name: str, code: int, action: str) -> str:
    """A Job whose pods exit with ``code`` after a second, and a podFailurePolicy rule ``action`` for it."""
    return f"""
apiVersion: batch/v1
kind: Job
metadata: {{name: {name}, namespace: {ns}}}
spec:
  backoffLimit: 0
  podFailurePolicy:
    rules:
    - action: Count
      onExitCodes: {{operator: In, values: [1]}}
    - action: {action}
      onExitCodes: {{containerName: main, operator: In, values: [{code}]}}
  template:
    metadata: {{annotations: {{pinnace.dev/sim-exit-after: 1s, pinnace.dev/sim-exit-code: "{code}"}}}}
    spec: {{restartPolicy: Never, containers: [{{name: main, image: busybox}}]}}
"""


def test_pod_failure_policy_fails_the_job_or_ignores_the_failure(sim_cluster: Cluster) -> None:
    c, ns = sim_cluster, "pod-failure-policy"
    c.kubectl("create", "namespace", ns)
    c.kubectl("apply", "-f", "-", input=_failing_job(ns, "fatal", 42, "FailJob"))
    c.kubectl("apply", "-f", "-", input=_failing_job(ns, "flaky", 3, "Ignore"))

    c.kubectl("wait", "--for=condition=failed", "job/fatal", "-n", ns, "--timeout=60s", timeout=70)
    job = get_json(c, "job", "fatal", "-n", ns)
    (pod,) = get_json(c, "pods", "-n", ns, "-l", "batch.kubernetes.io/job-name=fatal")["items"]
    failed = next(x for x in job["status"]["conditions"] if x["type"] == "Failed")
    message = (
        f"Container main for pod {ns}/{pod['metadata']['name']} failed with exit code 42 "
        "matching FailJob rule at index 1"
    )
    assert (failed["reason"], failed["message"]) == ("PodFailurePolicy", message)
    assert job["status"]["failed"] == 1

    # An ignored failure does not count against backoffLimit 0: the pod is replaced (after the backoff).
    def flaky_pods() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = get_json(c, "pods", "-n", ns, "-l", "batch.kubernetes.io/job-name=flaky")["items"]
        return found

    eventually(lambda: len(flaky_pods()) >= 2, timeout=60)
    job = get_json(c, "job", "flaky", "-n", ns)
    assert job["status"].get("failed", 0) == 0
    assert not [x for x in job["status"].get("conditions") or [] if x["type"] in ("Failed", "FailureTarget")]
    c.kubectl("delete", "namespace", ns, "--wait=false")


SUCCESS_POLICY_JOB = """
apiVersion: batch/v1
kind: Job
metadata: {name: leader, namespace: default}
spec:
  completionMode: Indexed
  completions: 4
  parallelism: 2
  successPolicy:
    rules:
    - {succeededIndexes: "3"}
    - {succeededIndexes: "0-1", succeededCount: 2}
  template:
    metadata: {annotations: {pinnace.dev/sim-exit-after: 1s}}
    spec: {restartPolicy: Never, containers: [{name: main, image: busybox}]}
"""


def test_success_policy_completes_an_indexed_job_early(sim_cluster: Cluster) -> None:
    c = sim_cluster
    c.kubectl("apply", "-f", "-", input=SUCCESS_POLICY_JOB)
    c.kubectl("wait", "--for=condition=complete", "job/leader", "--timeout=60s", timeout=70)
    status = get_json(c, "job", "leader")["status"]
    conditions = {x["type"]: (x["reason"], x["message"]) for x in status["conditions"]}
    assert conditions["SuccessCriteriaMet"] == conditions["Complete"] == ("SuccessPolicy", "Matched rules at index 1")
    assert (status["completedIndexes"], status["succeeded"]) == ("0,1", 2)  # indexes 2 and 3 never ran
    c.kubectl("delete", "job", "leader")


def _per_index_job(name: str, completions: int, limit: int, max_failed: int | None = None) -> str:
    most = f"maxFailedIndexes: {max_failed}" if max_failed is not None else ""
    return f"""
apiVersion: batch/v1
kind: Job
metadata: {{name: {name}, namespace: default}}
spec:
  completionMode: Indexed
  completions: {completions}
  parallelism: 2
  backoffLimitPerIndex: {limit}
  {most}
  template:
    metadata: {{annotations: {{pinnace.dev/sim-exit-after: 1s, pinnace.dev/sim-exit-code: "1"}}}}
    spec: {{restartPolicy: Never, containers: [{{name: main, image: busybox}}]}}
"""


def test_backoff_limit_per_index_retries_each_index_then_fails_it(sim_cluster: Cluster) -> None:
    c = sim_cluster
    c.kubectl("apply", "-f", "-", input=_per_index_job("per-index", completions=2, limit=1))
    c.kubectl("apply", "-f", "-", input=_per_index_job("few-failures", completions=4, limit=0, max_failed=1))

    def failed(name: str) -> tuple[str, str, str] | None:
        status = get_json(c, "job", name)["status"]
        cond = next((x for x in status.get("conditions") or [] if x["type"] == "Failed"), None)
        return (cond["reason"], cond["message"], status["failedIndexes"]) if cond else None

    # Both pods of the first index get a failure each: the retry (after its 10 s backoff) fails the index.
    assert eventually(lambda: failed("per-index"), timeout=60) == ("FailedIndexes", "Job has failed indexes", "0,1")
    assert get_json(c, "job", "per-index")["status"]["failed"] == 4
    pods = get_json(c, "pods", "-l", "batch.kubernetes.io/job-name=per-index")["items"]
    counts = sorted(
        (
            p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"],
            p["metadata"]["annotations"]["batch.kubernetes.io/job-index-failure-count"],
        )
        for p in pods
    )
    assert counts == [("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")]

    # No retry, and two failed indexes are one too many: the Job fails without running indexes 2 and 3.
    assert eventually(lambda: failed("few-failures"), timeout=30) == (
        "MaxFailedIndexesExceeded",
        "Job has exceeded the specified maximal number of failed indexes",
        "0,1",
    )
    c.kubectl("delete", "job", "per-index", "few-failures")


def _statefulset(name: str, replicas: int, more_spec: str = "") -> str:
    """A StatefulSet ``name`` of busybox pods (``more_spec``: further spec fields, indented as such)."""
    return f"""
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: {name}, namespace: default}}
spec:
  replicas: {replicas}
  serviceName: {name}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: c, image: busybox}}]}}
{more_spec}"""


RETAINED_SET = _statefulset(
    "keeper",
    3,
    """  podManagementPolicy: Parallel
  persistentVolumeClaimRetentionPolicy: {whenDeleted: Retain, whenScaled: Delete}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
""",
)


def test_statefulset_claims_follow_the_retention_policy(sim_cluster: Cluster) -> None:
    c = sim_cluster

    def claims() -> dict[str, list[str]]:
        listed = get_json(c, "pvc", "-l", "app=keeper")["items"]
        return {x["metadata"]["name"]: [r["kind"] for r in x["metadata"].get("ownerReferences") or []] for x in listed}

    c.kubectl("apply", "-f", "-", input=RETAINED_SET)
    assert eventually(lambda: len(claims()) == 3 and claims()) == {f"data-keeper-{i}": [] for i in range(3)}
    # whenScaled: Delete — the claims of the pods scaled away go with them.
    c.kubectl("scale", "statefulset", "keeper", "--replicas=1")
    assert eventually(lambda: list(claims()) == ["data-keeper-0"] and claims()) == {"data-keeper-0": []}
    # whenDeleted: Delete (changed on a live set) — the remaining claim is now the set's, and goes with it.
    c.kubectl(
        "patch",
        "statefulset",
        "keeper",
        "-p",
        '{"spec":{"persistentVolumeClaimRetentionPolicy":{"whenDeleted":"Delete"}}}',
    )
    assert eventually(lambda: claims()["data-keeper-0"] == ["StatefulSet"])
    c.kubectl("delete", "statefulset", "keeper")
    eventually(lambda: not claims())


def test_suspending_a_job_deletes_its_pods_without_counting_failures(sim_cluster: Cluster) -> None:
    c = sim_cluster
    c.kubectl("create", "job", "pausable", "--image=busybox", "--", "sleep", "3600")

    def pods() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = get_json(c, "pods", "-l", "batch.kubernetes.io/job-name=pausable")["items"]
        return found

    eventually(lambda: [p for p in pods() if p["status"].get("phase") == "Running"])
    c.kubectl("patch", "job", "pausable", "-p", '{"spec":{"suspend":true}}')
    eventually(lambda: not pods())
    status = get_json(c, "job", "pausable")["status"]
    assert status.get("failed", 0) == 0 and status.get("active", 0) == 0
    assert [(x["type"], x["status"], x["reason"]) for x in status["conditions"]] == [
        ("Suspended", "True", "JobSuspended")
    ]
    c.kubectl("patch", "job", "pausable", "-p", '{"spec":{"suspend":false}}')
    eventually(lambda: [p for p in pods() if p["status"].get("phase") == "Running"])
    assert get_json(c, "job", "pausable")["status"].get("failed", 0) == 0
    c.kubectl("delete", "job", "pausable")


EMPTY_WORKLOADS = (
    _statefulset("idle", 0)
    + """---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: nowhere, namespace: default}
spec:
  selector: {matchLabels: {app: nowhere}}
  template:
    metadata: {labels: {app: nowhere}}
    spec: {nodeSelector: {no-such-label: "x"}, containers: [{name: c, image: busybox}]}
"""
)


def test_empty_workloads_status_leaves_out_zero_counts(sim_cluster: Cluster) -> None:
    c = sim_cluster
    c.kubectl("apply", "-f", "-", input=EMPTY_WORKLOADS)

    def status(kind: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = get_json(c, kind, name).get("status") or {}
        return found

    # omitempty upstream: readyReplicas, currentReplicas and updatedReplicas go at zero; replicas and
    # availableReplicas stay.
    eventually(lambda: "updateRevision" in status("statefulset", "idle"))
    assert sorted(status("statefulset", "idle")) == [
        "availableReplicas",
        "collisionCount",
        "currentRevision",
        "observedGeneration",
        "replicas",
        "updateRevision",
    ]
    eventually(lambda: "observedGeneration" in status("daemonset", "nowhere"))
    assert status("daemonset", "nowhere") == {
        "currentNumberScheduled": 0,
        "desiredNumberScheduled": 0,
        "numberMisscheduled": 0,
        "numberReady": 0,
        "observedGeneration": 1,
    }
    c.kubectl("delete", "statefulset/idle", "daemonset/nowhere")
