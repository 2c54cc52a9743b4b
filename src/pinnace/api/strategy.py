"""Kind behaviour as small strategy hooks on plain object dicts.

The generic REST store calls these around every write, the way upstream's
registry strategies (``PrepareForCreate``, ``PrepareForUpdate``, status
strategies) work: system metadata is set by the server and cannot be forged,
``generation`` moves only when the spec does, a main-resource write never
touches status and a status write never touches anything else.
"""

from __future__ import annotations

import base64
import copy
import os
import random
import time
from datetime import UTC, datetime
from typing import Any

from pinnace.api import crd, defaults, errors, gozero, kindwarnings, names, podwarnings, typed, validation
from pinnace.api.definitions import Schema, load_definitions
from pinnace.api.registry import ResourceInfo

Obj = dict[str, Any]

#: Metadata fields only the server writes; a client's values are replaced on update.
SYSTEM_META_FIELDS = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
)

#: Metadata fields a status write may not change (upstream ResetObjectMetaForStatus).
STATUS_PRESERVED_META = (
    "labels",
    "annotations",
    "finalizers",
    "ownerReferences",
    "deletionTimestamp",
    "generation",
)

#: Namespaces that can never be deleted (upstream's NamespaceLifecycle admission).
IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})

#: Kinds whose status a client may set on create (upstream keeps it).
_KEEPS_STATUS_ON_CREATE = frozenset({("", "Node")})
CSR = ("certificates.k8s.io", "CertificateSigningRequest")


_last_second: list[Any] = [0, ""]  # (epoch second, its RFC 3339 text): every write in a second shares one


def now_rfc3339(now: datetime | None = None) -> str:
    """A timestamp as the API writes them: RFC 3339, UTC, whole seconds."""
    if now is not None:
        return now.strftime("%Y-%m-%dT%H:%M:%SZ")
    second = int(time.time())
    if second != _last_second[0]:
        _last_second[1] = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        _last_second[0] = second
    return str(_last_second[1])


#: UIDs need uniqueness, not secrecy: a PRNG seeded from the OS (reseeded after fork)
#: avoids a system call per object, which on a busy server waits for the GIL.
_uid_source = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _uid_source.seed(os.urandom(32)))


def new_uid() -> str:
    """A fresh random (version 4, RFC 4122 variant) UUID for ``metadata.uid``."""
    n = (_uid_source.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48)) | (0x4000 << 64) | (0x8000 << 48)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def meta(obj: Obj) -> dict[str, Any]:
    """The object's metadata dict, created if missing."""
    m = obj.get("metadata")
    if not isinstance(m, dict):
        m = {}
        obj["metadata"] = m
    return m


def schema_of(info: ResourceInfo) -> Schema | None:
    """The v1.32 definition of a built-in resource's kind (None for custom resources)."""
    if info.custom or not info.definition:
        return None
    return load_definitions().get(info.definition)


def default(info: ResourceInfo, obj: Obj) -> None:
    """The built-in kind's defaults (in place), as decoding a request body fills them before admission sees it."""
    defaults.apply_defaults(info.group, info.kind, obj)


def decode(info: ResourceInfo, obj: Obj, *, normal: bool = False, defaulted: bool = False) -> None:
    """What decoding a request into the kind's type does (in place): defaults, no unknown or empty fields.

    ``normal``: ``obj`` is known to be normal already (:func:`pinnace.api.typed.take_normal`), so only the
    defaults are added (they are normal values): a built-in object skips the normalising walk, a custom
    resource its pruning and defaulting, done by its check (its metadata is still normalised: nothing proved
    it normal). ``defaulted``: :func:`default` ran on ``obj`` as it is now (before admission, which left it
    alone), so it is not run again.
    """
    if not defaulted:
        defaults.apply_defaults(info.group, info.kind, obj)
    custom = crd.custom_version(info)
    if custom is not None:
        custom.decode(obj, decoded=normal)
        typed.normalize(obj, None)
        return
    if crd.is_crd(info.group, info.kind):
        crd.set_defaults(obj)
    typed.normalize(obj, schema_of(info), proven=normal)
    if info.definition:
        gozero.fill(obj, info.definition)


