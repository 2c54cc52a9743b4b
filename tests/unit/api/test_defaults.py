"""Defaulting: upstream's SetDefaults_* for the built-in kinds."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api.defaults import apply_defaults


def _deployment(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
            **spec,
        },
    }


def test_deployment_defaults() -> None:
    obj = _deployment()
    apply_defaults("apps", "Deployment", obj)
    spec = obj["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Always"
    assert pod["dnsPolicy"] == "ClusterFirst"
    assert pod["schedulerName"] == "default-scheduler"
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["securityContext"] == {}
    assert "enableServiceLinks" not in pod  # a Pod default, not a template one
    assert pod["containers"][0] == {
        "name": "c",
        "image": "nginx",
        "imagePullPolicy": "Always",
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "resources": {},
    }


def test_given_values_are_kept() -> None:
    obj = _deployment(replicas=0, strategy={"type": "Recreate"})
    apply_defaults("apps", "Deployment", obj)
    assert obj["spec"]["replicas"] == 0
    assert obj["spec"]["strategy"] == {"type": "Recreate"}


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("registry:5000/nginx", "Always"),
        ("registry:5000/nginx:1", "IfNotPresent"),
        ("nginx@sha256:abc", "IfNotPresent"),
    ],
)
def test_image_pull_policy(image: str, policy: str) -> None:
    pod = {"spec": {"containers": [{"name": "c", "image": image}]}}
    apply_defaults("", "Pod", pod)
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_pod_defaults_probes_ports_volumes_and_requests() -> None:
    pod: dict[str, Any] = {
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "i:1",
                    "ports": [{"containerPort": 80}],
                    "livenessProbe": {"httpGet": {"port": 80}},
                    "resources": {"limits": {"cpu": "1"}},
                }
            ],
            "volumes": [{"name": "s", "secret": {"secretName": "x"}}, {"name": "e"}],
        }
    }
    apply_defaults("", "Pod", pod)
    c = pod["spec"]["containers"][0]
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert c["livenessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert c["resources"] == {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}
    assert pod["spec"]["volumes"] == [
        {"name": "s", "secret": {"secretName": "x", "defaultMode": 420}},
        {"name": "e", "emptyDir": {}},
    ]
    assert pod["spec"]["enableServiceLinks"] is True


def test_secret_namespace_and_unknown_kinds() -> None:
    secret: dict[str, Any] = {"metadata": {"name": "s"}}
    apply_defaults("", "Secret", secret)
    assert secret["type"] == "Opaque"
    typed_secret = {"metadata": {"name": "s"}, "type": "kubernetes.io/tls"}
    apply_defaults("", "Secret", typed_secret)
    assert typed_secret["type"] == "kubernetes.io/tls"
    ns: dict[str, Any] = {"metadata": {"name": "team", "labels": {"kubernetes.io/metadata.name": "forged"}}}
    apply_defaults("", "Namespace", ns)
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team"}
    cm: dict[str, Any] = {"metadata": {"name": "c"}}
    apply_defaults("", "ConfigMap", cm)
    assert cm == {"metadata": {"name": "c"}}


def test_job_and_cronjob_defaults() -> None:
    template = {"metadata": {"labels": {"j": "1"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    job: dict[str, Any] = {"metadata": {"name": "j"}, "spec": {"template": template}}
    apply_defaults("batch", "Job", job)
    assert {k: v for k, v in job["spec"].items() if k != "template"} == {
        "completions": 1,
        "parallelism": 1,
        "backoffLimit": 6,
        "completionMode": "NonIndexed",
        "suspend": False,
        "podReplacementPolicy": "TerminatingOrFailed",
    }
    assert job["metadata"]["labels"] == {"j": "1"}
    cron: dict[str, Any] = {"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}}
    apply_defaults("batch", "CronJob", cron)
    assert cron["spec"]["concurrencyPolicy"] == "Allow"
    assert cron["spec"]["successfulJobsHistoryLimit"] == 3
    assert "backoffLimit" not in cron["spec"]["jobTemplate"]["spec"]


def test_items_that_are_not_objects_are_left_alone() -> None:
    pod: dict[str, Any] = {
        "spec": {
            "hostNetwork": True,
            "containers": [None, 1, {"name": "a", "ports": [None, {"containerPort": 1}], "env": [None, "x"]}],
            "initContainers": "x",
            "volumes": [None, {"name": "v"}, 3],
        }
    }
    apply_defaults("", "Pod", pod)
    spec = pod["spec"]
    assert spec["containers"][:2] == [None, 1] and spec["initContainers"] == "x"
    assert spec["containers"][2]["ports"] == [None, {"containerPort": 1, "protocol": "TCP", "hostPort": 1}]
    assert spec["containers"][2]["env"] == [None, "x"]
    assert spec["volumes"] == [None, {"name": "v", "emptyDir": {}}, 3]
