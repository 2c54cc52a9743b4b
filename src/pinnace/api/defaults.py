"""Defaulting: the values kube-apiserver fills in when a client leaves them out.

Upstream runs the generated ``SetDefaults_*`` functions of each API version
(``pkg/apis/core/v1/defaults.go``, ``pkg/apis/apps/v1/defaults.go``,
``pkg/apis/batch/v1/defaults.go``) on every object it decodes, before
validation; so does :func:`apply_defaults`, on create and on every update or
patch result. Clients rely on these: ``kubectl describe deployment`` prints
``StrategyType: RollingUpdate``, ``--field-selector type=Opaque`` finds a
secret created without a type, and a pod template reads back with its
``restartPolicy`` and ``imagePullPolicy``.

Only defaults of the v1.32 GA API are here, per kind; admission-time
additions (service account token volumes, default tolerations, priority)
are not defaults and are not done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pinnace.api import hpaconversion

Obj = dict[str, Any]

#: Label every namespace carries with its own name (upstream since v1.21).
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

_DEFAULT_MODE = 0o644  # 420: volume file mode


def _dict(parent: Obj, key: str) -> Obj:
    """``parent[key]`` as a dict, created (or replaced, if it is not one) when missing."""
    value = parent.get(key)
    if not isinstance(value, dict):
        value = parent[key] = {}
    return value


def _dicts(parent: Obj, key: str) -> list[Obj]:
    """The dict items of the list at ``parent[key]``."""
    value = parent.get(key)
    if value is None:  # the usual absent list, without a comprehension
        return []
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# ---- core/v1 ---------------------------------------------------------------
def _image_pull_policy(image: Any) -> str:
    """Always for ``:latest`` or no tag, IfNotPresent otherwise (a digest counts as a tag)."""
    ref = str(image or "")
    if "@" in ref:
        return "IfNotPresent"
    last = ref.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    _handler(probe)


def _handler(handler: Obj) -> None:
    http = handler.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")


def _env(container: Obj) -> None:
    envs = container.get("env")
    if not isinstance(envs, list):
        return
    for env in envs:  # (a loop over the list itself, here and below: no copy per list on every write)
        if not isinstance(env, dict):
            continue
        source = env.get("valueFrom")
        if isinstance(source, dict):
            field_ref = source.get("fieldRef")
            if isinstance(field_ref, dict):
                field_ref.setdefault("apiVersion", "v1")


def container(c: Obj, *, host_network: bool = False) -> None:
    """SetDefaults_Container (and its ports, probes and lifecycle hooks)."""
    if not c.get("imagePullPolicy"):
        c["imagePullPolicy"] = _image_pull_policy(c.get("image"))
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if "resources" not in c:
        c["resources"] = {}
    ports = c.get("ports")
    if isinstance(ports, list):
        for port in ports:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                if host_network and "containerPort" in port:
                    port.setdefault("hostPort", port["containerPort"])
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = c.get(name)
        if probe is not None:
            _probe(probe)
    lifecycle = c.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            if isinstance(lifecycle.get(hook), dict):
                _handler(lifecycle[hook])
    if "env" in c:
        _env(c)


def _volume(v: Obj) -> None:
    for source in ("secret", "configMap", "downwardAPI", "projected"):
        if isinstance(v.get(source), dict):
            v[source].setdefault("defaultMode", _DEFAULT_MODE)
    for key, value in v.items():
        if key != "name" and isinstance(value, dict):
            break
    else:
        v["emptyDir"] = {}  # a volume without a source is an emptyDir (SetDefaults_Volume)
    host_path = v.get("hostPath")
    if isinstance(host_path, dict):
        host_path.setdefault("type", "")


def pod_spec(spec: Obj) -> None:
    """SetDefaults_PodSpec: what every pod and pod template gets."""
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    if "securityContext" not in spec:
        spec["securityContext"] = {}
    spec.setdefault("schedulerName", "default-scheduler")
    host_network = bool(spec.get("hostNetwork"))
    for key in ("initContainers", "containers", "ephemeralContainers"):
        listed = spec.get(key)
        if isinstance(listed, list):
            for c in listed:
                if isinstance(c, dict):
                    container(c, host_network=host_network)
    volumes = spec.get("volumes")
    if isinstance(volumes, list):
        for v in volumes:
            if isinstance(v, dict):
                _volume(v)


def pod_template(template: Any) -> None:
    """Defaults of a pod template (workloads and PodTemplate)."""
    if isinstance(template, dict):
        pod_spec(_dict(template, "spec"))


def pod(obj: Obj) -> None:
    """SetDefaults_Pod: the pod spec, service links, and requests from limits."""
    spec = _dict(obj, "spec")
    pod_spec(spec)
    spec.setdefault("enableServiceLinks", True)
    for c in _dicts(spec, "containers") + _dicts(spec, "initContainers"):
        resources = _dict(c, "resources")
        limits = resources.get("limits")
        if isinstance(limits, dict) and limits:
            requests = _dict(resources, "requests")
            for k, v in limits.items():
                requests.setdefault(k, v)


def secret(obj: Obj) -> None:
    """SetDefaults_Secret: the type is Opaque unless said."""
    if not obj.get("type"):
        obj["type"] = "Opaque"


def namespace(obj: Obj) -> None:
    """The name label every namespace carries (always equal to its name)."""
    name = (obj.get("metadata") or {}).get("name")
    if name:
        _dict(_dict(obj, "metadata"), "labels")[NAMESPACE_NAME_LABEL] = name


def service(obj: Obj) -> None:
    """SetDefaults_Service (cluster IP allocation is not defaulting and not done here)."""
    spec = _dict(obj, "spec")
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in _dicts(spec, "ports"):
        port.setdefault("protocol", "TCP")
        if "targetPort" not in port and "port" in port:
            port["targetPort"] = port["port"]
    if spec["type"] in ("ClusterIP", "NodePort", "LoadBalancer"):
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)


def _template_labels(obj: Obj, spec: Obj) -> dict[str, Any] | None:
    """The pod template's labels, copied to the object's own labels if it has none."""
    template = spec.get("template")
    labels = (template.get("metadata") or {}).get("labels") if isinstance(template, dict) else None
    if not isinstance(labels, dict) or not labels:
        return None
    meta = _dict(obj, "metadata")
    if not meta.get("labels"):
        meta["labels"] = dict(labels)
    return labels


def replication_controller(obj: Obj) -> None:
    """SetDefaults_ReplicationController: selector and labels from the template, one replica."""
    spec = _dict(obj, "spec")
    labels = _template_labels(obj, spec)
    if labels and not spec.get("selector"):
        spec["selector"] = dict(labels)
    spec.setdefault("replicas", 1)
    pod_template(spec.get("template"))


# ---- apps/v1 ---------------------------------------------------------------
def deployment(obj: Obj) -> None:
    """SetDefaults_Deployment (apps/v1)."""
    spec = _dict(obj, "spec")
    spec.setdefault("replicas", 1)
    strategy = _dict(spec, "strategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _dict(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    pod_template(spec.get("template"))


def replica_set(obj: Obj) -> None:
    """SetDefaults_ReplicaSet (apps/v1)."""
    spec = _dict(obj, "spec")
    spec.setdefault("replicas", 1)
    pod_template(spec.get("template"))


def stateful_set(obj: Obj) -> None:
    """SetDefaults_StatefulSet (apps/v1)."""
    spec = _dict(obj, "spec")
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = _dict(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        _dict(strategy, "rollingUpdate").setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    retention = _dict(spec, "persistentVolumeClaimRetentionPolicy")
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    pod_template(spec.get("template"))


def daemon_set(obj: Obj) -> None:
    """SetDefaults_DaemonSet (apps/v1)."""
    spec = _dict(obj, "spec")
    strategy = _dict(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _dict(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    pod_template(spec.get("template"))


# ---- batch/v1 --------------------------------------------------------------
def job(obj: Obj) -> None:
    """SetDefaults_Job (batch/v1)."""
    spec = _dict(obj, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    spec.setdefault("parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2**31 - 1 if spec.get("backoffLimitPerIndex") is not None else 6
    _template_labels(obj, spec)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")
    pod_template(spec.get("template"))


def cron_job(obj: Obj) -> None:
    """SetDefaults_CronJob (batch/v1); the job template gets only its pod template's defaults."""
    spec = _dict(obj, "spec")
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_template = spec.get("jobTemplate")
    if isinstance(job_template, dict):
        pod_template(_dict(job_template, "spec").get("template"))


