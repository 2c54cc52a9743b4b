"""Defaulting: the values kube-apiserver fills in when a client leaves them out.

Upstream runs the generated ``SetDefaults_*`` functions of each API version
on every object it decodes, before validation; so does :func:`apply_defaults`,
on create and on every update or patch result. The sources, all of v1.32:

* ``pkg/apis/core/v1/defaults.go`` (and the ``+default`` markers of
  ``k8s.io/api/core/v1``'s types: the legacy RBD, iSCSI, Azure Disk and ScaleIO
  volume sources);
* ``pkg/apis/apps/v1``, ``batch/v1`` and ``autoscaling/v1``/``v2``
  ``defaults.go`` (a StatefulSet's claim templates get the claim defaults);
* ``pkg/apis/networking/v1``, ``discovery/v1``, ``rbac/v1``, ``scheduling/v1``,
  ``storage/v1``, ``admissionregistration/v1`` and ``flowcontrol/v1``
  ``defaults.go``;
* kube-aggregator's ``apiregistration/v1`` (an APIService's port 443).

Clients rely on these: ``kubectl describe deployment`` prints
``StrategyType: RollingUpdate``, ``--field-selector type=Opaque`` finds a
secret created without a type, ``kubectl get storageclass`` shows a
RECLAIMPOLICY and a VOLUMEBINDINGMODE, and a pod template reads back with its
``restartPolicy`` and ``imagePullPolicy``. ``policy/v1``, ``certificates/v1``,
``coordination/v1``, ``node/v1`` and ``events.k8s.io/v1`` have no defaults.

Only defaults of the v1.32 GA API, with the feature gates at their v1.32
defaults, are here, per kind; admission-time additions (service account token
volumes, default tolerations, priority) are not defaults and are not done, nor
is ``SetDefaults_ResourceList``'s rounding of quantities to milli-units.

A defaulter never raises, whatever the object holds (a value of the wrong
JSON type is left alone or, where an object must be, replaced by an empty one:
decoding refuses such a body before anyway), and never replaces a value the
client set: a field is filled when it is absent or null (a Go pointer left
nil) or, for a field Go has as a plain string or number, also when it is empty
or zero. (The one removal is upstream's: ``sessionAffinityConfig`` goes from
a Service without session affinity.)
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


def _set_if_unset(obj: Obj, key: str, value: Any) -> None:
    """``obj[key] = value`` unless the client set it: a Go pointer field left nil (absent or null)."""
    if obj.get(key) is None:
        obj[key] = value


def _set_if_empty(obj: Obj, key: str, value: Any) -> None:
    """``obj[key] = value`` if absent, null or ``""``: a Go string field left at its zero value."""
    current = obj.get(key)
    if current is None or current == "":
        obj[key] = value


def _set_if_zero(obj: Obj, key: str, value: int) -> None:
    """``obj[key] = value`` if absent, null or 0: a Go integer field left at its zero value."""
    current = obj.get(key)
    if current is None or (type(current) is int and current == 0):
        obj[key] = value


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
    _set_if_zero(probe, "timeoutSeconds", 1)
    _set_if_zero(probe, "periodSeconds", 10)
    _set_if_zero(probe, "successThreshold", 1)
    _set_if_zero(probe, "failureThreshold", 3)
    _handler(probe)


def _handler(handler: Obj) -> None:
    http = handler.get("httpGet")
    if isinstance(http, dict):
        _set_if_empty(http, "path", "/")
        _set_if_empty(http, "scheme", "HTTP")


def _field_ref(holder: Obj) -> None:
    """SetDefaults_ObjectFieldSelector: a ``fieldRef`` is of API version v1 unless it says."""
    field_ref = holder.get("fieldRef")
    if isinstance(field_ref, dict):
        _set_if_empty(field_ref, "apiVersion", "v1")


def _env(container: Obj) -> None:
    envs = container.get("env")
    if not isinstance(envs, list):
        return
    for env in envs:  # (a loop over the list itself, here and below: no copy per list on every write)
        if not isinstance(env, dict):
            continue
        source = env.get("valueFrom")
        if isinstance(source, dict):
            _field_ref(source)


def container(c: Obj) -> None:
    """SetDefaults_Container (and its ports, probes and lifecycle hooks)."""
    if not c.get("imagePullPolicy"):
        c["imagePullPolicy"] = _image_pull_policy(c.get("image"))
    _set_if_empty(c, "terminationMessagePath", "/dev/termination-log")
    _set_if_empty(c, "terminationMessagePolicy", "File")
    if "resources" not in c:
        c["resources"] = {}
    ports = c.get("ports")
    if isinstance(ports, list):
        for port in ports:
            if isinstance(port, dict):
                _set_if_empty(port, "protocol", "TCP")
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


def _file_mode(source: Obj) -> None:
    """Secret, ConfigMap, DownwardAPI and Projected volumes: files are mode 0644 unless said."""
    _set_if_unset(source, "defaultMode", _DEFAULT_MODE)


def _downward_api_items(source: Obj) -> None:
    """The field references of a downward API volume's (or projection's) items."""
    for item in _dicts(source, "items"):
        _field_ref(item)


def _downward_api_volume(source: Obj) -> None:
    """SetDefaults_DownwardAPIVolumeSource, and its items' field references."""
    _file_mode(source)
    _downward_api_items(source)


