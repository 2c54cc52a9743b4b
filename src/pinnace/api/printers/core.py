"""Printers for the core ("") group, after upstream ``printers.go``.

Where kube-apiserver would have applied v1 defaulting before printing (objects
are decoded from storage with defaults), the printers apply the same default
to a missing field: Service type ``ClusterIP``, port protocol ``TCP``,
replicas ``1``, PV/PVC volume mode ``Filesystem`` and so on. On a defaulted
object that changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pinnace.api.printers._common import (
    NONE,
    UNKNOWN,
    Column,
    Obj,
    Printer,
    age,
    age_col,
    b,
    col,
    containers_cols,
    core,
    doc,
    format_labels,
    has,
    i,
    layout_containers,
    lst,
    m,
    meta_age,
    name_col,
    name_of,
    parse_time,
    s,
    since,
)

# --- Pod --------------------------------------------------------------------------


def _pod_columns() -> list[Column]:
    return [
        name_col(),
        col("Ready", desc="The aggregate readiness state of this pod for accepting traffic."),
        col("Status", desc="The aggregate status of the containers in this pod."),
        col(
            "Restarts",
            desc="The number of times the containers in this pod have been restarted and when the "
            "last container in this pod has restarted.",
        ),
        age_col(),
        col("IP", desc=core("PodStatus", "podIP"), priority=1),
        col("Node", desc=core("PodSpec", "nodeName"), priority=1),
        col("Nominated Node", desc=core("PodStatus", "nominatedNodeName"), priority=1),
        col("Readiness Gates", desc=core("PodSpec", "readinessGates"), priority=1),
    ]


def _later(current: datetime | None, candidate: datetime | None) -> datetime | None:
    """``if current.Before(candidate) { current = candidate }`` with nil as the zero time."""
    if candidate is None:
        return current
    if current is None or current < candidate:
        return candidate
    return current


def _state(cs: Any, which: str) -> Any:
    v = m(cs, "state").get(which)
    return v if isinstance(v, dict) else None


def _last_terminated(cs: Any) -> Any:
    v = m(cs, "lastState").get("terminated")
    return v if isinstance(v, dict) else None


def _condition_status(conditions: list[Any], type_: str) -> str | None:
    for c in conditions:
        if s(c, "type") == type_:
            return s(c, "status")
    return None


def _pod_row(pod: Obj, now: datetime) -> list[Any]:
    meta, spec, status = m(pod, "metadata"), m(pod, "spec"), m(pod, "status")
    restarts = 0
    sidecar_restarts = 0
    total = len(lst(spec, "containers"))
    ready = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None

    phase = s(status, "phase")
    reason = s(status, "reason") or phase
    conditions = lst(status, "conditions")
    for c in conditions:
        if s(c, "type") == "PodScheduled" and s(c, "reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_specs = lst(spec, "initContainers")
    restartable: dict[str, bool] = {}
    for ic in init_specs:
        is_sidecar = s(ic, "restartPolicy") == "Always"
        restartable[s(ic, "name")] = is_sidecar
        if is_sidecar:
            total += 1

    initializing = False
    for idx, cs in enumerate(lst(status, "initContainerStatuses")):
        count = i(cs, "restartCount")
        restarts += count
        last_term = _last_terminated(cs)
        if last_term is not None:
            last_restart = _later(last_restart, parse_time(last_term.get("finishedAt")))
        sidecar = restartable.get(s(cs, "name"), False)
        if sidecar:
            sidecar_restarts += count
            if last_term is not None:
                last_sidecar_restart = _later(last_sidecar_restart, parse_time(last_term.get("finishedAt")))
        terminated, waiting = _state(cs, "terminated"), _state(cs, "waiting")
        if terminated is not None and i(terminated, "exitCode") == 0:
            continue
        if sidecar and cs.get("started") is True:
            if b(cs, "ready"):
                ready += 1
            continue
        if terminated is not None:
            if not s(terminated, "reason"):
                if i(terminated, "signal") != 0:
                    reason = f"Init:Signal:{i(terminated, 'signal')}"
                else:
                    reason = f"Init:ExitCode:{i(terminated, 'exitCode')}"
            else:
                reason = "Init:" + s(terminated, "reason")
        elif waiting is not None and s(waiting, "reason") and s(waiting, "reason") != "PodInitializing":
            reason = "Init:" + s(waiting, "reason")
        else:
            reason = f"Init:{idx}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_status(conditions, "Initialized") == "True":
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        for cs in reversed(lst(status, "containerStatuses")):
            restarts += i(cs, "restartCount")
            last_term = _last_terminated(cs)
            if last_term is not None:
                last_restart = _later(last_restart, parse_time(last_term.get("finishedAt")))
            terminated, waiting = _state(cs, "terminated"), _state(cs, "waiting")
            if waiting is not None and s(waiting, "reason"):
                reason = s(waiting, "reason")
            elif terminated is not None and s(terminated, "reason"):
                reason = s(terminated, "reason")
            elif terminated is not None:
                if i(terminated, "signal") != 0:
                    reason = f"Signal:{i(terminated, 'signal')}"
                else:
                    reason = f"ExitCode:{i(terminated, 'exitCode')}"
            elif b(cs, "ready") and _state(cs, "running") is not None:
                has_running = True
                ready += 1
        # a container still running flips "Completed" back to Running/NotReady
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_status(conditions, "Ready") == "True" else "NotReady"

    if has(meta, "deletionTimestamp") and s(status, "reason") == "NodeLost":
        reason = "Unknown"
    elif has(meta, "deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_cell = str(restarts)
    if restarts != 0 and last_restart is not None:
        restarts_cell = f"{restarts} ({since(last_restart, now)} ago)"

    pod_ips = lst(status, "podIPs")
    pod_ip = s(pod_ips[0], "ip") if pod_ips else s(status, "podIP")
    gates = lst(spec, "readinessGates")
    gates_cell = NONE
    if gates:
        true_count = 0
        for gate in gates:
            if _condition_status(conditions, s(gate, "conditionType")) == "True":
                true_count += 1
        gates_cell = f"{true_count}/{len(gates)}"
    return [
        s(meta, "name"),
        f"{ready}/{total}",
        reason,
        restarts_cell,
        age(meta.get("creationTimestamp"), now),
        pod_ip or NONE,
        s(spec, "nodeName") or NONE,
        s(status, "nominatedNodeName") or NONE,
        gates_cell,
    ]


_POD_SUCCEEDED = [
    {
        "type": "Completed",
        "status": "True",
        "reason": "Succeeded",
        "message": "The pod has completed successfully.",
    }
]
_POD_FAILED = [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]


def _pod_conditions(pod: Obj) -> list[dict[str, str]] | None:
    phase = s(m(pod, "status"), "phase")
    if phase == "Succeeded":
        return [dict(c) for c in _POD_SUCCEEDED]
    if phase == "Failed":
        return [dict(c) for c in _POD_FAILED]
    return None


# --- PodTemplate, ReplicationController -------------------------------------------


def _pod_template_columns() -> list[Column]:
    return [
        name_col(),
        col("Containers", desc="Names of each container in the template."),
        col("Images", desc="Images referenced by each container in the template."),
        col("Pod Labels", desc="The labels for the pod template."),
    ]


def _pod_template_row(obj: Obj, now: datetime) -> list[Any]:
    template = m(obj, "template")
    names, images = layout_containers(lst(m(template, "spec"), "containers"))
    return [name_of(obj), names, images, format_labels(m(template, "metadata").get("labels"))]


def _rc_columns() -> list[Column]:
    return [
        name_col(),
        col("Desired", "integer", core("ReplicationControllerSpec", "replicas")),
        col("Current", "integer", core("ReplicationControllerStatus", "replicas")),
        col("Ready", "integer", core("ReplicationControllerStatus", "readyReplicas")),
        age_col(),
        *containers_cols(),
        col("Selector", desc=core("ReplicationControllerSpec", "selector"), priority=1),
    ]


def _rc_row(obj: Obj, now: datetime) -> list[Any]:
    spec, status = m(obj, "spec"), m(obj, "status")
    names, images = layout_containers(lst(m(m(spec, "template"), "spec"), "containers"))
    return [
        name_of(obj),
        i(spec, "replicas", 1),
        i(status, "replicas"),
        i(status, "readyReplicas"),
        meta_age(obj, now),
        names,
        images,
        format_labels(spec.get("selector")),
    ]


# --- Service, Endpoints -----------------------------------------------------------


def _service_columns() -> list[Column]:
    return [
        name_col(),
        col("Type", desc=core("ServiceSpec", "type")),
        col("Cluster-IP", desc=core("ServiceSpec", "clusterIP")),
        col("External-IP", desc=core("ServiceSpec", "externalIPs")),
        col("Port(s)", desc=core("ServiceSpec", "ports")),
        age_col(),
        col("Selector", desc=core("ServiceSpec", "selector"), priority=1),
    ]


def load_balancer_ingress(status: Obj) -> str:
    """``loadBalancerStatusStringer`` (wide): sorted, de-duplicated IPs or hostnames."""
    found: set[str] = set()
    for ing in lst(status, "ingress"):
        if s(ing, "ip"):
            found.add(s(ing, "ip"))
        elif s(ing, "hostname"):
            found.add(s(ing, "hostname"))
    return ",".join(sorted(found))


def _service_external_ip(spec: Obj, status: Obj) -> str:
    svc_type = s(spec, "type", "ClusterIP")
    external_ips = [str(x) for x in lst(spec, "externalIPs")]
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external_ips) if external_ips else NONE
    if svc_type == "LoadBalancer":
        lb = load_balancer_ingress(m(status, "loadBalancer"))
        if external_ips:
            return ",".join((lb.split(",") if lb else []) + external_ips)
        return lb or "<pending>"
    if svc_type == "ExternalName":
        return s(spec, "externalName")
    return UNKNOWN


def _service_ports(ports: list[Any]) -> str:
    pieces = []
    for p in ports:
        proto = s(p, "protocol", "TCP")
        node_port = i(p, "nodePort")
        if node_port > 0:
            pieces.append(f"{i(p, 'port')}:{node_port}/{proto}")
        else:
            pieces.append(f"{i(p, 'port')}/{proto}")
    return ",".join(pieces)


def _service_row(obj: Obj, now: datetime) -> list[Any]:
    spec = m(obj, "spec")
    cluster_ips = lst(spec, "clusterIPs")
    internal = str(cluster_ips[0]) if cluster_ips else (s(spec, "clusterIP") or NONE)
    return [
        name_of(obj),
        s(spec, "type", "ClusterIP"),
        internal,
        _service_external_ip(spec, m(obj, "status")),
        _service_ports(lst(spec, "ports")) or NONE,
        meta_age(obj, now),
        format_labels(spec.get("selector")),
    ]


def _endpoints_columns() -> list[Column]:
    return [name_col(), col("Endpoints", desc=core("Endpoints", "subsets")), age_col()]


def join_host_port(host: str, port: int) -> str:
    """``net.JoinHostPort``: brackets around IPv6 hosts."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def format_endpoints(subsets: list[Any]) -> str:
    """``formatEndpoints``: the first three ``ip:port``, then ``+ N more...``."""
    if not subsets:
        return NONE
    out: list[str] = []
    limit, more, count = 3, False, 0
    for ss in subsets:
        addresses = lst(ss, "addresses")
        ports = lst(ss, "ports")
        if not ports:
            count += len(addresses)
            for a in addresses:
                if len(out) == limit:
                    more = True
                    break
                out.append(s(a, "ip"))
            continue
        for p in ports:
            count += len(addresses)
            for a in addresses:
                if len(out) == limit:
                    more = True
                    break
                out.append(join_host_port(s(a, "ip"), i(p, "port")))
    ret = ",".join(out)
    return f"{ret} + {count - limit} more..." if more else ret


