"""Validation of built-in kinds through the official ``kubernetes`` client: 400 decode errors, 422 causes,
immutable fields — and nothing written when a request is refused."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException
from tests.integration.conftest import ThreadedServer, raw_request, refused_as_invalid

NS = "default"
JSON = {"Content-Type": "application/json"}


def _status(exc: ApiException) -> dict[str, Any]:
    return dict(json.loads(exc.body))


def _deployment(name: str, labels: dict[str, str], selector: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": selector or labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}},
        },
    }


def test_a_wrong_json_type_is_a_400_decode_error(threaded_server: ThreadedServer) -> None:
    body = _deployment("typed", {"app": "web"})
    body["spec"]["replicas"] = "three"
    status, answer = raw_request(
        threaded_server.url, "POST", f"/apis/apps/v1/namespaces/{NS}/deployments", json.dumps(body).encode(), JSON
    )
    assert status == 400 and answer["reason"] == "BadRequest"
    assert answer["message"] == (
        'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go '
        "struct field DeploymentSpec.spec.replicas of type int32"
    )
    status, _ = raw_request(threaded_server.url, "GET", f"/apis/apps/v1/namespaces/{NS}/deployments/typed")
    assert status == 404


def test_a_bad_quantity_is_a_400(threaded_server: ThreadedServer) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "q"},
        "spec": {"containers": [{"name": "a", "image": "b", "resources": {"limits": {"memory": "1GB"}}}]},
    }
    status, answer = raw_request(
        threaded_server.url, "POST", f"/api/v1/namespaces/{NS}/pods", json.dumps(body).encode(), JSON
    )
    assert status == 400
    assert answer["message"] == (
        'Pod in version "v1" cannot be handled as a Pod: quantities must match the regular expression '
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


def test_a_patch_with_a_wrong_type_is_a_422_on_patch(k8s_client: ApiClient) -> None:
    apps = client.AppsV1Api(k8s_client)
    apps.create_namespaced_deployment(NS, _deployment("patched", {"app": "p"}))
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment("patched", NS, [{"op": "replace", "path": "/spec/replicas", "value": "x"}])
    status = _status(info.value)
    assert info.value.status == 422 and status["reason"] == "Invalid"
    cause = status["details"]["causes"][0]
    assert cause["field"] == "patch"
    assert cause["message"].endswith(
        "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
    )


def test_selector_must_match_template_labels(k8s_client: ApiClient) -> None:
    apps = client.AppsV1Api(k8s_client)
    with pytest.raises(ApiException) as info:
        apps.create_namespaced_deployment(NS, _deployment("mismatch", {"app": "web"}, selector={"app": "api"}))
    status = _status(info.value)
    assert info.value.status == 422
    assert status["message"] == (
        'Deployment.apps "mismatch" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"web"}: `selector` does not match template `labels`'
    )
    assert status["details"] == {
        "name": "mismatch",
        "group": "apps",
        "kind": "Deployment",
        "causes": [
            {
                "reason": "FieldValueInvalid",
                "message": 'Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`',
                "field": "spec.template.metadata.labels",
            }
        ],
    }


def test_one_cause_per_problem(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "many"},
        "spec": {
            "containers": [
                {"name": "app", "image": "busybox", "ports": [{"name": "http", "containerPort": 80}] * 2},
                {"name": "app"},
            ],
        },
    }
    with pytest.raises(ApiException) as info:
        core.create_namespaced_pod(NS, pod)
    causes = [(c["field"], c["reason"]) for c in _status(info.value)["details"]["causes"]]
    assert causes == [
        ("spec.containers[0].ports[1].name", "FieldValueDuplicate"),
        ("spec.containers[1].image", "FieldValueRequired"),
        ("spec.containers[1].name", "FieldValueDuplicate"),
    ]


def test_immutable_selector_and_allowed_changes(k8s_client: ApiClient) -> None:
    apps = client.AppsV1Api(k8s_client)
    apps.create_namespaced_deployment(NS, _deployment("immutable", {"app": "v1"}))
    apps.patch_namespaced_deployment("immutable", NS, {"spec": {"replicas": 3}})
    changed = _deployment("immutable", {"app": "v2"})
    with pytest.raises(ApiException) as info:
        apps.replace_namespaced_deployment("immutable", NS, changed)
    assert info.value.status == 422
    assert _status(info.value)["message"] == (
        'Deployment.apps "immutable" is invalid: spec.selector: Invalid value: '
        'v1.LabelSelector{MatchLabels:map[string]string{"app":"v2"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
    )
    assert apps.read_namespaced_deployment("immutable", NS).spec.selector.match_labels == {"app": "v1"}


def test_pod_image_changes_but_not_ports(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    core.create_namespaced_pod(
        NS, {"metadata": {"name": "edit"}, "spec": {"containers": [{"name": "a", "image": "busybox:1.36"}]}}
    )
    core.patch_namespaced_pod("edit", NS, {"spec": {"containers": [{"name": "a", "image": "busybox:1.37"}]}})
    assert core.read_namespaced_pod("edit", NS).spec.containers[0].image == "busybox:1.37"
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_pod(
            "edit", NS, {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80}]}]}}
        )
    assert info.value.status == 422
    assert _status(info.value)["details"]["causes"][0]["message"].startswith(
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`"
    )


def test_immutable_configmap(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    core.create_namespaced_config_map(NS, {"metadata": {"name": "frozen"}, "data": {"a": "1"}, "immutable": True})
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_config_map("frozen", NS, {"data": {"a": "2"}})
    assert _status(info.value)["message"] == (
        'ConfigMap "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set'
    )
    core.patch_namespaced_config_map("frozen", NS, {"metadata": {"labels": {"ok": "yes"}}})


def test_a_job_gets_a_selector(k8s_client: ApiClient) -> None:
    batch = client.BatchV1Api(k8s_client)
    job = batch.create_namespaced_job(
        NS,
        {
            "metadata": {"name": "pi"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}},
        },
    )
    uid = job.metadata.uid
    assert job.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": uid}
    assert job.spec.template.metadata.labels["batch.kubernetes.io/job-name"] == "pi"
    with pytest.raises(ApiException) as info:
        batch.patch_namespaced_job("pi", NS, {"spec": {"template": {"spec": {"activeDeadlineSeconds": 5}}}})
    assert _status(info.value)["details"]["causes"][0]["field"] == "spec.template"


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        ("Nowhere/Xyz", "unknown time zone Nowhere/Xyz"),
        ("x" * 300, "unknown time zone " + "x" * 300),  # it was stored, and the controller failed on it forever
        ("Local", "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"),
    ],
)
def test_a_cron_job_needs_a_known_explicit_time_zone(k8s_client: ApiClient, zone: str, message: str) -> None:
    batch = client.BatchV1Api(k8s_client)
    template = client.V1PodTemplateSpec(
        spec=client.V1PodSpec(restart_policy="Never", containers=[client.V1Container(name="c", image="busybox")])
    )
    cron = client.V1CronJob(
        metadata=client.V1ObjectMeta(name="tz"),
        spec=client.V1CronJobSpec(
            schedule="* * * * *",
            time_zone=zone,
            job_template=client.V1JobTemplateSpec(spec=client.V1JobSpec(template=template)),
        ),
    )
    status = refused_as_invalid(lambda: batch.create_namespaced_cron_job("default", cron))
    assert status["details"]["causes"] == [
        {"reason": "FieldValueInvalid", "message": f'Invalid value: "{zone}": {message}', "field": "spec.timeZone"}
    ]
    cron.spec.time_zone = "Etc/UTC"
    assert batch.create_namespaced_cron_job("default", cron).spec.time_zone == "Etc/UTC"


def test_a_time_that_does_not_parse_is_a_400_and_leaves_the_kinds_list_readable(k8s_client: ApiClient) -> None:
    """A stored timestamp that is no time would break every typed client's list of the kind (the official
    client's own model refuses it): upstream's decoder refuses it first, with Go's parse error."""
    url = k8s_client.configuration.host
    coordination = client.CoordinationV1Api(k8s_client)
    coordination.create_namespaced_lease(NS, {"metadata": {"name": "good"}, "spec": {"holderIdentity": "a"}})
    for value, layout_message in [
        ("yesterday", 'cannot parse "yesterday" as "2006"'),
        ("2026-11-28T04:27:35Z", 'cannot parse "Z" as ".000000"'),  # a MicroTime has exactly six digits
    ]:
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "bad"}}
        body["spec"] = {"renewTime": value}
        status, answer = raw_request(
            url, "POST", f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases", json.dumps(body).encode(), JSON
        )
        assert status == 400 and answer["reason"] == "BadRequest"
        assert answer["message"] == (
            'Lease in version "v1" cannot be handled as a Lease: parsing time '
            f'"{value}" as "2006-01-02T15:04:05.000000Z07:00": {layout_message}'
        )
    with pytest.raises(ApiException) as info:
        coordination.patch_namespaced_lease("good", NS, {"spec": {"acquireTime": "noon"}})
    assert info.value.status == 422 and "parsing time" in _status(info.value)["details"]["causes"][0]["message"]
    leases = coordination.list_namespaced_lease(NS).items
    assert [lease.metadata.name for lease in leases] == ["good"]
    assert leases[0].spec.acquire_time is None


