"""CustomResourceDefinitions (apiextensions.k8s.io/v1): defaults, validation, and what they serve.

* :func:`set_defaults` — upstream's ``SetDefaults_CustomResourceDefinition``
  (singular and listKind from the kind, conversion strategy None);
* :func:`validate_crd` — the 422 causes of a create or update, worded as
  upstream: names (``metadata.name`` must be ``<plural>.<group>``, DNS-1035
  plural/singular/short names, kind and listKind), scope (immutable), versions
  (unique, one storage, at least one served), a structural schema per version
  (:mod:`pinnace.api.structural`) and CEL rules that compile
  (:mod:`pinnace.api.cel`);
* :func:`resource_infos` — one :class:`ResourceInfo` per served version, each
  carrying a :class:`CustomVersion`: what the generic REST store needs to
  prune, default, validate, convert and print that version's objects;
* :func:`name_conflicts` — upstream's naming controller: the NamesAccepted and
  Established conditions from the names other CRDs and built-ins hold.

Conversion is strategy None: objects are stored once, at the storage
version, and differ between versions only in ``apiVersion``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from pinnace.api import errors, schema_validation, structural, typed
from pinnace.api.cel import RuleTree, compile_rules
from pinnace.api.crd_status import set_condition
from pinnace.api.errors import Cause
from pinnace.api.gofmt import go_quote
from pinnace.api.names import is_dns1035_label
from pinnace.api.registry import STANDARD_VERBS, ResourceInfo

Obj = dict[str, Any]

GROUP = "apiextensions.k8s.io"
KIND = "CustomResourceDefinition"
#: The finalizer that holds a CRD until its custom resources are gone.
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"

_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def is_crd(group: str, kind: str) -> bool:
    """Whether group/kind is the CustomResourceDefinition kind itself."""
    return group == GROUP and kind == KIND


def _invalid(field: str, value: Any, detail: str) -> Cause:
    shown = go_quote(value) if isinstance(value, str) else orjson.dumps(value).decode()
    return Cause(errors.CAUSE_INVALID, f"Invalid value: {shown}: {detail}", field)


def _required(field: str, detail: str = "") -> Cause:
    return Cause(errors.CAUSE_REQUIRED, f"Required value: {detail}" if detail else "Required value", field)


def _dict(parent: Obj, key: str) -> Obj:
    value = parent.get(key)
    if not isinstance(value, dict):
        value = parent[key] = {}
    return value


# ---- defaults ------------------------------------------------------------------------------------------


def set_defaults(crd: Obj) -> None:
    """SetDefaults_CustomResourceDefinition (v1), in place."""
    spec = _dict(crd, "spec")
    names = _dict(spec, "names")
    kind = names.get("kind")
    if isinstance(kind, str) and kind:
        if not names.get("singular"):
            names["singular"] = kind.lower()
        if not names.get("listKind"):
            names["listKind"] = kind + "List"
    conversion = spec.get("conversion")
    if not isinstance(conversion, dict) or not conversion.get("strategy"):
        spec["conversion"] = {**(conversion if isinstance(conversion, dict) else {}), "strategy": "None"}


def storage_version(crd: Obj) -> str:
    """The version marked ``storage: true`` (or "")."""
    for v in (crd.get("spec") or {}).get("versions") or []:
        if isinstance(v, dict) and v.get("storage") is True:
            return str(v.get("name") or "")
    return ""


def prepare_for_create(crd: Obj) -> None:
    """A fresh status: no accepted names yet, the storage version recorded (upstream's PrepareForCreate)."""
    stored = storage_version(crd)
    crd["status"] = {"acceptedNames": {"kind": "", "plural": ""}, "storedVersions": [stored] if stored else []}


def prepare_for_update(new: Obj, old: Obj) -> None:
    """Record a new storage version in ``status.storedVersions`` (status otherwise kept)."""
    stored = storage_version(new)
    status = _dict(new, "status")
    versions = list(status.get("storedVersions") or [])
    if stored and stored not in versions:
        status["storedVersions"] = [*versions, stored]


# ---- validation ----------------------------------------------------------------------------------------


def validate_crd(crd: Obj, old: Obj | None = None) -> list[Cause]:
    """Every reason a CRD (create, or update from ``old``) is invalid."""
    causes: list[Cause] = []
    meta = crd.get("metadata") or {}
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return [_required("spec")]
    group = spec.get("group")
    raw_names = spec.get("names")
    names: Obj = raw_names if isinstance(raw_names, dict) else {}
    plural = names.get("plural") or ""
    if not group:
        causes.append(_required("spec.group"))
    elif not isinstance(group, str) or not _DNS1123_SUBDOMAIN.fullmatch(group) or "." not in group:
        causes.append(_invalid("spec.group", group, "should be a domain with at least one dot"))
    name = meta.get("name") or ""
    if plural and group and name != f"{plural}.{group}":
        causes.append(_invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    scope = spec.get("scope")
    if not scope:
        causes.append(_required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        causes.append(
            Cause(
                errors.CAUSE_NOT_SUPPORTED,
                f'Unsupported value: {go_quote(str(scope))}: supported values: "Cluster", "Namespaced"',
                "spec.scope",
            )
        )
    if old is not None and scope != (old.get("spec") or {}).get("scope"):
        causes.append(_invalid("spec.scope", scope, "field is immutable"))
    causes += _validate_names(names)
    causes += _validate_versions(spec)
    stored = _stored_patterns(old)
    versions = spec.get("versions")
    for i, version in enumerate(versions if isinstance(versions, list) else []):
        schema = (version.get("schema") or {}).get("openAPIV3Schema") if isinstance(version, dict) else None
        if isinstance(schema, dict):
            causes += structural.check_patterns(schema, f"spec.versions[{i}].schema.openAPIV3Schema", stored=stored)
    conversion = spec.get("conversion") or {}
    strategy = conversion.get("strategy") if isinstance(conversion, dict) else None
    if strategy not in (None, "None"):
        causes.append(
            Cause(
                errors.CAUSE_NOT_SUPPORTED,
                f'Unsupported value: {go_quote(str(strategy))}: supported values: "None"',
                "spec.conversion.strategy",
            )
        )
    return causes


def _stored_patterns(old: Obj | None) -> set[str]:
    """The patterns of a stored CRD's schemas (an update may keep one that no longer compiles)."""
    found: set[str] = set()
    versions = (old or {}).get("spec", {}).get("versions") if isinstance((old or {}).get("spec"), dict) else None
    for version in versions if isinstance(versions, list) else ():
        schema = version.get("schema") if isinstance(version, dict) else None
        if isinstance(schema, dict):
            found |= structural.patterns(schema.get("openAPIV3Schema"))
    return found


def _validate_names(names: Obj) -> list[Cause]:
    causes: list[Cause] = []
    path = "spec.names"
    for key in ("plural", "singular"):
        value = names.get(key)
        if not value:
            causes.append(_required(f"{path}.{key}"))
        elif errs := is_dns1035_label(str(value)):
            causes.append(_invalid(f"{path}.{key}", value, ",".join(errs)))
    for key in ("kind", "listKind"):
        value = names.get(key)
        if not value:
            causes.append(_required(f"{path}.{key}"))
        elif errs := is_dns1035_label(str(value).lower()):
            causes.append(
                _invalid(f"{path}.{key}", value, "may have mixed case, but should otherwise match: " + ",".join(errs))
            )
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        causes.append(_invalid(f"{path}.listKind", names["listKind"], "kind and listKind may not be the same"))
    for key in ("shortNames", "categories"):
        for i, value in enumerate(names.get(key) or []):
            if errs := is_dns1035_label(str(value)):
                causes.append(_invalid(f"{path}.{key}[{i}]", value, ",".join(errs)))
    return causes


def _validate_versions(spec: Obj) -> list[Cause]:
    causes: list[Cause] = []
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        return [_required("spec.versions", "must have exactly one version marked as storage version")]
    seen: set[str] = set()
    unique = True
    storage = 0
    served = 0
    for i, v in enumerate(versions):
        path = f"spec.versions[{i}]"
        if not isinstance(v, dict):
            causes.append(_invalid(path, v, "must be an object"))
            continue
        vname = str(v.get("name") or "")
        if not vname:
            causes.append(_required(f"{path}.name"))
        elif errs := is_dns1035_label(vname):
            causes.append(_invalid(f"{path}.name", vname, ",".join(errs)))
        if vname in seen:
            unique = False
        seen.add(vname)
        storage += v.get("storage") is True
        served += v.get("served") is True
        schema = (v.get("schema") or {}).get("openAPIV3Schema") if isinstance(v.get("schema"), dict) else None
        schema_path = f"{path}.schema.openAPIV3Schema"
        causes += structural.check_schema(schema, schema_path)
        if isinstance(schema, dict):
            causes += compile_rules(schema, schema_path)[1]
        subresources = v.get("subresources") or {}
        scale = subresources.get("scale") if isinstance(subresources, dict) else None
        if isinstance(scale, dict):
            causes += _validate_scale(scale, f"{path}.subresources.scale")
        for j, col in enumerate(v.get("additionalPrinterColumns") or []):
            cpath = f"{path}.additionalPrinterColumns[{j}]"
            if not isinstance(col, dict):
                continue
            for key in ("name", "type", "jsonPath"):
                if not col.get(key):
                    causes.append(_required(f"{cpath}.{key}"))
            ctype = col.get("type")
            if ctype and ctype not in ("integer", "number", "string", "boolean", "date"):
                causes.append(
                    Cause(
                        errors.CAUSE_NOT_SUPPORTED,
                        f'Unsupported value: {go_quote(str(ctype))}: supported values: "boolean", "date", "integer", '
                        '"number", "string"',
                        f"{cpath}.type",
                    )
                )
    shown = [v.get("name") for v in versions if isinstance(v, dict)]
    if not unique:
        causes.append(_invalid("spec.versions", shown, "must contain unique version names"))
    if storage != 1:
        causes.append(_invalid("spec.versions", shown, "must have exactly one version marked as storage version"))
    if served == 0:
        causes.append(_invalid("spec.versions", shown, "must have at least one version marked as served"))
    return causes


def _validate_scale(scale: Obj, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for key, required in (("specReplicasPath", True), ("statusReplicasPath", True), ("labelSelectorPath", False)):
        value = scale.get(key)
        if not value:
            if required:
                causes.append(_required(f"{path}.{key}"))
            continue
        prefix = ".spec." if key == "specReplicasPath" else ".status." if key == "statusReplicasPath" else "."
        if key == "labelSelectorPath" and not str(value).startswith((".spec.", ".status.")):
            causes.append(_invalid(f"{path}.{key}", value, "should be a json path under either .spec or .status"))
        elif key != "labelSelectorPath" and not str(value).startswith(prefix):
            under = ".spec" if key == "specReplicasPath" else ".status"
            causes.append(_invalid(f"{path}.{key}", value, f"should be a json path under {under}"))
    return causes


# ---- serving ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomVersion:
    """What serving one version of a CRD needs: its schema, rules, columns and scale paths."""

    crd_name: str
    uid: str
    schema: Obj
    rules: RuleTree | None
    printer_columns: list[Obj]
    spec_replicas_path: str = ""
    status_replicas_path: str = ""
    label_selector_path: str = ""
    has_defaults: bool = False
    read_conversion: bool = False
    terminating: bool = False

    def decode(self, obj: Obj, *, decoded: bool = False) -> list[str]:
        """Prune unknown fields and fill defaults (in place); the pruned paths.

        ``decoded``: the unknown-field check did both to this very object and nothing changed it since (see
        :func:`check_unknown_fields`): nothing left to do.
        """
        if decoded:
            return []
        return structural.prune_and_default(obj, self.schema)

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        """Schema and CEL violations of an object (and of the change from ``old``).

        A create while the CRD is being deleted is refused (405), as upstream.
        """
        if self.terminating and old is None:
            raise errors.MethodNotAllowed("create not allowed while custom resource definition is terminating")
        causes = schema_validation.validate(obj, self.schema)
        if self.rules is None:
            return causes
        if any(c.type == errors.CAUSE_TYPE_INVALID for c in causes):
            causes.append(Cause(errors.CAUSE_INVALID, f'Invalid value: "null": {_RULES_SKIPPED}', "<nil>"))
            return causes
        rules = self.rules
        if rules.rules or rules.additional is not None or "metadata" in rules.properties:  # a rule sees metadata
            causes += rules.validate(
                _rule_view(obj), _rule_view(old) if old is not None else None, has_old=old is not None
            )
        else:  # the rules are all below other root fields: the object as it is
            causes += rules.validate(obj, old, has_old=old is not None)
        return causes


_RULES_SKIPPED = (
    "some validation rules were not checked because the object was invalid; correct the existing errors to "
    "complete validation"
)


def _rule_view(obj: Obj) -> Obj:
    """The object as CEL rules at the root see it: metadata reduced to name and generateName."""
    out = {k: v for k, v in obj.items() if k != "metadata"}
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        out["metadata"] = {k: meta[k] for k in ("name", "generateName") if k in meta}
    return out


def custom_version(info: ResourceInfo) -> CustomVersion | None:
    """The CRD data of a custom resource's ResourceInfo (None for built-ins)."""
    value = info.extra.get("crd") if info.custom else None
    return value if isinstance(value, CustomVersion) else None


def printer_columns(info: ResourceInfo) -> list[Obj] | None:
    """A custom resource's ``additionalPrinterColumns`` (None for built-ins: their own printers apply)."""
    cv = custom_version(info)
    return cv.printer_columns if cv is not None else None


def needs_read_conversion(info: ResourceInfo) -> bool:
    """Whether stored objects must be changed to be served at this version (apiVersion, defaults)."""
    cv = custom_version(info)
    return cv is not None and cv.read_conversion


def check_unknown_fields(info: ResourceInfo, obj: Obj, directive: str, context: str = "") -> list[str]:
    """``fieldValidation`` for a custom resource about to be written: 400 under Strict, else the warnings
    (none under Ignore).

    The unknown fields are found by pruning ``obj`` in place — which the decode
    that follows every such check would do anyway — rather than a copy, and the
    same walk fills the schema's defaults, as upstream's decoder does before
    admission; the object is recorded as decoded (:func:`pinnace.api.typed.mark_normal`),
    so that its create need not walk it again.
    """
    if directive == "Ignore":
        return []
    cv = custom_version(info)
    if cv is None:
        return []
    found = structural.prune_and_default(obj, cv.schema)
    typed.mark_normal(obj)
    if not found:
        return []
    messages = [f'unknown field "{path}"' for path in found]
    if directive == "Strict":
        raise errors.BadRequest(context + "strict decoding error: " + ", ".join(messages))
    return messages


def _path_parts(path: str) -> list[str]:
    return [p for p in path.strip().lstrip(".").split(".") if p]


def get_path(obj: Any, path: str) -> tuple[Any, bool]:
    """The value at a simple JSON path (``.spec.replicas``) and whether it was there."""
    for part in _path_parts(path):
        if not isinstance(obj, dict) or part not in obj:
            return None, False
        obj = obj[part]
    return obj, True


def set_path(obj: Obj, path: str, value: Any) -> None:
    """Set the value at a simple JSON path, creating the objects on the way."""
    parts = _path_parts(path)
    for part in parts[:-1]:
        obj = _dict(obj, part)
    obj[parts[-1]] = value


def scale_view(info: ResourceInfo, obj: Obj) -> tuple[int, int, str] | None:
    """A custom resource's spec replicas, status replicas and selector by its CRD's scale paths."""
    cv = custom_version(info)
    if cv is None:
        return None
    spec, _ = get_path(obj, cv.spec_replicas_path)
    status, _ = get_path(obj, cv.status_replicas_path)
    selector, _ = get_path(obj, cv.label_selector_path) if cv.label_selector_path else (None, False)
    return _as_int(spec), _as_int(status), selector if isinstance(selector, str) else ""


def _as_int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def set_scale(info: ResourceInfo, obj: Obj, replicas: int) -> bool:
    """Write replicas at a custom resource's specReplicasPath; False for built-ins."""
    cv = custom_version(info)
    if cv is None:
        return False
    set_path(obj, cv.spec_replicas_path, replicas)
    return True


def openapi_name(group: str, version: str, kind: str) -> str:
    """The OpenAPI definition name upstream gives a CR (``com.example.stable.v1.CronTab``)."""
    return ".".join([*reversed(group.split(".")), version, kind])


def _has_default(node: Any) -> bool:
    if isinstance(node, dict):
        return "default" in node or any(_has_default(v) for k, v in node.items() if k != "default")
    if isinstance(node, list):
        return any(_has_default(v) for v in node)
    return False


def storage_info(crd: Obj) -> ResourceInfo | None:
    """A ResourceInfo at the storage version (served or not): what reaches every stored object."""
    stored = storage_version(crd)
    infos = resource_infos(crd, only_served=False)
    return next((i for i in infos if i.version == stored), infos[0] if infos else None)


def resource_infos(crd: Obj, *, only_served: bool = True) -> list[ResourceInfo]:
    """One ResourceInfo per served version of a (valid) CRD (every version, with ``only_served`` False)."""
    spec = crd.get("spec") or {}
    meta = crd.get("metadata") or {}
    names = spec.get("names") or {}
    group = str(spec.get("group") or "")
    stored = storage_version(crd)
    out = []
    for v in spec.get("versions") or []:
        if not isinstance(v, dict) or (only_served and v.get("served") is not True):
            continue
        version = str(v["name"])
        schema = ((v.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object"}
        subresources = v.get("subresources") or {}
        scale = subresources.get("scale") if isinstance(subresources.get("scale"), dict) else None
        subs = (("status",) if isinstance(subresources.get("status"), dict) else ()) + (("scale",) if scale else ())
        has_defaults = _has_default(schema)
        cv = CustomVersion(
            crd_name=str(meta.get("name") or ""),
            uid=str(meta.get("uid") or ""),
            schema=schema,
            rules=compile_rules(schema, "")[0],
            printer_columns=list(v.get("additionalPrinterColumns") or []),
            spec_replicas_path=str((scale or {}).get("specReplicasPath") or ""),
            status_replicas_path=str((scale or {}).get("statusReplicasPath") or ""),
            label_selector_path=str((scale or {}).get("labelSelectorPath") or ""),
            has_defaults=has_defaults,
            read_conversion=has_defaults or version != stored,
        )
        out.append(
            ResourceInfo(
                group=group,
                version=version,
                kind=str(names.get("kind") or ""),
                plural=str(names.get("plural") or ""),
                singular=str(names.get("singular") or str(names.get("kind") or "").lower()),
                namespaced=spec.get("scope") == "Namespaced",
                verbs=STANDARD_VERBS,
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=subs,
                definition=openapi_name(group, version, str(names.get("kind") or "")),
                tracks_generation=True,
                custom=True,
                storage_version=stored,
                extra={"crd": cv},
            )
        )
    return out


def to_version(info: ResourceInfo, obj: Obj, *, owned: bool = False) -> Obj:
    """A stored custom resource as served at ``info``'s version (a copy if anything changes, unless ``owned``:
    the caller's own object, changed in place). The copy is deep only when defaults are added: an object that
    has them all (most do: they were defaulted when written) shares its parts with the stored one, which the
    caller only reads, as it does a built-in object from the cache."""
    cv = custom_version(info)
    if cv is None or not cv.read_conversion:
        return obj
    if cv.has_defaults and (owned or structural.defaults_needed(obj, cv.schema)):
        if not owned:
            obj = orjson.loads(orjson.dumps(obj))
        structural.apply_defaults(obj, cv.schema)
    elif not owned:
        obj = dict(obj)
    obj["apiVersion"] = info.api_version
    return obj


def to_storage(info: ResourceInfo, obj: Obj) -> Obj:
    """A custom resource as stored (at the storage version); others unchanged."""
    if not info.custom or not info.storage_version or info.storage_version == info.version:
        return obj
    return {**obj, "apiVersion": f"{info.group}/{info.storage_version}"}


def mark_terminating(crd: Obj) -> None:
    """Hold a CRD being deleted with the cleanup finalizer and say so in its conditions."""
    meta = _dict(crd, "metadata")
    finalizers = list(meta.get("finalizers") or [])
    if CLEANUP_FINALIZER not in finalizers:
        meta["finalizers"] = [*finalizers, CLEANUP_FINALIZER]
    set_condition(
        _dict(crd, "status"),
        {
            "type": "Terminating",
            "status": "True",
            "reason": "InstanceDeletionPending",
            "message": "CustomResourceDefinition marked for deletion; instance deletion pending",
        },
    )