def _endpoints_row(obj: Obj, now: datetime) -> list[Any]:
    return [name_of(obj), format_endpoints(lst(obj, "subsets")), meta_age(obj, now)]


# --- Node -------------------------------------------------------------------------


def _node_columns() -> list[Column]:
    return [
        name_col(),
        col("Status", desc="The status of the node"),
        col("Roles", desc="The roles of the node"),
        age_col(),
        col("Version", desc=core("NodeSystemInfo", "kubeletVersion")),
        col("Internal-IP", desc=core("NodeStatus", "addresses"), priority=1),
        col("External-IP", desc=core("NodeStatus", "addresses"), priority=1),
        col("OS-Image", desc=core("NodeSystemInfo", "osImage"), priority=1),
        col("Kernel-Version", desc=core("NodeSystemInfo", "kernelVersion"), priority=1),
        col("Container-Runtime", desc=core("NodeSystemInfo", "containerRuntimeVersion"), priority=1),
    ]


def node_roles(labels: Any) -> list[str]:
    """``findNodeRoles``: ``node-role.kubernetes.io/<role>`` keys and ``kubernetes.io/role`` values."""
    roles: set[str] = set()
    if isinstance(labels, dict):
        for k, v in labels.items():
            if k.startswith("node-role.kubernetes.io/"):
                role = k[len("node-role.kubernetes.io/") :]
                if role:
                    roles.add(role)
            elif k == "kubernetes.io/role" and v:
                roles.add(str(v))
    return sorted(roles)


