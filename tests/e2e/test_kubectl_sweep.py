"""kubectl commands a compatibility sweep found answered unlike kube-apiserver, on one ``pinnace up --sim-nodes 5``."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from tests.e2e.conftest import Cluster
from tests.e2e.kubectl import eventually, get_json, table

pytestmark = pytest.mark.slow

CHANGE_CAUSE = "kubernetes.io/change-cause"


def _workload(kind: str, name: str, *, replicas: int = 1, cause: str | None = None) -> str:
    """A StatefulSet, DaemonSet or ReplicationController of busybox pods labelled app=NAME."""
    legacy = kind == "ReplicationController"
    spec: dict[str, object] = {
        "selector": {"app": name} if legacy else {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
        },
    }
    if kind != "DaemonSet":
        spec["replicas"] = replicas
    if kind == "StatefulSet":
        spec["serviceName"] = name
    meta: dict[str, object] = {"name": name, **({"annotations": {CHANGE_CAUSE: cause}} if cause else {})}
    return json.dumps({"apiVersion": "v1" if legacy else "apps/v1", "kind": kind, "metadata": meta, "spec": spec})


def test_get_subresource_scale_prints_desired_and_available(sim_cluster: Cluster) -> None:
    c = sim_cluster
    c.kubectl("create", "deployment", "scaled", "--image=busybox", "--replicas=2")
    c.kubectl("rollout", "status", "deployment/scaled", "--timeout=60s", timeout=90)
    rows = table(c.kubectl("get", "deployment", "scaled", "--subresource=scale").stdout)
    assert rows[0] == ["NAME", "DESIRED", "AVAILABLE", "AGE"]
    assert rows[1][:3] == ["scaled", "2", "2"]
    assert get_json(c, "deployment", "scaled", "--subresource=scale")["kind"] == "Scale"


@pytest.mark.parametrize(("kind", "name"), [("DaemonSet", "ds-cause"), ("StatefulSet", "sts-cause")])
def test_rollout_history_shows_the_change_cause(sim_cluster: Cluster, kind: str, name: str) -> None:
    c = sim_cluster
    c.kubectl("apply", "-f", "-", input=_workload(kind, name, cause="first"))
    ref = f"{kind.lower()}/{name}"

    def history(revisions: int) -> list[list[str]] | None:
        rows = table(c.kubectl("rollout", "history", ref).stdout)[1:]
        return rows if len(rows) == revisions + 1 else None

    eventually(lambda: history(1), timeout=30)  # the first revision exists before the annotation changes
    c.kubectl("annotate", ref, f"{CHANGE_CAUSE}=second", "--overwrite")
    c.kubectl("set", "image", ref, "c=busybox:1.37")
    assert eventually(lambda: history(2), timeout=30) == [["REVISION", "CHANGE-CAUSE"], ["1", "first"], ["2", "second"]]


def test_a_job_made_from_a_cronjob_is_not_adopted(sim_cluster: Cluster) -> None:
    c = sim_cluster
    c.kubectl("create", "cronjob", "yearly", "--image=busybox", "--schedule=@yearly", "--", "date")
    c.kubectl("create", "job", "by-hand", "--from=cronjob/yearly")

    def warned() -> bool:
        events = get_json(c, "events", "--field-selector", "involvedObject.name=yearly")["items"]
        return any(e["reason"] == "UnexpectedJob" for e in events)

    eventually(warned, timeout=30)
    event = next(
        e
        for e in get_json(c, "events", "--field-selector", "involvedObject.name=yearly")["items"]
        if e["reason"] == "UnexpectedJob"
    )
    assert (event["type"], event["message"]) == (
        "Warning",
        "Saw a job that the controller did not create or forgot: by-hand",
    )
    assert not get_json(c, "cronjob", "yearly").get("status", {}).get("active")
    assert table(c.kubectl("get", "cronjob", "yearly").stdout)[1][4] == "0"  # the ACTIVE column


def test_a_replication_controller_keeps_its_replicas(sim_cluster: Cluster) -> None:
    c = sim_cluster
    c.kubectl("apply", "-f", "-", input=_workload("ReplicationController", "legacy", replicas=2))

    def ready(n: int) -> bool:
        status = get_json(c, "rc", "legacy").get("status", {})
        return bool(status.get("readyReplicas") == n == status.get("replicas"))

    eventually(lambda: ready(2), timeout=30)
    c.kubectl("scale", "rc", "legacy", "--replicas=1")
    eventually(lambda: ready(1), timeout=30)
    pods = get_json(c, "pods", "-l", "app=legacy")["items"]
    assert [
        p["metadata"]["ownerReferences"][0]["kind"] for p in pods if not p["metadata"].get("deletionTimestamp")
    ] == ["ReplicationController"]
    events = get_json(c, "events", "--field-selector", "involvedObject.name=legacy")["items"]
    assert {(e["reason"], e["source"]["component"]) for e in events} == {
        ("SuccessfulCreate", "replication-controller"),
        ("SuccessfulDelete", "replication-controller"),
    }


def test_pod_disruption_budgets_show_the_disruptions_allowed(sim_cluster: Cluster) -> None:
    c = sim_cluster
    c.kubectl("create", "deployment", "guarded", "--image=busybox", "--replicas=3")
    c.kubectl("rollout", "status", "deployment/guarded", "--timeout=60s", timeout=90)
    c.kubectl("create", "pdb", "guard", "--selector=app=guarded", "--max-unavailable=1")
    c.kubectl("create", "pdb", "idle", "--selector=app=nothing", "--min-available=1")

    def rows() -> dict[str, list[str]] | None:
        got = {r[0]: r[1:4] for r in table(c.kubectl("get", "pdb", "guard", "idle").stdout)[1:]}
        return got if got.get("guard", [""])[2] == "1" else None

    assert eventually(rows, timeout=30) == {"guard": ["N/A", "1", "1"], "idle": ["1", "N/A", "0"]}
    status = get_json(c, "pdb", "guard")["status"]
    assert (status["currentHealthy"], status["desiredHealthy"], status["expectedPods"]) == (3, 2, 3)
    events = get_json(c, "events", "--field-selector", "involvedObject.name=idle")["items"]
    assert {(e["reason"], e["message"], e["source"]["component"]) for e in events} == {
        ("NoPods", "No matching pods found", "controllermanager")
    }


NO_METRICS = (
    "failed to get cpu utilization: unable to get metrics for resource cpu: unable to fetch metrics from resource "
    "metrics API: the server could not find the requested resource (get pods.metrics.k8s.io)"
)


def test_autoscale_keeps_the_bounds_and_reports_the_missing_metrics_api(sim_cluster: Cluster) -> None:
    c = sim_cluster
    c.kubectl("create", "deployment", "small", "--image=busybox", "--replicas=1")
    c.kubectl("create", "deployment", "fine", "--image=busybox", "--replicas=2")
    c.kubectl("autoscale", "deployment", "small", "--min=2", "--max=4", "--cpu-percent=50")
    c.kubectl("autoscale", "deployment", "fine", "--min=1", "--max=3")

    def conditions(name: str) -> dict[str, tuple[str, str, str]] | None:
        found = get_json(c, "hpa", name).get("status", {}).get("conditions") or []
        return {x["type"]: (x["status"], x["reason"], x["message"]) for x in found} or None

    eventually(lambda: get_json(c, "deployment", "small")["spec"]["replicas"] == 2, timeout=30)
    assert eventually(lambda: conditions("small"), timeout=30)["AbleToScale"][:2] == ("True", "SucceededRescale")
    assert get_json(c, "hpa", "small")["status"]["desiredReplicas"] == 2
    events = get_json(
        c, "events", "--field-selector", "involvedObject.name=small,involvedObject.kind=HorizontalPodAutoscaler"
    )
    assert ("SuccessfulRescale", "New size: 2; reason: Current number of replicas below Spec.MinReplicas") in {
        (e["reason"], e["message"]) for e in events["items"]
    }

    assert eventually(lambda: (conditions("fine") or {}).get("ScalingActive"), timeout=30) == (
        "False",
        "FailedGetResourceMetric",
        f"the HPA was unable to compute the replica count: {NO_METRICS}",
    )
    assert get_json(c, "deployment", "fine")["spec"]["replicas"] == 2
    assert get_json(c, "hpa", "fine")["status"]["currentReplicas"] == 2


def test_a_token_request_answers_with_the_requests_own_metadata(sim_cluster: Cluster, tmp_path: Path) -> None:
    c = sim_cluster
    answer = json.loads(c.kubectl("create", "token", "default", "-o", "json").stdout)
    assert answer["metadata"] == {"namespace": "default", "creationTimestamp": None}
    body = tmp_path / "request.json"
    body.write_text(
        json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": {"name": "other"}})
    )
    refused = c.kubectl(
        "create", "--raw", "/api/v1/namespaces/default/serviceaccounts/default/token", "-f", str(body), check=False
    )
    assert refused.stderr.strip() == (
        'The TokenRequest "default" is invalid: '  # kubectl's wording of a 422 on --raw
        'metadata.name: Invalid value: "other": must match the service account name if specified'
    )


def test_service_account_issuer_discovery(sim_cluster: Cluster) -> None:
    c = sim_cluster
    config = json.loads(c.kubectl("get", "--raw", "/.well-known/openid-configuration").stdout)
    assert config == {
        "issuer": "https://kubernetes.default.svc.cluster.local",
        "jwks_uri": f"{c.url}/openid/v1/jwks",
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }
    [key] = json.loads(c.kubectl("get", "--raw", "/openid/v1/jwks").stdout)["keys"]
    token = c.kubectl("create", "token", "default").stdout.strip()
    header, payload, signature = token.split(".")

    def decoded(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    assert json.loads(decoded(header))["kid"] == key["kid"]
    public = rsa.RSAPublicNumbers(int.from_bytes(decoded(key["e"])), int.from_bytes(decoded(key["n"]))).public_key()
    public.verify(decoded(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())


def test_health_checks_answer_to_upstreams_names(sim_cluster: Cluster) -> None:
    c = sim_cluster
    assert c.kubectl("get", "--raw", "/livez/etcd").stdout == "ok"
    assert c.kubectl("get", "--raw", "/readyz/etcd-readiness").stdout == "ok"
    verbose = c.kubectl("get", "--raw", "/readyz?verbose").stdout.splitlines()
    assert {"[+]etcd ok", "[+]etcd-readiness ok", "[+]informer-sync ok"} <= set(verbose), verbose