def prepare_for_create(
    info: ResourceInfo,
    obj: Obj,
    *,
    now: datetime | None = None,
    normal: bool = False,
    defaulted: bool = False,
    decoded: bool = False,
    created: str | None = None,
) -> None:
    """Fill the server-owned fields of a new object (in place); ``normal`` and ``defaulted`` as for :func:`decode`.

    ``decoded``: :func:`decode` ran on ``obj`` as it is now, so it is not run again. ``created``: the
    creationTimestamp, as :func:`now_rfc3339` wrote it (default: ``now``).
    """
    if not decoded:
        decode(info, obj, normal=normal, defaulted=defaulted)
    m = meta(obj)
    m["uid"] = new_uid()
    m["creationTimestamp"] = created or now_rfc3339(now)
    for f in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "selfLink"):
        m.pop(f, None)
    if info.tracks_generation:
        m["generation"] = 1
    else:
        m.pop("generation", None)
    gk = (info.group, info.kind)
    if info.has_status and gk not in _KEEPS_STATUS_ON_CREATE:
        obj.pop("status", None)
    if gk == ("", "Secret"):
        fold_secret_string_data(obj)
    validation.prepare_create(info.group, info.kind, obj)
    if crd.is_crd(*gk):
        crd.prepare_for_create(obj)
    if gk == ("", "Pod"):
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj.get("spec") or {})}
    elif gk == ("", "PersistentVolume"):
        obj["status"] = {"phase": "Pending", "lastPhaseTransitionTime": now_rfc3339(now)}
    elif gk == ("", "PersistentVolumeClaim"):
        obj["status"] = {"phase": "Pending"}
    elif gk == ("", "Namespace"):
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            spec = obj["spec"] = {}
        finalizers = spec.get("finalizers") or []
        if "kubernetes" not in finalizers:
            spec["finalizers"] = [*finalizers, "kubernetes"]
        obj["status"] = {"phase": "Active"}
    if info.definition and not info.custom:
        gozero.fill(obj, info.definition, "status")  # the status a create starts from, as Go writes it


def prepare_for_update(
    info: ResourceInfo,
    new: Obj,
    old: Obj,
    *,
    subresource: str | None = None,
    normal: bool = False,
    defaulted: bool = False,
    decoded: bool = False,
) -> None:
    """Decode ``new`` (``normal`` and ``defaulted`` as for :func:`decode`; not at all if ``decoded``: it ran on
    ``new`` as it is now) and carry over what a client may not change (in place), per subresource.

    Main resource: server-owned metadata and (for kinds with a status
    subresource) the status stay as they were; ``generation`` moves if the
    spec changed. ``status``: only the status changes. ``finalize``
    (namespaces): only ``spec.finalizers`` changes.
    """
    if not decoded:
        decode(info, new, normal=normal, defaulted=defaulted)
    nm, om = meta(new), old.get("metadata") or {}
    for f in SYSTEM_META_FIELDS:
        if f in om:
            nm[f] = om[f]
        else:
            nm.pop(f, None)
    nm.pop("selfLink", None)
    if (info.group, info.kind) == CSR:
        _prepare_csr_update(info, new, old, subresource)
        if subresource != "status":
            return
    if subresource == "status":
        for f in STATUS_PRESERVED_META:
            if f in om:
                nm[f] = copy.deepcopy(om[f])
            else:
                nm.pop(f, None)
        for k in list(new):
            if k not in ("apiVersion", "kind", "metadata", "status"):
                del new[k]
        for k, v in old.items():
            if k not in ("apiVersion", "kind", "metadata", "status"):
                new[k] = copy.deepcopy(v)
        if (info.group, info.kind) == ("", "PersistentVolume"):
            _volume_phase_transition(new, old)
        return
    if subresource == "ephemeralcontainers":  # (pods) only spec.ephemeralContainers changes
        wanted = (new.get("spec") or {}).get("ephemeralContainers")
        new.clear()
        new.update(copy.deepcopy(old))
        spec = new.setdefault("spec", {})
        if wanted:
            spec["ephemeralContainers"] = wanted
        else:
            spec.pop("ephemeralContainers", None)
        return
    if subresource == "finalize":
        finalizers = (new.get("spec") or {}).get("finalizers")
        new.clear()
        new.update(copy.deepcopy(old))
        new["spec"] = {**(old.get("spec") or {}), "finalizers": finalizers or []}
        if not finalizers:
            new["spec"].pop("finalizers", None)
        return
    if (info.group, info.kind) == ("", "Secret"):
        fold_secret_string_data(new)
    if info.has_status:
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        else:
            new.pop("status", None)
    if crd.is_crd(info.group, info.kind):
        crd.prepare_for_update(new, old)
    validation.prepare_update(info.group, info.kind, new, old)
    status_is_spec = info.custom and not info.has_status  # a CR without a status subresource: any change counts
    if info.tracks_generation and (
        spec_changed(new, old) or (status_is_spec and new.get("status") != old.get("status"))
    ):
        nm["generation"] = int(om.get("generation") or 0) + 1