def _node_address(status: Obj, type_: str) -> str:
    for a in lst(status, "addresses"):
        if s(a, "type") == type_:
            return s(a, "address")
    return NONE


def _node_row(obj: Obj, now: datetime) -> list[Any]:
    spec, status = m(obj, "spec"), m(obj, "status")
    ready: str | None = None
    for c in lst(status, "conditions"):  # the last Ready condition wins, as in the Go map
        if s(c, "type") == "Ready":
            ready = s(c, "status")
    states = ["Unknown"] if ready is None else ["Ready" if ready == "True" else "NotReady"]
    if b(spec, "unschedulable"):
        states.append("SchedulingDisabled")
    info = m(status, "nodeInfo")
    return [
        name_of(obj),
        ",".join(states),
        ",".join(node_roles(m(obj, "metadata").get("labels"))) or NONE,
        meta_age(obj, now),
        s(info, "kubeletVersion"),
        _node_address(status, "InternalIP"),
        _node_address(status, "ExternalIP"),
        s(info, "osImage") or UNKNOWN,
        s(info, "kernelVersion") or UNKNOWN,
        s(info, "containerRuntimeVersion") or UNKNOWN,
    ]


# --- Namespace, Event -------------------------------------------------------------


def _namespace_columns() -> list[Column]:
    return [name_col(), col("Status", desc="The status of the namespace"), age_col()]