def _projected_volume(source: Obj) -> None:
    """SetDefaults_ProjectedVolumeSource, and its downward API items and service account tokens (one hour)."""
    _file_mode(source)
    for projection in _dicts(source, "sources"):
        downward_api = projection.get("downwardAPI")
        if isinstance(downward_api, dict):
            _downward_api_items(downward_api)
        token = projection.get("serviceAccountToken")
        if isinstance(token, dict):
            _set_if_unset(token, "expirationSeconds", 3600)


def _host_path(source: Obj) -> None:
    """SetDefaults_HostPathVolumeSource: the type is unset (``""``: no check) unless said."""
    _set_if_unset(source, "type", "")


def _rbd(source: Obj) -> None:
    """The ``+default`` values of RBD(Persistent)VolumeSource."""
    _set_if_empty(source, "pool", "rbd")
    _set_if_empty(source, "user", "admin")
    _set_if_empty(source, "keyring", "/etc/ceph/keyring")


def _iscsi(source: Obj) -> None:
    """The ``+default`` value of ISCSI(Persistent)VolumeSource: the ``default`` (TCP) interface."""
    _set_if_empty(source, "iscsiInterface", "default")


def _azure_disk(source: Obj) -> None:
    """The ``+default`` values of AzureDiskVolumeSource."""
    _set_if_unset(source, "cachingMode", "ReadWrite")
    _set_if_unset(source, "fsType", "ext4")
    _set_if_unset(source, "readOnly", False)
    _set_if_unset(source, "kind", "Shared")


def _scale_io(source: Obj) -> None:
    """The ``+default`` values of ScaleIO(Persistent)VolumeSource."""
    _set_if_empty(source, "storageMode", "ThinProvisioned")
    _set_if_empty(source, "fsType", "xfs")


def _claim_spec(spec: Any) -> None:
    """SetDefaults_PersistentVolumeClaimSpec: a claim asks for a filesystem unless it says."""
    if isinstance(spec, dict):
        _set_if_unset(spec, "volumeMode", "Filesystem")


def _ephemeral_volume(source: Obj) -> None:
    """The claim spec defaults of an ephemeral volume's claim template."""
    template = source.get("volumeClaimTemplate")
    if isinstance(template, dict):
        _claim_spec(template.get("spec"))


#: The defaults of a pod volume's source, by the source's field name.
_VOLUME_SOURCE_DEFAULTERS: dict[str, Callable[[Obj], None]] = {
    "secret": _file_mode,
    "configMap": _file_mode,
    "downwardAPI": _downward_api_volume,
    "projected": _projected_volume,
    "hostPath": _host_path,
    "rbd": _rbd,
    "iscsi": _iscsi,
    "azureDisk": _azure_disk,
    "scaleIO": _scale_io,
    "ephemeral": _ephemeral_volume,
}

#: The defaults of a PersistentVolume's source, by the source's field name.
_PERSISTENT_VOLUME_SOURCE_DEFAULTERS: dict[str, Callable[[Obj], None]] = {
    "hostPath": _host_path,
    "rbd": _rbd,
    "iscsi": _iscsi,
    "azureDisk": _azure_disk,
    "scaleIO": _scale_io,
}


def _volume(v: Obj) -> None:
    """SetDefaults_Volume (a volume without a source is an emptyDir) and the defaults of its source."""
    has_source = False
    for key, value in v.items():
        if key == "name" or not isinstance(value, dict):
            continue
        has_source = True
        defaulter = _VOLUME_SOURCE_DEFAULTERS.get(key)
        if defaulter is not None:
            defaulter(value)
    if not has_source:
        v["emptyDir"] = {}