def _scaling_rules(given: Any, default: Obj) -> Obj:
    """GenerateHPAScale{Up,Down}Rules: the default rules, with what ``given`` sets in their place."""
    given = given if isinstance(given, dict) else {}
    rules: Obj = {}
    for key in ("stabilizationWindowSeconds", "selectPolicy", "policies"):  # the Go type's order
        if key in given:
            rules[key] = given[key]
        elif key in default:
            rules[key] = [dict(p) for p in default[key]] if key == "policies" else default[key]
    return rules


_SCALE_UP_RULES: Obj = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
#: (No stabilization window: the controller's command-line flag decides it.)
_SCALE_DOWN_RULES: Obj = {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}


def horizontal_pod_autoscaler(obj: Obj) -> None:
    """SetDefaults_HorizontalPodAutoscaler: autoscaling/v2's (a CPU target of 80% when no metric is named,
    and any behavior completed), or v1's (which implies that CPU target in its conversion instead)."""
    spec = _dict(obj, "spec")
    spec.setdefault("minReplicas", 1)
    if obj.get("apiVersion") == "autoscaling/v1":
        return
    # Upstream's v2 conversion drops the annotations only a v1 conversion may write: so does every v2 write.
    meta = _dict(obj, "metadata")
    annotations = meta.get("annotations")
    if isinstance(annotations, dict) and any(key in annotations for key in hpaconversion.ROUND_TRIP_ANNOTATIONS):
        kept = {k: v for k, v in annotations.items() if k not in hpaconversion.ROUND_TRIP_ANNOTATIONS}
        if kept:
            meta["annotations"] = kept
        else:
            del meta["annotations"]
    if not spec.get("metrics"):
        target = {"type": "Utilization", "averageUtilization": 80}
        spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": target}}]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        spec["behavior"] = {
            "scaleUp": _scaling_rules(behavior.get("scaleUp"), _SCALE_UP_RULES),
            "scaleDown": _scaling_rules(behavior.get("scaleDown"), _SCALE_DOWN_RULES),
        }


