"""Validation of core/v1 kinds: pods and pod templates, services, config maps, secrets, claims.

The checks users run into, in the order and wording of upstream's
``pkg/apis/core/validation``: containers (required, DNS-1123 names unique
across init and regular containers, image, ports, env, volume mounts,
resources with requests ≤ limits), volumes, restart and DNS policies; service
ports and types; and on update the immutable parts: most of a pod's spec, a
service's cluster IPs, the data of an immutable ConfigMap or Secret, a bound
claim's spec. Objects are the defaulted dicts; values of a wrong JSON type
never get here (they fail decoding first).
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import re
from collections.abc import Mapping
from typing import Any

from pinnace.api import errors, names, quantity
from pinnace.api.errors import Cause
from pinnace.api.gofmt import go_quote
from pinnace.api.selectors import from_label_selector
from pinnace.api.validation import field
from pinnace.api.validation.field import invalid, not_supported, required
from pinnace.api.validation.shapes import as_dict as _dict
from pinnace.api.validation.shapes import as_dicts as _dicts
from pinnace.api.validation.shapes import as_list, as_str
from pinnace.api.volumes import ANN_BETA_STORAGE_CLASS

Obj = dict[str, Any]

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
PROTOCOLS = ("SCTP", "TCP", "UDP")
TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
_STANDARD_CONTAINER_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})

#: What a pod update may change (upstream's message, 1.32 without in-place resize).
POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)
IMMUTABLE_WHEN_SET = "field is immutable when `immutable` is set"


def dns1123_label(path: str, value: str) -> list[Cause]:
    """``ValidateDNS1123Label``."""
    return [invalid(path, value, msg) for msg in _dns1123_label_problems(value)]


@functools.lru_cache(maxsize=4096)
def _dns1123_label_problems(value: str) -> tuple[str, ...]:
    return tuple(names.is_dns1123_label(value))


@functools.lru_cache(maxsize=4096)
def port_name_problems(name: str) -> tuple[str, ...]:
    """``IsValidPortName`` (an IANA_SVC_NAME)."""
    errs: list[str] = []
    if len(name) > 15:
        errs.append("must be no more than 15 characters")
    if not name or any(c not in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    elif not any("a" <= c <= "z" for c in name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name and (name[0] == "-" or name[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return tuple(errs)


def port_number_problems(port: Any) -> tuple[str, ...]:
    """``IsValidPortNum``."""
    if isinstance(port, int) and 1 <= port <= 65535:
        return ()
    return ("must be between 1 and 65535, inclusive",)


def label_selector(selector: Any, path: str, *, allow_invalid_values: bool = False) -> list[Cause]:
    """``ValidateLabelSelector``: matchLabels, then each requirement's operator, values, key and (unless
    ``allow_invalid_values``, upstream's ratchet for a stored selector) the values as label values."""
    if not isinstance(selector, dict):
        return []
    out: list[Cause] = []
    labels = selector.get("matchLabels")
    if isinstance(labels, Mapping):
        out.extend(names.validate_labels(labels, f"{path}.matchLabels"))
    for i, expr in enumerate(_dicts(selector.get("matchExpressions"))):
        where = f"{path}.matchExpressions[{i}]"
        operator, values = expr.get("operator"), as_list(expr.get("values"))
        if operator in ("In", "NotIn"):
            if not values:
                out.append(required(f"{where}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                out.append(
                    field.forbidden(
                        f"{where}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                    )
                )
        else:
            out.append(invalid(f"{where}.operator", str(operator or ""), "not a valid selector operator"))
        key = as_str(expr.get("key"))
        out.extend(invalid(f"{where}.key", key, msg) for msg in names.is_qualified_name(key))
        if not allow_invalid_values:
            for j, value in enumerate(values):
                if isinstance(value, str):
                    out.extend(invalid(f"{where}.values[{j}]", value, msg) for msg in names.is_valid_label_value(value))
    return out


def selects(selector: Any, labels: Any) -> bool | None:
    """Whether a LabelSelector matches the labels; None if the selector cannot be converted."""
    if isinstance(selector, dict) and not selector.get("matchExpressions"):
        match_labels = selector.get("matchLabels") or {}
        if type(match_labels) is dict:
            # The usual selector, matchLabels alone: when every pair is valid (so the conversion below could not
            # fail), its requirements are equalities: match them without building the selector.
            pairs = [(str(k), str(v)) for k, v in match_labels.items()]
            if all(names.is_valid_label(k, v) for k, v in pairs):
                have = labels if type(labels) is dict or isinstance(labels, Mapping) else {}
                return all(k in have and have[k] == v for k, v in pairs)
    try:
        sel = from_label_selector(selector if isinstance(selector, Mapping) else None)
    except Exception:
        return None
    if sel.empty:
        return True
    return sel.matches(labels if isinstance(labels, Mapping) else {})


# ---- containers ----------------------------------------------------------------------------------


def _ports(ports: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    seen: set[str] = set()
    for i, port in enumerate(_dicts(ports)):
        name = port.get("name")
        if name:
            problems = port_name_problems(str(name))
            if problems:
                out.extend(invalid(f"{path}[{i}].name", name, msg) for msg in problems)
            elif name in seen:
                out.append(field.duplicate(f"{path}[{i}].name", name))
            else:
                seen.add(str(name))
        container_port = port.get("containerPort")
        if not container_port:
            out.append(required(f"{path}[{i}].containerPort"))
        elif problems := port_number_problems(container_port):
            out.extend(invalid(f"{path}[{i}].containerPort", container_port, m) for m in problems)
        host_port = port.get("hostPort")
        if host_port and (problems := port_number_problems(host_port)):
            out.extend(invalid(f"{path}[{i}].hostPort", host_port, m) for m in problems)
        protocol = port.get("protocol")
        if not protocol:
            out.append(required(f"{path}[{i}].protocol"))
        elif protocol not in PROTOCOLS:
            out.append(not_supported(f"{path}[{i}].protocol", protocol, PROTOCOLS))
    return out


def _env(env: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    for i, var in enumerate(_dicts(env)):
        name = str(var.get("name") or "")
        if not name:
            out.append(required(f"{path}[{i}].name"))
        elif not _printable_env_name(name):
            out.append(
                invalid(
                    f"{path}[{i}].name",
                    name,
                    "a valid environment variable name must consist only of printable ASCII characters other than '='",
                )
            )
        source = var.get("valueFrom")
        if isinstance(source, dict):
            kinds = [k for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef") if source.get(k)]
            if var.get("value"):
                out.append(invalid(f"{path}[{i}].valueFrom", "", "may not be specified when `value` is not empty"))
            if not kinds:
                out.append(
                    invalid(
                        f"{path}[{i}].valueFrom",
                        "",
                        "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
                    )
                )
            elif len(kinds) > 1:
                out.append(
                    invalid(f"{path}[{i}].valueFrom", "", "may not have more than one field specified at a time")
                )
    return out


@functools.lru_cache(maxsize=4096)
def _printable_env_name(name: str) -> bool:
    return all(32 <= ord(c) <= 126 and c != "=" for c in name)


def _volume_mounts(mounts: Any, volumes: set[str], path: str) -> list[Cause]:
    out: list[Cause] = []
    seen: set[str] = set()
    for i, mount in enumerate(_dicts(mounts)):
        name = str(mount.get("name") or "")
        if not name:
            out.append(required(f"{path}[{i}].name"))
        if name not in volumes:
            out.append(field.not_found(f"{path}[{i}].name", name))
        mount_path = str(mount.get("mountPath") or "")
        if not mount_path:
            out.append(required(f"{path}[{i}].mountPath"))
        if mount_path in seen:
            out.append(invalid(f"{path}[{i}].mountPath", mount_path, "must be unique"))
        seen.add(mount_path)
    return out


@functools.lru_cache(maxsize=1024)
def _resource_name_problems(name: str) -> tuple[str, ...]:
    problems = names.is_qualified_name(name)
    if "/" not in name and name not in _STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-"):
        problems.append("must be a standard resource for containers")
    return tuple(problems)


def _overcommit_allowed(name: str) -> bool:
    native = "/" not in name or name.startswith("kubernetes.io/") or ".kubernetes.io/" in name
    return native and not name.startswith("hugepages-")


def _quantities(values: tuple[tuple[str, Any], ...]) -> dict[str, quantity.Quantity | None]:
    parsed: dict[str, quantity.Quantity | None] = {}
    for name, raw in values:
        try:
            parsed[name] = quantity.parse(str(raw).strip())
        except quantity.QuantityError:
            parsed[name] = None  # a decode error, reported before validation
    return parsed


def _quantity_value(name: str, q: quantity.Quantity | None, path: str) -> list[tuple[str, str, str]]:
    shown = field.go_value(name)
    out = [(path, errors.CAUSE_INVALID, f"Invalid value: {shown}: {msg}") for msg in _resource_name_problems(name)]
    if q is not None and q.value < 0:
        out.append((path, errors.CAUSE_INVALID, f"Invalid value: {field.go_value(str(q))}: {field.NEGATIVE}"))
    return out


def _scalar_items(values: Any) -> tuple[tuple[str, Any], ...]:
    """A resource list's (name, quantity) pairs, in name order (values that are not scalars left out)."""
    if not isinstance(values, dict):
        return ()
    return tuple(sorted((k, v) for k, v in values.items() if isinstance(v, (str, int, float))))


def resource_requirements(resources: Any, path: str) -> list[Cause]:
    """``ValidateContainerResourceRequirements``: names, non-negative quantities, requests ≤ limits."""
    res = _dict(resources)
    limits, requests = res.get("limits"), res.get("requests")
    try:  # the lists as given are the key (a value that is not hashable cannot be a quantity anyway)
        problems = _resource_problems(
            tuple(limits.items()) if type(limits) is dict else _scalar_items(limits),
            tuple(requests.items()) if type(requests) is dict else _scalar_items(requests),
        )
    except TypeError:
        problems = _resource_problems(_scalar_items(limits), _scalar_items(requests))
    if not problems:
        return []
    return [Cause(type_, message, path + suffix) for suffix, type_, message in problems]


@functools.lru_cache(maxsize=1024)
def _resource_problems(
    limit_items: tuple[tuple[str, Any], ...], request_items: tuple[tuple[str, Any], ...]
) -> tuple[tuple[str, str, str], ...]:
    """(path suffix, cause type, message) of resource requirements; remembered, since they repeat."""
    limits = _quantities(_scalar_items(dict(limit_items)))
    requests = _quantities(_scalar_items(dict(request_items)))
    out: list[tuple[str, str, str]] = []
    for name, q in limits.items():
        out.extend(_quantity_value(name, q, f".limits[{name}]"))
    for name, req in requests.items():
        out.extend(_quantity_value(name, req, f".requests[{name}]"))
        limit = limits.get(name)
        if limit is None or req is None:
            continue
        if req.value != limit.value and not _overcommit_allowed(name):
            detail = f"must be equal to {name} limit of {limit}"
        elif req.value > limit.value:
            detail = f"must be less than or equal to {name} limit of {limit}"
        else:
            continue
        out.append((".requests", errors.CAUSE_INVALID, f"Invalid value: {field.go_value(str(req))}: {detail}"))
    return tuple(out)


def _container(c: Obj, volumes: set[str], path: str) -> list[Cause]:
    out: list[Cause] = []
    name = str(c.get("name") or "")
    if not name:
        out.append(required(f"{path}.name"))
    elif problems := _dns1123_label_problems(name):
        out.extend(invalid(f"{path}.name", name, msg) for msg in problems)
    if not c.get("image"):
        out.append(required(f"{path}.image"))
    policy = c.get("terminationMessagePolicy")
    if not policy:
        out.append(required(f"{path}.terminationMessagePolicy"))
    elif policy not in TERMINATION_MESSAGE_POLICIES:
        out.append(not_supported(f"{path}.terminationMessagePolicy", policy, TERMINATION_MESSAGE_POLICIES))
    # the lists' paths are built only when there is a list to check
    ports, env, mounts = c.get("ports"), c.get("env"), c.get("volumeMounts")
    if ports:
        out.extend(_ports(ports, f"{path}.ports"))
    if env:
        out.extend(_env(env, f"{path}.env"))
    if mounts:
        out.extend(_volume_mounts(mounts, volumes, f"{path}.volumeMounts"))
    pull = c.get("imagePullPolicy")
    if not pull:
        out.append(required(f"{path}.imagePullPolicy"))
    elif pull not in PULL_POLICIES:
        out.append(not_supported(f"{path}.imagePullPolicy", pull, PULL_POLICIES))
    resources = c.get("resources")
    if resources:  # (the path is built only for a problem)
        out.extend(resource_requirements(resources, f"{path}.resources"))
    return out


def _volumes(volumes: Any, path: str) -> tuple[set[str], list[Cause]]:
    out: list[Cause] = []
    known: set[str] = set()
    for i, vol in enumerate(_dicts(volumes)):
        errs: list[Cause] = []
        sources = [k for k, v in vol.items() if k != "name" and isinstance(v, dict)]
        if not sources:
            errs.append(required(f"{path}[{i}]", "must specify a volume type"))
        elif len(sources) > 1:
            errs.append(field.forbidden(f"{path}[{i}].{sources[1]}", "may not specify more than 1 volume type"))
        for source, key in (
            ("secret", "secretName"),
            ("configMap", "name"),
            ("persistentVolumeClaim", "claimName"),
            ("hostPath", "path"),
        ):
            if source in sources and not vol[source].get(key):
                errs.append(required(f"{path}[{i}].{source}.{key}"))
        name = str(vol.get("name") or "")
        if not name:
            errs.append(required(f"{path}[{i}].name"))
        elif problems := _dns1123_label_problems(name):
            errs.extend(invalid(f"{path}[{i}].name", name, msg) for msg in problems)
        if name in known:
            errs.append(field.duplicate(f"{path}[{i}].name", name))
        if errs:
            out.extend(errs)
        else:
            known.add(name)
    return known, out


def pod_spec(spec: Any, path: str, *, extra_volumes: set[str] | None = None) -> list[Cause]:
    """``ValidatePodSpec``: the parts users get wrong."""
    spec = _dict(spec)
    volumes, out = _volumes(spec.get("volumes"), f"{path}.volumes")
    if extra_volumes:
        volumes |= extra_volumes
    containers = _dicts(spec.get("containers"))
    names_seen: set[str] = set()
    if not containers:
        out.append(required(f"{path}.containers"))
    for key, listed in (("containers", containers), ("initContainers", _dicts(spec.get("initContainers")))):
        for i, c in enumerate(listed):  # names are unique across init and regular containers
            p = f"{path}.{key}[{i}]"
            out.extend(_container(c, volumes, p))
            name = str(c.get("name") or "")
            if name in names_seen:
                out.append(field.duplicate(f"{p}.name", name))
            else:
                names_seen.add(name)
    restart = spec.get("restartPolicy")
    if not restart:
        out.append(required(f"{path}.restartPolicy"))
    elif restart not in RESTART_POLICIES:
        out.append(not_supported(f"{path}.restartPolicy", restart, RESTART_POLICIES))
    dns = spec.get("dnsPolicy")
    if not dns:
        out.append(required(f"{path}.dnsPolicy"))
    elif dns not in DNS_POLICIES:
        out.append(not_supported(f"{path}.dnsPolicy", dns, DNS_POLICIES))
    node_selector = spec.get("nodeSelector")
    if node_selector is not None and isinstance(node_selector, Mapping):
        out.extend(names.validate_labels(node_selector, f"{path}.nodeSelector"))
    account = spec.get("serviceAccountName")
    if account:
        out.extend(invalid(f"{path}.serviceAccountName", account, m) for m in names.is_dns1123_subdomain(str(account)))
    deadline = spec.get("activeDeadlineSeconds")
    if isinstance(deadline, int) and not 1 <= deadline <= 2**31 - 1:
        out.append(invalid(f"{path}.activeDeadlineSeconds", deadline, "must be between 1 and 2147483647, inclusive"))
    for key in ("hostname", "subdomain"):
        value = spec.get(key)
        if value:
            out.extend(dns1123_label(f"{path}.{key}", str(value)))
    return out


def pod_template(template: Any, path: str, **kwargs: Any) -> list[Cause]:
    """``ValidatePodTemplateSpec``: template labels and annotations, then the pod spec."""
    template = _dict(template)
    meta = _dict(template.get("metadata"))
    out: list[Cause] = []
    labels = meta.get("labels")
    if type(labels) is dict or isinstance(labels, Mapping):  # (the exact type first: no ABC check per write)
        out.extend(names.validate_labels(labels, f"{path}.labels"))
    annotations = meta.get("annotations")
    if type(annotations) is dict or isinstance(annotations, Mapping):
        out.extend(names.validate_annotations(annotations, f"{path}.annotations"))
    out.extend(pod_spec(template.get("spec"), f"{path}.spec", **kwargs))
    return out


# ---- kinds ---------------------------------------------------------------------------------------


def pod(obj: Obj, old: Obj | None) -> list[Cause]:
    """A pod: its spec; on update, only images, deadlines, tolerations and grace may change."""
    if old is None:
        out = pod_spec(obj.get("spec"), "spec")
        if _dict(obj.get("spec")).get("ephemeralContainers"):
            out.append(field.forbidden("spec.ephemeralContainers", "cannot be set on create"))
        return out
    out = pod_spec(obj.get("spec"), "spec")
    out.extend(pod_update(_dict(obj.get("spec")), _dict(old.get("spec"))))
    return out


def pod_update(new: Obj, old: Obj) -> list[Cause]:
    """``ValidatePodUpdate``'s spec rule: Forbidden unless only the mutable fields differ."""
    out: list[Cause] = []
    new_deadline, old_deadline = new.get("activeDeadlineSeconds"), old.get("activeDeadlineSeconds")
    if old_deadline is not None and (new_deadline is None or new_deadline > old_deadline):
        out.append(invalid("spec.activeDeadlineSeconds", new_deadline, "must be less than or equal to previous value"))
    mutable = copy.deepcopy(new)
    for key in ("containers", "initContainers"):
        old_list, new_list = _dicts(old.get(key)), _dicts(mutable.get(key))
        if len(old_list) == len(new_list):
            for n, o in zip(new_list, old_list, strict=True):
                if "image" in o:
                    n["image"] = o["image"]
                else:
                    n.pop("image", None)
    for key in ("activeDeadlineSeconds", "tolerations"):
        if key in old:
            mutable[key] = copy.deepcopy(old[key])
        else:
            mutable.pop(key, None)
    grace_old = old.get("terminationGracePeriodSeconds")
    if isinstance(grace_old, int) and grace_old < 0 and mutable.get("terminationGracePeriodSeconds") == 1:
        mutable["terminationGracePeriodSeconds"] = grace_old
    if not field.semantic_equal(mutable, old):
        out.append(field.forbidden("spec", POD_UPDATE_FORBIDDEN))
    return out


#: What an ephemeral container may not have (upstream's validateEphemeralContainers): it runs once, to debug.
_EPHEMERAL_FORBIDDEN = ("ports", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle", "resizePolicy")


def ephemeral_containers_update(new: Obj, old: Obj) -> list[Cause]:
    """``ValidatePodEphemeralContainersUpdate``: new ephemeral containers are valid, and none that exists changes
    or goes (they are added through the ``ephemeralcontainers`` subresource, never edited)."""
    spec, old_spec = _dict(new.get("spec")), _dict(old.get("spec"))
    ephemeral = _dicts(spec.get("ephemeralContainers"))
    path = "spec.ephemeralContainers"
    out: list[Cause] = []
    volumes = {str(v.get("name")) for v in _dicts(spec.get("volumes"))}
    targets = {str(c.get("name")) for key in ("containers", "initContainers") for c in _dicts(spec.get(key))}
    taken = set(targets)
    for i, c in enumerate(ephemeral):
        p = f"{path}[{i}]"
        out.extend(_container(c, volumes, p))
        name = str(c.get("name") or "")
        if name in taken:
            out.append(field.duplicate(f"{p}.name", name))
        taken.add(name)
        for key in _EPHEMERAL_FORBIDDEN:
            if c.get(key):
                out.append(field.forbidden(f"{p}.{key}", "cannot be set for an Ephemeral Container"))
        if _dict(c.get("resources")).get("limits") or _dict(c.get("resources")).get("requests"):
            out.append(field.forbidden(f"{p}.resources", "cannot be set for an Ephemeral Container"))
        if c.get("restartPolicy"):
            out.append(field.forbidden(f"{p}.restartPolicy", "cannot be set for an Ephemeral Container"))
        target = c.get("targetContainerName")
        if target and target not in targets:
            out.append(field.not_found(f"{p}.targetContainerName", target))
    now = {str(c.get("name")): c for c in ephemeral}
    for existing in _dicts(old_spec.get("ephemeralContainers")):
        name = str(existing.get("name"))
        if name not in now:
            out.append(field.forbidden(path, f"existing ephemeral containers {go_quote(name)} may not be removed\n"))
        elif not field.semantic_equal(now[name], existing):
            out.append(field.forbidden(path, f"existing ephemeral containers {go_quote(name)} may not be changed\n"))
    return out


def service(obj: Obj, old: Obj | None) -> list[Cause]:
    """A service: type, ports (names, numbers, protocols, target ports), selector; immutable cluster IPs."""
    spec = _dict(obj.get("spec"))
    out: list[Cause] = []
    type_ = spec.get("type") or "ClusterIP"
    if type_ not in SERVICE_TYPES:
        out.append(not_supported("spec.type", type_, SERVICE_TYPES))
    headless = spec.get("clusterIP") == "None"
    ports = _dicts(spec.get("ports"))
    if not ports and not headless and type_ != "ExternalName":
        out.append(required("spec.ports"))
    seen: set[str] = set()
    for i, port in enumerate(ports):
        p = f"spec.ports[{i}]"
        name = str(port.get("name") or "")
        if len(ports) > 1 and not name:
            out.append(required(f"{p}.name"))
        elif name:
            out.extend(dns1123_label(f"{p}.name", name))
            if name in seen:
                out.append(field.duplicate(f"{p}.name", name))
            seen.add(name)
        out.extend(invalid(f"{p}.port", port.get("port") or 0, m) for m in port_number_problems(port.get("port")))
        protocol = port.get("protocol")
        if not protocol:
            out.append(required(f"{p}.protocol"))
        elif protocol not in PROTOCOLS:
            out.append(not_supported(f"{p}.protocol", protocol, PROTOCOLS))
        target = port.get("targetPort")
        if isinstance(target, str):
            out.extend(invalid(f"{p}.targetPort", target, m) for m in port_name_problems(target))
        elif isinstance(target, int):
            out.extend(invalid(f"{p}.targetPort", target, m) for m in port_number_problems(target))
    selector = spec.get("selector")
    if isinstance(selector, Mapping):
        out.extend(names.validate_labels(selector, "spec.selector"))
    if old is not None:
        old_spec = _dict(old.get("spec"))
        if "ExternalName" not in (type_, old_spec.get("type")):
            old_ips, new_ips = cluster_ips(old_spec), cluster_ips(spec)
            if old_ips and new_ips and len(old_ips) == len(new_ips):
                for i, ip in enumerate(old_ips):
                    if ip != new_ips[i]:
                        out.append(invalid(f"spec.clusterIPs[{i}]", new_ips, "may not change once set"))
    return out


def cluster_ips(spec: Obj) -> list[str]:
    """The service's cluster IPs (``clusterIPs``, or the single ``clusterIP``)."""
    ips = spec.get("clusterIPs")
    if isinstance(ips, list) and ips:
        return [str(ip) for ip in ips]
    ip = spec.get("clusterIP")
    return [str(ip)] if ip else []


def keep_cluster_ips(new: Obj, old: Obj) -> None:
    """An update that leaves the cluster IPs out keeps them (upstream's ``patchAllocatedValues``)."""
    new_spec, old_spec = new.get("spec"), _dict(old.get("spec"))
    if not isinstance(new_spec, dict) or new_spec.get("type") == "ExternalName":
        return
    if not new_spec.get("clusterIP") and not new_spec.get("clusterIPs"):
        for key in ("clusterIP", "clusterIPs"):
            if key in old_spec:
                new_spec[key] = copy.deepcopy(old_spec[key])


_CONFIG_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
    "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)
_CONFIG_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")


@functools.lru_cache(maxsize=4096)
def config_key_problems(key: str) -> tuple[str, ...]:
    """``IsConfigMapKey``: the key of a ConfigMap's or Secret's data."""
    errs: list[str] = []
    if len(key) > names.DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(f"must be no more than {names.DNS1123_SUBDOMAIN_MAX_LENGTH} characters")
    if not key or not set(key) <= _CONFIG_KEY_CHARS:
        errs.append(_CONFIG_KEY_MSG)
    if key in (".", ".."):
        errs.append(f"must not be '{key}'")
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return tuple(errs)


#: A config key that has none of :func:`config_key_problems` (one not starting with "." cannot start with ".."):
#: checked first, so that the many keys of a large ConfigMap do not each go through that function's cache.
_PLAIN_CONFIG_KEY = re.compile(r"[-_a-zA-Z0-9][-._a-zA-Z0-9]{0,252}")


def _data_keys(obj: Obj, path: str) -> list[Cause]:
    out: list[Cause] = []
    plain = _PLAIN_CONFIG_KEY.fullmatch
    for key in _dict(obj.get(path)):
        if not plain(key):
            out.extend(invalid(f"{path}[{key}]", key, msg) for msg in config_key_problems(key))
    return out


def _immutable_data(obj: Obj, old: Obj, keys: tuple[str, ...]) -> list[Cause]:
    if old.get("immutable") is not True:
        return []
    out: list[Cause] = []
    if obj.get("immutable") is not True:
        out.append(field.forbidden("immutable", IMMUTABLE_WHEN_SET))
    for key in keys:
        if not field.semantic_equal(obj.get(key), old.get(key)):
            out.append(field.forbidden(key, IMMUTABLE_WHEN_SET))
    return out


def config_map(obj: Obj, old: Obj | None) -> list[Cause]:
    """A config map: key names, no key in both data and binaryData, at most 1 MiB of values (the keys not
    counted, binaryData's decoded); data frozen once immutable."""
    out = _data_keys(obj, "data") + _data_keys(obj, "binaryData")
    data, binary = _dict(obj.get("data")), _dict(obj.get("binaryData"))
    for key in sorted(set(data) & set(binary)):
        out.append(invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
    size = sum(len(v.encode()) for v in data.values() if isinstance(v, str))
    if size + sum(_decoded_size(v) for v in binary.values()) > MAX_SECRET_SIZE:
        out.append(errors.too_long("[]", MAX_SECRET_SIZE))  # upstream's path "": the whole object
    if old is not None:
        out.extend(_immutable_data(obj, old, ("data", "binaryData")))
    return out


#: upstream ``core.MaxSecretSize``: the most a secret's data may hold, decoded.
MAX_SECRET_SIZE = 1024 * 1024
_REDACTED = "<secret contents redacted>"
#: The data keys a secret of a type must have (one of them, for basic-auth).
_SECRET_TYPE_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/basic-auth": ("username", "password"),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def _decoded_size(encoded: Any) -> int:
    """The length of base64 data once decoded (counted, not decoded)."""
    if not isinstance(encoded, str):
        return 0
    text = encoded.replace("\r", "").replace("\n", "")
    return len(text) * 3 // 4 - (len(text) - len(text.rstrip("=")))


def _decoded(encoded: Any) -> bytes | None:
    try:
        return base64.b64decode(encoded, validate=False) if isinstance(encoded, str) else None
    except (ValueError, binascii.Error):
        return None  # (decoding refused it before validation)


def secret(obj: Obj, old: Obj | None) -> list[Cause]:
    """A secret (``ValidateSecret``, and on update ``ValidateSecretUpdate``): type immutable and the data frozen
    once immutable; key names, at most 1 MiB of data, and the keys its type needs."""
    out: list[Cause] = []
    if old is not None:
        out.extend(field.immutable("type", obj.get("type") or "", old.get("type") or ""))
        out.extend(_immutable_data(obj, old, ("data",)))
    out.extend(_data_keys(obj, "data"))
    data = _dict(obj.get("data"))
    if data and sum(_decoded_size(v) for v in data.values()) > MAX_SECRET_SIZE:
        out.append(errors.too_long("data", MAX_SECRET_SIZE))
    out.extend(_secret_type_rules(obj, data))
    return out


def _secret_type_rules(obj: Obj, data: Obj) -> list[Cause]:
    """The type-specific part of ``ValidateSecret``."""
    type_ = obj.get("type")
    if type_ == "kubernetes.io/service-account-token":
        annotations = _dict(_dict(obj.get("metadata")).get("annotations"))
        if not annotations.get("kubernetes.io/service-account.name"):
            return [required("metadata.annotations[kubernetes.io/service-account.name]")]
        return []
    keys = _SECRET_TYPE_KEYS.get(type_) if isinstance(type_, str) else None
    if keys is None:
        return []
    if type_ == "kubernetes.io/basic-auth":
        return [] if any(k in data for k in keys) else [required(f"data[{k}]") for k in keys]
    if type_ == "kubernetes.io/ssh-auth":
        return [] if data.get(keys[0]) else [required(f"data[{keys[0]}]")]
    missing = [required(f"data[{k}]") for k in keys if k not in data]
    if missing or type_ == "kubernetes.io/tls":
        return missing
    content = _decoded(data[keys[0]])
    problem = None if content is None else go_json_map_error(content)
    return [] if problem is None else [invalid(f"data[{keys[0]}]", _REDACTED, problem)]


_JSON_SPACE = b" \t\r\n"
_JSON_ESCAPES = b'"\\/bfnrtu'
_JSON_HEX = b"0123456789abcdefABCDEF"


class _JSONSyntaxError(Exception):
    """Go's ``json.SyntaxError``: its message."""


def go_json_map_error(text: bytes) -> str | None:
    """What Go's ``json.Unmarshal`` of ``text`` into a ``map[string]interface{}`` answers (None: it succeeds).

    Syntax errors first, worded as Go's scanner words them (``invalid character 'x' looking for beginning of
    value``, ``unexpected end of JSON input``), then a top-level value that is not an object (or null).
    """
    try:
        _json_scan(text)
    except _JSONSyntaxError as exc:
        return str(exc)
    first = text[_json_skip(text, 0)]
    kinds = {ord("["): "array", ord('"'): "string", ord("t"): "bool", ord("f"): "bool"}
    if first in (ord("{"), ord("n")):
        return None
    return f"json: cannot unmarshal {kinds.get(first, 'number')} into Go value of type map[string]interface {{}}"


def _go_char(byte: int) -> str:
    """Go's ``quoteChar``: how a scanner error shows the offending byte."""
    if byte == ord("'"):
        return "'\\''"
    if byte == ord('"'):
        return "'\"'"
    return "'" + go_quote(chr(byte))[1:-1] + "'"


def _json_skip(text: bytes, i: int) -> int:
    while i < len(text) and text[i] in _JSON_SPACE:
        i += 1
    return i


def _json_at(text: bytes, i: int) -> int:
    if i >= len(text):
        raise _JSONSyntaxError("unexpected end of JSON input")
    return text[i]


#: Go's ``maxNestingDepth``: how deep objects and arrays may nest.
_JSON_MAX_DEPTH = 10000
_OPEN_OBJECT, _OPEN_ARRAY = ord("{"), ord("[")


def _json_scan(text: bytes) -> None:
    """Scan a JSON document as Go's scanner does (iteratively: nesting is bounded by Go's limit, not Python's)."""
    open_containers: list[int] = []
    i = _json_skip(text, 0)
    while True:
        c = _json_at(text, i)  # a value starts here
        if c in (_OPEN_OBJECT, _OPEN_ARRAY):
            if len(open_containers) >= _JSON_MAX_DEPTH:
                raise _JSONSyntaxError(f"invalid character {_go_char(c)} exceeded max depth")
            i = _json_skip(text, i + 1)
            if _json_at(text, i) == (ord("}") if c == _OPEN_OBJECT else ord("]")):
                i += 1
            else:
                open_containers.append(c)
                if c == _OPEN_OBJECT:
                    i = _json_key(text, i)
                continue
        else:
            i = _json_scalar(text, i)
        while True:  # after a value: close what it ends, or go on to the next element
            i = _json_skip(text, i)
            if not open_containers:
                if i < len(text):
                    raise _JSONSyntaxError(f"invalid character {_go_char(text[i])} after top-level value")
                return
            c = _json_at(text, i)
            in_object = open_containers[-1] == _OPEN_OBJECT
            if c == (ord("}") if in_object else ord("]")):
                open_containers.pop()
                i += 1
                continue
            if c != ord(","):
                where = "after object key:value pair" if in_object else "after array element"
                raise _JSONSyntaxError(f"invalid character {_go_char(c)} {where}")
            i = _json_skip(text, i + 1)
            if in_object:
                i = _json_key(text, i)
            break


def _json_key(text: bytes, i: int) -> int:
    """An object key and its colon, from ``i``; where its value starts."""
    c = _json_at(text, i)
    if c != ord('"'):
        raise _JSONSyntaxError(f"invalid character {_go_char(c)} looking for beginning of object key string")
    i = _json_skip(text, _json_string(text, i + 1))
    c = _json_at(text, i)
    if c != ord(":"):
        raise _JSONSyntaxError(f"invalid character {_go_char(c)} after object key")
    return _json_skip(text, i + 1)


def _json_scalar(text: bytes, i: int) -> int:
    """Scan a string, number or literal from ``i``; where it ends."""
    c = text[i]
    if c == ord('"'):
        return _json_string(text, i + 1)
    if c == ord("-") or ord("0") <= c <= ord("9"):
        return _json_number(text, i)
    for word in (b"true", b"false", b"null"):
        if c == word[0]:
            for j, expected in enumerate(word[1:], start=1):
                got = _json_at(text, i + j)
                if got != expected:
                    literal = word.decode()
                    raise _JSONSyntaxError(
                        f"invalid character {_go_char(got)} in literal {literal} (expecting {_go_char(expected)})"
                    )
            return i + len(word)
    raise _JSONSyntaxError(f"invalid character {_go_char(c)} looking for beginning of value")


def _json_string(text: bytes, i: int) -> int:
    """From just after the opening quote to just after the closing one."""
    while True:
        c = _json_at(text, i)
        if c == ord('"'):
            return i + 1
        if c < 0x20:
            raise _JSONSyntaxError(f"invalid character {_go_char(c)} in string literal")
        if c == ord("\\"):
            escape = _json_at(text, i + 1)
            if escape not in _JSON_ESCAPES:
                raise _JSONSyntaxError(f"invalid character {_go_char(escape)} in string escape code")
            i += 2
            if escape == ord("u"):
                for j in range(4):
                    h = _json_at(text, i + j)
                    if h not in _JSON_HEX:
                        raise _JSONSyntaxError(f"invalid character {_go_char(h)} in \\u hexadecimal character escape")
                i += 4
            continue
        i += 1


def _json_number(text: bytes, i: int) -> int:
    def digits(j: int) -> int:
        while j < len(text) and ord("0") <= text[j] <= ord("9"):
            j += 1
        return j

    if text[i] == ord("-"):
        i += 1
        c = _json_at(text, i)
        if not ord("0") <= c <= ord("9"):
            raise _JSONSyntaxError(f"invalid character {_go_char(c)} in numeric literal")
    i = i + 1 if text[i] == ord("0") else digits(i)
    if i < len(text) and text[i] == ord("."):
        c = _json_at(text, i + 1)
        if not ord("0") <= c <= ord("9"):
            raise _JSONSyntaxError(f"invalid character {_go_char(c)} after decimal point in numeric literal")
        i = digits(i + 1)
    if i < len(text) and text[i] in b"eE":
        i += 1
        if _json_at(text, i) in b"+-":
            i += 1
        c = _json_at(text, i)
        if not ord("0") <= c <= ord("9"):
            raise _JSONSyntaxError(f"invalid character {_go_char(c)} in exponent of numeric literal")
        i = digits(i)
    return i


def _carry(new: Obj, old: Obj, key: str) -> None:
    """Make ``old`` say what ``new`` says at ``key``: a change there is allowed."""
    if key in new:
        old[key] = new[key]
    else:
        old.pop(key, None)


def persistent_volume_claim(obj: Obj, old: Obj | None) -> list[Cause]:
    """A claim: access modes and a storage request; only the requested size (growing) changes later."""
    spec = _dict(obj.get("spec"))
    out: list[Cause] = []
    if not spec.get("accessModes"):
        out.append(required("spec.accessModes", "at least 1 access mode is required"))
    if not spec.get("dataSource") and "storage" not in _dict(_dict(spec.get("resources")).get("requests")):
        out.append(required("spec.resources[storage]"))
    if old is not None:
        old_spec = _dict(old.get("spec"))
        new_cmp, old_cmp = copy.deepcopy(spec), copy.deepcopy(old_spec)
        for s in (new_cmp, old_cmp):
            s.get("resources", {}).pop("requests", None)
            s.pop("volumeAttributesClassName", None)
        if old_spec.get("volumeName") and not spec.get("volumeName"):
            new_cmp["volumeName"] = old_spec["volumeName"]
        if not old_spec.get("volumeName"):  # the binder sets it, once
            _carry(new_cmp, old_cmp, "volumeName")
        old_annotations = _dict(_dict(old.get("metadata")).get("annotations"))
        if old_spec.get("storageClassName") is None and ANN_BETA_STORAGE_CLASS not in old_annotations:
            _carry(new_cmp, old_cmp, "storageClassName")  # a class given once to a claim of none (retroactively)
        if not field.semantic_equal(new_cmp, old_cmp):
            out.append(
                field.forbidden(
                    "spec",
                    "spec is immutable after creation except resources.requests and volumeAttributesClassName "
                    "for bound claims",
                )
            )
    return out