def _volume_phase_transition(new: Obj, old: Obj) -> None:
    """A volume's ``status.lastPhaseTransitionTime``: now when its phase changes (unless the writer set a new one),
    kept when it does not (upstream's PersistentVolume status strategy)."""
    status, before = new.get("status"), old.get("status") or {}
    if not isinstance(status, dict):
        return
    previous = before.get("lastPhaseTransitionTime")
    if status.get("phase") == before.get("phase"):
        if status.get("lastPhaseTransitionTime") is None and previous is not None:
            status["lastPhaseTransitionTime"] = previous
    elif status.get("lastPhaseTransitionTime") in (None, previous):
        status["lastPhaseTransitionTime"] = now_rfc3339()


def _prepare_csr_update(info: ResourceInfo, new: Obj, old: Obj, subresource: str | None) -> None:
    """A CSR's spec never changes; its status only through ``status`` (the certificate, Failed) and
    ``approval`` (the Approved/Denied conditions), as upstream's three CSR strategies."""
    if subresource is None:
        for key in ("spec", "status"):
            if key in old:
                new[key] = copy.deepcopy(old[key])
            else:
                new.pop(key, None)
        return
    if subresource == "approval":
        conditions = (new.get("status") or {}).get("conditions")
        meta_ = new["metadata"]
        new.clear()
        new.update(copy.deepcopy(old))
        new["metadata"] = meta_
        status = new.setdefault("status", {})
        if conditions:
            status["conditions"] = conditions
        else:
            status.pop("conditions", None)
    elif subresource != "status":
        return
    new["spec"] = copy.deepcopy(old.get("spec") or {})
    causes = validation.csr_transition(new, old, subresource)
    if causes:
        raise errors.invalid(info.kind, str(meta(new).get("name") or ""), causes, group=info.group)
    _stamp_conditions(new, old)


def _stamp_conditions(new: Obj, old: Obj) -> None:
    """Fill unset condition times: lastUpdateTime now, lastTransitionTime now unless the status did not change."""
    now = now_rfc3339()
    before = {c.get("type"): c for c in ((old.get("status") or {}).get("conditions") or []) if isinstance(c, dict)}
    for c in (new.get("status") or {}).get("conditions") or []:
        if not isinstance(c, dict):
            continue
        c.setdefault("lastUpdateTime", now)
        if not c.get("lastTransitionTime"):
            prior = before.get(c.get("type"))
            same = prior is not None and prior.get("status") == c.get("status") and prior.get("lastTransitionTime")
            c["lastTransitionTime"] = prior["lastTransitionTime"] if same and prior else now


def warnings(info: ResourceInfo, obj: Obj, old: Obj | None = None) -> list[str]:
    """What upstream's strategy warns of on a valid create (``old`` None) or update of the object (its
    ``WarningsOnCreate``/``WarningsOnUpdate``): a pod's or a changed pod template's (:mod:`pinnace.api.podwarnings`),
    a service's or an ingress's (:mod:`pinnace.api.kindwarnings`), a custom resource's finalizers without a domain."""
    if crd.custom_version(info) is not None:
        return names.finalizer_warnings(obj.get("metadata"), None if old is None else old.get("metadata"))
    return podwarnings.for_object(info.group, info.kind, obj, old) or kindwarnings.for_object(
        info.group, info.kind, obj, old
    )


def validate(
    info: ResourceInfo, obj: Obj, old: Obj | None = None, *, subresource: str | None = None
) -> list[errors.Cause]:
    """Kind-specific validation of a create (``old`` None) or update (through ``subresource``, if any): CRDs,
    custom resources by their schema, built-in kinds by upstream's rules (:mod:`pinnace.api.validation`)."""
    custom = crd.custom_version(info)
    if custom is not None:
        return custom.validate(obj, old)
    if crd.is_crd(info.group, info.kind):
        return crd.validate_crd(obj, old)
    return validation.validate(info.group, info.kind, obj, old, subresource=subresource)