def api_service(obj: Obj) -> None:
    """An APIService's service reference goes to port 443 unless it says otherwise."""
    service = (obj.get("spec") or {}).get("service")
    if isinstance(service, dict) and service.get("port") is None:
        service["port"] = 443


_DEFAULTERS: dict[tuple[str, str], Callable[[Obj], None]] = {
    ("", "Pod"): pod,
    ("", "PodTemplate"): lambda obj: pod_template(obj.get("template")),
    ("", "Secret"): secret,
    ("", "Namespace"): namespace,
    ("", "Service"): service,
    ("", "ReplicationController"): replication_controller,
    ("apps", "Deployment"): deployment,
    ("apps", "ReplicaSet"): replica_set,
    ("apps", "StatefulSet"): stateful_set,
    ("apps", "DaemonSet"): daemon_set,
    ("batch", "Job"): job,
    ("batch", "CronJob"): cron_job,
    ("autoscaling", "HorizontalPodAutoscaler"): horizontal_pod_autoscaler,
    ("apiregistration.k8s.io", "APIService"): api_service,
}


def apply_defaults(group: str, kind: str, obj: Obj) -> None:
    """Fill in the defaults of a built-in kind (in place); other kinds are left alone."""
    defaulter = _DEFAULTERS.get((group, kind))
    if defaulter is not None:
        defaulter(obj)
