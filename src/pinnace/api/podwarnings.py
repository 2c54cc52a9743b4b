"""The warnings kube-apiserver gives for a pod or a pod template that is valid but likely not what was meant.

A create of a Pod, or a create or update of a workload whose pod template
changed, answers with ``Warning`` headers (kubectl prints ``Warning: …``) for what
upstream's ``GetWarningsForPod`` flags: deprecated node labels in selectors,
affinity and spread constraints; deprecated annotations and volume plugins;
duplicate host aliases, pull secrets and environment variables; fractional
byte quantities; duplicate or ambiguous ports; a null label selector that
matches no pod; a negative grace period; projected paths that collide with the
service-account token's. The object is stored all the same.

:func:`for_object` picks the pod spec of each kind (``spec.template`` of a
Deployment, ``spec.jobTemplate.spec.template`` of a CronJob) and, for an
update of a workload, warns only if its template changed, as upstream warns
only when the generation moved.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

from pinnace.api import podutil, quantity

__all__ = ["for_object", "for_pod_spec"]

Obj = dict[str, Any]

#: Node labels that are deprecated, with what upstream says about each.
DEPRECATED_NODE_LABELS = {
    "beta.kubernetes.io/arch": 'deprecated since v1.14; use "kubernetes.io/arch" instead',
    "beta.kubernetes.io/os": 'deprecated since v1.14; use "kubernetes.io/os" instead',
    "failure-domain.beta.kubernetes.io/region": 'deprecated since v1.17; use "topology.kubernetes.io/region" instead',
    "failure-domain.beta.kubernetes.io/zone": 'deprecated since v1.17; use "topology.kubernetes.io/zone" instead',
    "beta.kubernetes.io/instance-type": 'deprecated since v1.17; use "node.kubernetes.io/instance-type" instead',
}
_DEPRECATED_ANNOTATIONS = {
    "scheduler.alpha.kubernetes.io/critical-pod": 'non-functional in v1.16+; use the "priorityClassName" field instead',
    "security.alpha.kubernetes.io/sysctls": 'non-functional in v1.11+; use the "sysctls" field instead',
    "security.alpha.kubernetes.io/unsafe-sysctls": 'non-functional in v1.11+; use the "sysctls" field instead',
}
_DEPRECATED_VOLUMES = {
    "photonPersistentDisk": "deprecated in v1.11, non-functional in v1.16+",
    "gitRepo": "deprecated in v1.11",
    "scaleIO": "deprecated in v1.16, non-functional in v1.22+",
    "flocker": "deprecated in v1.22, non-functional in v1.25+",
    "storageos": "deprecated in v1.22, non-functional in v1.25+",
    "quobyte": "deprecated in v1.22, non-functional in v1.25+",
    "glusterfs": "deprecated in v1.25, non-functional in v1.26+",
    "cephfs": "deprecated in v1.28, non-functional in v1.31+",
    "rbd": "deprecated in v1.28, non-functional in v1.31+",
}
_SECCOMP_POD = "seccomp.security.alpha.kubernetes.io/pod"
_SECCOMP_CONTAINER = "container.seccomp.security.alpha.kubernetes.io/"
_SECCOMP_MESSAGE = 'non-functional in v1.27+; use the "seccompProfile" field instead'
_NULL_SELECTOR = "a null labelSelector results in matching no pod"


def for_object(group: str, kind: str, obj: Obj, old: Obj | None) -> list[str]:
    """The warnings for a create (``old`` None) or update of an object of any kind (none for most kinds)."""
    if (group, kind) == ("", "Pod"):  # (not on updates: people rarely write pods themselves, kubelets often do)
        return for_pod_spec(obj.get("spec"), obj.get("metadata"), "") if old is None else []
    path = podutil.POD_TEMPLATE_PATHS.get((group, kind))
    if path is None:
        return []
    template = podutil.pod_template(group, kind, obj)
    if template is None or (old is not None and template == podutil.pod_template(group, kind, old)):
        return []
    return for_pod_spec(template.get("spec"), template.get("metadata"), ".".join(path))


def _dicts(value: Any) -> Iterator[tuple[int, Obj]]:
    """The (index, item) of a list's dict items (anything else is not there)."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict):
                yield i, item


