"""Validation of built-in kinds, as kube-apiserver does it.

Two stages, as upstream:

* :func:`check_decodable` — what decoding into the Go types rejects (a string
  where an integer belongs, a malformed quantity, bad base64): a **400**
  ``… cannot be handled as a …`` for a create or update, a **422** on the
  ``patch`` field for a patch (:mod:`.decoding`);
* :func:`validate` — the kind's semantic checks on the defaulted object, and
  on update the immutable fields: a list of causes for one **422 Invalid**
  (:mod:`.core` for core/v1's pods, services, config maps and secrets,
  :mod:`.workloads` for apps/v1 and batch/v1, :mod:`.events` for both Event
  APIs; one module per further API area — :mod:`.rbac`, :mod:`.policy`,
  :mod:`.autoscaling`, :mod:`.scheduling`, :mod:`.networking`,
  :mod:`.endpoints`, :mod:`.coordination`, :mod:`.nodeapi`, :mod:`.nodes`,
  :mod:`.resources`, :mod:`.storage` — each with its own ``VALIDATORS``).

Error wording and field paths are upstream's (:mod:`.field`). Kinds without
checks here validate only their metadata (done by the REST store).
"""

from __future__ import annotations

from typing import Any, NoReturn

import orjson

from pinnace.api import errors, typed
from pinnace.api.errors import Cause
from pinnace.api.validation import (
    admissionregistration,
    apiregistration,
    autoscaling,
    certificates,
    coordination,
    core,
    endpoints,
    events,
    field,
    networking,
    nodeapi,
    nodes,
    policy,
    rbac,
    resources,
    scheduling,
    storage,
    workloads,
)
from pinnace.api.validation.decoding import decode_check, decode_error, json_kind
from pinnace.api.validation.field import go_value

__all__ = [
    "OBJECT_META",
    "check_custom_metadata",
    "check_decodable",
    "csr_transition",
    "decode_error",
    "prepare_create",
    "prepare_update",
    "validate",
]

csr_transition = certificates.csr_transition

Obj = dict[str, Any]
Validator = field.Validator

_VALIDATORS: dict[tuple[str, str], Validator] = {
    ("", "Pod"): core.pod,
    ("", "Service"): core.service,
    ("", "ConfigMap"): core.config_map,
    ("", "Secret"): core.secret,
    ("", "PersistentVolumeClaim"): core.persistent_volume_claim,
    ("", "PodTemplate"): lambda obj, old: core.pod_template(obj.get("template"), "template"),
    ("", "Event"): events.core_event,
    ("events.k8s.io", "Event"): events.events_event,
    ("apps", "Deployment"): workloads.deployment,
    ("apps", "ReplicaSet"): workloads.replica_set,
    ("apps", "StatefulSet"): workloads.stateful_set,
    ("apps", "DaemonSet"): workloads.daemon_set,
    ("batch", "Job"): workloads.job,
    ("batch", "CronJob"): workloads.cron_job,
    ("certificates.k8s.io", "CertificateSigningRequest"): certificates.csr,
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): admissionregistration.mutating_webhooks,
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): admissionregistration.validating_webhooks,
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): admissionregistration.policy,
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"): admissionregistration.policy_binding,
    ("apiregistration.k8s.io", "APIService"): apiregistration.api_service,
}
#: The kinds of the modules that keep their own table (one module per API area).
for _module in (
    autoscaling,
    coordination,
    endpoints,
    networking,
    nodeapi,
    nodes,
    policy,
    rbac,
    resources,
    scheduling,
    storage,
):
    _VALIDATORS.update(_module.VALIDATORS)
#: Kinds validated on every update, not only when the spec changed: a CSR's checks cover its status too, and an
#: ``autoscaling/v1`` HorizontalPodAutoscaler carries v2's metrics and behavior in annotations.
_ALWAYS_CHECKED = frozenset(
    {("certificates.k8s.io", "CertificateSigningRequest"), ("autoscaling", "HorizontalPodAutoscaler")}
)


