"""The races a busy cluster always has log no ERROR in ``pinnace up``'s output (real kubectl, ``--sim-nodes 5``).

Quotas recounted from a cache that lags admission's charges (409s), Deployments and
aggregated ClusterRoles deleted while being reconciled (404s), controllers creating
pods, endpoints and events in a namespace being deleted (403 NamespaceTerminating):
upstream's controllers requeue or drop these quietly, and so must ours.
"""

from __future__ import annotations

from tests.e2e.conftest import Cluster, output_path
from tests.e2e.kubectl import eventually, names

ROUNDS = 3


def _namespace_objects(ns: str) -> str:
    pod = 'containers: [{name: c, image: busybox, command: ["sleep", "3600"]}]'
    return f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
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
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: web}}}}
  template: {{metadata: {{labels: {{app: web}}}}, spec: {{{pod}}}}}
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
    assert loud == []