def pod_spec(spec: Obj) -> None:
    """SetDefaults_PodSpec: what every pod and pod template gets."""
    _set_if_empty(spec, "dnsPolicy", "ClusterFirst")
    _set_if_empty(spec, "restartPolicy", "Always")
    _set_if_unset(spec, "terminationGracePeriodSeconds", 30)
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    _set_if_empty(spec, "schedulerName", "default-scheduler")
    for key in ("initContainers", "containers", "ephemeralContainers"):
        listed = spec.get(key)
        if isinstance(listed, list):
            for c in listed:
                if isinstance(c, dict):
                    container(c)
    volumes = spec.get("volumes")
    if isinstance(volumes, list):
        for v in volumes:
            if isinstance(v, dict):
                _volume(v)


def pod_template(template: Any) -> None:
    """Defaults of a pod template (workloads and PodTemplate)."""
    if isinstance(template, dict):
        pod_spec(_dict(template, "spec"))


def _host_network_ports(containers: list[Obj]) -> None:
    """With host networking, a container port is also the host port unless one is given."""
    for c in containers:
        for port in _dicts(c, "ports"):
            container_port = port.get("containerPort")
            if not port.get("hostPort") and type(container_port) is int and container_port:
                port["hostPort"] = container_port


def pod(obj: Obj) -> None:
    """SetDefaults_Pod: the pod spec, service links, requests from limits, and host ports with host networking
    (since v1.28 only in pods, not in the pod templates of workloads)."""
    spec = _dict(obj, "spec")
    pod_spec(spec)
    _set_if_unset(spec, "enableServiceLinks", True)
    containers = _dicts(spec, "containers") + _dicts(spec, "initContainers")
    for c in containers:
        resources = _dict(c, "resources")
        limits = resources.get("limits")
        if isinstance(limits, dict) and limits:
            requests = _dict(resources, "requests")
            for k, v in limits.items():
                requests.setdefault(k, v)
    if spec.get("hostNetwork") is True:
        _host_network_ports(containers)


def secret(obj: Obj) -> None:
    """SetDefaults_Secret: the type is Opaque unless said."""
    if not obj.get("type"):
        obj["type"] = "Opaque"


def namespace(obj: Obj) -> None:
    """SetDefaults_Namespace (the name label, always equal to its name) and SetDefaults_NamespaceStatus."""
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if name:
        _dict(_dict(obj, "metadata"), "labels")[NAMESPACE_NAME_LABEL] = name
    _set_if_empty(_dict(obj, "status"), "phase", "Active")


#: DefaultClientIPServiceAffinitySeconds: three hours.
CLIENT_IP_AFFINITY_SECONDS = 10800


def _externally_accessible(spec: Obj, service_type: Any) -> bool:
    """Upstream's ExternallyAccessible: NodePort, LoadBalancer, or ClusterIP with external IPs."""
    if service_type in ("NodePort", "LoadBalancer"):
        return True
    external_ips = spec.get("externalIPs")
    return service_type == "ClusterIP" and isinstance(external_ips, list) and bool(external_ips)


def _session_affinity(spec: Obj) -> None:
    """No affinity configuration without affinity; ClientIP affinity lasts three hours unless said."""
    affinity = spec.get("sessionAffinity")
    if affinity == "None":
        spec.pop("sessionAffinityConfig", None)
    elif affinity == "ClientIP":
        config = spec.get("sessionAffinityConfig")
        client_ip = config.get("clientIP") if isinstance(config, dict) else None
        if not isinstance(client_ip, dict) or client_ip.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": CLIENT_IP_AFFINITY_SECONDS}}


def _load_balancer_ip_modes(obj: Obj) -> None:
    """A load balancer's ingress point with an IP is a virtual IP unless said (LoadBalancerIPMode, on in v1.32)."""
    status = obj.get("status")
    load_balancer = status.get("loadBalancer") if isinstance(status, dict) else None
    if isinstance(load_balancer, dict):
        for ingress in _dicts(load_balancer, "ingress"):
            if ingress.get("ip"):
                _set_if_unset(ingress, "ipMode", "VIP")