def prepare_for_delete(info: ResourceInfo, obj: Obj) -> None:
    """What a first DELETE does before the generic path (in place).

    A CRD takes the cleanup finalizer and a Terminating condition, so that its
    custom resources go before it does (upstream's CRD REST Delete).
    """
    if crd.is_crd(info.group, info.kind) and not meta(obj).get("deletionTimestamp"):
        crd.mark_terminating(obj)


def fold_secret_string_data(obj: Obj) -> None:
    """Merge a Secret's write-only ``stringData`` into ``data`` (base64), as v1 conversion does.

    ``stringData`` wins over ``data`` for the same key and is never stored or
    returned.
    """
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data")
        if not isinstance(data, dict):
            data = obj["data"] = {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def spec_changed(new: Obj, old: Obj) -> bool:
    """Whether anything but metadata and status differs."""
    keys = (set(new) | set(old)) - {"metadata", "status", "apiVersion", "kind"}
    return any(new.get(k) != old.get(k) for k in keys)


def semantically_equal(new: Obj, old: Obj) -> bool:
    """Whether an update would change nothing (resourceVersion aside)."""
    if {k: v for k, v in new.items() if k != "metadata"} != {k: v for k, v in old.items() if k != "metadata"}:
        return False
    nm = {k: v for k, v in (new.get("metadata") or {}).items() if k != "resourceVersion"}
    om = {k: v for k, v in (old.get("metadata") or {}).items() if k != "resourceVersion"}
    return nm == om


def has_finalizers(info: ResourceInfo, obj: Obj) -> bool:
    """Whether something still holds the object back from deletion."""
    if (obj.get("metadata") or {}).get("finalizers"):
        return True
    if (info.group, info.kind) == ("", "Namespace"):
        return bool((obj.get("spec") or {}).get("finalizers"))
    return False


def check_delete(info: ResourceInfo, obj: Obj) -> None:
    """Refuse a deletion upstream never allows: the immortal system namespaces (403)."""
    if (info.group, info.kind) != ("", "Namespace"):
        return
    name = str((obj.get("metadata") or {}).get("name") or "")
    if name in IMMORTAL_NAMESPACES:
        raise errors.Forbidden(
            f'namespaces "{name}" is forbidden: this namespace may not be deleted', kind="namespaces", name=name
        )


def mark_deleting(info: ResourceInfo, obj: Obj, *, grace_seconds: int, now: datetime | None = None) -> None:
    """Set deletionTimestamp and the grace period, as graceful deletion does. On an object already being deleted,
    only a shorter grace period changes them (upstream's BeforeDelete): the timestamp moves by the difference."""
    m = meta(obj)
    if not m.get("deletionTimestamp"):
        t = now or datetime.now(UTC)
        m["deletionTimestamp"] = now_rfc3339(datetime.fromtimestamp(t.timestamp() + grace_seconds, UTC))
        if m.get("generation"):
            m["generation"] = int(m["generation"]) + 1
        m["deletionGracePeriodSeconds"] = grace_seconds
    else:
        existing = m.get("deletionGracePeriodSeconds")
        if isinstance(existing, int) and grace_seconds < existing:
            when = datetime.fromisoformat(str(m["deletionTimestamp"]).replace("Z", "+00:00"))
            sooner = when.timestamp() - existing + grace_seconds
            m["deletionTimestamp"] = now_rfc3339(datetime.fromtimestamp(sooner, UTC))
            m["deletionGracePeriodSeconds"] = grace_seconds
    if (info.group, info.kind) == ("", "Namespace"):
        obj.setdefault("status", {})["phase"] = "Terminating"


def qos_class(spec: dict[str, Any]) -> str:
    """The pod's QoS class, from its containers' requests and limits (upstream rules)."""
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    any_set = False
    guaranteed = True
    for c in containers:
        res = (c or {}).get("resources") or {}
        req = res.get("requests") or {}
        lim = res.get("limits") or {}
        if req or lim:
            any_set = True
        for name in ("cpu", "memory"):
            r, li = req.get(name, lim.get(name)), lim.get(name)
            if li is None or str(r) != str(li):
                guaranteed = False
        requests.update({k: str(v) for k, v in req.items()})
        limits.update({k: str(v) for k, v in lim.items()})
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