def validate(group: str, kind: str, obj: Obj, old: Obj | None = None, *, subresource: str | None = None) -> list[Cause]:
    """Every semantic problem of a (defaulted) built-in object; ``old`` set on update.

    An update that leaves everything but metadata and status as it was (a
    status write, a label change) has nothing new to check: the stored object
    passed already, and upstream's status strategies check only the status.
    A pod's ``ephemeralcontainers`` subresource has rules of its own.
    """
    if subresource == "ephemeralcontainers" and (group, kind) == ("", "Pod") and old is not None:
        return core.ephemeral_containers_update(obj, old)
    validator = _VALIDATORS.get((group, kind))
    if validator is None:
        return []
    if old is not None and _same_spec(obj, old) and (group, kind) not in _ALWAYS_CHECKED:
        return []
    return validator(obj, old)


def _same_spec(new: Obj, old: Obj) -> bool:
    return all(key in _NOT_SPEC or new.get(key) == old.get(key) for key in new.keys() | old.keys())


_NOT_SPEC = frozenset({"apiVersion", "kind", "metadata", "status"})


def prepare_create(group: str, kind: str, obj: Obj) -> None:
    """What a kind's strategy sets on create before validation (a Job's selector; a Lease's dropped fields)."""
    if (group, kind) == ("batch", "Job"):
        workloads.generate_job_selector(obj)
    elif (group, kind) == ("coordination.k8s.io", "Lease"):
        coordination.drop_disabled_fields(obj, None)


def prepare_update(group: str, kind: str, new: Obj, old: Obj) -> None:
    """What a kind's strategy carries over on update (a Service's allocated cluster IPs, a Lease's unused fields)."""
    if (group, kind) == ("", "Service"):
        core.keep_cluster_ips(new, old)
    elif (group, kind) == ("coordination.k8s.io", "Lease"):
        coordination.drop_disabled_fields(new, old)


def check_decodable(obj: Obj, definition: str, context: str) -> bool:
    """Raise what upstream's decoder answers for a body that does not fit the kind's Go types.

    ``context`` is the create/update prefix (``Deployment in version "v1"
    cannot be handled as a Deployment: ``), giving a 400; an empty context
    means ``obj`` is the result of a patch, which upstream reports as a 422
    on the ``patch`` field. Returns whether the body has unknown keys (the
    same walk sees them), so callers skip the unknown-field pass when not. A body the walk finds normal is
    recorded as such (:func:`pinnace.api.typed.mark_normal`), so that its create need not walk it again.
    """
    message, unknown, normal = decode_check(obj, definition)
    if message is None:
        if normal:
            typed.mark_normal(obj)
        return unknown
    _refuse(obj, message, context)


#: The Go type a custom resource's metadata is decoded into (alone: the rest is the CRD schema's).
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def check_custom_metadata(obj: Obj, context: str) -> None:
    """Raise what upstream answers for a custom resource whose metadata does not fit ``ObjectMeta`` (labels that
    are no map of strings, a name that is no string, ...): its decoder reads the metadata alone into that type.
    ``context`` as for :func:`check_decodable`."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        message = decode_error(meta, OBJECT_META)
    elif meta is not None:  # a null is no metadata; anything else is no ObjectMeta
        message = f"json: cannot unmarshal {json_kind(meta)} into Go value of type v1.ObjectMeta"
    else:
        message = None
    if message is not None:
        _refuse(obj, message, context)


def _refuse(obj: Obj, message: str, context: str) -> NoReturn:
    """A decode error: a 400 after ``context`` for a create or update body, a 422 on ``patch`` for a patch's result."""
    if context:
        raise errors.BadRequest(context + message)
    patched = orjson.dumps(obj).decode()
    cause = Cause(errors.CAUSE_INVALID, f"Invalid value: {go_value(patched)}: {message}", "patch")
    raise errors.invalid("", "", [cause])
