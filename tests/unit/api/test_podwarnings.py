"""Upstream's warnings for pods and pod templates: what each says, where, and when."""

from __future__ import annotations

from typing import Any

from pinnace.api import podwarnings


def _pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}], **spec}}


def test_a_plain_pod_has_no_warnings() -> None:
    assert podwarnings.for_object("", "Pod", _pod(), None) == []


def test_node_labels_annotations_and_volumes_that_are_deprecated() -> None:
    term = {"matchExpressions": [{"key": "failure-domain.beta.kubernetes.io/zone", "operator": "Exists"}]}
    pod = _pod(
        affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}},
        volumes=[{"name": "v", "gitRepo": {"repository": "r"}}, {"name": "w", "storageos": {"volumeName": "x"}}],
    )
    pod["metadata"]["annotations"] = {"scheduler.alpha.kubernetes.io/critical-pod": ""}
    assert podwarnings.for_object("", "Pod", pod, None) == [
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
        ".matchExpressions[0].key: failure-domain.beta.kubernetes.io/zone is deprecated since v1.17; use "
        '"topology.kubernetes.io/zone" instead',
        "metadata.annotations[scheduler.alpha.kubernetes.io/critical-pod]: non-functional in v1.16+; use the "
        '"priorityClassName" field instead',
        "spec.volumes[0].gitRepo: deprecated in v1.11",
        "spec.volumes[1].storageOS: deprecated in v1.22, non-functional in v1.25+",
    ]


def test_duplicates_and_odd_values() -> None:
    pod = _pod(
        hostAliases=[{"ip": "10.0.0.1"}, {"ip": "10.0.0.1"}],
        imagePullSecrets=[{"name": ""}],
        overhead={"memory": "1.5"},
        terminationGracePeriodSeconds=-5,
        affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "k"}]}},
    )
    pod["spec"]["containers"].append({"name": "d", "image": "i", "ports": [{"containerPort": 80, "protocol": "TCP"}]})
    pod["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 8080, "protocol": "TCP"}]
    assert podwarnings.for_object("", "Pod", pod, None) == [
        'spec.hostAliases[1].ip: duplicate ip "10.0.0.1"',
        'spec.imagePullSecrets[0].name: invalid empty name ""',
        'spec.overhead[memory]: fractional byte value "1500m" is invalid, must be an integer',
        "spec.containers[1].ports[0]: overlapping port definition with spec.containers[0].ports[0]",
        "spec.terminationGracePeriodSeconds: must be >= 0; negative values are invalid and will be treated as 1",
        "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector: a null "
        "labelSelector results in matching no pod",
    ]


def test_an_env_var_that_refers_to_its_earlier_value_hides_nothing() -> None:
    pod = _pod()
    pod["spec"]["containers"][0]["env"] = [{"name": "P", "value": "/bin"}, {"name": "P", "value": "$(P):/usr/bin"}]
    assert podwarnings.for_object("", "Pod", pod, None) == []


def test_a_projected_path_that_collides_with_the_token() -> None:
    sources = [
        {"serviceAccountToken": {"path": "token"}},
        {"configMap": {"name": "c", "items": [{"key": "k", "path": "token"}]}},
    ]
    pod = _pod(volumes=[{"name": "v", "projected": {"sources": sources}}])
    assert podwarnings.for_object("", "Pod", pod, None) == [
        'spec.volumes[0].projected.sources.configMap[0]: has duplicated path with ServiceAccountToken "token"'
    ]


def test_templates_warn_on_create_and_when_changed_and_pods_only_on_create() -> None:
    pod = _pod(nodeSelector={"beta.kubernetes.io/arch": "amd64"})
    job = {"spec": {"jobTemplate": {"spec": {"template": pod}}}}
    expected = [
        "spec.jobTemplate.spec.template.spec.nodeSelector[beta.kubernetes.io/arch]: deprecated since v1.14; use "
        '"kubernetes.io/arch" instead'
    ]
    assert podwarnings.for_object("batch", "CronJob", job, None) == expected
    assert podwarnings.for_object("batch", "CronJob", job, job) == []
    changed = {"spec": {"jobTemplate": {"spec": {"template": {**pod, "metadata": {"labels": {"a": "b"}}}}}}}
    assert podwarnings.for_object("batch", "CronJob", changed, job) == expected
    assert podwarnings.for_object("", "Pod", pod, pod) == []
    assert podwarnings.for_object("", "ConfigMap", {"data": {}}, None) == []