def _map(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def for_pod_spec(spec: Any, meta: Any, base: str) -> list[str]:
    """Upstream's warnings for a pod spec and its metadata, their field paths under ``base`` (``""`` for a Pod,
    ``spec.template`` for a Deployment's template)."""
    spec, annotations = _map(spec), _map(_map(meta).get("annotations"))
    out: list[str] = []

    def at(*parts: str) -> str:
        return ".".join(p for p in (base, *parts) if p)

    for key in _map(spec.get("nodeSelector")):
        if key in DEPRECATED_NODE_LABELS:
            out.append(f"{at('spec.nodeSelector')}[{key}]: {DEPRECATED_NODE_LABELS[key]}")
    affinity = _map(spec.get("affinity"))
    node_affinity = _map(affinity.get("nodeAffinity"))
    required = _map(node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution"))
    for i, term in _dicts(required.get("nodeSelectorTerms")):
        where = at(f"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[{i}]")
        out += _node_selector_term(term, where)
    for i, preferred in _dicts(node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution")):
        where = at(f"spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[{i}].preference")
        out += _node_selector_term(_map(preferred.get("preference")), where)
    for i, constraint in _dicts(spec.get("topologySpreadConstraints")):
        topology_key = constraint.get("topologyKey")
        if topology_key in DEPRECATED_NODE_LABELS:
            where = at(f"spec.topologySpreadConstraints[{i}].topologyKey")
            out.append(f"{where}: {topology_key} is {DEPRECATED_NODE_LABELS[topology_key]}")
        if constraint.get("labelSelector") is None:
            out.append(f"{at(f'spec.topologySpreadConstraints[{i}].labelSelector')}: {_NULL_SELECTOR}")
    for key, message in _DEPRECATED_ANNOTATIONS.items():
        if key in annotations:
            out.append(f"{at('metadata.annotations')}[{key}]: {message}")
    out += _volumes(spec, at)
    out += _duplicates(spec.get("hostAliases"), "ip", at("spec.hostAliases"), "duplicate ip")
    out += _duplicates(spec.get("imagePullSecrets"), "name", at("spec.imagePullSecrets"), "duplicate name")
    for i, secret in _dicts(spec.get("imagePullSecrets")):
        if not secret.get("name"):
            out.append(f'{at(f"spec.imagePullSecrets[{i}].name")}: invalid empty name ""')
    overhead = _map(spec.get("overhead"))
    for resource in ("memory", "ephemeral-storage"):
        if (problem := _fractional_bytes(overhead.get(resource))) is not None:
            out.append(f"{at('spec.overhead')}[{resource}]: {problem}")
    security = _map(spec.get("securityContext"))
    if security.get("seccompProfile") is None and _SECCOMP_POD in annotations:
        out.append(f"{at('metadata.annotations')}[{_SECCOMP_POD}]: {_SECCOMP_MESSAGE}")
    containers = list(_containers(spec, at))
    for container, where in containers:
        seccomp = _SECCOMP_CONTAINER + str(container.get("name") or "")
        if _map(container.get("securityContext")).get("seccompProfile") is None and seccomp in annotations:
            out.append(f"{at('metadata.annotations')}[{seccomp}]: {_SECCOMP_MESSAGE}")
        resources = _map(container.get("resources"))
        for part in ("limits", "requests"):
            for resource in ("memory", "ephemeral-storage"):
                if (problem := _fractional_bytes(_map(resources.get(part)).get(resource))) is not None:
                    out.append(f"{where}.resources.{part}[{resource}]: {problem}")
        out += _hidden_env(container, where)
    out += _ports(containers)
    grace = spec.get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and not isinstance(grace, bool) and grace < 0:
        out.append(
            f"{at('spec.terminationGracePeriodSeconds')}: must be >= 0; negative values are invalid and will be "
            "treated as 1"
        )
    for kind in ("podAffinity", "podAntiAffinity"):
        terms = _map(affinity.get(kind))
        for i, term in _dicts(terms.get("requiredDuringSchedulingIgnoredDuringExecution")):
            if term.get("labelSelector") is None:
                where = at(f"spec.affinity.{kind}.requiredDuringSchedulingIgnoredDuringExecution[{i}].labelSelector")
                out.append(f"{where}: {_NULL_SELECTOR}")
        for i, weighted in _dicts(terms.get("preferredDuringSchedulingIgnoredDuringExecution")):
            if _map(weighted.get("podAffinityTerm")).get("labelSelector") is None:
                where = at(
                    f"spec.affinity.{kind}.preferredDuringSchedulingIgnoredDuringExecution[{i}]"
                    ".podAffinityTerm.labelSelector"
                )
                out.append(f"{where}: {_NULL_SELECTOR}")
    return out


def _node_selector_term(term: Obj, where: str) -> list[str]:
    out = []
    for i, expression in _dicts(term.get("matchExpressions")):
        key = expression.get("key")
        if key in DEPRECATED_NODE_LABELS:
            out.append(f"{where}.matchExpressions[{i}].key: {key} is {DEPRECATED_NODE_LABELS[key]}")
    return out


def _volumes(spec: Obj, at: Callable[..., str]) -> list[str]:
    out = []
    token_paths: set[Any] = set()
    for i, volume in _dicts(spec.get("volumes")):
        for plugin, message in _DEPRECATED_VOLUMES.items():
            if volume.get(plugin) is not None:
                name = "storageOS" if plugin == "storageos" else plugin
                out.append(f"{at(f'spec.volumes[{i}].{name}')}: {message}")
        for _, source in _dicts(_map(volume.get("projected")).get("sources")):
            if isinstance(source.get("serviceAccountToken"), dict):
                token_paths.add(source["serviceAccountToken"].get("path"))
    if not token_paths:
        return out
    for i, volume in _dicts(spec.get("volumes")):
        for _, source in _dicts(_map(volume.get("projected")).get("sources")):
            for kind, name in (("configMap", "configMap"), ("secret", "secrets"), ("downwardAPI", "downwardAPI")):
                for j, item in _dicts(_map(source.get(kind)).get("items")):
                    if item.get("path") in token_paths:
                        where = at(f"spec.volumes[{i}].projected.sources.{name}[{j}]")
                        out.append(f'{where}: has duplicated path with ServiceAccountToken "{item.get("path")}"')
    return out


def _duplicates(items: Any, key: str, where: str, what: str) -> list[str]:
    out, seen = [], set()
    for i, item in _dicts(items):
        value = item.get(key)
        if value in seen:
            out.append(f'{where}[{i}].{key}: {what} "{value}"')
        elif isinstance(value, str):
            seen.add(value)
    return out


def _fractional_bytes(value: Any) -> str | None:
    """The warning for a memory or storage quantity that is not a whole number of bytes (``100m``), if it is one."""
    return _fractional_message(value) if isinstance(value, (str, int, float)) else None


@functools.lru_cache(maxsize=1024, typed=True)
def _fractional_message(value: str | float) -> str | None:
    """(Remembered: every create of a pod or workload asks again about the same few quantities.)"""
    try:
        parsed = quantity.from_json(value)
    except quantity.QuantityError:
        return None
    if (parsed.value * 1000).denominator == 1 and int(parsed.value * 1000) % 1000 == 0:
        return None
    return f'fractional byte value "{parsed}" is invalid, must be an integer'


def _containers(spec: Obj, at: Callable[..., str]) -> Iterator[tuple[Obj, str]]:
    """Init, regular and ephemeral containers with their paths, in the order upstream visits them."""
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for i, container in _dicts(spec.get(field)):
            yield container, at(f"spec.{field}[{i}]")


def _hidden_env(container: Obj, where: str) -> list[str]:
    """A variable defined again so that the first definition is lost (a later one that does not use it)."""
    out, seen = [], set()
    for i, var in _dicts(container.get("env")):
        name = var.get("name")
        if name not in seen:
            seen.add(name)
            continue
        value, ref = str(var.get("value") or ""), f"$({name})"
        if var.get("valueFrom") is not None or value == ref or ref not in value:
            hidden = f'hides previous definition of "{name}", which may be dropped when using apply'
            out.append(f"{where}.env[{i}]: {hidden}")
    return out


def _ports(containers: list[tuple[Obj, str]]) -> list[str]:
    """Ports repeated across the pod's containers, or a hostIP without a hostPort."""
    out: list[str] = []
    seen: dict[str, list[tuple[str, Obj]]] = {}
    for container, where in containers:
        for i, port in _dicts(container.get("ports")):
            here = f"{where}.ports[{i}]"
            host_ip, host_port = port.get("hostIP") or "", port.get("hostPort") or 0
            if host_ip and not host_port:
                out.append(f"{here}: hostIP set without hostPort: {_go_port(port)}")
            key = f"{port.get('containerPort') or 0}/{port.get('protocol') or ''}"
            for other_where, other in seen.get(key, []):
                other_ip, other_port = other.get("hostIP") or "", other.get("hostPort") or 0
                if host_ip == other_ip and host_port == other_port:
                    out.append(f"{here}: duplicate port definition with {other_where}")
                elif not host_port or not other_port:
                    out.append(f"{here}: overlapping port definition with {other_where}")
                elif host_port == other_port and bool(host_ip) != bool(other_ip):
                    out.append(f"{here}: dangerously ambiguous port definition with {other_where}")
            seen.setdefault(key, []).append((here, port))
    return out


def _go_port(port: Obj) -> str:
    """A ContainerPort as Go's ``%+v`` prints it."""
    return (
        f"{{Name:{port.get('name') or ''} HostPort:{port.get('hostPort') or 0} "
        f"ContainerPort:{port.get('containerPort') or 0} Protocol:{port.get('protocol') or ''} "
        f"HostIP:{port.get('hostIP') or ''}}}"
    )