def service(obj: Obj) -> None:
    """SetDefaults_Service (cluster IP allocation is not defaulting and not done here)."""
    spec = _dict(obj, "spec")
    _set_if_empty(spec, "sessionAffinity", "None")
    _session_affinity(spec)
    _set_if_empty(spec, "type", "ClusterIP")
    for port in _dicts(spec, "ports"):
        _set_if_empty(port, "protocol", "TCP")
        target = port.get("targetPort")
        if (target is None or target == "" or (type(target) is int and target == 0)) and "port" in port:
            port["targetPort"] = port["port"]
    service_type = spec["type"]
    if _externally_accessible(spec, service_type):
        _set_if_empty(spec, "externalTrafficPolicy", "Cluster")
    if service_type in ("ClusterIP", "NodePort", "LoadBalancer"):
        _set_if_unset(spec, "internalTrafficPolicy", "Cluster")
    if service_type == "LoadBalancer":
        _set_if_unset(spec, "allocateLoadBalancerNodePorts", True)
        _load_balancer_ip_modes(obj)


def endpoints(obj: Obj) -> None:
    """SetDefaults_Endpoints: a port's protocol is TCP unless said."""
    for subset in _dicts(obj, "subsets"):
        for port in _dicts(subset, "ports"):
            _set_if_empty(port, "protocol", "TCP")


def _persistent_volume_source(spec: Obj) -> None:
    """The defaults of a PersistentVolume's volume source."""
    for key, value in spec.items():
        if isinstance(value, dict):
            defaulter = _PERSISTENT_VOLUME_SOURCE_DEFAULTERS.get(key)
            if defaulter is not None:
                defaulter(value)


def persistent_volume(obj: Obj) -> None:
    """SetDefaults_PersistentVolume: Retain, a filesystem, phase Pending; and its volume source's defaults."""
    spec = _dict(obj, "spec")
    _set_if_empty(spec, "persistentVolumeReclaimPolicy", "Retain")
    _set_if_unset(spec, "volumeMode", "Filesystem")
    _persistent_volume_source(spec)
    _set_if_empty(_dict(obj, "status"), "phase", "Pending")


def persistent_volume_claim(obj: Obj) -> None:
    """SetDefaults_PersistentVolumeClaim and SetDefaults_PersistentVolumeClaimSpec: a filesystem, phase Pending
    (also what a StatefulSet's claim templates get)."""
    _claim_spec(_dict(obj, "spec"))
    _set_if_empty(_dict(obj, "status"), "phase", "Pending")


def _limit_range_item(item: Obj) -> None:
    """SetDefaults_LimitRangeItem: for containers, the default limit from the max, then the default request from
    the default limit and else from the min."""
    if item.get("type") != "Container":
        return
    limits = item.get("default")
    requests = item.get("defaultRequest")
    limits = {} if limits is None else limits
    requests = {} if requests is None else requests
    if not isinstance(limits, dict) or not isinstance(requests, dict):
        return
    for source, target in ((item.get("max"), limits), (limits, requests), (item.get("min"), requests)):
        if isinstance(source, dict):
            for resource, value in source.items():
                target.setdefault(resource, value)
    if limits:  # (an empty map is omitted: none is added)
        item["default"] = limits
    if requests:
        item["defaultRequest"] = requests


def limit_range(obj: Obj) -> None:
    """A LimitRange's items' defaults."""
    spec = obj.get("spec")
    if isinstance(spec, dict):
        for item in _dicts(spec, "limits"):
            _limit_range_item(item)


def node(obj: Obj) -> None:
    """SetDefaults_NodeStatus: what is allocatable is the capacity unless said (cheap: nodes write often)."""
    status = obj.get("status")
    if type(status) is dict and status.get("allocatable") is None:
        capacity = status.get("capacity")
        if type(capacity) is dict and capacity:
            status["allocatable"] = dict(capacity)


def _template_labels(obj: Obj, spec: Obj) -> dict[str, Any] | None:
    """The pod template's labels, copied to the object's own labels if it has none."""
    template = spec.get("template")
    template_meta = template.get("metadata") if isinstance(template, dict) else None
    labels = template_meta.get("labels") if isinstance(template_meta, dict) else None
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
    _set_if_unset(spec, "replicas", 1)
    pod_template(spec.get("template"))