def _namespace_row(obj: Obj, now: datetime) -> list[Any]:
    return [name_of(obj), s(m(obj, "status"), "phase", "Active"), meta_age(obj, now)]


def _event_columns() -> list[Column]:
    ev = "io.k8s.api.core.v1.Event"
    return [
        col("Last Seen", desc=doc(ev, "lastTimestamp")),
        col("Type", desc=doc(ev, "type")),
        col("Reason", desc=doc(ev, "reason")),
        col("Object", desc=doc(ev, "involvedObject")),
        col("Subobject", desc=core("ObjectReference", "fieldPath"), priority=1),
        col("Source", desc=doc(ev, "source"), priority=1),
        col("Message", desc=doc(ev, "message")),
        col("First Seen", desc=doc(ev, "firstTimestamp"), priority=1),
        col("Count", desc=doc(ev, "count"), priority=1),
        name_col(priority=1),
    ]


def event_cells(
    ev: Obj, involved: Obj, source: Obj, message: str, first: Any, last: Any, count: int, now: datetime
) -> list[Any]:
    """``printEvent`` over the core Event fields (shared with events.k8s.io)."""
    first_seen = age(first, now) if parse_time(first) is not None else age(ev.get("eventTime"), now)
    last_seen = age(last, now) if parse_time(last) is not None else first_seen
    series = ev.get("series")
    if isinstance(series, dict):
        last_seen = age(series.get("lastObservedTime"), now)
        count = i(series, "count")
    elif count == 0:
        count = 1  # singleton events have no count in the new API
    kind = s(involved, "kind").lower()
    target = f"{kind}/{s(involved, 'name')}" if s(involved, "name") else kind
    component = s(source, "component") or s(ev, "reportingController")
    instance = s(source, "host") or s(ev, "reportingInstance")
    source_cell = component if not instance else f"{component}, {instance}"
    return [
        last_seen,
        s(ev, "type"),
        s(ev, "reason"),
        target,
        s(involved, "fieldPath"),
        source_cell,
        message.strip(),
        first_seen,
        count,
        name_of(ev),
    ]


def _event_row(ev: Obj, now: datetime) -> list[Any]:
    return event_cells(
        ev,
        m(ev, "involvedObject"),
        m(ev, "source"),
        s(ev, "message"),
        ev.get("firstTimestamp"),
        ev.get("lastTimestamp"),
        i(ev, "count"),
        now,
    )


PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "Pod"): Printer(_pod_columns, _pod_row, conditions=_pod_conditions),
    ("", "PodTemplate"): Printer(_pod_template_columns, _pod_template_row),
    ("", "ReplicationController"): Printer(_rc_columns, _rc_row),
    ("", "Service"): Printer(_service_columns, _service_row),
    ("", "Endpoints"): Printer(_endpoints_columns, _endpoints_row),
    ("", "Node"): Printer(_node_columns, _node_row),
    ("", "Namespace"): Printer(_namespace_columns, _namespace_row),
    ("", "Event"): Printer(_event_columns, _event_row),
}
"""Core-group printers by (group, kind); LimitRange uses the default convertor upstream."""

EVENT_COLUMNS = _event_columns