def test_times_come_back_in_utc_with_their_types_precision(k8s_client: ApiClient) -> None:
    """The official client writes datetimes with ``isoformat`` (an offset, microseconds). A Lease's MicroTime
    keeps the microseconds; a condition's Time keeps whole seconds; both come back in UTC."""
    url = k8s_client.configuration.host
    zone = dt.timezone(dt.timedelta(hours=2))
    moment = dt.datetime(2026, 11, 28, 6, 27, 35, 225962, tzinfo=zone)
    coordination = client.CoordinationV1Api(k8s_client)
    spec = client.V1LeaseSpec(holder_identity="a", acquire_time=moment, renew_time=moment)
    coordination.create_namespaced_lease(NS, client.V1Lease(metadata=client.V1ObjectMeta(name="clock"), spec=spec))
    _, raw = raw_request(url, "GET", f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/clock")
    assert raw["spec"]["renewTime"] == raw["spec"]["acquireTime"] == "2026-11-28T04:27:35.225962Z"
    assert coordination.read_namespaced_lease("clock", NS).spec.renew_time == moment

    core = client.CoreV1Api(k8s_client)
    pod = {"metadata": {"name": "clocked"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    core.create_namespaced_pod(NS, pod)
    condition = {"type": "Ready", "status": "False", "lastTransitionTime": moment.isoformat()}
    core.patch_namespaced_pod_status("clocked", NS, {"status": {"conditions": [condition]}})
    _, raw = raw_request(url, "GET", f"/api/v1/namespaces/{NS}/pods/clocked")
    assert raw["status"]["conditions"][0]["lastTransitionTime"] == "2026-11-28T04:27:35Z"