# ---- apps/v1 ---------------------------------------------------------------
def deployment(obj: Obj) -> None:
    """SetDefaults_Deployment (apps/v1)."""
    spec = _dict(obj, "spec")
    _set_if_unset(spec, "replicas", 1)
    strategy = _dict(spec, "strategy")
    _set_if_empty(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _dict(strategy, "rollingUpdate")
        _set_if_unset(rolling, "maxUnavailable", "25%")
        _set_if_unset(rolling, "maxSurge", "25%")
    _set_if_unset(spec, "revisionHistoryLimit", 10)
    _set_if_unset(spec, "progressDeadlineSeconds", 600)
    pod_template(spec.get("template"))


def replica_set(obj: Obj) -> None:
    """SetDefaults_ReplicaSet (apps/v1)."""
    spec = _dict(obj, "spec")
    _set_if_unset(spec, "replicas", 1)
    pod_template(spec.get("template"))


def stateful_set(obj: Obj) -> None:
    """SetDefaults_StatefulSet (apps/v1), and the claim defaults of its claim templates."""
    spec = _dict(obj, "spec")
    _set_if_unset(spec, "replicas", 1)
    _set_if_empty(spec, "podManagementPolicy", "OrderedReady")
    strategy = _dict(spec, "updateStrategy")
    _set_if_empty(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        _set_if_unset(_dict(strategy, "rollingUpdate"), "partition", 0)
    _set_if_unset(spec, "revisionHistoryLimit", 10)
    retention = _dict(spec, "persistentVolumeClaimRetentionPolicy")
    _set_if_empty(retention, "whenDeleted", "Retain")
    _set_if_empty(retention, "whenScaled", "Retain")
    pod_template(spec.get("template"))
    for claim_template in _dicts(spec, "volumeClaimTemplates"):
        persistent_volume_claim(claim_template)


def daemon_set(obj: Obj) -> None:
    """SetDefaults_DaemonSet (apps/v1)."""
    spec = _dict(obj, "spec")
    strategy = _dict(spec, "updateStrategy")
    _set_if_empty(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _dict(strategy, "rollingUpdate")
        _set_if_unset(rolling, "maxUnavailable", 1)
        _set_if_unset(rolling, "maxSurge", 0)
    _set_if_unset(spec, "revisionHistoryLimit", 10)
    pod_template(spec.get("template"))


# ---- batch/v1 --------------------------------------------------------------
def job(obj: Obj) -> None:
    """SetDefaults_Job (batch/v1)."""
    spec = _dict(obj, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    _set_if_unset(spec, "parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2**31 - 1 if spec.get("backoffLimitPerIndex") is not None else 6
    _template_labels(obj, spec)
    _set_if_unset(spec, "completionMode", "NonIndexed")
    _set_if_unset(spec, "suspend", False)
    _set_if_unset(spec, "podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")
    pod_template(spec.get("template"))


def cron_job(obj: Obj) -> None:
    """SetDefaults_CronJob (batch/v1); the job template gets only its pod template's defaults."""
    spec = _dict(obj, "spec")
    _set_if_empty(spec, "concurrencyPolicy", "Allow")
    _set_if_unset(spec, "suspend", False)
    _set_if_unset(spec, "successfulJobsHistoryLimit", 3)
    _set_if_unset(spec, "failedJobsHistoryLimit", 1)
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
    _set_if_unset(spec, "minReplicas", 1)
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
    spec = obj.get("spec")
    service = spec.get("service") if isinstance(spec, dict) else None
    if isinstance(service, dict) and service.get("port") is None:
        service["port"] = 443


# ---- networking.k8s.io/v1 -------------------------------------------------
def network_policy(obj: Obj) -> None:
    """SetDefaults_NetworkPolicy (an Ingress policy, and an Egress one too if it has egress rules) and
    SetDefaults_NetworkPolicyPort (TCP)."""
    spec = _dict(obj, "spec")
    for direction in ("ingress", "egress"):
        for rule in _dicts(spec, direction):
            for port in _dicts(rule, "ports"):
                _set_if_unset(port, "protocol", "TCP")
    policy_types = spec.get("policyTypes")
    if policy_types is None or policy_types == []:
        egress = spec.get("egress")
        has_egress = isinstance(egress, list) and bool(egress)
        spec["policyTypes"] = ["Ingress", "Egress"] if has_egress else ["Ingress"]


def ingress_class(obj: Obj) -> None:
    """SetDefaults_IngressClass: parameters are cluster-scoped unless said."""
    spec = obj.get("spec")
    parameters = spec.get("parameters") if isinstance(spec, dict) else None
    if isinstance(parameters, dict):
        _set_if_unset(parameters, "scope", "Cluster")


# ---- discovery.k8s.io/v1 ---------------------------------------------------
def endpoint_slice(obj: Obj) -> None:
    """SetDefaults_EndpointPort: a port's name is ``""`` and its protocol TCP unless said."""
    for port in _dicts(obj, "ports"):
        _set_if_unset(port, "name", "")
        _set_if_unset(port, "protocol", "TCP")


# ---- rbac.authorization.k8s.io/v1 ------------------------------------------
RBAC_GROUP = "rbac.authorization.k8s.io"


def role_binding(obj: Obj) -> None:
    """SetDefaults_RoleBinding/ClusterRoleBinding and SetDefaults_Subject: the roleRef, and a User or Group
    subject, are of the RBAC API group unless said (a ServiceAccount's group is ``""``, which is omitted)."""
    role_ref = obj.get("roleRef")
    if role_ref is None:
        role_ref = obj["roleRef"] = {}
    if isinstance(role_ref, dict):
        _set_if_empty(role_ref, "apiGroup", RBAC_GROUP)
    for subject in _dicts(obj, "subjects"):
        if subject.get("kind") in ("User", "Group"):
            _set_if_empty(subject, "apiGroup", RBAC_GROUP)


# ---- scheduling.k8s.io/v1 --------------------------------------------------
def priority_class(obj: Obj) -> None:
    """SetDefaults_PriorityClass: a class preempts lower priorities unless said."""
    _set_if_unset(obj, "preemptionPolicy", "PreemptLowerPriority")


# ---- storage.k8s.io/v1 -----------------------------------------------------
def storage_class(obj: Obj) -> None:
    """SetDefaults_StorageClass: provisioned volumes are deleted with their claim, and bound at once."""
    _set_if_unset(obj, "reclaimPolicy", "Delete")
    _set_if_unset(obj, "volumeBindingMode", "Immediate")


def csi_driver(obj: Obj) -> None:
    """SetDefaults_CSIDriver (SELinuxMountReadWriteOncePod, which defaults ``seLinuxMount``, is on in v1.32)."""
    spec = _dict(obj, "spec")
    _set_if_unset(spec, "attachRequired", True)
    _set_if_unset(spec, "podInfoOnMount", False)
    _set_if_unset(spec, "storageCapacity", False)
    _set_if_unset(spec, "fsGroupPolicy", "ReadWriteOnceWithFSType")
    modes = spec.get("volumeLifecycleModes")
    if modes is None or modes == []:
        spec["volumeLifecycleModes"] = ["Persistent"]
    _set_if_unset(spec, "requiresRepublish", False)
    _set_if_unset(spec, "seLinuxMount", False)


# ---- admissionregistration.k8s.io/v1 ---------------------------------------
def _rules(holder: Obj, key: str) -> None:
    """SetDefaults_Rule: a rule matches resources of every scope unless said."""
    for rule in _dicts(holder, key):
        _set_if_unset(rule, "scope", "*")


def _webhook(hook: Obj, *, mutating: bool) -> None:
    """SetDefaults_ValidatingWebhook/MutatingWebhook, with the webhook's rules and service port (443)."""
    _set_if_unset(hook, "failurePolicy", "Fail")
    _set_if_unset(hook, "matchPolicy", "Equivalent")
    _set_if_unset(hook, "namespaceSelector", {})
    _set_if_unset(hook, "objectSelector", {})
    _set_if_unset(hook, "timeoutSeconds", 10)
    if mutating:
        _set_if_unset(hook, "reinvocationPolicy", "Never")
    _rules(hook, "rules")
    client_config = hook.get("clientConfig")
    service_ref = client_config.get("service") if isinstance(client_config, dict) else None
    if isinstance(service_ref, dict):
        _set_if_unset(service_ref, "port", 443)


def validating_webhook_configuration(obj: Obj) -> None:
    """The defaults of each webhook of a ValidatingWebhookConfiguration."""
    for hook in _dicts(obj, "webhooks"):
        _webhook(hook, mutating=False)


def mutating_webhook_configuration(obj: Obj) -> None:
    """The defaults of each webhook of a MutatingWebhookConfiguration."""
    for hook in _dicts(obj, "webhooks"):
        _webhook(hook, mutating=True)


def _match_resources(match: Any) -> None:
    """SetDefaults_MatchResources, with its rules' scope."""
    if not isinstance(match, dict):
        return
    _set_if_unset(match, "matchPolicy", "Equivalent")
    _set_if_unset(match, "namespaceSelector", {})
    _set_if_unset(match, "objectSelector", {})
    _rules(match, "resourceRules")
    _rules(match, "excludeResourceRules")


def validating_admission_policy(obj: Obj) -> None:
    """SetDefaults_ValidatingAdmissionPolicySpec (failurePolicy Fail), and its matchConstraints' defaults."""
    spec = _dict(obj, "spec")
    _set_if_unset(spec, "failurePolicy", "Fail")
    _match_resources(spec.get("matchConstraints"))


def validating_admission_policy_binding(obj: Obj) -> None:
    """A ValidatingAdmissionPolicyBinding's matchResources' defaults (its paramRef has none in v1)."""
    spec = obj.get("spec")
    if isinstance(spec, dict):
        _match_resources(spec.get("matchResources"))


# ---- flowcontrol.apiserver.k8s.io/v1 ---------------------------------------
def flow_schema(obj: Obj) -> None:
    """SetDefaults_FlowSchemaSpec: matching precedence 1000 unless said."""
    _set_if_zero(_dict(obj, "spec"), "matchingPrecedence", 1000)


def priority_level_configuration(obj: Obj) -> None:
    """SetDefaults_LimitedPriorityLevelConfiguration (30 shares, none lendable), SetDefaults_QueuingConfiguration
    (64 queues, hands of 8, 50 waiting per queue) and SetDefaults_ExemptPriorityLevelConfiguration (0 and 0)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    limited = spec.get("limited")
    if isinstance(limited, dict):
        _set_if_unset(limited, "nominalConcurrencyShares", 30)
        _set_if_unset(limited, "lendablePercent", 0)
        response = limited.get("limitResponse")
        queuing = response.get("queuing") if isinstance(response, dict) else None
        if isinstance(queuing, dict):
            _set_if_zero(queuing, "handSize", 8)
            _set_if_zero(queuing, "queues", 64)
            _set_if_zero(queuing, "queueLengthLimit", 50)
    exempt = spec.get("exempt")
    if isinstance(exempt, dict):
        _set_if_unset(exempt, "nominalConcurrencyShares", 0)
        _set_if_unset(exempt, "lendablePercent", 0)


_DEFAULTERS: dict[tuple[str, str], Callable[[Obj], None]] = {
    ("", "Pod"): pod,
    ("", "PodTemplate"): lambda obj: pod_template(obj.get("template")),
    ("", "Secret"): secret,
    ("", "Namespace"): namespace,
    ("", "Service"): service,
    ("", "ReplicationController"): replication_controller,
    ("", "Endpoints"): endpoints,
    ("", "PersistentVolume"): persistent_volume,
    ("", "PersistentVolumeClaim"): persistent_volume_claim,
    ("", "LimitRange"): limit_range,
    ("", "Node"): node,
    ("apps", "Deployment"): deployment,
    ("apps", "ReplicaSet"): replica_set,
    ("apps", "StatefulSet"): stateful_set,
    ("apps", "DaemonSet"): daemon_set,
    ("batch", "Job"): job,
    ("batch", "CronJob"): cron_job,
    ("autoscaling", "HorizontalPodAutoscaler"): horizontal_pod_autoscaler,
    ("apiregistration.k8s.io", "APIService"): api_service,
    ("networking.k8s.io", "NetworkPolicy"): network_policy,
    ("networking.k8s.io", "IngressClass"): ingress_class,
    ("discovery.k8s.io", "EndpointSlice"): endpoint_slice,
    (RBAC_GROUP, "RoleBinding"): role_binding,
    (RBAC_GROUP, "ClusterRoleBinding"): role_binding,
    ("scheduling.k8s.io", "PriorityClass"): priority_class,
    ("storage.k8s.io", "StorageClass"): storage_class,
    ("storage.k8s.io", "CSIDriver"): csi_driver,
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): validating_webhook_configuration,
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): mutating_webhook_configuration,
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): validating_admission_policy,
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"): validating_admission_policy_binding,
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"): flow_schema,
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"): priority_level_configuration,
}


def apply_defaults(group: str, kind: str, obj: Obj) -> None:
    """Fill in the defaults of a built-in kind (in place); other kinds are left alone."""
    defaulter = _DEFAULTERS.get((group, kind))
    if defaulter is not None:
        defaulter(obj)
