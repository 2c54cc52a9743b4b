"""Which fields each built-in kind can be selected by, and their values in an object.

Upstream splits this between each version's *field label conversion func*
(which labels a request may use, and the error for any other) and each
registry strategy's ``ToSelectableFields`` (the values). This module is both
tables, checked against v1.32 sources:

- default (every kind without its own func, CRDs too): ``metadata.name``,
  ``metadata.namespace`` — others fail with ``"x" is not a known field
  selector: only "metadata.name", "metadata.namespace"``.
- core Pod, Node, ReplicationController, Event, Namespace, Secret, Service;
  events.k8s.io Event; batch Job; certificates.k8s.io CertificateSigningRequest
  have their own lists (Node, Namespace and CSR do *not* accept
  ``metadata.namespace``). apps/v1 ReplicaSet has no func upstream, so
  ``status.replicas`` is rejected there (kubernetes/kubernetes#135136), while
  ReplicationController accepts it.

Values render the way Go renders the typed field: a missing string is "",
a missing bool ``false``, a missing integer ``0``. ``field_values`` keys are
the labels a client sends (aliases such as Pod ``spec.host`` included), so the
server can match a parsed selector straight against them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pinnace.api import errors
from pinnace.api.field_selectors import FieldSelector
from pinnace.api.gofmt import go_quote

__all__ = [
    "check_field_selector",
    "field_values",
    "supported_fields",
    "unsupported_field_message",
]

Obj = Mapping[str, Any]


def _get(obj: Obj, *path: str) -> Any:
    cur: Any = obj
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


def _s(obj: Obj, *path: str) -> str:
    value = _get(obj, *path)
    return value if isinstance(value, str) else ""


def _b(obj: Obj, *path: str) -> str:
    return "true" if _get(obj, *path) is True else "false"


def _i(obj: Obj, *path: str) -> str:
    value = _get(obj, *path)
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "0"


def _meta(obj: Obj) -> dict[str, str]:
    return {
        "metadata.name": _s(obj, "metadata", "name"),
        "metadata.namespace": _s(obj, "metadata", "namespace"),
    }


def _pod(obj: Obj) -> dict[str, str]:
    ips = _get(obj, "status", "podIPs")
    pod_ip = ""
    if isinstance(ips, list) and ips and isinstance(ips[0], Mapping):
        pod_ip = str(ips[0].get("ip") or "")
    elif not ips:
        pod_ip = _s(obj, "status", "podIP")
    node = _s(obj, "spec", "nodeName")
    return _meta(obj) | {
        "spec.nodeName": node,
        "spec.host": node,
        "spec.restartPolicy": _s(obj, "spec", "restartPolicy"),
        "spec.schedulerName": _s(obj, "spec", "schedulerName"),
        "spec.serviceAccountName": _s(obj, "spec", "serviceAccountName"),
        "spec.hostNetwork": _b(obj, "spec", "hostNetwork"),
        "status.phase": _s(obj, "status", "phase"),
        "status.podIP": pod_ip,
        # Accepted by upstream's conversion func but absent from its field set: always "".
        "status.podIPs": "",
        "status.nominatedNodeName": _s(obj, "status", "nominatedNodeName"),
    }


_REFERENCE_FIELDS = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")


def _core_event(obj: Obj) -> dict[str, str]:
    out = _meta(obj)
    for name in _REFERENCE_FIELDS:
        out["involvedObject." + name] = _s(obj, "involvedObject", name)
    reporting = _s(obj, "reportingComponent")
    out["reason"] = _s(obj, "reason")
    out["reportingComponent"] = reporting
    out["source"] = _s(obj, "source", "component") or reporting
    out["type"] = _s(obj, "type")
    return out


def _events_event(obj: Obj) -> dict[str, str]:
    out = _meta(obj)
    for name in _REFERENCE_FIELDS:
        out["regarding." + name] = _s(obj, "regarding", name)
    reporting = _s(obj, "reportingController")
    out["reason"] = _s(obj, "reason")
    out["reportingController"] = reporting
    out["source"] = _s(obj, "deprecatedSource", "component") or reporting
    out["type"] = _s(obj, "type")
    return out


def _not_supported(label: str) -> str:
    return f"field label not supported: {label}"


def _default_reject(label: str) -> str:
    return f'{go_quote(label)} is not a known field selector: only "metadata.name", "metadata.namespace"'


@dataclass(frozen=True, slots=True)
class _KindFields:
    labels: frozenset[str]
    values: Callable[[Obj], dict[str, str]]
    reject: Callable[[str], str] = _not_supported


_META = frozenset({"metadata.name", "metadata.namespace"})
_NAME = frozenset({"metadata.name"})

_DEFAULT = _KindFields(_META, _meta, _default_reject)

_KINDS: dict[tuple[str, str], _KindFields] = {
    ("", "Pod"): _KindFields(
        _META
        | {
            "spec.nodeName",
            "spec.host",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        },
        _pod,
    ),
    ("", "Node"): _KindFields(
        _NAME | {"spec.unschedulable"},
        lambda o: {
            "metadata.name": _s(o, "metadata", "name"),
            "spec.unschedulable": _b(o, "spec", "unschedulable"),
        },
    ),
    ("", "ReplicationController"): _KindFields(
        _META | {"status.replicas"}, lambda o: _meta(o) | {"status.replicas": _i(o, "status", "replicas")}
    ),
    ("", "Event"): _KindFields(
        _META | {"involvedObject." + n for n in _REFERENCE_FIELDS} | {"reason", "reportingComponent", "source", "type"},
        _core_event,
    ),
    ("events.k8s.io", "Event"): _KindFields(
        _META | {"regarding." + n for n in _REFERENCE_FIELDS} | {"reason", "reportingController", "source", "type"},
        _events_event,
    ),
    ("", "Namespace"): _KindFields(
        _NAME | {"status.phase"},
        lambda o: {"metadata.name": _s(o, "metadata", "name"), "status.phase": _s(o, "status", "phase")},
    ),
    ("", "Secret"): _KindFields(_META | {"type"}, lambda o: _meta(o) | {"type": _s(o, "type")}),
    ("", "Service"): _KindFields(
        _META | {"spec.clusterIP", "spec.type"},
        lambda o: _meta(o) | {"spec.clusterIP": _s(o, "spec", "clusterIP"), "spec.type": _s(o, "spec", "type")},
    ),
    ("batch", "Job"): _KindFields(
        _META | {"status.successful"},
        lambda o: _meta(o) | {"status.successful": _i(o, "status", "succeeded")},
        lambda label: f"field label {go_quote(label)} not supported for Job",
    ),
    ("certificates.k8s.io", "CertificateSigningRequest"): _KindFields(
        _NAME | {"spec.signerName"},
        lambda o: {
            "metadata.name": _s(o, "metadata", "name"),
            "spec.signerName": _s(o, "spec", "signerName"),
        },
    ),
}


def supported_fields(group: str, kind: str) -> frozenset[str]:
    """The field labels a field selector on this kind may use."""
    return _KINDS.get((group, kind), _DEFAULT).labels


def field_values(group: str, kind: str, obj: Obj) -> dict[str, str]:
    """Every supported field label of the kind → its value in ``obj``."""
    return _KINDS.get((group, kind), _DEFAULT).values(obj)


def unsupported_field_message(group: str, kind: str, label: str) -> str:
    """Upstream's message for a field label the kind does not support."""
    return _KINDS.get((group, kind), _DEFAULT).reject(label)


def check_field_selector(group: str, kind: str, selector: FieldSelector) -> None:
    """Raise ``BadRequest`` (upstream's wording) at the first term on an unsupported field."""
    spec = _KINDS.get((group, kind), _DEFAULT)
    for req in selector.requirements:
        if req.field not in spec.labels:
            raise errors.BadRequest(spec.reject(req.field))
